//! `revoke`, `ec_ctrl`, `sc_ctrl`, `pt_ctrl`, `machine_ctrl`.

use super::{decodes, regs, results_round_trip, round_trip, runs};
use crate::args::{
    Args, EcCtrl, FrameStatsOut, IommuFaultsOut, MachineCtrl, ObjectStatsOut, Out, PdStatsOut,
    PoolStatsOut, PtCtrl, Results, Revoke, ScCtrl, ScCtrlOut,
};
use crate::crd::Crd;

#[test]
fn revoke_round_trips_and_decodes_as_the_kernel_reads() {
    runs(30, |g| {
        round_trip(Revoke {
            crd: Crd(g.word()),
            include_self: g.bool(),
            remote: g.bool().then(|| g.word()),
            sm: g.sel(),
        })
    });
    runs(31, |g| {
        let r = g.regs();
        // `hypercall::revoke`: ARG3 only with the remote flag.
        let flags = (r.rdi >> 4) & 0xf;
        let (include_self, remote) = (flags & 1 != 0, flags & 2 != 0);
        let expected = Revoke {
            crd: Crd(r.rsi),
            include_self,
            remote: if remote { Some(r.rdx) } else { None },
            sm: r.rdi >> 8,
        };
        decodes(&r, expected);
    });
}

#[test]
fn revoke_layout() {
    let crd = Crd(0x5003);
    let a = Revoke::from_regs(&regs(0x4237, crd.0, 0x99, 1, 2));
    assert_eq!(
        a,
        Revoke {
            crd,
            include_self: true,
            remote: Some(0x99),
            sm: 0x42
        }
    );
    let local = Revoke::from_regs(&regs(0x42c7, crd.0, 0x99, 1, 2));
    assert_eq!(
        local,
        Revoke {
            crd,
            include_self: false,
            remote: None,
            sm: 0x42
        }
    );
    assert_eq!(local.to_regs(), regs(0x4207, crd.0, 0, 0, 0));
    assert_eq!(a.to_regs(), regs(0x4237, crd.0, 0x99, 0, 0));
}

#[test]
fn ec_sc_pt_ctrl_round_trip_and_decode_as_the_kernel_reads() {
    runs(32, |g| {
        round_trip(EcCtrl {
            ec: g.sel(),
            op: g.bits(2) as u8,
        });
        round_trip(ScCtrl { sc: g.sel() });
        round_trip(PtCtrl {
            pt: g.sel(),
            id: g.word(),
        });
    });
    runs(33, |g| {
        let r = g.regs();
        let (sel, flags) = (r.rdi >> 8, (r.rdi >> 4) & 0xf);
        decodes(
            &r,
            EcCtrl {
                ec: sel,
                op: (flags & 3) as u8,
            },
        );
        decodes(&r, ScCtrl { sc: sel });
        decodes(&r, PtCtrl { pt: sel, id: r.rsi });
    });
}

#[test]
fn ec_sc_pt_ctrl_layout() {
    let ec = |rdi| EcCtrl::from_regs(&regs(rdi, 1, 2, 3, 4));
    assert_eq!(ec(0x4209), EcCtrl { ec: 0x42, op: 0 });
    assert_eq!(ec(0x4229), EcCtrl { ec: 0x42, op: 2 });
    assert_eq!(ec(0x42f9), EcCtrl { ec: 0x42, op: 3 });
    assert_eq!(
        EcCtrl { ec: 0x42, op: 1 }.to_regs(),
        regs(0x4219, 0, 0, 0, 0)
    );
    assert_eq!(
        ScCtrl::from_regs(&regs(0x42fa, 1, 2, 3, 4)),
        ScCtrl { sc: 0x42 }
    );
    assert_eq!(ScCtrl { sc: 0x42 }.to_regs(), regs(0x420a, 0, 0, 0, 0));
    let pt = PtCtrl { pt: 0x42, id: 7 };
    assert_eq!(PtCtrl::from_regs(&regs(0x42fb, 7, 2, 3, 4)), pt);
    assert_eq!(pt.to_regs(), regs(0x420b, 7, 0, 0, 0));
}

#[test]
fn sc_ctrl_result() {
    runs(34, |g| {
        results_round_trip(ScCtrlOut { us: g.word() }, [false, true, true, false], g)
    });
    let mut out = Out::default();
    ScCtrlOut {
        us: 0x1234_5678_9abc_def0,
    }
    .to_out(&mut out);
    assert_eq!((out.rsi, out.rdx), (0x1234_5678, 0x1234_5678_9abc_def0));
    // OUT3 with only its low half filled (the reference's 32-bit build) reads the same.
    let half = Out {
        rsi: 0x1234_5678,
        rdx: 0x9abc_def0,
        ..Out::default()
    };
    assert_eq!(ScCtrlOut::from_out(&half).us, 0x1234_5678_9abc_def0);
}

