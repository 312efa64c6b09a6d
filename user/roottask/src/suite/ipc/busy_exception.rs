//! An exception whose handler is busy: the faulting thread waits for the handler (lending
//! it its time, as a caller of a busy portal does) and its message goes once the handler
//! is free, as in the reference. Two threads share one #UD handler; the first fault holds
//! the handler until the roottask lets go, the second arrives meanwhile, and both are
//! handled and resume past their UD2.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{create_ec, create_sc, ec_flags, reply, sm_down, sm_down_until, sm_up};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::{BUSY_EXCEPTION as S, BUSY_EXCEPTION_EVENTS, BUSY_EXCEPTION_UTCBS};
use crate::suite::naps::{nap_until, tsc};
use crate::suite::tools::{revoke_all, semaphores, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The #UD handler and the start-up handler.
const HANDLER: Handler = Handler::new(S.at(0), BUSY_EXCEPTION_UTCBS.utcb(0));
const STARTER: Handler = Handler::new(S.at(1), BUSY_EXCEPTION_UTCBS.utcb(1));
const THREADS: [u64; 2] = [S.at(2), S.at(3)];
const SCS: [u64; 2] = [S.at(4), S.at(5)];
const SM_HOLD: u64 = S.at(6);
const SM_DONE: u64 = S.at(7);
const SM_PARK: u64 = S.at(8);
const SM_NAP: u64 = S.at(9);
const EVT: u64 = BUSY_EXCEPTION_EVENTS.base(0);
const UD_PORTAL: u64 = EVT + 6;
const STARTUP_PORTAL: u64 = EVT + EVENT_STARTUP;
const H: Utcb = HANDLER.utcb;

static STARTED: AtomicU64 = AtomicU64::new(0);
static UD_SEEN: AtomicU64 = AtomicU64::new(0);
static RESUMED: AtomicU64 = AtomicU64::new(0);

static HANDLER_STACK: Stack = Stack::new();
static STARTER_STACK: Stack = Stack::new();
static THREAD_STACKS: [Stack; 2] = [const { Stack::new() }; 2];

facet_rt::portal_entry!(fn ud_entry on HANDLER_STACK => ud_handler);
facet_rt::portal_entry!(fn start_entry on STARTER_STACK => start_thread);

global_asm!(
    r#"
    .section .text.busy_exception_thread, "ax"
    .global __busy_exception_thread
    // A thread: UD2, then (resumed past it) report.
__busy_exception_thread:
    ud2
    call {resumed}
    ud2
"#,
    resumed = sym resumed,
);

extern "C" {
    fn __busy_exception_thread();
}

/// The #UD handler: the first fault holds it until the roottask lets go; each is
/// resumed past its two-byte UD2.
extern "C" fn ud_handler(_id: u64) -> ! {
    if UD_SEEN.fetch_add(1, Ordering::SeqCst) == 0 {
        let _ = sm_down(SM_HOLD);
    }
    // The message carries the faulting RIP.
    H.put(u::RIP, H.get(u::RIP) + 2);
    H.reply_with(mtd::RIP_LEN);
    reply()
}

/// Start-up of the next thread at its entry on its own stack.
extern "C" fn start_thread(_id: u64) -> ! {
    let k = STARTED.fetch_add(1, Ordering::SeqCst).min(1) as usize;
    let sp = THREAD_STACKS[k].top() - 8;
    let m = STARTER.utcb.start(addr(__busy_exception_thread), sp);
    STARTER.utcb.reply_with(m);
    reply()
}

extern "C" fn resumed() -> ! {
    RESUMED.fetch_add(1, Ordering::SeqCst);
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

pub fn exception_waits_for_a_busy_handler(e: &Env) -> TestResult {
    let per_ms = e.per_ms();
    HANDLER.create()?;
    HANDLER.portal(UD_PORTAL, mtd::RIP_LEN, ud_entry)?;
    STARTER.create()?;
    STARTER.startup_portal(EVT, start_entry)?;
    semaphores([SM_HOLD, SM_DONE, SM_PARK, SM_NAP])?;
    for (k, ec) in THREADS.into_iter().enumerate() {
        let utcb = BUSY_EXCEPTION_UTCBS.addr(2 + k as u64);
        ok(
            create_ec(ec, PD, ec_flags::GLOBAL, 0, utcb, 0, EVT),
            "thread EC",
        )?;
    }
    // The first thread faults and holds the handler.
    ok(
        create_sc(SCS[0], PD, THREADS[0], 1, 1000),
        "first thread SC",
    )?;
    nap_until(SM_NAP, per_ms, || UD_SEEN.load(Ordering::SeqCst) == 1)?;
    // The second faults while the handler is busy, and waits.
    ok(
        create_sc(SCS[1], PD, THREADS[1], 1, 1000),
        "second thread SC",
    )?;
    nap_until(SM_NAP, per_ms, || STARTED.load(Ordering::SeqCst) == 2)?;
    let _ = sm_down_until(SM_NAP, tsc() + 5 * per_ms);
    ensure_eq!(UD_SEEN.load(Ordering::SeqCst), 1u64);
    ensure_eq!(RESUMED.load(Ordering::SeqCst), 0u64);
    // Let go: both faults are handled and both threads resume.
    ok(sm_up(SM_HOLD), "release the handler")?;
    for _ in 0..2 {
        ok(
            sm_down_until(SM_DONE, tsc() + 2000 * per_ms),
            "a thread resumed",
        )?;
    }
    ensure_eq!(UD_SEEN.load(Ordering::SeqCst), 2u64);
    ensure_eq!(RESUMED.load(Ordering::SeqCst), 2u64);
    revoke_all(
        SCS.into_iter()
            .chain(THREADS)
            .chain([STARTUP_PORTAL, STARTER.ec, UD_PORTAL, HANDLER.ec])
            .chain([SM_HOLD, SM_DONE, SM_PARK, SM_NAP]),
    )
}
