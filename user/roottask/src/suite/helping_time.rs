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

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{
    call, create_ec, create_pt, create_sc, create_sm, ec_flags, reply, revoke, sm_down,
    sm_down_until, sm_up,
};

use super::naps::{nap_until, tsc};
use super::{ok, Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
const HANDLER: u64 = 1741;
const STARTER: u64 = 1742;
const LOW: u64 = 1743;
const LOW2: u64 = 1754;
const LOW2_SC: u64 = 1755;
const LOW2_UTCB: u64 = 0x3004_9000;
const SPINNER: u64 = 1744;
const HIGH: u64 = 1745;
const LOW_SC: u64 = 1746;
const SPINNER_SC: u64 = 1747;
const HIGH_SC: u64 = 1748;
const PORTAL: u64 = 1749;
const SM_HIGH_DONE: u64 = 1750;
const SM_LOW_DONE: u64 = 1751;
const SM_PARK: u64 = 1752;
const SM_NAP: u64 = 1753;
/// The start-up portal is at EVT + 30.
const EVT: u64 = 1792;
const STARTUP_PORTAL: u64 = EVT + 30;
const HANDLER_UTCB: u64 = 0x3004_4000;
const STARTER_UTCB: u64 = 0x3004_5000;
const LOW_UTCB: u64 = 0x3004_6000;
const SPINNER_UTCB: u64 = 0x3004_7000;
const HIGH_UTCB: u64 = 0x3004_8000;

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

global_asm!(
    r#"
    .section .bss.helping_time_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
helping_time_handler_stack:
    .skip 0x4000
helping_time_starter_stack:
    .skip 0x4000
__helping_time_stack0:
    .skip 0x4000
__helping_time_stack1:
    .skip 0x4000
__helping_time_stack2:
    .skip 0x4000
__helping_time_stack3:
    .global __helping_time_stack3
    .global __helping_time_stack0
    .global __helping_time_stack1
    .global __helping_time_stack2
    .section .text.helping_time_entries, "ax"
    .global __helping_time_work
    .global __helping_time_start
__helping_time_work:
    lea rsp, [rip + helping_time_handler_stack]
    call {work}
    ud2
__helping_time_start:
    lea rsp, [rip + helping_time_starter_stack]
    call {start}
    ud2
"#,
    work = sym work_handler,
    start = sym start_thread,
);

extern "C" {
    static __helping_time_stack0: u8;
    static __helping_time_stack1: u8;
    static __helping_time_stack2: u8;
    static __helping_time_stack3: u8;
    fn __helping_time_work();
    fn __helping_time_start();
}

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
    // SAFETY: the handler's UTCB is mapped read-write at HANDLER_UTCB: no words back.
    unsafe { (HANDLER_UTCB as *mut u64).write_volatile(0) };
    reply()
}

/// Start-up of the threads, in the order they start: the two low clients, the spinner,
/// the high client.
extern "C" fn start_thread(_id: u64) -> ! {
    let k = STARTED.fetch_add(1, Ordering::SeqCst);
    let (entry, stack): (extern "C" fn() -> !, *const u8) = match k {
        0 => (low_client, core::ptr::addr_of!(__helping_time_stack0)),
        1 => (low_client2, core::ptr::addr_of!(__helping_time_stack3)),
        2 => (spinner, core::ptr::addr_of!(__helping_time_stack1)),
        _ => (high_client, core::ptr::addr_of!(__helping_time_stack2)),
    };
    let put = |at: usize, v: u64| {
        // SAFETY: the starter's UTCB is mapped read-write at STARTER_UTCB.
        unsafe { ((STARTER_UTCB + at as u64) as *mut u64).write_volatile(v) }
    };
    put(u::RIP, entry as *const () as u64);
    put(u::RSP, stack as u64 - 8);
    put(u::MTD, (mtd::RIP_LEN | mtd::RSP) as u64);
    reply()
}

fn park() -> ! {
    loop {
        let _ = sm_down(SM_PARK);
    }
}

