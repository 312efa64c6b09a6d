//! How late a timed wait ends: `latency_deadline_to_woken_ec`.
//!
//! A thread of priority 2 (above the roottask's) waits on a semaphore nobody signals
//! with a deadline a millisecond ahead (the roottask sets it and lets the thread go),
//! while the roottask spins without a hypercall, so
//! only the timer's interrupt can end the wait; the thread reads the TSC as soon as its
//! `down` returns TIMEOUT. The figure is the span from the deadline to that reading (the
//! interrupt's delivery, the wait's end, the preemption of the roottask, the switch and
//! the return to the thread), the median of [`SAMPLES`]. With a periodic tick it would
//! be up to a tick (10^6 TSC ticks at 1 GHz); with the one-shot timer armed for the
//! deadline it is the path's own cost. Under `-icount` the TSC advances with
//! instructions, so the figure is exact.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::EVENT_STARTUP;
use facet_abi::mtd;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, reply, sm_down, sm_down_until, sm_up,
};
use facet_rt::println;
use facet_rt::utcb::Utcb;

use super::{median, tsc, PD};
use crate::args::Args;

const NAME: &str = "latency_deadline_to_woken_ec";
const SAMPLES: usize = 200;
const WARM_UP: usize = 5;
/// Selectors: the semaphore nobody signals, the start-up handler, the thread and its
/// SC, the semaphore that starts each wait; the thread's event base.
const NEVER: u64 = 740;
const GO: u64 = 744;
const STARTER: u64 = 741;
const THREAD: u64 = 742;
const THREAD_SC: u64 = 743;
const EVT: u64 = 0x3000;
const STARTER_UTCB: Utcb = Utcb::at(0x300b_0000);
const THREAD_UTCB: u64 = 0x300c_0000;
/// The thread's priority, above the roottask's.
const HIGH: u8 = 2;

/// The deadline the roottask sets (0: none yet), and the TSC the thread read after the
/// wait ended.
static DEADLINE: AtomicU64 = AtomicU64::new(0);
static WOKEN_AT: AtomicU64 = AtomicU64::new(0);

static STARTER_STACK: Stack = Stack::new();
static THREAD_STACK: Stack = Stack::new();
static mut LATE: [u64; SAMPLES] = [0; SAMPLES];

facet_rt::portal_entry!(fn startup_entry on STARTER_STACK => startup);

extern "C" fn startup(_id: u64) -> ! {
    let m = STARTER_UTCB.start_thread(waiter, &THREAD_STACK);
    STARTER_UTCB.reply_with(m);
    reply()
}

/// For each `up` of GO, waits until the deadline the roottask set, and records when the
/// wait ended.
extern "C" fn waiter(_: u64) -> ! {
    loop {
        let _ = sm_down(GO);
        let deadline = DEADLINE.load(Ordering::SeqCst);
        let _ = sm_down_until(NEVER, deadline);
        WOKEN_AT.store(tsc(), Ordering::SeqCst);
    }
}

/// One wait: the deadline `ahead` TSC ticks from now; the roottask spins until the
/// thread recorded its end. Returns how late it was.
fn sample(ahead: u64) -> u64 {
    WOKEN_AT.store(0, Ordering::SeqCst);
    let deadline = tsc() + ahead;
    DEADLINE.store(deadline, Ordering::SeqCst);
    // The thread (a higher priority) runs at once, up to its timed wait.
    let _ = sm_up(GO);
    let mut woken = 0;
    while woken == 0 {
        core::hint::spin_loop();
        woken = WOKEN_AT.load(Ordering::SeqCst);
    }
    woken.wrapping_sub(deadline)
}

pub fn run(world: &crate::world::World, args: &Args) {
    // Nothing to profile between markers here (`cargo xtask profile` leaves it out): the
    // span is the timer's, not a path's.
    if args.skips(NAME) || super::profiling() {
        return;
    }
    let per_ms = world.hip.u32(facet_abi::hip::off::FREQ_TSC) as u64;
    let made = create_sm(NEVER, PD, 0, 0).is_ok()
        && create_sm(GO, PD, 0, 0).is_ok()
        && create_ec(STARTER, PD, 0, 0, STARTER_UTCB.addr(), 0, 0).is_ok()
        && create_pt(
            EVT + EVENT_STARTUP,
            PD,
            STARTER,
            (mtd::RIP_LEN | mtd::RSP) as u64,
            addr(startup_entry),
        )
        .is_ok()
        && create_ec(THREAD, PD, ec_flags::GLOBAL, 0, THREAD_UTCB, 0, EVT).is_ok()
        && create_sc(THREAD_SC, PD, THREAD, HIGH, 1000).is_ok();
    if !made {
        println!("bench: no thread for {NAME}");
        return;
    }
    for _ in 0..WARM_UP {
        sample(per_ms);
    }
    // SAFETY: the benchmarks run one after another on the roottask's main thread; no
    // other reference to the sample buffer exists.
    let late = unsafe { &mut *core::ptr::addr_of_mut!(LATE) };
    for l in late.iter_mut() {
        *l = sample(per_ms);
    }
    let m = median(late);
    println!("bench {NAME}: {m} ticks per operation (median of {SAMPLES})");
}
