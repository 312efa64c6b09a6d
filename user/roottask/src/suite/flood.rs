//! A flood of kernel messages that user mode causes: 3,000 global ECs that stop for want
//! of a start-up portal, one after the other. The kernel prints a bounded number of
//! them and counts the rest (`kernel/src/console/limited.rs`); the harness reads the
//! lines between this test's two `flood:` lines and checks that the printed and the
//! suppressed add up to the 3,000 and that no more were printed than the limiter allows
//! in the time the flood took (`xtask/src/protocol.rs`, `flood_problems`).

use facet_abi::layout::ROOT_SEL_PD;
use facet_rt::hypercall::{create_ec, create_sc, create_sm, ec_flags, revoke, sm_down_until};
use facet_rt::println;

use super::fixture::{FLOOD, FLOOD_UTCB, NO_PORTALS};
use super::naps::tsc;
use super::tools::{obj, revoke_all};
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const EC: u64 = FLOOD.at(0);
const SC: u64 = FLOOD.at(1);
const SM: u64 = FLOOD.at(2);
/// The threads that stop.
const THREADS: u64 = 3000;
/// Above the roottask's priority: each thread runs, and stops, as its SC is made.
const PRIO: u8 = 127;

/// Waits a little over a second on the semaphore nobody signals: the limiter's window,
/// after which a timer interrupt reports what it left out.
fn quiet(e: &Env) {
    let until = tsc() + 1200 * e.per_ms();
    while sm_down_until(SM, until).is_ok() {}
}

pub fn stopped_threads_print_a_bounded_number_of_lines(e: &Env) -> TestResult {
    ok(create_sm(SM, PD, 0, 0), "semaphore")?;
    // Reports of what earlier tests caused go out before the first line.
    quiet(e);
    println!("flood: {THREADS} global ECs stop without a start-up portal");
    let start = tsc();
    for i in 0..THREADS {
        let made = create_ec(
            EC,
            PD,
            ec_flags::GLOBAL,
            0,
            FLOOD_UTCB.addr(0),
            0,
            NO_PORTALS.base(0),
        )
        .and_then(|_| create_sc(SC, PD, EC, PRIO, 10_000));
        made.map_err(|s| Fail::new(format_args!("thread {i}: {}", s.name())))?;
        ok(revoke(obj(SC), true, None), "revoke the SC")?;
        ok(revoke(obj(EC), true, None), "revoke the EC")?;
    }
    let ms = (tsc() - start) / e.per_ms().max(1);
    // The count of what was left out goes out within the next window.
    quiet(e);
    println!("flood: done in {ms} ms");
    revoke_all([SM])
}