extern "C" fn low_client() -> ! {
    // SAFETY: this thread's UTCB is mapped read-write at LOW_UTCB: no words.
    unsafe { (LOW_UTCB as *mut u64).write_volatile(0) };
    if call(PORTAL).is_ok() {
        LOW_SERVED.fetch_add(1, Ordering::SeqCst);
    }
    let _ = sm_up(SM_LOW_DONE);
    park()
}

extern "C" fn low_client2() -> ! {
    // SAFETY: this thread's UTCB is mapped read-write at LOW2_UTCB: no words.
    unsafe { (LOW2_UTCB as *mut u64).write_volatile(0) };
    LOW2_CALLING.store(1, Ordering::SeqCst);
    if call(PORTAL).is_ok() {
        LOW_SERVED.fetch_add(1, Ordering::SeqCst);
    }
    let _ = sm_up(SM_LOW_DONE);
    park()
}

/// Starts the high client (which takes the CPU from it at once), then spins for SPIN
/// ticks.
extern "C" fn spinner() -> ! {
    let until = tsc() + SPIN.load(Ordering::SeqCst);
    let _ = create_sc(HIGH_SC, PD, HIGH, 3, 1000);
    while tsc() < until {
        core::hint::spin_loop();
    }
    SPINNER_STOPPED.store(1, Ordering::SeqCst);
    park()
}

extern "C" fn high_client() -> ! {
    // SAFETY: this thread's UTCB is mapped read-write at HIGH_UTCB: no words.
    unsafe { (HIGH_UTCB as *mut u64).write_volatile(0) };
    HIGH_CALLING.store(1, Ordering::SeqCst);
    if call(PORTAL).is_ok() {
        let before = SPINNER_STOPPED.load(Ordering::SeqCst) == 0;
        HIGH_SERVED.store(if before { 1 } else { 2 }, Ordering::SeqCst);
    }
    let _ = sm_up(SM_HIGH_DONE);
    park()
}

pub fn busy_handler_runs_on_the_callers_time(w: &World) -> TestResult {
    let per_ms = w.hip.u32(off::FREQ_TSC) as u64;
    SPIN.store(400 * per_ms, Ordering::SeqCst);
    PATIENCE.store(2000 * per_ms, Ordering::SeqCst);
    ok(
        create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB, 0, 0),
        "handler EC",
    )?;
    let work = __helping_time_work as *const () as u64;
    ok(create_pt(PORTAL, PD, HANDLER, 0, work), "portal")?;
    ok(
        create_ec(STARTER, PD, 0, 0, STARTER_UTCB, 0, 0),
        "starter EC",
    )?;
    let start = __helping_time_start as *const () as u64;
    let m = (mtd::RIP_LEN | mtd::RSP) as u64;
    ok(
        create_pt(STARTUP_PORTAL, PD, STARTER, m, start),
        "start-up portal",
    )?;
    for sm in [SM_HIGH_DONE, SM_LOW_DONE, SM_PARK, SM_NAP] {
        ok(create_sm(sm, PD, 0, 0), "sm")?;
    }
    for (ec, utcb) in [
        (LOW, LOW_UTCB),
        (LOW2, LOW2_UTCB),
        (SPINNER, SPINNER_UTCB),
        (HIGH, HIGH_UTCB),
    ] {
        ok(
            create_ec(ec, PD, ec_flags::GLOBAL, 0, utcb, 0, EVT),
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
    for sel in [
        HIGH_SC,
        SPINNER_SC,
        LOW2_SC,
        LOW_SC,
        HIGH,
        SPINNER,
        LOW2,
        LOW,
        STARTUP_PORTAL,
        STARTER,
        PORTAL,
        HANDLER,
        SM_HIGH_DONE,
        SM_LOW_DONE,
        SM_PARK,
        SM_NAP,
    ] {
        ok(
            revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None),
            "revoke",
        )?;
    }
    Ok(())
}
