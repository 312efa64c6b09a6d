//! A recall whose handler is busy: the recalled thread waits for the handler (lending it
//! its time) and its recall goes once the handler is free, as in the reference, where a
//! recalled EC helps and retries. One handler serves a #UD portal and a recall portal; a
//! first thread's #UD holds the handler until the roottask lets go, and a second thread,
//! which only spins, recalls itself meanwhile: at its next quantum end the recall finds
//! the handler busy and the thread stops spinning (with nothing else ready while the
//! roottask naps, the CPU idles) until the recall has gone to the handler, then spins on.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{EVENT_RECALL, EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    create_ec, create_sc, ec_flags, ec_recall, reply, sm_down, sm_down_until, sm_up,
};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::{BUSY_RECALL as S, BUSY_RECALL_EVENTS, BUSY_RECALL_UTCBS};
use crate::suite::naps::{nap_until, tsc};
use crate::suite::tools::{revoke_all, semaphores, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The #UD and recall handler, and the start-up handler.
const HANDLER: Handler = Handler::new(S.at(0), BUSY_RECALL_UTCBS.utcb(0));
const STARTER: Handler = Handler::new(S.at(1), BUSY_RECALL_UTCBS.utcb(1));
const FAULTER: u64 = S.at(2);
const SPINNER: u64 = S.at(3);
const SCS: [u64; 2] = [S.at(4), S.at(5)];
const SM_HOLD: u64 = S.at(6);
const SM_NAP: u64 = S.at(7);
const SM_PARK: u64 = S.at(8);
const EVT: u64 = BUSY_RECALL_EVENTS.base(0);
const UD_PORTAL: u64 = EVT + 6;
const STARTUP_PORTAL: u64 = EVT + EVENT_STARTUP;
const RECALL_PORTAL: u64 = EVT + EVENT_RECALL;
const H: Utcb = HANDLER.utcb;

static STARTED: AtomicU64 = AtomicU64::new(0);
static UD_SEEN: AtomicU64 = AtomicU64::new(0);
static RECALLS: AtomicU64 = AtomicU64::new(0);
static SPINS: AtomicU64 = AtomicU64::new(0);
static SELF_RECALL: AtomicU64 = AtomicU64::new(0);

static HANDLER_STACK: Stack = Stack::new();
static STARTER_STACK: Stack = Stack::new();
static THREAD_STACKS: [Stack; 2] = [const { Stack::new() }; 2];

facet_rt::portal_entry!(fn ud_entry on HANDLER_STACK => ud_handler);
facet_rt::portal_entry!(fn recall_entry on HANDLER_STACK => recall_handler);
facet_rt::portal_entry!(fn start_entry on STARTER_STACK => start_thread);

global_asm!(
    r#"
    .section .text.busy_recall_faulter, "ax"
    .global __busy_recall_faulter
    // The first thread: UD2, then (resumed past it) park.
__busy_recall_faulter:
    ud2
    call {park}
    ud2
"#,
    park = sym park,
);

extern "C" {
    fn __busy_recall_faulter();
}

/// The #UD handler: holds until the roottask lets go, then resumes past the UD2.
extern "C" fn ud_handler(_id: u64) -> ! {
    UD_SEEN.fetch_add(1, Ordering::SeqCst);
    let _ = sm_down(SM_HOLD);
    // The message has the RIP.
    H.put(u::RIP, H.get(u::RIP) + 2);
    H.reply_with(mtd::RIP_LEN);
    reply()
}

/// The recall handler: counts, and lets the thread go on as it was.
extern "C" fn recall_handler(_id: u64) -> ! {
    RECALLS.fetch_add(1, Ordering::SeqCst);
    H.reply_with(0);
    reply()
}

/// Start-up: the faulter first, then the spinner, each on its own stack.
extern "C" fn start_thread(_id: u64) -> ! {
    let m = if STARTED.fetch_add(1, Ordering::SeqCst) == 0 {
        let sp = THREAD_STACKS[0].top() - 8;
        STARTER.utcb.start(addr(__busy_recall_faulter), sp)
    } else {
        STARTER.utcb.start_thread(spin, &THREAD_STACKS[1])
    };
    STARTER.utcb.reply_with(m);
    reply()
}

extern "C" fn park() -> ! {
    loop {
        let _ = sm_down(SM_PARK);
    }
}

extern "C" fn spin(_: u64) -> ! {
    loop {
        if SELF_RECALL.swap(0, Ordering::SeqCst) == 1 {
            let _ = ec_recall(SPINNER);
        }
        SPINS.fetch_add(1, Ordering::SeqCst);
    }
}

/// The spinner's spins while the roottask naps `ms` milliseconds.
fn spins_over(per_ms: u64, ms: u64) -> u64 {
    let before = SPINS.load(Ordering::SeqCst);
    let _ = sm_down_until(SM_NAP, tsc() + ms * per_ms);
    SPINS.load(Ordering::SeqCst) - before
}

pub fn recall_waits_for_a_busy_handler(e: &Env) -> TestResult {
    let per_ms = e.per_ms();
    HANDLER.create()?;
    HANDLER.portal(UD_PORTAL, mtd::RIP_LEN, ud_entry)?;
    HANDLER.portal(RECALL_PORTAL, 0, recall_entry)?;
    STARTER.create()?;
    STARTER.startup_portal(EVT, start_entry)?;
    semaphores([SM_HOLD, SM_NAP, SM_PARK])?;
    for (ec, page) in [(FAULTER, 2), (SPINNER, 3)] {
        let utcb = BUSY_RECALL_UTCBS.addr(page);
        ok(
            create_ec(ec, PD, ec_flags::GLOBAL, 0, utcb, 0, EVT),
            "thread EC",
        )?;
    }
    // The faulter's #UD holds the handler.
    ok(create_sc(SCS[0], PD, FAULTER, 1, 1000), "faulter SC")?;
    nap_until(SM_NAP, per_ms, || UD_SEEN.load(Ordering::SeqCst) == 1)?;
    // The spinner runs while the roottask naps.
    ok(create_sc(SCS[1], PD, SPINNER, 1, 1000), "spinner SC")?;
    nap_until(SM_NAP, per_ms, || SPINS.load(Ordering::SeqCst) > 0)?;
    // Recalled (by itself) while the handler is busy, it waits: no spins while the
    // roottask naps. First the spinner must have taken the flag (on a busy host its CPU
    // may not have run it yet), then its quantum (1 ms) must have ended.
    SELF_RECALL.store(1, Ordering::SeqCst);
    nap_until(SM_NAP, per_ms, || SELF_RECALL.load(Ordering::SeqCst) == 0)?;
    let _ = spins_over(per_ms, 5);
    ensure_eq!(spins_over(per_ms, 20), 0u64);
    ensure_eq!(RECALLS.load(Ordering::SeqCst), 0u64);
    // Let go: the #UD is answered, then the recall goes, and the spinner spins on.
    ok(sm_up(SM_HOLD), "release the handler")?;
    nap_until(SM_NAP, per_ms, || RECALLS.load(Ordering::SeqCst) == 1)?;
    ensure!(spins_over(per_ms, 20) > 0, "the spinner did not go on");
    revoke_all(
        SCS.into_iter()
            .chain([FAULTER, SPINNER])
            .chain([
                STARTUP_PORTAL,
                STARTER.ec,
                UD_PORTAL,
                RECALL_PORTAL,
                HANDLER.ec,
            ])
            .chain([SM_HOLD, SM_NAP, SM_PARK]),
    )
}
