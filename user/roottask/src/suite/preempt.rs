//! An EC made ready with a priority above the running one runs before the hypercall
//! that made it ready returns (or, on another CPU, at once), and the one-shot timer
//! ends a timed wait at its deadline while a CPU with nothing timed takes no timer
//! interrupt.
//!
//! On CPU 0 a thread of priority 3 (the roottask has 1) starts when its SC is created,
//! runs when the roottask ups its semaphore, and wakes at the deadline of a timed wait
//! while the roottask spins. On CPU 1 (where there is one) a thread of priority 1 spins
//! with a one-second quantum while one of priority 3 waits: the roottask's `up` from CPU
//! 0 must let the waiting one run long before that quantum ends. Then every CPU idles
//! or waits with a deadline while the roottask naps, and the timer interrupts each took
//! are counted (Facet's `machine_ctrl` timer statistics).

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, pt_ctrl, reply, revoke, sm_down,
    sm_down_until, sm_up, timer_interrupts,
};
use facet_rt::utcb::Utcb;

use super::fixture::{PREEMPT, PREEMPT_EVENTS, PREEMPT_UTCBS};
use super::naps::{spin_until, tsc};
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The threads' priority above the roottask's (1).
const HIGH: u8 = 3;
/// Per CPU `c` (0 or 1): the start-up handler, the high thread, its SC, its semaphore.
const fn handler(c: u64) -> u64 {
    PREEMPT.at(c)
}
const fn high(c: u64) -> u64 {
    PREEMPT.at(2 + c)
}
const fn high_sc(c: u64) -> u64 {
    PREEMPT.at(4 + c)
}
const fn go(c: u64) -> u64 {
    PREEMPT.at(6 + c)
}
/// The spinning thread on CPU 1 and its SC.
const LOW: u64 = PREEMPT.at(8);
const LOW_SC: u64 = PREEMPT.at(9);
/// Nobody ups these: the timed wait, the threads' parking, the roottask's nap.
const NEVER: u64 = PREEMPT.at(10);
const PARK: u64 = PREEMPT.at(11);
const NAP: u64 = PREEMPT.at(12);
/// The low thread's entry in the per-thread tables below.
const LOW_INDEX: u64 = 2;

/// Per thread (high 0, high 1, low): started, and per high thread: ran after its `up`,
/// when (TSC) it woke from its timed wait.
static STARTED: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static RAN: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static WOKE_AT: AtomicU64 = AtomicU64::new(0);
/// The deadline of the timed wait of the high thread on CPU 0 (TSC).
static DEADLINE: AtomicU64 = AtomicU64::new(0);
/// Tells the low thread to stop spinning.
static STOP: AtomicU64 = AtomicU64::new(0);

static HANDLER_STACKS: [Stack; 2] = [const { Stack::new() }; 2];
static THREAD_STACKS: [Stack; 3] = [const { Stack::new() }; 3];

facet_rt::portal_entry!(fn startup_entry on HANDLER_STACKS[id] => preempt_startup);

fn handler_utcb(c: u64) -> Utcb {
    PREEMPT_UTCBS.utcb(c)
}

/// Start-up of a thread on CPU `c` (the portal's id): the high thread, or on CPU 1 the
/// low one once the high one has started.
extern "C" fn preempt_startup(c: u64) -> ! {
    let h = handler_utcb(c);
    let low = c == 1 && STARTED[1].load(Ordering::SeqCst) != 0;
    let m = if low {
        h.put(u::RDI, LOW_INDEX);
        h.start_thread(low_thread, &THREAD_STACKS[LOW_INDEX as usize])
    } else {
        h.put(u::RDI, c);
        h.start_thread(high_thread, &THREAD_STACKS[c as usize % 2])
    };
    h.reply_with(m | mtd::GPR_BSD);
    reply()
}

/// The high thread of CPU `c`: started, waits for its `up`, on CPU 0 then waits with a
/// deadline; parks for good.
extern "C" fn high_thread(c: u64) -> ! {
    let i = c as usize % 2;
    STARTED[i].store(1, Ordering::SeqCst);
    let _ = sm_down(go(c));
    RAN[i].store(tsc().max(1), Ordering::SeqCst);
    if c == 0 {
        let _ = sm_down_until(NEVER, DEADLINE.load(Ordering::SeqCst));
        WOKE_AT.store(tsc(), Ordering::SeqCst);
    }
    loop {
        let _ = sm_down(PARK);
    }
}

/// The low thread: spins (no hypercall) until told to stop, then parks.
extern "C" fn low_thread(i: u64) -> ! {
    STARTED[i as usize % 3].store(1, Ordering::SeqCst);
    while STOP.load(Ordering::SeqCst) == 0 {
        core::hint::spin_loop();
    }
    loop {
        let _ = sm_down(PARK);
    }
}

/// CPU `c`'s start-up handler and portal.
fn handler_on(c: u64) -> TestResult {
    let (evt, h) = (PREEMPT_EVENTS.base(c), handler(c));
    ok(
        create_ec(h, PD, 0, c, handler_utcb(c).addr(), 0, 0),
        "handler EC",
    )?;
    let pt = evt + EVENT_STARTUP;
    ok(
        create_pt(
            pt,
            PD,
            h,
            (mtd::RIP_LEN | mtd::RSP) as u64,
            addr(startup_entry),
        ),
        "portal",
    )?;
    ok(pt_ctrl(pt, c), "portal id")
}

