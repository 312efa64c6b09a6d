//! `assign_pci`, `assign_gsi`.

use super::{decodes, regs, results_round_trip, round_trip, runs};
use crate::args::{Args, AssignGsi, AssignGsiOut, AssignPci, GsiMode, NO_CHAIN};

#[test]
fn assign_pci_round_trips_decodes_and_layout() {
    runs(40, |g| {
        round_trip(AssignPci {
            pd: g.sel(),
            dev: g.word(),
            hint: g.word(),
        })
    });
    runs(41, |g| {
        let r = g.regs();
        // `hypercall::assign_pci` (the hint is the reference's).
        decodes(
            &r,
            AssignPci {
                pd: r.rdi >> 8,
                dev: r.rsi,
                hint: r.rdx,
            },
        );
    });
    let a = AssignPci {
        pd: 0x42,
        dev: 0x1000,
        hint: 5,
    };
    assert_eq!(a.to_regs(), regs(0x420d, 0x1000, 5, 0, 0));
    assert_eq!(AssignPci::from_regs(&regs(0x42fd, 0x1000, 5, 3, 4)), a);
}

#[test]
fn assign_gsi_round_trips() {
    runs(42, |g| {
        round_trip(AssignGsi {
            sm: g.sel(),
            dev: g.word(),
            cpu: g.bits(32) as u32,
            mode: g.bool().then(|| GsiMode {
                level: g.bool(),
                active_low: g.bool(),
            }),
            chain: g.word(),
        })
    });
}

#[test]
fn assign_gsi_decodes_as_the_kernel_reads() {
    runs(43, |g| {
        let r = g.regs();
        // `hypercall::assign_gsi`: trigger and polarity only with the override flag.
        let flags = (r.rdi >> 4) & 0xf;
        let expected = AssignGsi {
            sm: r.rdi >> 8,
            dev: r.rsi,
            cpu: r.rdx as u32,
            mode: (flags & 1 != 0).then_some(GsiMode {
                level: r.rdx & (1 << 32) != 0,
                active_low: r.rdx & (1 << 33) != 0,
            }),
            chain: r.rax,
        };
        decodes(&r, expected);
    });
}

#[test]
fn assign_gsi_layout() {
    let a = AssignGsi::from_regs(&regs(0x421e, 0x1000, 0xffff_fff9_0000_0002, NO_CHAIN, 4));
    let pin = AssignGsi {
        sm: 0x42,
        dev: 0x1000,
        cpu: 2,
        mode: Some(GsiMode {
            level: true,
            active_low: false,
        }),
        chain: NO_CHAIN,
    };
    assert_eq!(a, pin);
    assert_eq!(
        pin.to_regs(),
        regs(0x421e, 0x1000, 0x1_0000_0002, u64::MAX, 0)
    );
    // Without the override (bits 7:5 mean nothing) ARG3's upper half is not read.
    let b = AssignGsi::from_regs(&regs(0x42ee, 0, 0x3_0000_0001, 7, 4));
    assert_eq!(
        b,
        AssignGsi {
            sm: 0x42,
            dev: 0,
            cpu: 1,
            mode: None,
            chain: 7
        }
    );
    let low = GsiMode {
        level: false,
        active_low: true,
    };
    assert_eq!(
        AssignGsi::from_regs(&regs(0x42fe, 0, 0x2_0000_0001, 7, 4)).mode,
        Some(low)
    );
    runs(44, |g| {
        let v = AssignGsiOut {
            msi_address: g.word(),
            msi_data: g.word(),
        };
        results_round_trip(v, [false, true, true, false], g);
    });
}
