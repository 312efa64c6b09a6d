//! Global ECs: their start-up and exception messages, blocking on semaphores, timer
//! preemption, recall, and what a revoke does to a running or waiting thread.
//!
//! One exception handler EC serves the start-up portals of every event base here (and
//! of `sm::every_deadline_ends_its_wait`): [`startup_portal`] says where the next thread
//! of an event base starts.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{EVENT_RECALL, EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::mtd;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_abi::utcb as u;
use facet_rt::entry::{thread_addr, Stack};
use facet_rt::hypercall::{
    create_ec, create_sc, ec_flags, ec_recall, reply, revoke, revoke_then_signal, sm_down,
    sm_down_until, sm_up,
};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::{IPC, IPC_EVENTS, IPC_UTCBS, NOTHING};
use crate::suite::naps::{spin_until, tsc};
use crate::suite::tools::{obj, revoke_all, semaphores, thread, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The exception handler EC.
const HANDLER: Handler = Handler::new(IPC.at(10), IPC_UTCBS.utcb(1));
const H: Utcb = HANDLER.utcb;
/// The worker (a global EC), its SC, the semaphore it signals and the one it parks on.
const WORKER: u64 = IPC.at(20);
const WORKER_SC: u64 = IPC.at(40);
const SM_WORKER: u64 = IPC.at(30);
const SM_PARK: u64 = IPC.at(31);
/// The threads of the later tests (spinner, revoke waiter, stale waiter): ECs, SCs.
const THREADS: [u64; 3] = [IPC.at(50), IPC.at(51), IPC.at(52)];
const THREAD_SCS: [u64; 3] = [IPC.at(60), IPC.at(61), IPC.at(62)];
/// Semaphores of the revoke tests.
const SM_REVOKE_WAIT: u64 = IPC.at(84);
const SM_REVOKE_DONE: u64 = IPC.at(85);
const SM_STALE_WAIT: u64 = IPC.at(86);
const SM_STALE_NAP: u64 = IPC.at(87);

static HANDLER_STACK: Stack = Stack::new();
static WORKER_STACK: Stack = Stack::new();
static THREAD_STACKS: [Stack; 3] = [const { Stack::new() }; 3];

facet_rt::portal_entry!(fn startup_entry on HANDLER_STACK => startup_handler);
facet_rt::portal_entry!(fn ud_entry on HANDLER_STACK => ud_handler);
facet_rt::portal_entry!(fn recall_entry on HANDLER_STACK => recall_handler);

static UD_SEEN: AtomicU64 = AtomicU64::new(0);
static WORKER_DONE: AtomicU64 = AtomicU64::new(0);
static RECALLS: AtomicU64 = AtomicU64::new(0);

/// Where the next global EC to start begins (RIP 0: the worker, on its stack).
static NEXT_RIP: AtomicU64 = AtomicU64::new(0);
static NEXT_SP: AtomicU64 = AtomicU64::new(0);

/// Start-up portal handler: starts the new global EC at `NEXT_RIP` (or the worker).
extern "C" fn startup_handler(_id: u64) -> ! {
    let m = match NEXT_RIP.load(Ordering::SeqCst) {
        0 => H.start_thread(worker, &WORKER_STACK),
        rip => H.start(rip, NEXT_SP.load(Ordering::SeqCst)),
    };
    H.reply_with(m);
    reply()
}

/// #UD portal handler: skips the two-byte `ud2`.
extern "C" fn ud_handler(_id: u64) -> ! {
    H.put(u::RIP, H.get(u::RIP) + 2);
    H.reply_with(mtd::RIP_LEN);
    UD_SEEN.fetch_add(1, Ordering::SeqCst);
    reply()
}

/// Recall portal handler: counts, and lets the EC continue unchanged (empty MTD).
extern "C" fn recall_handler(_id: u64) -> ! {
    RECALLS.fetch_add(1, Ordering::SeqCst);
    H.reply_with(0);
    reply()
}

/// The global EC: faults once, then wakes the roottask and parks.
extern "C" fn worker(_: u64) -> ! {
    // SAFETY: `ud2` raises #UD, which the handler answers by skipping it.
    unsafe { core::arch::asm!("ud2") };
    WORKER_DONE.store(1, Ordering::SeqCst);
    let _ = sm_up(SM_WORKER);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

pub fn exceptions_startup_and_semaphores(_: &Env) -> TestResult {
    let evt = IPC_EVENTS.base(0);
    HANDLER.create()?;
    ok(
        create_ec(WORKER, PD, ec_flags::GLOBAL, 0, IPC_UTCBS.addr(2), 0, evt),
        "create worker EC",
    )?;
    HANDLER.startup_portal(evt, startup_entry)?;
    HANDLER.portal(evt + 6, mtd::RIP_LEN, ud_entry)?;
    semaphores([SM_WORKER, SM_PARK])?;
    ok(
        create_sc(WORKER_SC, PD, WORKER, 1, 10_000),
        "create worker SC",
    )?;
    // Blocks until the worker, which runs once the roottask waits, wakes it.
    ok(sm_down(SM_WORKER), "down")?;
    ensure_eq!(UD_SEEN.load(Ordering::SeqCst), 1u64);
    ensure_eq!(WORKER_DONE.load(Ordering::SeqCst), 1u64);
    Ok(())
}

/// Creates the start-up portal of event base `evt`: the next global EC of that event
/// base to start begins at `rip` with RSP `sp` (the exception handler EC answers; needs
/// `ipc::exceptions_startup_and_semaphores` first).
pub fn startup_portal(evt: u64, rip: u64, sp: u64) -> TestResult {
    NEXT_RIP.store(rip, Ordering::SeqCst);
    NEXT_SP.store(sp, Ordering::SeqCst);
    HANDLER.startup_portal(evt, startup_entry)
}

/// Starts thread `k` (its EC, UTCB, stack and event base are the `k`-th) in `f`,
/// at the roottask's priority.
fn start_thread(k: usize, f: extern "C" fn(u64) -> !) -> TestResult {
    let evt = IPC_EVENTS.base(1 + k as u64);
    startup_portal(evt, thread_addr(f), THREAD_STACKS[k].top() - 8)?;
    let utcb = IPC_UTCBS.addr(3 + k as u64);
    thread(THREADS[k], utcb, evt, THREAD_SCS[k])
}

static SPINS: AtomicU64 = AtomicU64::new(0);

/// A global EC that never blocks.
extern "C" fn spinner(_: u64) -> ! {
    loop {
        SPINS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Needs `exceptions_startup_and_semaphores` first (the handler EC and its portals).
pub fn timer_preempts_and_revoke_stops(_: &Env) -> TestResult {
    // Same priority as the roottask: only the timer can give the spinner the CPU.
    start_thread(0, spinner)?;
    let ran = spin_until(20_000_000_000, || SPINS.load(Ordering::SeqCst) > 0);
    ensure!(ran, "the spinner never ran: no preemption");
    // Recall: the spinner reports to its event base + 31 before it runs again.
    HANDLER.portal(IPC_EVENTS.base(1) + EVENT_RECALL, 0, recall_entry)?;
    ensure!(
        ec_recall(PD) == Err(Status::BadCap),
        "recall of a PD capability"
    );
    ok(ec_recall(THREADS[0]), "recall")?;
    let recalled = spin_until(20_000_000_000, || RECALLS.load(Ordering::SeqCst) > 0);
    ensure!(recalled, "the recall portal was never called");
    let spins = SPINS.load(Ordering::SeqCst);
    ensure!(
        spin_until(20_000_000_000, || SPINS.load(Ordering::SeqCst) > spins),
        "the spinner did not continue"
    );
    // And the roottask got the CPU back, or it would not be here. Take the spinner away.
    ok(revoke(obj(THREAD_SCS[0]), true, None), "revoke SC")?;
    ok(revoke(obj(THREADS[0]), true, None), "revoke EC")?;
    let before = SPINS.load(Ordering::SeqCst);
    spin_until(50_000_000, || false);
    ensure_eq!(SPINS.load(Ordering::SeqCst), before);
    Ok(())
}

static REVOKE_WOKE: AtomicU64 = AtomicU64::new(0);

/// A global EC that waits on SM_REVOKE_WAIT, then says so and signals SM_REVOKE_DONE.
extern "C" fn revoke_waiter(_: u64) -> ! {
    let _ = sm_down(SM_REVOKE_WAIT);
    REVOKE_WOKE.store(1, Ordering::SeqCst);
    let _ = sm_up(SM_REVOKE_DONE);
    loop {
        let _ = sm_down(SM_REVOKE_WAIT);
    }
}

/// `revoke` signals its semaphore the way `sm_ctrl up` does: an Ec already waiting on it
/// wakes. Needs `exceptions_startup_and_semaphores` first (the handler EC).
pub fn revoke_wakes_a_waiter_on_its_semaphore(_: &Env) -> TestResult {
    semaphores([SM_REVOKE_WAIT, SM_REVOKE_DONE])?;
    start_thread(1, revoke_waiter)?;
    // While the roottask waits, the waiter starts and blocks on SM_REVOKE_WAIT.
    ensure_eq!(
        sm_down_until(SM_REVOKE_DONE, tsc() + 20_000_000),
        Err(Status::Timeout)
    );
    ensure_eq!(REVOKE_WOKE.load(Ordering::SeqCst), 0u64);
    // Revoking nothing, then signalling SM_REVOKE_WAIT: the waiter wakes and signals
    // SM_REVOKE_DONE.
    let nothing = Crd::new(Kind::Object, NOTHING, 0, perm::ALL);
    ok(
        revoke_then_signal(nothing, true, None, SM_REVOKE_WAIT),
        "revoke and signal",
    )?;
    ok(
        sm_down_until(SM_REVOKE_DONE, tsc() + 2_000_000_000),
        "the waiter woke",
    )?;
    ensure_eq!(REVOKE_WOKE.load(Ordering::SeqCst), 1u64);
    let startup = IPC_EVENTS.base(2) + EVENT_STARTUP;
    revoke_all([
        THREAD_SCS[1],
        THREADS[1],
        startup,
        SM_REVOKE_WAIT,
        SM_REVOKE_DONE,
    ])
}

static STALE_RAN: AtomicU64 = AtomicU64::new(0);

/// A global EC that waits on SM_STALE_WAIT and says so when it runs again.
extern "C" fn stale_waiter(_: u64) -> ! {
    let _ = sm_down(SM_STALE_WAIT);
    STALE_RAN.store(1, Ordering::SeqCst);
    loop {
        let _ = sm_down(SM_STALE_WAIT);
    }
}

/// A waiter whose SC was revoked while it waited does not run when its semaphore is
/// signalled: the SC it recorded is gone (its memory freed, not yet reused), and nothing
/// else gives it time. Needs `exceptions_startup_and_semaphores` first (the handler EC).
pub fn a_waiter_whose_sc_is_gone_does_not_run(_: &Env) -> TestResult {
    semaphores([SM_STALE_WAIT, SM_STALE_NAP])?;
    start_thread(2, stale_waiter)?;
    // While the roottask naps, the waiter starts and blocks on SM_STALE_WAIT.
    ensure_eq!(
        sm_down_until(SM_STALE_NAP, tsc() + 20_000_000),
        Err(Status::Timeout)
    );
    ok(
        revoke(obj(THREAD_SCS[2]), true, None),
        "revoke the waiter's SC",
    )?;
    ok(sm_up(SM_STALE_WAIT), "signal the waiter")?;
    ensure_eq!(
        sm_down_until(SM_STALE_NAP, tsc() + 20_000_000),
        Err(Status::Timeout)
    );
    ensure_eq!(STALE_RAN.load(Ordering::SeqCst), 0u64);
    let startup = IPC_EVENTS.base(3) + EVENT_STARTUP;
    revoke_all([THREADS[2], startup, SM_STALE_WAIT, SM_STALE_NAP])
}
