//! Many threads that stop in one go leave the kernel healthy.
//!
//! A thousand global ECs without a start-up portal, each with an SC of the roottask's
//! priority, are queued while the roottask runs; when it naps, the kernel runs them one
//! after the other within one kernel entry, and each stops at once (no start-up portal).
//! The kernel must move from one to the next without keeping anything on its stack per
//! thread: with a stack frame each, a thousand would overflow the kernel stack.

use facet_abi::layout::ROOT_SEL_PD;
use facet_rt::hypercall::{create_ec, create_sc, create_sm, ec_flags, revoke, sm_down_until};

use super::fixture::{NO_PORTALS, SCHED_NAP, SCHED_SCS, SCHED_THREADS};
use super::naps::tsc;
use super::tools::{obj, revoke_all};
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The threads' ECs and SCs, each in an aligned range (one revoke each).
const ECS: u64 = SCHED_THREADS.at(0);
const SCS: u64 = SCHED_SCS.at(0);
const SM_NAP: u64 = SCHED_NAP.at(0);

pub fn a_thousand_threads_stop_in_one_go(e: &Env) -> TestResult {
    let count = SCHED_THREADS.len();
    for i in 0..count {
        create_ec(ECS + i, PD, ec_flags::GLOBAL, 0, 0, 0, NO_PORTALS.base(0))
            .map_err(|s| Fail::new(format_args!("EC {i}: {}", s.name())))?;
    }
    for i in 0..count {
        create_sc(SCS + i, PD, ECS + i, 1, 10_000)
            .map_err(|s| Fail::new(format_args!("SC {i}: {}", s.name())))?;
    }
    ok(create_sm(SM_NAP, PD, 0, 0), "nap semaphore")?;
    // Whatever of them did not run at the end of a quantum meanwhile runs now, all in one
    // go.
    let nap = sm_down_until(SM_NAP, tsc() + 20 * e.per_ms());
    ensure!(nap.is_err(), "nap: {:?}", nap);
    for (range, what) in [(SCHED_SCS, "SCs"), (SCHED_THREADS, "ECs")] {
        ok(revoke(range.crd(), true, None), what)?;
    }
    ok(revoke(obj(SM_NAP), true, None), "nap semaphore")?;
    // And the kernel still answers.
    ok(create_sm(SM_NAP, PD, 0, 0), "a semaphore afterwards")?;
    revoke_all([SM_NAP])
}
