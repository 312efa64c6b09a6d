use super::*;

fn message(event: u64, qual0: u64, qual1: u64) -> ExitMessage {
    ExitMessage {
        event,
        qual: [qual0, qual1],
        rip: 0x1000,
        instruction_length: 0,
        interruption: 0,
    }
}

#[test]
fn kernel_events_are_the_same_on_both() {
    for ext in [Extension::Svm, Extension::Vmx] {
        assert_eq!(ext.decode(&message(254, 0, 0)), Exit::Startup);
        assert_eq!(ext.decode(&message(255, 0, 0)), Exit::Recall);
        assert_eq!(ext.decode(&message(253, 0, 0)), Exit::InvalidState);
    }
}

#[test]
fn svm_exit_codes() {
    let svm = Extension::Svm;
    assert_eq!(svm.decode(&message(0x72, 0, 0)), Exit::Cpuid);
    assert_eq!(svm.decode(&message(0x78, 0, 0)), Exit::Hlt);
    assert_eq!(svm.decode(&message(0x7c, 0, 0)), Exit::Rdmsr);
    assert_eq!(svm.decode(&message(0x7c, 1, 0)), Exit::Wrmsr);
    assert_eq!(svm.decode(&message(0x8d, 0, 0)), Exit::Xsetbv);
    assert_eq!(svm.decode(&message(0x64, 0, 0)), Exit::InterruptWindow);
    assert_eq!(svm.decode(&message(0x7f, 0, 0)), Exit::TripleFault);
    assert_eq!(svm.decode(&message(0x76, 0, 0)), Exit::Invd);
    for vmrun_to_skinit in 0x80..=0x86 {
        assert_eq!(
            svm.decode(&message(vmrun_to_skinit, 0, 0)),
            Exit::UndefinedInstruction
        );
    }
    assert_eq!(
        svm.decode(&message(0x51, 0, 0)),
        Exit::Exception {
            vector: 17,
            error_code: Some(0)
        }
    );
    assert_eq!(
        svm.decode(&message(0x46, 0, 0)),
        Exit::Exception {
            vector: 6,
            error_code: None
        }
    );
    assert_eq!(svm.decode(&message(0x99, 0, 0)), Exit::Unknown(0x99));
}

#[test]
fn svm_port_io() {
    // OUT 0x3f8, AL: port 0x3f8, SZ8, OUT; next RIP in EXITINFO2.
    let m = message(0x7b, 0x3f8 << 16 | 1 << 4, 0x1001);
    let exit = Extension::Svm.decode(&m);
    assert_eq!(
        exit,
        Exit::Io(PortAccess {
            port: 0x3f8,
            size: IoSize::Byte,
            input: false,
            string: false,
            rep: false
        })
    );
    assert_eq!(Extension::Svm.next_rip(&exit, &m), Some(0x1001));
    // REP INSD from 0x1f0.
    let m = message(0x7b, 0x1f0 << 16 | 4 << 4 | 1 << 3 | 1 << 2 | 1, 0x1002);
    assert_eq!(
        Extension::Svm.decode(&m),
        Exit::Io(PortAccess {
            port: 0x1f0,
            size: IoSize::Dword,
            input: true,
            string: true,
            rep: true
        })
    );
    // No size bit, or two: not an access the CPU reports.
    for size in [0, 3, 5, 7] {
        assert_eq!(
            Extension::Svm.decode(&message(0x7b, size << 4, 0)),
            Exit::Unknown(0x7b)
        );
    }
}

#[test]
fn svm_nested_page_faults() {
    // Error code: present clear, write; the address in EXITINFO2.
    let m = message(252, 0b10, 0xfee0_0030);
    assert_eq!(
        Extension::Svm.decode(&m),
        Exit::Memory(MemoryAccess {
            gpa: 0xfee0_0030,
            write: true,
            fetch: false
        })
    );
    let m = message(252, 1 << 4, 0x1_0000_0000);
    assert_eq!(
        Extension::Svm.decode(&m),
        Exit::Memory(MemoryAccess {
            gpa: 0x1_0000_0000,
            write: false,
            fetch: true
        })
    );
}

