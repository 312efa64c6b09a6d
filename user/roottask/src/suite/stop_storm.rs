//! Many threads that stop in one go leave the kernel healthy.
//!
//! A thousand global ECs without a start-up portal, each with an SC of the roottask's
//! priority, are queued while the roottask runs; when it naps, the kernel runs them one
//! after the other within one kernel entry, and each stops at once (no start-up portal).
//! The kernel must move from one to the next without keeping anything on its stack per
//! thread: with a stack frame each, a thousand would overflow the kernel stack.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_rt::hypercall::{create_ec, create_sc, create_sm, ec_flags, revoke, sm_down_until};

use super::naps::tsc;
use super::{ok, Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
/// 2^ORDER threads, their ECs and SCs in aligned selector ranges nothing else uses.
const ORDER: u8 = 10;
const ECS: u64 = 1 << 21;
const SCS: u64 = ECS + (1 << 12);
const SM_NAP: u64 = ECS + (1 << 13);
/// An event base under which the roottask has no portals.
const NO_PORTALS: u64 = 61_000;

pub fn a_thousand_threads_stop_in_one_go(w: &World) -> TestResult {
    let count = 1u64 << ORDER;
    for i in 0..count {
        create_ec(ECS + i, PD, ec_flags::GLOBAL, 0, 0, 0, NO_PORTALS)
            .map_err(|s| Fail::new(format_args!("EC {i}: {}", s.name())))?;
    }
    for i in 0..count {
        create_sc(SCS + i, PD, ECS + i, 1, 10_000)
            .map_err(|s| Fail::new(format_args!("SC {i}: {}", s.name())))?;
    }
    ok(create_sm(SM_NAP, PD, 0, 0), "nap semaphore")?;
    // Whatever of them did not run at a timer tick meanwhile runs now, all in one go.
    let per_ms = w.hip.u32(off::FREQ_TSC) as u64;
    let nap = sm_down_until(SM_NAP, tsc() + 20 * per_ms);
    ensure!(nap.is_err(), "nap: {:?}", nap);
    for (base, what) in [(SCS, "SCs"), (ECS, "ECs")] {
        ok(
            revoke(Crd::new(Kind::Object, base, ORDER, perm::ALL), true, None),
            what,
        )?;
    }
    ok(
        revoke(Crd::new(Kind::Object, SM_NAP, 0, perm::ALL), true, None),
        "nap semaphore",
    )?;
    // And the kernel still answers.
    ok(create_sm(SM_NAP, PD, 0, 0), "a semaphore afterwards")?;
    ok(
        revoke(Crd::new(Kind::Object, SM_NAP, 0, perm::ALL), true, None),
        "it again",
    )
}
