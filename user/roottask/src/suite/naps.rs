//! Waiting in the tests that start threads: short naps that let threads of the
//! roottask's priority run until a condition holds, and spinning without blocking.

use facet_rt::cpu::rdtsc;
use facet_rt::hypercall::sm_down_until;

use super::{Fail, TestResult};

/// The time-stamp counter.
pub fn tsc() -> u64 {
    rdtsc()
}

/// Naps on semaphore `sm` (which nobody signals) a millisecond (`per_ms` TSC ticks) at
/// a time until `done` holds; fails after two seconds.
pub fn nap_until(sm: u64, per_ms: u64, done: impl Fn() -> bool) -> TestResult {
    for _ in 0..2000 {
        if done() {
            return Ok(());
        }
        let nap = sm_down_until(sm, tsc() + per_ms);
        ensure!(nap.is_err(), "nap: {:?}", nap);
    }
    Err(Fail::new(format_args!("waited two seconds")))
}

/// Spins (without blocking) until `cond` holds or about `ticks` TSC ticks pass; whether
/// it held.
pub fn spin_until(ticks: u64, cond: impl Fn() -> bool) -> bool {
    let start = tsc();
    while tsc().wrapping_sub(start) < ticks {
        if cond() {
            return true;
        }
        core::hint::spin_loop();
    }
    cond()
}