#[test]
fn vmx_exit_reasons() {
    let vmx = Extension::Vmx;
    assert_eq!(vmx.decode(&message(10, 0, 0)), Exit::Cpuid);
    assert_eq!(vmx.decode(&message(12, 0, 0)), Exit::Hlt);
    assert_eq!(vmx.decode(&message(31, 0, 0)), Exit::Rdmsr);
    assert_eq!(vmx.decode(&message(32, 0, 0)), Exit::Wrmsr);
    assert_eq!(vmx.decode(&message(55, 0, 0)), Exit::Xsetbv);
    assert_eq!(vmx.decode(&message(7, 0, 0)), Exit::InterruptWindow);
    assert_eq!(vmx.decode(&message(2, 0, 0)), Exit::TripleFault);
    assert_eq!(vmx.decode(&message(33, 0, 0)), Exit::InvalidState);
    assert_eq!(vmx.decode(&message(34, 0, 0)), Exit::InvalidState);
    assert_eq!(vmx.decode(&message(13, 0, 0)), Exit::Invd);
    for reason in (18..=27).chain([11, 50, 53]) {
        assert_eq!(
            vmx.decode(&message(reason, 0, 0)),
            Exit::UndefinedInstruction
        );
    }
    assert_eq!(vmx.decode(&message(49, 0, 0)), Exit::Unknown(49));
    // #AC with error code 0: vector 17, hardware exception, error code valid.
    let mut m = message(0, 0, 0);
    m.interruption = 0x8000_0b11;
    assert_eq!(
        vmx.decode(&m),
        Exit::Exception {
            vector: 17,
            error_code: Some(0)
        }
    );
}

#[test]
fn vmx_port_io() {
    // IN AX, DX from 0x71: size 2 (1), IN, DX operand.
    let m = ExitMessage {
        instruction_length: 2,
        ..message(30, 0x71 << 16 | 1 << 3 | 1, 0)
    };
    let exit = Extension::Vmx.decode(&m);
    assert_eq!(
        exit,
        Exit::Io(PortAccess {
            port: 0x71,
            size: IoSize::Word,
            input: true,
            string: false,
            rep: false
        })
    );
    assert_eq!(Extension::Vmx.next_rip(&exit, &m), Some(0x1002));
    // Size code 2 (3 bytes) does not exist.
    assert_eq!(Extension::Vmx.decode(&message(30, 2, 0)), Exit::Unknown(30));
}

#[test]
fn vmx_ept_violations_and_cr_access() {
    let m = message(48, 0b010, 0xfed0_0000);
    assert_eq!(
        Extension::Vmx.decode(&m),
        Exit::Memory(MemoryAccess {
            gpa: 0xfed0_0000,
            write: true,
            fetch: false
        })
    );
    // MOV CR8, RCX (to), MOV RDX, CR8 (from), CLTS, LMSW 0x1.
    let to = Extension::Vmx.decode(&message(28, 8 | 1 << 8, 0));
    assert_eq!(
        to,
        Exit::ControlRegister(ControlRegisterAccess {
            cr: 8,
            op: ControlRegisterOp::MoveTo { gpr: 1 }
        })
    );
    let from = Extension::Vmx.decode(&message(28, 8 | 1 << 4 | 2 << 8, 0));
    assert_eq!(
        from,
        Exit::ControlRegister(ControlRegisterAccess {
            cr: 8,
            op: ControlRegisterOp::MoveFrom { gpr: 2 }
        })
    );
    let clts = Extension::Vmx.decode(&message(28, 2 << 4, 0));
    assert_eq!(
        clts,
        Exit::ControlRegister(ControlRegisterAccess {
            cr: 0,
            op: ControlRegisterOp::Clts
        })
    );
    let lmsw = Extension::Vmx.decode(&message(28, 3 << 4 | 1 << 16, 0));
    assert_eq!(
        lmsw,
        Exit::ControlRegister(ControlRegisterAccess {
            cr: 0,
            op: ControlRegisterOp::Lmsw { source: 1 }
        })
    );
}

