//! Helping: a caller that finds a portal's handler busy lends its own time to the
//! handler's chain until the handler is free, so a high-priority caller is not held up
//! by whatever outranks the handler's current client.
//!
//! A low-priority client (1) calls a handler that keeps working until the high client
//! below calls, and a second low client calls and waits; a medium-priority spinner (2)
//! takes the CPU and keeps it; a high-priority client (3) calls the same handler.
//! Without helping, the handler runs only on the low clients' time, which the spinner
//! starves, and the high client finishes only after the spinner stops. With helping, the
//! high client's time finishes the handler's work; every waiter is then released, the
//! high client calls first (ahead of the low one that waited longer) and finishes while
//! the spinner still spins. The low clients get their replies on their own time, after
//! the spinner.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{
    call, create_ec, create_sc, ec_flags, reply, sm_down, sm_down_until, sm_up,
};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::{HELPING_TIME as S, HELPING_TIME_EVENTS, HELPING_TIME_UTCBS};
use crate::suite::naps::{nap_until, tsc};
use crate::suite::tools::{revoke_all, semaphores, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The portal's handler and the threads' start-up handler.
const HANDLER: Handler = Handler::new(S.at(0), HELPING_TIME_UTCBS.utcb(0));
const STARTER: Handler = Handler::new(S.at(1), HELPING_TIME_UTCBS.utcb(1));
const LOW: u64 = S.at(2);
const SPINNER: u64 = S.at(3);
const HIGH: u64 = S.at(4);
const LOW_SC: u64 = S.at(5);
const SPINNER_SC: u64 = S.at(6);
const HIGH_SC: u64 = S.at(7);
const PORTAL: u64 = S.at(8);
const SM_HIGH_DONE: u64 = S.at(9);
const SM_LOW_DONE: u64 = S.at(10);
const SM_PARK: u64 = S.at(11);
const SM_NAP: u64 = S.at(12);
const LOW2: u64 = S.at(13);
const LOW2_SC: u64 = S.at(14);
/// The start-up portal is at EVT + 30.
const EVT: u64 = HELPING_TIME_EVENTS.base(0);
const STARTUP_PORTAL: u64 = EVT + EVENT_STARTUP;
const H: Utcb = HANDLER.utcb;
/// The threads' UTCBs.
const LOW_UTCB: Utcb = HELPING_TIME_UTCBS.utcb(2);
const SPINNER_UTCB: Utcb = HELPING_TIME_UTCBS.utcb(3);
const HIGH_UTCB: Utcb = HELPING_TIME_UTCBS.utcb(4);
const LOW2_UTCB: Utcb = HELPING_TIME_UTCBS.utcb(5);

static HANDLER_STACK: Stack = Stack::new();
static STARTER_STACK: Stack = Stack::new();
/// The threads' stacks, in the order they start.
static THREAD_STACKS: [Stack; 4] = [const { Stack::new() }; 4];

facet_rt::portal_entry!(fn work_entry on HANDLER_STACK => work_handler);
facet_rt::portal_entry!(fn start_entry on STARTER_STACK => start_thread);

/// TSC ticks the spinner spins, and the most the handler waits for the high client.
static SPIN: AtomicU64 = AtomicU64::new(0);
static PATIENCE: AtomicU64 = AtomicU64::new(0);
static LOW2_CALLING: AtomicU64 = AtomicU64::new(0);
static HIGH_CALLING: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU64 = AtomicU64::new(0);
static IN_HANDLER: AtomicU64 = AtomicU64::new(0);
static SPINNER_STOPPED: AtomicU64 = AtomicU64::new(0);
/// 1 if the high client was served while the spinner still spun, 2 if after.
static HIGH_SERVED: AtomicU64 = AtomicU64::new(0);
static LOW_SERVED: AtomicU64 = AtomicU64::new(0);

/// The handler: the first call keeps it working (spinning on its callers' time) until
/// the high client calls (or, failing that, for PATIENCE ticks); later calls reply at
/// once.
extern "C" fn work_handler(_id: u64) -> ! {
    if IN_HANDLER.fetch_add(1, Ordering::SeqCst) == 0 {
        let until = tsc() + PATIENCE.load(Ordering::SeqCst);
        while HIGH_CALLING.load(Ordering::SeqCst) == 0 && tsc() < until {
            core::hint::spin_loop();
        }
    }
    // No words back.
    H.set_items(0);
    reply()
}

/// Start-up of the threads, in the order they start: the two low clients, the spinner,
/// the high client.
extern "C" fn start_thread(_id: u64) -> ! {
    let k = STARTED.fetch_add(1, Ordering::SeqCst) as usize;
    let thread: extern "C" fn(u64) -> ! = match k {
        0 => low_client,
        1 => low_client2,
        2 => spinner,
        _ => high_client,
    };
    let m = STARTER.utcb.start_thread(thread, &THREAD_STACKS[k.min(3)]);
    STARTER.utcb.reply_with(m);
    reply()
}

fn park() -> ! {
    loop {
        let _ = sm_down(SM_PARK);
    }
}

extern "C" fn low_client(_: u64) -> ! {
    // No words.
    LOW_UTCB.set_items(0);
    if call(PORTAL).is_ok() {
        LOW_SERVED.fetch_add(1, Ordering::SeqCst);
    }
    let _ = sm_up(SM_LOW_DONE);
    park()
}

extern "C" fn low_client2(_: u64) -> ! {
    // No words.
    LOW2_UTCB.set_items(0);
    LOW2_CALLING.store(1, Ordering::SeqCst);
    if call(PORTAL).is_ok() {
        LOW_SERVED.fetch_add(1, Ordering::SeqCst);
    }
    let _ = sm_up(SM_LOW_DONE);
    park()
}

/// Starts the high client (which takes the CPU from it at once), then spins for SPIN
/// ticks.
extern "C" fn spinner(_: u64) -> ! {
    let until = tsc() + SPIN.load(Ordering::SeqCst);
    let _ = create_sc(HIGH_SC, PD, HIGH, 3, 1000);
    while tsc() < until {
        core::hint::spin_loop();
    }
    SPINNER_STOPPED.store(1, Ordering::SeqCst);
    park()
}

extern "C" fn high_client(_: u64) -> ! {
    // No words.
    HIGH_UTCB.set_items(0);
    HIGH_CALLING.store(1, Ordering::SeqCst);
    if call(PORTAL).is_ok() {
        let before = SPINNER_STOPPED.load(Ordering::SeqCst) == 0;
        HIGH_SERVED.store(if before { 1 } else { 2 }, Ordering::SeqCst);
    }
    let _ = sm_up(SM_HIGH_DONE);
    park()
}

pub fn busy_handler_runs_on_the_callers_time(e: &Env) -> TestResult {
    let per_ms = e.per_ms();
    SPIN.store(400 * per_ms, Ordering::SeqCst);
    PATIENCE.store(2000 * per_ms, Ordering::SeqCst);
    HANDLER.create()?;
    HANDLER.portal(PORTAL, 0, work_entry)?;
    STARTER.create()?;
    STARTER.startup_portal(EVT, start_entry)?;
    semaphores([SM_HIGH_DONE, SM_LOW_DONE, SM_PARK, SM_NAP])?;
    for (ec, utcb) in [
        (LOW, LOW_UTCB),
        (LOW2, LOW2_UTCB),
        (SPINNER, SPINNER_UTCB),
        (HIGH, HIGH_UTCB),
    ] {
        ok(
            create_ec(ec, PD, ec_flags::GLOBAL, 0, utcb.addr(), 0, EVT),
            "thread EC",
        )?;
    }
    // The low client calls while the roottask naps, and the handler starts working.
    ok(create_sc(LOW_SC, PD, LOW, 1, 1000), "low client SC")?;
    nap_until(SM_NAP, per_ms, || IN_HANDLER.load(Ordering::SeqCst) != 0)?;
    // The second low client calls and waits: it is the first waiter. (Each thread is
    // past its start-up once it calls, so the start-up handler is free for the next.)
    ok(
        create_sc(LOW2_SC, PD, LOW2, 1, 1000),
        "second low client SC",
    )?;
    nap_until(SM_NAP, per_ms, || LOW2_CALLING.load(Ordering::SeqCst) != 0)?;
    ensure_eq!(IN_HANDLER.load(Ordering::SeqCst), 1u64);
    // The spinner takes the CPU from here on and starts the high client.
    ok(create_sc(SPINNER_SC, PD, SPINNER, 2, 1000), "spinner SC")?;
    // Back here only once the spinner has stopped.
    ensure_eq!(SPINNER_STOPPED.load(Ordering::SeqCst), 1u64);
    ok(
        sm_down_until(SM_HIGH_DONE, tsc() + 2000 * per_ms),
        "the high client finished",
    )?;
    for _ in 0..2 {
        ok(
            sm_down_until(SM_LOW_DONE, tsc() + 2000 * per_ms),
            "a low client finished",
        )?;
    }
    ensure_eq!(HIGH_SERVED.load(Ordering::SeqCst), 1u64);
    ensure_eq!(LOW_SERVED.load(Ordering::SeqCst), 2u64);
    ensure_eq!(IN_HANDLER.load(Ordering::SeqCst), 3u64);
    revoke_all([
        HIGH_SC,
        SPINNER_SC,
        LOW2_SC,
        LOW_SC,
        HIGH,
        SPINNER,
        LOW2,
        LOW,
        STARTUP_PORTAL,
        STARTER.ec,
        PORTAL,
        HANDLER.ec,
        SM_HIGH_DONE,
        SM_LOW_DONE,
        SM_PARK,
        SM_NAP,
    ])
}
