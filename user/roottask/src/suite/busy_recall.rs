//! A recall whose handler is busy: the recalled thread waits for the handler (lending it
//! its time) and its recall goes once the handler is free, as in the reference, where a
//! recalled EC helps and retries. One handler serves a #UD portal and a recall portal; a
//! first thread's #UD holds the handler until the roottask lets go, and a second thread,
//! which only spins, recalls itself meanwhile: at its next quantum end the recall finds
//! the handler busy and the thread stops spinning (with nothing else ready while the
//! roottask naps, the CPU idles) until the recall has gone to the handler, then spins on.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, ec_recall, reply, revoke, sm_down,
    sm_down_until, sm_up,
};

use super::naps::{nap_until, tsc};
use super::{ok, Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
const HANDLER: u64 = 3100;
const STARTER: u64 = 3101;
const FAULTER: u64 = 3102;
const SPINNER: u64 = 3103;
const SCS: [u64; 2] = [3104, 3105];
const SM_HOLD: u64 = 3106;
const SM_NAP: u64 = 3107;
const SM_PARK: u64 = 3108;
const EVT: u64 = 3328;
const UD_PORTAL: u64 = EVT + 6;
const STARTUP_PORTAL: u64 = EVT + 30;
const RECALL_PORTAL: u64 = EVT + 31;
const HANDLER_UTCB: u64 = 0x3005_0000;
const STARTER_UTCB: u64 = 0x3005_1000;
const THREAD_UTCBS: [u64; 2] = [0x3005_2000, 0x3005_3000];

static STARTED: AtomicU64 = AtomicU64::new(0);
static UD_SEEN: AtomicU64 = AtomicU64::new(0);
static RECALLS: AtomicU64 = AtomicU64::new(0);
static SPINS: AtomicU64 = AtomicU64::new(0);
static SELF_RECALL: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.busy_recall_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
busy_recall_handler_stack:
    .skip 0x4000
busy_recall_starter_stack:
    .skip 0x4000
__busy_recall_stack0:
    .skip 0x4000
__busy_recall_stack1:
    .global __busy_recall_stack0
    .global __busy_recall_stack1
    .section .text.busy_recall_entries, "ax"
    .global __busy_recall_ud
    .global __busy_recall_recall
    .global __busy_recall_start
    .global __busy_recall_faulter
    .global __busy_recall_spinner
__busy_recall_ud:
    lea rsp, [rip + busy_recall_handler_stack]
    call {ud}
    ud2
__busy_recall_recall:
    lea rsp, [rip + busy_recall_handler_stack]
    call {recall}
    ud2
__busy_recall_start:
    lea rsp, [rip + busy_recall_starter_stack]
    call {start}
    ud2
    // The first thread: UD2, then (resumed past it) park.
__busy_recall_faulter:
    ud2
    call {park}
    ud2
__busy_recall_spinner:
    call {spin}
    ud2
"#,
    ud = sym ud_handler,
    recall = sym recall_handler,
    start = sym start_thread,
    park = sym park,
    spin = sym spin,
);

extern "C" {
    static __busy_recall_stack0: u8;
    static __busy_recall_stack1: u8;
    fn __busy_recall_ud();
    fn __busy_recall_recall();
    fn __busy_recall_start();
    fn __busy_recall_faulter();
    fn __busy_recall_spinner();
}

fn put(utcb: u64, at: usize, v: u64) {
    // SAFETY: `utcb` is the UTCB of the EC running this, mapped read-write.
    unsafe { ((utcb + at as u64) as *mut u64).write_volatile(v) }
}

/// The #UD handler: holds until the roottask lets go, then resumes past the UD2.
extern "C" fn ud_handler(_id: u64) -> ! {
    UD_SEEN.fetch_add(1, Ordering::SeqCst);
    let _ = sm_down(SM_HOLD);
    // SAFETY: the handler's UTCB is mapped at HANDLER_UTCB; the message has the RIP.
    let rip = unsafe { ((HANDLER_UTCB + u::RIP as u64) as *const u64).read_volatile() };
    put(HANDLER_UTCB, u::RIP, rip + 2);
    put(HANDLER_UTCB, u::MTD, mtd::RIP_LEN as u64);
    reply()
}

