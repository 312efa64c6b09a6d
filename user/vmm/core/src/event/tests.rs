use super::*;

fn state(extension: Extension) -> EntryState {
    EntryState {
        extension,
        interrupts_enabled: true,
        interruptibility: 0,
        instruction_completed: false,
        window_exit: false,
        carried: 0,
        raised: 0,
    }
}

#[test]
fn event_words() {
    assert_eq!(external_interrupt(0x30), 0x8000_0030);
    assert_eq!(nmi(), 0x8000_0202);
    assert_eq!(exception(UD, None), 0x8000_0306);
    assert_eq!(exception(GP, Some(0)), 0x8000_0b0d);
    assert_eq!(exception(AC, Some(0x1234)), 0x1234_8000_0b11);
}

#[test]
fn carried_events_go_first() {
    for ext in [Extension::Svm, Extension::Vmx] {
        let s = EntryState {
            carried: external_interrupt(0xef),
            raised: exception(GP, Some(0)),
            ..state(ext)
        };
        assert_eq!(s.injection(), Injection::Event(external_interrupt(0xef)));
        let s = EntryState {
            raised: exception(GP, Some(0)),
            instruction_completed: true,
            ..state(ext)
        };
        assert_eq!(s.injection(), Injection::Event(exception(GP, Some(0))));
        // A word without the valid bit is no event.
        let s = EntryState {
            carried: 0x30,
            instruction_completed: true,
            ..state(ext)
        };
        assert_eq!(s.injection(), Injection::Open);
    }
}

#[test]
fn interrupts_only_with_if_set() {
    for ext in [Extension::Svm, Extension::Vmx] {
        let s = EntryState {
            interrupts_enabled: false,
            instruction_completed: true,
            ..state(ext)
        };
        assert_eq!(s.injection(), Injection::Closed);
        let s = EntryState {
            interrupts_enabled: false,
            window_exit: true,
            ..state(ext)
        };
        assert_eq!(s.injection(), Injection::Closed);
    }
}

#[test]
fn vmx_shadow_holds_interrupts_until_the_instruction_completes() {
    // Recalled right after STI: blocked by STI, ask for the window.
    let recalled = EntryState {
        interruptibility: 1,
        ..state(Extension::Vmx)
    };
    assert_eq!(recalled.injection(), Injection::Closed);
    assert_eq!(recalled.interruptibility_after(), None);
    // Not in a shadow: open.
    assert_eq!(state(Extension::Vmx).injection(), Injection::Open);
    // `sti; hlt`: the HLT completed, the shadow is over and must be cleared.
    let hlt = EntryState {
        interruptibility: 1 | 8,
        instruction_completed: true,
        ..state(Extension::Vmx)
    };
    assert_eq!(hlt.injection(), Injection::Open);
    assert_eq!(hlt.interruptibility_after(), Some(8));
}

#[test]
fn svm_knows_no_shadow_so_only_completed_instructions_and_windows_are_open() {
    assert_eq!(state(Extension::Svm).injection(), Injection::Closed);
    let completed = EntryState {
        instruction_completed: true,
        ..state(Extension::Svm)
    };
    assert_eq!(completed.injection(), Injection::Open);
    assert_eq!(completed.interruptibility_after(), None);
    let window = EntryState {
        window_exit: true,
        ..state(Extension::Svm)
    };
    assert_eq!(window.injection(), Injection::Open);
}

#[test]
fn carried_events() {
    let pending = external_interrupt(0xec);
    for ext in [Extension::Svm, Extension::Vmx] {
        assert_eq!(carried_event(ext, &Exit::Recall, pending, 0), pending);
        assert_eq!(carried_event(ext, &Exit::Recall, 0x30, 0), 0);
        assert_eq!(carried_event(ext, &Exit::Startup, pending, pending), 0);
    }
    // After an exit in the middle of a delivery, VMX reports the event; SVM does not.
    let npf = Exit::Memory(crate::exit::MemoryAccess {
        gpa: 0,
        write: false,
        fetch: false,
    });
    assert_eq!(carried_event(Extension::Vmx, &npf, 0, pending), pending);
    assert_eq!(carried_event(Extension::Vmx, &npf, pending, 0), 0);
    assert_eq!(carried_event(Extension::Svm, &npf, 0, pending), 0);
}