/// A global EC of the roottask on CPU `c` with UTCB `k` of the threads.
fn thread_ec(ec: u64, c: u64, k: u64) -> TestResult {
    let utcb = PREEMPT_UTCBS.addr(2 + k);
    ok(
        create_ec(ec, PD, ec_flags::GLOBAL, c, utcb, 0, PREEMPT_EVENTS.base(c)),
        "thread EC",
    )
}

pub fn a_higher_priority_runs_at_once(e: &Env) -> TestResult {
    let per_ms = e.per_ms();
    for sm in [go(0), go(1), NEVER, PARK, NAP] {
        ok(create_sm(sm, PD, 0, 0), "semaphore")?;
    }
    handler_on(0)?;
    thread_ec(high(0), 0, 0)?;
    // create_sc: the thread has started (and waits) when the SC exists.
    ok(create_sc(high_sc(0), PD, high(0), HIGH, 10_000), "high SC")?;
    ensure!(
        STARTED[0].load(Ordering::SeqCst) == 1,
        "create_sc returned before the thread ran"
    );
    // sm_ctrl up: it has run when the up returns.
    DEADLINE.store(tsc() + 2 * per_ms, Ordering::SeqCst);
    ok(sm_up(go(0)), "up")?;
    ensure!(
        RAN[0].load(Ordering::SeqCst) != 0,
        "sm_ctrl up returned before the woken thread ran"
    );
    // A timed wait ends at its deadline while this thread spins (no hypercall: only the
    // timer's interrupt lets it in), within a bound far below the quantum.
    let woke = spin_until(200 * per_ms, || WOKE_AT.load(Ordering::SeqCst) != 0);
    ensure!(woke, "the timed wait did not end while the roottask ran");
    let late = WOKE_AT
        .load(Ordering::SeqCst)
        .wrapping_sub(DEADLINE.load(Ordering::SeqCst));
    ensure!(
        (late as i64) >= 0 && late < 5 * per_ms,
        "the timed wait ended {} us after its deadline",
        late as i64 * 1000 / per_ms as i64
    );
    if e.cpus(2) > 1 {
        across_cpus(per_ms)?;
    }
    idle_cpus_take_no_timer_interrupts(e)?;
    STOP.store(1, Ordering::SeqCst);
    ok(revoke(PREEMPT.crd(), true, None), "revoke")
}

/// On CPU 1, the high thread's `up` from CPU 0 preempts the low thread spinning there
/// with a one-second quantum.
fn across_cpus(per_ms: u64) -> TestResult {
    handler_on(1)?;
    thread_ec(high(1), 1, 1)?;
    ok(
        create_sc(high_sc(1), PD, high(1), HIGH, 10_000),
        "high SC on CPU 1",
    )?;
    ensure!(
        spin_until(1000 * per_ms, || STARTED[1].load(Ordering::SeqCst) != 0),
        "no start"
    );
    thread_ec(LOW, 1, 2)?;
    ok(create_sc(LOW_SC, PD, LOW, 1, 1_000_000), "low SC on CPU 1")?;
    let low = LOW_INDEX as usize;
    ensure!(
        spin_until(1000 * per_ms, || STARTED[low].load(Ordering::SeqCst) != 0),
        "no spin"
    );
    let start = tsc();
    ok(sm_up(go(1)), "up across")?;
    let ran = spin_until(200 * per_ms, || RAN[1].load(Ordering::SeqCst) != 0);
    ensure!(
        ran,
        "the thread woken on CPU 1 waited for the spinning one's quantum"
    );
    let after = RAN[1].load(Ordering::SeqCst).wrapping_sub(start);
    ensure!(
        after < 50 * per_ms,
        "the thread woken on CPU 1 ran {} ms after the up",
        after / per_ms
    );
    STOP.store(1, Ordering::SeqCst);
    Ok(())
}

/// While the roottask naps 50 ms, CPU 0 takes the one interrupt of the nap's deadline
/// and every other CPU (all idle) none; a report of the kernel's console that comes due
/// meanwhile may add one.
fn idle_cpus_take_no_timer_interrupts(e: &Env) -> TestResult {
    let cpus = e.cpus(facet_abi::config::NUM_CPU);
    let count = |c: u64| timer_interrupts(c).unwrap_or(u64::MAX);
    let mut before = [0u64; facet_abi::config::NUM_CPU];
    for c in 0..cpus {
        before[c as usize] = count(c);
    }
    let nap = sm_down_until(NAP, tsc() + 50 * e.per_ms());
    ensure!(nap.is_err(), "nap: {:?}", nap);
    for c in 0..cpus {
        let taken = count(c).wrapping_sub(before[c as usize]);
        let most = if c == 0 { 2 } else { 1 };
        ensure!(
            taken <= most,
            "CPU {} took {} timer interrupts in a 50 ms nap",
            c,
            taken
        );
    }
    ensure!(count(0) > before[0], "the nap's deadline took no interrupt");
    ensure!(
        timer_interrupts(cpus).is_err(),
        "statistics of a CPU that is not online"
    );
    Ok(())
}