/// The recall handler: counts, and lets the thread go on as it was.
extern "C" fn recall_handler(_id: u64) -> ! {
    RECALLS.fetch_add(1, Ordering::SeqCst);
    put(HANDLER_UTCB, u::MTD, 0);
    reply()
}

/// Start-up: the faulter first, then the spinner, each on its own stack.
extern "C" fn start_thread(_id: u64) -> ! {
    let (entry, stack) = if STARTED.fetch_add(1, Ordering::SeqCst) == 0 {
        (
            __busy_recall_faulter as *const () as u64,
            core::ptr::addr_of!(__busy_recall_stack0) as u64,
        )
    } else {
        (
            __busy_recall_spinner as *const () as u64,
            core::ptr::addr_of!(__busy_recall_stack1) as u64,
        )
    };
    put(STARTER_UTCB, u::RIP, entry);
    put(STARTER_UTCB, u::RSP, stack - 8);
    put(STARTER_UTCB, u::MTD, (mtd::RIP_LEN | mtd::RSP) as u64);
    reply()
}

extern "C" fn park() -> ! {
    loop {
        let _ = sm_down(SM_PARK);
    }
}

extern "C" fn spin() -> ! {
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

pub fn recall_waits_for_a_busy_handler(w: &World) -> TestResult {
    let per_ms = w.hip.u32(off::FREQ_TSC) as u64;
    let entry = |f: unsafe extern "C" fn()| f as *const () as u64;
    ok(
        create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB, 0, 0),
        "handler EC",
    )?;
    let m = mtd::RIP_LEN as u64;
    ok(
        create_pt(UD_PORTAL, PD, HANDLER, m, entry(__busy_recall_ud)),
        "#UD portal",
    )?;
    ok(
        create_pt(RECALL_PORTAL, PD, HANDLER, 0, entry(__busy_recall_recall)),
        "recall portal",
    )?;
    ok(
        create_ec(STARTER, PD, 0, 0, STARTER_UTCB, 0, 0),
        "starter EC",
    )?;
    let m = (mtd::RIP_LEN | mtd::RSP) as u64;
    ok(
        create_pt(STARTUP_PORTAL, PD, STARTER, m, entry(__busy_recall_start)),
        "start-up portal",
    )?;
    for sm in [SM_HOLD, SM_NAP, SM_PARK] {
        ok(create_sm(sm, PD, 0, 0), "sm")?;
    }
    for (ec, utcb) in [(FAULTER, THREAD_UTCBS[0]), (SPINNER, THREAD_UTCBS[1])] {
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
    // roottask naps.
    SELF_RECALL.store(1, Ordering::SeqCst);
    let _ = spins_over(per_ms, 5);
    ensure_eq!(spins_over(per_ms, 20), 0u64);
    ensure_eq!(RECALLS.load(Ordering::SeqCst), 0u64);
    // Let go: the #UD is answered, then the recall goes, and the spinner spins on.
    ok(sm_up(SM_HOLD), "release the handler")?;
    nap_until(SM_NAP, per_ms, || RECALLS.load(Ordering::SeqCst) == 1)?;
    ensure!(spins_over(per_ms, 20) > 0, "the spinner did not go on");
    for sel in SCS
        .into_iter()
        .chain([FAULTER, SPINNER])
        .chain([STARTUP_PORTAL, STARTER, UD_PORTAL, RECALL_PORTAL, HANDLER])
        .chain([SM_HOLD, SM_NAP, SM_PARK])
    {
        ok(
            revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None),
            "revoke",
        )?;
    }
    Ok(())
}
