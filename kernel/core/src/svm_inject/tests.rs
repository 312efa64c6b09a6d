use super::*;

const MASKING: u64 = 1 << 24;
const TIMER: u64 = VALID | 0xec;

#[test]
fn an_external_interrupt_becomes_a_virtual_interrupt() {
    let p = program(TIMER, MASKING, 0x1200_0000, false);
    assert_eq!(p.eventinj, 0);
    assert_eq!(p.vintr, MASKING | V_IRQ | V_PRIO | V_IGN_TPR | 0xec << 32);
    assert_eq!(p.misc1 & (INTERCEPT_VINTR | INTERCEPT_IRET), 0);
    assert_eq!(p.misc1, 0x1200_0000);
    assert!(!p.own_iret);
    // Pending at the exit: reported as injected.
    assert_eq!(pending(p.eventinj, p.vintr, p.misc1), TIMER);
    // Taken (the CPU cleared V_IRQ): nothing pending.
    assert_eq!(pending(0, p.vintr & !V_IRQ, p.misc1), 0);
}

#[test]
fn exceptions_nmis_and_software_interrupts_stay_in_eventinj() {
    let gp = VALID | 3 << 8 | 1 << 11 | 13;
    let nmi = VALID | 2 << 8 | 2;
    let soft = VALID | 4 << 8 | 0x80;
    for e in [gp | 0x1234 << 32, nmi, soft] {
        let p = program(e, MASKING, 0, false);
        assert_eq!(
            (p.eventinj, p.vintr, p.misc1, p.own_iret),
            (e, MASKING, 0, false)
        );
        assert_eq!(pending(p.eventinj, p.vintr, p.misc1), e);
    }
    // An invalid word is no event, whatever its type bits say.
    let p = program(0xec, MASKING, 0, false);
    assert_eq!((p.eventinj, p.vintr), (0xec, MASKING));
    assert_eq!(pending(p.eventinj, p.vintr, p.misc1), 0);
}

#[test]
fn a_window_alone_is_the_vintr_intercept() {
    let p = program(REQUEST_INTR_WINDOW, MASKING, 0, false);
    assert_eq!(p.vintr, MASKING | V_IRQ | V_IGN_TPR);
    assert_eq!(p.misc1, INTERCEPT_VINTR);
    assert_eq!(p.eventinj, 0);
    // The window's V_IRQ is no pending event.
    assert_eq!(pending(p.eventinj, p.vintr, p.misc1), 0);
    // An exception with a window request: both.
    let ud = VALID | 3 << 8 | 6;
    let p = program(ud | REQUEST_INTR_WINDOW, MASKING, 0, false);
    assert_eq!((p.eventinj, p.misc1), (ud, INTERCEPT_VINTR));
}

#[test]
fn an_interrupt_with_a_window_intercepts_the_next_iret() {
    let p = program(TIMER | REQUEST_INTR_WINDOW, MASKING, 0, false);
    assert_eq!(p.misc1, INTERCEPT_IRET);
    assert!(p.own_iret);
    assert_eq!(p.vintr & V_IRQ, V_IRQ);
    assert_eq!(pending(p.eventinj, p.vintr, p.misc1), TIMER);
    // The next programming takes the kernel's IRET intercept away again.
    let q = program(0, p.vintr, p.misc1, p.own_iret);
    assert_eq!((q.misc1, q.vintr, q.own_iret), (0, MASKING, false));
    // A VMM's own IRET intercept stays, and its exit stays the VMM's.
    let r = program(TIMER | REQUEST_INTR_WINDOW, MASKING, INTERCEPT_IRET, false);
    assert_eq!(r.misc1, INTERCEPT_IRET);
    assert!(!r.own_iret);
    let s = program(0, MASKING, INTERCEPT_IRET, false);
    assert_eq!(s.misc1, INTERCEPT_IRET);
}

#[test]
fn programming_replaces_what_was_there() {
    let old = MASKING | V_IRQ | V_PRIO | V_IGN_TPR | 0x30 << 32;
    let p = program(0, old, INTERCEPT_VINTR, false);
    assert_eq!((p.vintr, p.misc1, p.eventinj), (MASKING, 0, 0));
    let p = program(VALID | 0x41, old, INTERCEPT_VINTR, false);
    assert_eq!(p.vintr >> 32, 0x41);
    assert_eq!(p.misc1, 0);
}
