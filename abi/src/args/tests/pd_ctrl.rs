//! `pd_ctrl` and its sub-operations.

use super::{decodes, regs, results_round_trip, round_trip, runs};
use crate::args::{
    Args, Delegate, DelegateOut, Lookup, LookupOut, MapAccessPage, MsrAccess, MsrAccessOut, PdCtrl,
};
use crate::crd::Crd;

#[test]
fn pd_ctrl_round_trips() {
    runs(20, |g| {
        let a = match g.u64() % 4 {
            0 => PdCtrl::Lookup(Lookup { crd: Crd(g.word()) }),
            1 => PdCtrl::MapAccessPage(MapAccessPage { crd: Crd(g.word()) }),
            2 => PdCtrl::Delegate(Delegate {
                src: g.sel(),
                dst: g.word(),
                crd: Crd(g.word()),
                meta: g.word(),
                window: Crd(g.word()),
            }),
            _ => PdCtrl::MsrAccess(MsrAccess {
                index: g.bits(32) as u32,
                write: g.bool(),
                value: g.word(),
            }),
        };
        round_trip(a);
        match a {
            PdCtrl::Lookup(a) => round_trip(a),
            PdCtrl::MapAccessPage(a) => round_trip(a),
            PdCtrl::Delegate(a) => round_trip(a),
            PdCtrl::MsrAccess(a) => round_trip(a),
        }
    });
}

#[test]
fn pd_ctrl_decodes_as_the_kernel_reads() {
    runs(21, |g| {
        let r = g.regs();
        // `hypercall::pd_ctrl`: the sub-operation, then each one's reads.
        let flags = (r.rdi >> 4) & 0xf;
        let expected = match flags & 3 {
            0 => PdCtrl::Lookup(Lookup { crd: Crd(r.rsi) }),
            2 => PdCtrl::Delegate(Delegate {
                src: r.rdi >> 8,
                dst: r.rsi,
                crd: Crd(r.rdx),
                meta: r.rax,
                window: Crd(r.r8),
            }),
            3 => PdCtrl::MsrAccess(MsrAccess {
                index: (r.rdi >> 8) as u32,
                write: flags & 4 != 0,
                value: r.rsi,
            }),
            _ => PdCtrl::MapAccessPage(MapAccessPage { crd: Crd(r.rsi) }),
        };
        decodes(&r, expected);
    });
}

#[test]
fn pd_ctrl_layout() {
    let crd = Crd(0x1234_5007);
    let dec = |rdi| PdCtrl::from_regs(&regs(rdi, crd.0, 2, 3, 4));
    assert_eq!(dec(0xffff_ff08), PdCtrl::Lookup(Lookup { crd }));
    assert_eq!(dec(0xffff_ffc8), PdCtrl::Lookup(Lookup { crd }));
    assert_eq!(
        dec(0xffff_ff18),
        PdCtrl::MapAccessPage(MapAccessPage { crd })
    );
    let delegate = Delegate {
        src: 0x42,
        dst: crd.0,
        crd: Crd(2),
        meta: 3,
        window: Crd(4),
    };
    assert_eq!(dec(0x42e8), PdCtrl::Delegate(delegate));
    assert_eq!(delegate.to_regs(), regs(0x4228, crd.0, 2, 3, 4));
    // MSR index in bits 39:8, write in bit 6; bits 63:40 ignored.
    let msr = MsrAccess {
        index: 0xc000_0080,
        write: true,
        value: crd.0,
    };
    assert_eq!(dec(0xabcd_ffc0_0000_8078), PdCtrl::MsrAccess(msr));
    assert_eq!(msr.to_regs(), regs(0xc0_0000_8078, crd.0, 0, 0, 0));
    let read = MsrAccess {
        write: false,
        ..msr
    };
    assert_eq!(dec(0xc0_0000_80b8), PdCtrl::MsrAccess(read));
    assert_eq!(
        Lookup { crd }.to_regs(),
        regs(0x08, crd.0, 0, 0, 0),
        "lookup passes no selector"
    );
    assert_eq!(MapAccessPage { crd }.to_regs(), regs(0x18, crd.0, 0, 0, 0));
}

#[test]
fn pd_ctrl_results() {
    runs(22, |g| {
        results_round_trip(
            LookupOut { crd: Crd(g.word()) },
            [false, true, false, false],
            g,
        );
        let d = DelegateOut {
            crd: Crd(g.word()),
            meta: g.word(),
        };
        results_round_trip(d, [false, false, true, true], g);
        results_round_trip(
            MsrAccessOut { value: g.word() },
            [false, true, false, false],
            g,
        );
    });
}
