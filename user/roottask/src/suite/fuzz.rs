//! Random hypercalls (creation, `pd_ctrl`, `revoke`, `sm_ctrl` up, `sc_ctrl`, `pt_ctrl`,
//! `ec_ctrl`): every argument class, malformed or not, must give a status and leave the
//! kernel healthy. The generator stays away from what would legitimately destroy the
//! roottask itself (revoking or overmapping its own capabilities and code): object
//! windows start at selector 0x10000, memory windows lie in a scratch area. (Runs of
//! 100,000 calls with other seeds passed too; the suite keeps one seed and 20,000.)

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::{arg1, Hypercall};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{create_sm, lookup, raw, status};

use super::fixture::{FUZZ, FUZZ_MEMORY, FUZZ_PROBE};
use super::rng::Rng;
use super::{Env, Fail, TestResult};

/// Mostly plausible, sometimes anything.
fn value(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.next(),
        1 => rng.below(64),
        2 => FUZZ_BASE + rng.below(0x1000),
        _ => ROOT_SEL_PD + rng.below(4),
    }
}

const FUZZ_BASE: u64 = FUZZ.at(0);
const SCRATCH_MEM: u64 = FUZZ_MEMORY.addr(0);
const PROBE: u64 = FUZZ_PROBE.at(0);

fn window(rng: &mut Rng) -> Crd {
    match rng.below(3) {
        0 => Crd::new(
            Kind::Object,
            FUZZ_BASE + rng.below(0x1000),
            rng.below(4) as u8,
            rng.below(32) as u8,
        ),
        1 => Crd::new(
            Kind::Memory,
            (SCRATCH_MEM >> 12) + rng.below(0x100),
            rng.below(4) as u8,
            rng.below(8) as u8,
        ),
        // Ports other than COM1 and the debug-exit port (which the console needs).
        _ => Crd::new(
            Kind::Pio,
            0x1000 + rng.below(0x1000),
            rng.below(4) as u8,
            rng.below(2) as u8,
        ),
    }
}

pub fn random_hypercalls_keep_the_kernel_healthy(_: &Env) -> TestResult {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut statuses = [0u32; 9];
    for _ in 0..20_000 {
        let sel = FUZZ_BASE + rng.below(0x1000);
        let (a2, a3, a4, a5) = (
            value(&mut rng),
            value(&mut rng),
            value(&mut rng),
            value(&mut rng),
        );
        let flags = rng.below(16);
        let out = match rng.below(12) {
            0 => raw(
                arg1(Hypercall::CreatePd, flags & 1, sel),
                a2,
                window(&mut rng).0,
                0,
                0,
            ),
            // No vCPUs (flag bit 1) and no UTCB over the roottask: page-aligned scratch.
            1 => raw(
                arg1(Hypercall::CreateEc, flags & 0b1001, sel),
                a2,
                (SCRATCH_MEM + rng.below(0x100) * 0x1000) | (a3 & 0xfff),
                a4,
                a5,
            ),
            2 => raw(
                arg1(Hypercall::CreateSc, 0, sel),
                a2,
                a3,
                a4 & 0xff_ffff_ff7f,
                0,
            ),
            3 => raw(arg1(Hypercall::CreatePt, 0, sel), a2, a3, a4, a5),
            4 => raw(
                arg1(Hypercall::CreateSm, 0, sel),
                a2,
                a3,
                if rng.below(2) == 0 { 0 } else { a4 },
                0,
            ),
            5 => raw(arg1(Hypercall::PdCtrl, 0, 0), rng.next(), 0, 0, 0),
            6 => {
                let w = window(&mut rng);
                let src = Crd(rng.next() & !3 | w.0 & 3);
                raw(
                    arg1(
                        Hypercall::PdCtrl,
                        2,
                        if rng.below(2) == 0 { ROOT_SEL_PD } else { a2 },
                    ),
                    ROOT_SEL_PD,
                    src.0,
                    rng.below(4) | (rng.below(2) << 11),
                    w.0,
                )
            }
            7 => raw(arg1(Hypercall::SmCtrl, 0, sel), 0, 0, 0, 0),
            8 => raw(arg1(Hypercall::ScCtrl, 0, sel), 0, 0, 0, 0),
            // Revoke inside the fuzzing windows, of the roottask or (remote) of any PD,
            // and maybe signal a semaphore.
            9 => raw(
                arg1(Hypercall::Revoke, flags & 3, sel),
                window(&mut rng).0,
                if rng.below(2) == 0 { ROOT_SEL_PD } else { a3 },
                0,
                0,
            ),
            10 => raw(arg1(Hypercall::PtCtrl, flags & 1, sel), a2, 0, 0, 0),
            // Recall (or an unknown sub-operation) of whatever the selector names.
            _ => raw(arg1(Hypercall::EcCtrl, flags & 3, sel), a2, a3, 0, 0),
        };
        statuses[(status(&out) as usize).min(8)] += 1;
    }
    // Still healthy: a fresh object can be created and looked up.
    create_sm(PROBE, ROOT_SEL_PD, 0, 0)
        .map_err(|s| Fail::new(format_args!("create after fuzzing: {}", s.name())))?;
    let c = lookup(Crd::new(Kind::Object, PROBE, 0, perm::ALL))
        .map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    ensure_eq!(c, Crd::new(Kind::Object, PROBE, 0, perm::SM_ALL));
    ensure!(
        statuses[Status::Success as usize] > 0 && statuses[Status::BadCap as usize] > 0,
        "statuses {:?}",
        statuses
    );
    Ok(())
}