#[test]
fn machine_ctrl_round_trips_and_decodes_as_the_kernel_reads() {
    runs(35, |g| {
        round_trip(match g.u64() % 9 {
            0 => MachineCtrl::Suspend {
                slp_typa: g.bits(8) as u8,
                slp_typb: g.bits(8) as u8,
            },
            1 => MachineCtrl::UpdateMicrocode {
                size: g.bits(24) as u32,
                address: g.word(),
            },
            2 => MachineCtrl::Reserved,
            3 => MachineCtrl::PoolStats,
            4 => MachineCtrl::FrameStats { item: g.word() },
            5 => MachineCtrl::ObjectStats { kind: g.word() },
            6 => MachineCtrl::PdStats {
                pd: g.word(),
                part: g.word(),
            },
            7 => MachineCtrl::TimerInterrupts { cpu: g.word() },
            _ => MachineCtrl::IommuFaults,
        })
    });
    runs(36, |g| {
        let r = g.regs();
        // `hypercall::machine_ctrl` reads the sub-operation, and for 3 the statistic in
        // ARG2; the arguments of 0 and 1 are the reference's.
        let expected = match (r.rdi >> 4) & 0xf & 3 {
            0 => MachineCtrl::Suspend {
                slp_typa: (r.rdi >> 8) as u8,
                slp_typb: (r.rdi >> 16) as u8,
            },
            1 => MachineCtrl::UpdateMicrocode {
                size: (r.rdi as u32) >> 8,
                address: r.rsi,
            },
            3 if r.rsi == 0 => MachineCtrl::PoolStats,
            3 if r.rsi == 1 => MachineCtrl::IommuFaults,
            3 if r.rsi == 2 => MachineCtrl::FrameStats { item: r.rdx },
            3 if r.rsi == 3 => MachineCtrl::ObjectStats { kind: r.rdx },
            3 if r.rsi == 4 => MachineCtrl::PdStats {
                pd: r.rdx,
                part: r.rax,
            },
            3 if r.rsi == 5 => MachineCtrl::TimerInterrupts { cpu: r.rdx },
            _ => MachineCtrl::Reserved,
        };
        decodes(&r, expected);
    });
}

#[test]
fn machine_ctrl_layout() {
    let dec = |rdi| MachineCtrl::from_regs(&regs(rdi, 0x1000, 2, 3, 4));
    // ARG2 0x1000: no such statistic.
    assert_eq!(dec(0x3f), MachineCtrl::Reserved);
    assert_eq!(dec(u64::MAX), MachineCtrl::Reserved);
    let stat = |rsi| MachineCtrl::from_regs(&regs(0x3f, rsi, 2, 3, 4));
    assert_eq!(stat(0), MachineCtrl::PoolStats);
    assert_eq!(stat(1), MachineCtrl::IommuFaults);
    assert_eq!(stat(2), MachineCtrl::FrameStats { item: 2 });
    assert_eq!(stat(3), MachineCtrl::ObjectStats { kind: 2 });
    assert_eq!(stat(4), MachineCtrl::PdStats { pd: 2, part: 3 });
    assert_eq!(stat(5), MachineCtrl::TimerInterrupts { cpu: 2 });
    assert_eq!(stat(6), MachineCtrl::Reserved);
    assert_eq!(dec(0x2f), MachineCtrl::Reserved);
    assert_eq!(
        dec(0x00bb_aacf),
        MachineCtrl::Suspend {
            slp_typa: 0xaa,
            slp_typb: 0xbb
        }
    );
    assert_eq!(
        dec(0xffff_ffff_1234_561f),
        MachineCtrl::UpdateMicrocode {
            size: 0x12_3456,
            address: 0x1000
        }
    );
    assert_eq!(MachineCtrl::PoolStats.to_regs(), regs(0x3f, 0, 0, 0, 0));
    assert_eq!(MachineCtrl::IommuFaults.to_regs(), regs(0x3f, 1, 0, 0, 0));
    assert_eq!(
        MachineCtrl::FrameStats { item: 9 }.to_regs(),
        regs(0x3f, 2, 9, 0, 0)
    );
    assert_eq!(
        MachineCtrl::ObjectStats { kind: 4 }.to_regs(),
        regs(0x3f, 3, 4, 0, 0)
    );
    assert_eq!(
        MachineCtrl::PdStats { pd: 0x20, part: 5 }.to_regs(),
        regs(0x3f, 4, 0x20, 5, 0)
    );
    assert_eq!(MachineCtrl::Reserved.to_regs(), regs(0x2f, 0, 0, 0, 0));
    runs(37, |g| {
        let v = PoolStatsOut {
            free: g.word(),
            total: g.word(),
        };
        results_round_trip(v, [false, true, true, false], g);
    });
    runs(38, |g| {
        let v = IommuFaultsOut {
            count: g.word(),
            last: g.word(),
            info: g.word(),
        };
        results_round_trip(v, [false, true, true, true], g);
    });
    runs(39, |g| {
        let v = FrameStatsOut {
            frames: g.word(),
            uses: g.word(),
        };
        results_round_trip(v, [false, true, true, false], g);
        let v = ObjectStatsOut {
            live: g.word(),
            peak: g.word(),
        };
        results_round_trip(v, [false, true, true, false], g);
        results_round_trip(
            PdStatsOut { frames: g.word() },
            [false, true, false, false],
            g,
        );
    });
    // A write by 00:03.0 refused for want of a context entry, unit 0.
    let f = IommuFaultsOut {
        count: 1,
        last: 0x0102_0018,
        info: 0x5000,
    };
    assert_eq!(
        (f.source(), f.reason(), f.write(), f.interrupt()),
        (0x18, 2, true, false)
    );
    let i = IommuFaultsOut {
        last: 0x1226_0018,
        ..f
    };
    assert_eq!((i.reason(), i.write(), i.interrupt()), (0x26, false, true));
}
