//! `call`, `reply`, `sm_ctrl`.

use super::{decodes, regs, round_trip, runs};
use crate::args::{Args, Call, Regs, Reply, SmCtrl, SmDown, SmUp};

#[test]
fn call_round_trips() {
    runs(1, |g| {
        round_trip(Call {
            pt: g.sel(),
            disable_blocking: g.bool(),
            disable_donation: g.bool(),
            disable_replycap: g.bool(),
        })
    });
}

#[test]
fn call_decodes_as_the_kernel_reads() {
    runs(2, |g| {
        let r = g.regs();
        // `ipc::call::call` and `busy`: the portal, DISABLE_BLOCKING; the two other flags
        // are the reference's.
        let flags = (r.rdi >> 4) & 0xf;
        decodes(
            &r,
            Call {
                pt: r.rdi >> 8,
                disable_blocking: flags & 1 != 0,
                disable_donation: flags & 2 != 0,
                disable_replycap: flags & 4 != 0,
            },
        );
    });
}

#[test]
fn call_layout() {
    let a = Call::from_regs(&regs(0x1234_5678_9abc_de10, 1, 2, 3, 4));
    assert_eq!(a.pt, 0x12_3456_789a_bcde);
    assert!(a.disable_blocking && !a.disable_donation && !a.disable_replycap);
    let a = Call::from_regs(&regs(0x4260, 0, 0, 0, 0));
    assert!(!a.disable_blocking && a.disable_donation && a.disable_replycap);
    // Bit 7 means nothing.
    assert_eq!(
        Call::from_regs(&regs(0x4280, 0, 0, 0, 0)),
        Call {
            pt: 0x42,
            ..Call::default()
        }
    );
    let only_arg1 = Call {
        pt: 0x42,
        disable_blocking: true,
        ..Call::default()
    };
    assert_eq!(only_arg1.to_regs(), regs(0x4210, 0, 0, 0, 0));
}

#[test]
fn reply_round_trips_and_layout() {
    runs(3, |g| round_trip(Reply { sm: g.sel() }));
    runs(4, |g| {
        let r = g.regs();
        decodes(&r, Reply { sm: r.rdi >> 8 });
    });
    assert_eq!(Reply::default().to_regs(), regs(1, 0, 0, 0, 0));
    assert_eq!(
        Reply::from_regs(&regs(0x42f1, 1, 2, 3, 4)),
        Reply { sm: 0x42 }
    );
}

#[test]
fn sm_ctrl_round_trips() {
    runs(5, |g| {
        let sm = g.sel();
        let a = if g.bool() {
            SmCtrl::Up(SmUp { sm })
        } else {
            SmCtrl::Down(SmDown {
                sm,
                zero: g.bool(),
                deadline: g.word(),
            })
        };
        round_trip(a);
        match a {
            SmCtrl::Up(u) => round_trip(u),
            SmCtrl::Down(d) => round_trip(d),
        }
    });
}

#[test]
fn sm_ctrl_decodes_as_the_kernel_reads() {
    runs(6, |g| {
        let r: Regs = g.regs();
        // `hypercall::sm_ctrl`.
        let flags = (r.rdi >> 4) & 0xf;
        let (sm, down, zero) = (r.rdi >> 8, flags & 1 != 0, flags & 2 != 0);
        let deadline = (r.rsi << 32) | (r.rdx & 0xffff_ffff);
        let expected = if down {
            SmCtrl::Down(SmDown { sm, zero, deadline })
        } else {
            SmCtrl::Up(SmUp { sm })
        };
        decodes(&r, expected);
    });
}

#[test]
fn sm_ctrl_layout() {
    let high = 0xdead_beef_0000_0001;
    let low = 0xffff_ffff_8000_0000;
    let down = |rdi| SmCtrl::from_regs(&regs(rdi, high, low, 3, 4));
    let d = |zero| {
        SmCtrl::Down(SmDown {
            sm: 0x42,
            zero,
            deadline: 0x1_8000_0000,
        })
    };
    assert_eq!(down(0x421c), d(false));
    assert_eq!(down(0x423c), d(true));
    assert_eq!(down(0x42dc), d(false));
    assert_eq!(down(0x420c), SmCtrl::Up(SmUp { sm: 0x42 }));
    // Up reads nothing but the selector, not even the zero flag.
    assert_eq!(down(0x42ec), SmCtrl::Up(SmUp { sm: 0x42 }));
    let deadline = 0x1234_5678_9abc_def0;
    let a = SmDown {
        sm: 7,
        zero: true,
        deadline,
    };
    assert_eq!(a.to_regs(), regs(0x73c, 0x1234_5678, 0x9abc_def0, 0, 0));
    assert_eq!(SmUp { sm: 7 }.to_regs(), regs(0x70c, 0, 0, 0, 0));
}
