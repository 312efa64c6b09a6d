//! An exception whose handler is busy: the faulting thread waits for the handler (lending
//! it its time, as a caller of a busy portal does) and its message goes once the handler
//! is free, as in the reference. Two threads share one #UD handler; the first fault holds
//! the handler until the roottask lets go, the second arrives meanwhile, and both are
//! handled and resume past their UD2.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, reply, revoke, sm_down, sm_down_until,
    sm_up,
};

use super::naps::{nap_until, tsc};
use super::{ok, Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
const HANDLER: u64 = 1760;
const STARTER: u64 = 1761;
const THREADS: [u64; 2] = [1762, 1763];
const SCS: [u64; 2] = [1764, 1765];
const UD_PORTAL: u64 = EVT + 6;
const STARTUP_PORTAL: u64 = EVT + 30;
const SM_HOLD: u64 = 1766;
const SM_DONE: u64 = 1767;
const SM_PARK: u64 = 1768;
const SM_NAP: u64 = 1769;
const EVT: u64 = 2560;
const HANDLER_UTCB: u64 = 0x3004_a000;
const STARTER_UTCB: u64 = 0x3004_b000;
const THREAD_UTCBS: [u64; 2] = [0x3004_c000, 0x3004_d000];

static STARTED: AtomicU64 = AtomicU64::new(0);
static UD_SEEN: AtomicU64 = AtomicU64::new(0);
static RESUMED: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.busy_exception_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
busy_exception_handler_stack:
    .skip 0x4000
busy_exception_starter_stack:
    .skip 0x4000
__busy_exception_stack0:
    .skip 0x4000
__busy_exception_stack1:
    .global __busy_exception_stack0
    .global __busy_exception_stack1
    .section .text.busy_exception_entries, "ax"
    .global __busy_exception_ud
    .global __busy_exception_start
    .global __busy_exception_thread
__busy_exception_ud:
    lea rsp, [rip + busy_exception_handler_stack]
    call {ud}
    ud2
__busy_exception_start:
    lea rsp, [rip + busy_exception_starter_stack]
    call {start}
    ud2
    // A thread: UD2, then (resumed past it) report.
__busy_exception_thread:
    ud2
    call {resumed}
    ud2
"#,
    ud = sym ud_handler,
    start = sym start_thread,
    resumed = sym resumed,
);

extern "C" {
    static __busy_exception_stack0: u8;
    static __busy_exception_stack1: u8;
    fn __busy_exception_ud();
    fn __busy_exception_start();
    fn __busy_exception_thread();
}

/// The #UD handler: the first fault holds it until the roottask lets go; each is
/// resumed past its two-byte UD2.
extern "C" fn ud_handler(_id: u64) -> ! {
    if UD_SEEN.fetch_add(1, Ordering::SeqCst) == 0 {
        let _ = sm_down(SM_HOLD);
    }
    let put = |at: usize, v: u64| {
        // SAFETY: the handler's UTCB is mapped read-write at HANDLER_UTCB.
        unsafe { ((HANDLER_UTCB + at as u64) as *mut u64).write_volatile(v) }
    };
    // SAFETY: as above; the message carries the faulting RIP.
    let rip = unsafe { ((HANDLER_UTCB + u::RIP as u64) as *const u64).read_volatile() };
    put(u::RIP, rip + 2);
    put(u::MTD, mtd::RIP_LEN as u64);
    reply()
}

/// Start-up of the next thread at its entry on its own stack.
extern "C" fn start_thread(_id: u64) -> ! {
    let k = STARTED.fetch_add(1, Ordering::SeqCst);
    let stack = if k == 0 {
        core::ptr::addr_of!(__busy_exception_stack0)
    } else {
        core::ptr::addr_of!(__busy_exception_stack1)
    } as u64;
    let put = |at: usize, v: u64| {
        // SAFETY: the starter's UTCB is mapped read-write at STARTER_UTCB.
        unsafe { ((STARTER_UTCB + at as u64) as *mut u64).write_volatile(v) }
    };
    put(u::RIP, __busy_exception_thread as *const () as u64);
    put(u::RSP, stack - 8);
    put(u::MTD, (mtd::RIP_LEN | mtd::RSP) as u64);
    reply()
}

extern "C" fn resumed() -> ! {
    RESUMED.fetch_add(1, Ordering::SeqCst);
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

pub fn exception_waits_for_a_busy_handler(w: &World) -> TestResult {
    let per_ms = w.hip.u32(off::FREQ_TSC) as u64;
    let entry = |f: unsafe extern "C" fn()| f as *const () as u64;
    ok(
        create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB, 0, 0),
        "handler EC",
    )?;
    ok(
        create_pt(
            UD_PORTAL,
            PD,
            HANDLER,
            mtd::RIP_LEN as u64,
            entry(__busy_exception_ud),
        ),
        "#UD portal",
    )?;
    ok(
        create_ec(STARTER, PD, 0, 0, STARTER_UTCB, 0, 0),
        "starter EC",
    )?;
    let m = (mtd::RIP_LEN | mtd::RSP) as u64;
    ok(
        create_pt(
            STARTUP_PORTAL,
            PD,
            STARTER,
            m,
            entry(__busy_exception_start),
        ),
        "start-up portal",
    )?;
    for sm in [SM_HOLD, SM_DONE, SM_PARK, SM_NAP] {
        ok(create_sm(sm, PD, 0, 0), "sm")?;
    }
    for k in 0..2 {
        ok(
            create_ec(THREADS[k], PD, ec_flags::GLOBAL, 0, THREAD_UTCBS[k], 0, EVT),
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
    for sel in SCS
        .into_iter()
        .chain(THREADS)
        .chain([STARTUP_PORTAL, STARTER, UD_PORTAL, HANDLER])
        .chain([SM_HOLD, SM_DONE, SM_PARK, SM_NAP])
    {
        ok(
            revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None),
            "revoke",
        )?;
    }
    Ok(())
}