#[test]
fn instruction_lengths() {
    let svm = Extension::Svm;
    // Without next-RIP, the fixed lengths.
    for (exit, len) in [
        (Exit::Hlt, 1),
        (Exit::Cpuid, 2),
        (Exit::Rdmsr, 2),
        (Exit::Wrmsr, 2),
        (Exit::Invd, 2),
        (Exit::Xsetbv, 3),
    ] {
        assert_eq!(svm.next_rip(&exit, &message(0, 0, 0)), Some(0x1000 + len));
    }
    // With next-RIP (a length from the kernel), that length.
    let m = ExitMessage {
        instruction_length: 3,
        ..message(0x72, 0, 0)
    };
    assert_eq!(svm.next_rip(&Exit::Cpuid, &m), Some(0x1003));
    // Nothing known about a memory access's instruction.
    let npf = Exit::Memory(MemoryAccess {
        gpa: 0,
        write: false,
        fetch: false,
    });
    assert_eq!(svm.next_rip(&npf, &message(252, 0, 0)), None);
    // VMX: whatever it reports; nothing without.
    let vmx = Extension::Vmx;
    let m = ExitMessage {
        instruction_length: 2,
        ..message(10, 0, 0)
    };
    assert_eq!(vmx.next_rip(&Exit::Cpuid, &m), Some(0x1002));
    assert_eq!(vmx.next_rip(&Exit::Cpuid, &message(10, 0, 0)), None);
    // RIP at the top of the address space wraps instead of overflowing.
    let top = ExitMessage {
        rip: u64::MAX,
        ..message(0x78, 0, 0)
    };
    assert_eq!(svm.next_rip(&Exit::Hlt, &top), Some(0));
}

#[test]
fn every_message_decodes_without_panicking() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..20_000 {
        let m = ExitMessage {
            event: next() % 300,
            qual: [next(), next()],
            rip: next(),
            instruction_length: next() % 20,
            interruption: next(),
        };
        for ext in [Extension::Svm, Extension::Vmx] {
            let exit = ext.decode(&m);
            let _ = ext.next_rip(&exit, &m);
            // The class by number agrees with the decoded exit (an access the CPU
            // cannot report decodes as unknown).
            if !matches!(exit, Exit::Unknown(_)) {
                assert_eq!(exit.class(), ext.class(m.event), "{ext:?} {m:?}");
            }
        }
    }
}

#[test]
fn error_codes() {
    let with: [u8; 8] = [8, 10, 11, 12, 13, 14, 17, 21];
    for v in 0..32u8 {
        assert_eq!(has_error_code(v), with.contains(&v), "vector {v}");
    }
}

#[test]
fn classes_by_number() {
    assert_eq!(Extension::Svm.class(0x7c), ExitClass::Msr);
    assert_eq!(Extension::Vmx.class(31), ExitClass::Msr);
    assert_eq!(Extension::Vmx.class(32), ExitClass::Msr);
    assert_eq!(Extension::Svm.class(252), ExitClass::Memory);
    assert_eq!(Extension::Vmx.class(252), ExitClass::Other);
    assert_eq!(Extension::Vmx.class(48), ExitClass::Memory);
    assert_eq!(Extension::Svm.class(0x64), ExitClass::Between);
    assert_eq!(Extension::Vmx.class(255), ExitClass::Between);
    assert_eq!(Extension::Svm.class(254), ExitClass::Startup);
    assert_eq!(Extension::Svm.class(28), ExitClass::Other);
    assert_eq!(Extension::Vmx.class(28), ExitClass::ControlRegister);
}
