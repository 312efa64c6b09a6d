//! `create_pd`, `create_ec`, `create_sc`, `create_pt`, `create_sm`.

use super::{decodes, regs, round_trip, runs};
use crate::args::{Args, CreateEc, CreatePd, CreatePt, CreateSc, CreateSm};
use crate::crd::Crd;

#[test]
fn create_pd_round_trips_and_decodes_as_the_kernel_reads() {
    runs(10, |g| {
        round_trip(CreatePd {
            sel: g.sel(),
            passthrough: g.bool(),
            parent: g.word(),
            crd: Crd(g.word()),
        })
    });
    runs(11, |g| {
        let r = g.regs();
        let expected = CreatePd {
            sel: r.rdi >> 8,
            passthrough: (r.rdi >> 4) & 0xf & 1 != 0,
            parent: r.rsi,
            crd: Crd(r.rdx),
        };
        decodes(&r, expected);
    });
}

#[test]
fn create_pd_layout() {
    let a = CreatePd::from_regs(&regs(0x4212, 0x21, 0x3003, 9, 9));
    assert_eq!(
        a,
        CreatePd {
            sel: 0x42,
            passthrough: true,
            parent: 0x21,
            crd: Crd(0x3003)
        }
    );
    // Bits 7:5 mean nothing.
    assert!(!CreatePd::from_regs(&regs(0x42e2, 0, 0, 0, 0)).passthrough);
    assert_eq!(a.to_regs(), regs(0x4212, 0x21, 0x3003, 0, 0));
}

#[test]
fn create_ec_round_trips() {
    runs(12, |g| {
        round_trip(CreateEc {
            sel: g.sel(),
            global: g.bool(),
            vcpu: g.bool(),
            apic_access_page: g.bool(),
            utcb_in_caller: g.bool(),
            pd: g.word(),
            cpu: g.bits(12) as u16,
            utcb: g.word() & !0xfff,
            sp: g.word(),
            evt: g.word(),
        })
    });
}

#[test]
fn create_ec_decodes_as_the_kernel_reads() {
    runs(13, |g| {
        let r = g.regs();
        // `hypercall::create::create_ec` (bit 6 is the reference's only).
        let flags = (r.rdi >> 4) & 0xf;
        let expected = CreateEc {
            sel: r.rdi >> 8,
            global: flags & 1 != 0,
            vcpu: flags & 2 != 0,
            apic_access_page: flags & 4 != 0,
            utcb_in_caller: flags & 8 != 0,
            pd: r.rsi,
            cpu: (r.rdx & 0xfff) as u16,
            utcb: r.rdx & !0xfff,
            sp: r.rax,
            evt: r.r8,
        };
        decodes(&r, expected);
    });
}

#[test]
fn create_ec_layout() {
    let a = CreateEc::from_regs(&regs(0x4213, 0x20, 0x7fff_1234_5fff, 0x8000, 0x200));
    assert_eq!(
        a,
        CreateEc {
            sel: 0x42,
            global: true,
            pd: 0x20,
            cpu: 0xfff,
            utcb: 0x7fff_1234_5000,
            sp: 0x8000,
            evt: 0x200,
            ..CreateEc::default()
        }
    );
    let flags = |rdi| {
        let a = CreateEc::from_regs(&regs(rdi, 0, 0, 0, 0));
        (a.global, a.vcpu, a.apic_access_page, a.utcb_in_caller)
    };
    assert_eq!(flags(0x23), (false, true, false, false));
    assert_eq!(flags(0x43), (false, false, true, false));
    assert_eq!(flags(0x83), (false, false, false, true));
    let b = CreateEc {
        sel: 5,
        vcpu: true,
        utcb_in_caller: true,
        cpu: 3,
        utcb: 0x1000,
        ..CreateEc::default()
    };
    assert_eq!(b.to_regs(), regs(0x5a3, 0, 0x1003, 0, 0));
}

#[test]
fn create_sc_round_trips_and_decodes_as_the_kernel_reads() {
    runs(14, |g| {
        round_trip(CreateSc {
            sel: g.sel(),
            pd: g.word(),
            ec: g.word(),
            prio: g.bits(8) as u8,
            quantum: g.bits(52),
        })
    });
    runs(15, |g| {
        let r = g.regs();
        // `hypercall::create::create_sc`.
        let (prio, quantum) = (r.rax & 0xff, r.rax >> 12);
        let expected = CreateSc {
            sel: r.rdi >> 8,
            pd: r.rsi,
            ec: r.rdx,
            prio: prio as u8,
            quantum,
        };
        decodes(&r, expected);
    });
}

#[test]
fn create_sc_layout() {
    // Quantum 1000 µs, bits 11:8 (ignored) all set, priority 0x40.
    let a = CreateSc::from_regs(&regs(0x42f4, 0x20, 0x21, 0x3e_8f40, 9));
    let expected = CreateSc {
        sel: 0x42,
        pd: 0x20,
        ec: 0x21,
        prio: 0x40,
        quantum: 1000,
    };
    assert_eq!(a, expected);
    assert_eq!(expected.to_regs(), regs(0x4204, 0x20, 0x21, 0x3e_8040, 0));
}

#[test]
fn create_pt_and_create_sm_round_trip_and_layout() {
    runs(16, |g| {
        round_trip(CreatePt {
            sel: g.sel(),
            pd: g.word(),
            ec: g.word(),
            mtd: g.word(),
            ip: g.word(),
        });
        round_trip(CreateSm {
            sel: g.sel(),
            pd: g.word(),
            count: g.word(),
            chain: g.word(),
        });
    });
    runs(17, |g| {
        let r = g.regs();
        let (sel, pd) = (r.rdi >> 8, r.rsi);
        decodes(
            &r,
            CreatePt {
                sel,
                pd,
                ec: r.rdx,
                mtd: r.rax,
                ip: r.r8,
            },
        );
        decodes(
            &r,
            CreateSm {
                sel,
                pd,
                count: r.rdx,
                chain: r.rax,
            },
        );
    });
    let pt = CreatePt {
        sel: 0x42,
        pd: 1,
        ec: 2,
        mtd: 3,
        ip: 4,
    };
    assert_eq!(pt.to_regs(), regs(0x4205, 1, 2, 3, 4));
    let sm = CreateSm {
        sel: 0x42,
        pd: 1,
        count: 2,
        chain: 3,
    };
    assert_eq!(sm.to_regs(), regs(0x4206, 1, 2, 3, 0));
    assert_eq!(CreateSm::from_regs(&regs(0x42f6, 1, 2, 3, 4)), sm);
}
