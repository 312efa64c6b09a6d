//! A call to a busy portal handler: a blocking caller waits until the handler is free and
//! is then served (in the order callers came); a caller that asked not to block gets
//! TIMEOUT at once.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hypercall::call as call_flags;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::hypercall::{
    call, call_with, create_ec, create_pt, create_sc, create_sm, ec_flags, reply, sm_down,
    sm_down_until, sm_up,
};

use super::naps::tsc;
use super::{ok, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const HANDLER: u64 = 1600;
const STARTER: u64 = 1601;
const CLIENT: u64 = 1602;
const CLIENT_SC: u64 = 1610;
const PORTAL: u64 = 1620;
const SM_IN_HANDLER: u64 = 1630;
const SM_HOLD: u64 = 1631;
const SM_DONE: u64 = 1632;
const SM_PARK: u64 = 1633;
const SM_NAP: u64 = 1634;
const EVT: u64 = 1664;
const EVENT_STARTUP: u64 = 30;
const HANDLER_UTCB: u64 = 0x3004_0000;
const STARTER_UTCB: u64 = 0x3004_1000;
const CLIENT_UTCB: u64 = 0x3004_2000;
const CLIENTS: usize = 2;

static CALLS: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);
static RESULT: [AtomicU64; CLIENTS] = [const { AtomicU64::new(u64::MAX) }; CLIENTS];
/// Which client the handler served first and second (from the word each one sends).
static SERVED: [AtomicU64; CLIENTS] = [const { AtomicU64::new(u64::MAX) }; CLIENTS];

global_asm!(
    r#"
    .section .bss.helping_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
helping_handler_stack:
    .skip 0x4000
helping_starter_stack:
    .skip 0x4000
__helping_client0_stack:
    .skip 0x4000
__helping_client1_stack:
    .global __helping_client0_stack
    .global __helping_client1_stack
    .section .text.helping_entries, "ax"
    .global __helping_busy
    .global __helping_start
__helping_busy:
    lea rsp, [rip + helping_handler_stack]
    call {busy}
    ud2
__helping_start:
    lea rsp, [rip + helping_starter_stack]
    call {start}
    ud2
"#,
    busy = sym busy_handler,
    start = sym start_client,
);

extern "C" {
    static __helping_client0_stack: u8;
    static __helping_client1_stack: u8;
    fn __helping_busy();
    fn __helping_start();
}

/// The portal's handler: records whom it serves; the first call holds it busy until the
/// roottask lets go.
extern "C" fn busy_handler(_id: u64) -> ! {
    // SAFETY: the handler's UTCB is mapped at HANDLER_UTCB; word 0 of the message is the
    // client's number.
    let client = unsafe { ((HANDLER_UTCB + u::DATA as u64) as *const u64).read_volatile() };
    let n = CALLS.fetch_add(1, Ordering::SeqCst);
    if let Some(slot) = SERVED.get(n as usize) {
        slot.store(client, Ordering::SeqCst);
    }
    if n == 0 {
        let _ = sm_up(SM_IN_HANDLER);
        let _ = sm_down(SM_HOLD);
    }
    // SAFETY: the handler's UTCB is mapped read-write at HANDLER_UTCB.
    unsafe { (HANDLER_UTCB as *mut u64).write_volatile(0) };
    reply()
}

/// Start-up of the next client: its function, its stack, its number in RDI.
extern "C" fn start_client(_id: u64) -> ! {
    let k = STARTED.fetch_add(1, Ordering::SeqCst);
    let stack = if k == 0 {
        core::ptr::addr_of!(__helping_client0_stack)
    } else {
        core::ptr::addr_of!(__helping_client1_stack)
    } as u64;
    let put = |at: usize, v: u64| {
        // SAFETY: the starter's UTCB is mapped read-write at STARTER_UTCB.
        unsafe { ((STARTER_UTCB + at as u64) as *mut u64).write_volatile(v) }
    };
    put(u::RIP, client as *const () as u64);
    put(u::RSP, stack - 8);
    put(u::RDI, k);
    put(u::MTD, (mtd::RIP_LEN | mtd::RSP | mtd::GPR_BSD) as u64);
    reply()
}

/// Client `k`: one call through the portal (its number as the message), then report and
/// park.
extern "C" fn client(k: u64) -> ! {
    let utcb = CLIENT_UTCB + k * 0x1000;
    // SAFETY: this client's UTCB is mapped read-write there: one untyped word, `k`.
    unsafe {
        (utcb as *mut u64).write_volatile(1);
        ((utcb + u::DATA as u64) as *mut u64).write_volatile(k);
    }
    let r = call(PORTAL);
    RESULT[k as usize].store(
        match r {
            Ok(()) => Status::Success as u64,
            Err(s) => s as u64,
        },
        Ordering::SeqCst,
    );
    FINISHED.fetch_add(1, Ordering::SeqCst);
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

fn start(k: u64) -> TestResult {
    ok(
        create_ec(
            CLIENT + k,
            PD,
            ec_flags::GLOBAL,
            0,
            CLIENT_UTCB + k * 0x1000,
            0,
            EVT,
        ),
        "client EC",
    )?;
    ok(
        create_sc(CLIENT_SC + k, PD, CLIENT + k, 1, 1000),
        "client SC",
    )
}

pub fn busy_handler_makes_callers_wait() -> TestResult {
    ok(
        create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB, 0, 0),
        "handler EC",
    )?;
    ok(
        create_ec(STARTER, PD, 0, 0, STARTER_UTCB, 0, 0),
        "starter EC",
    )?;
    let busy = __helping_busy as *const () as u64;
    ok(create_pt(PORTAL, PD, HANDLER, 0, busy), "portal")?;
    let starter = __helping_start as *const () as u64;
    let m = (mtd::RIP_LEN | mtd::RSP) as u64;
    ok(
        create_pt(EVT + EVENT_STARTUP, PD, STARTER, m, starter),
        "start-up portal",
    )?;
    for sm in [SM_IN_HANDLER, SM_HOLD, SM_DONE, SM_PARK, SM_NAP] {
        ok(create_sm(sm, PD, 0, 0), "sm")?;
    }
    // The first client's call holds the handler.
    start(0)?;
    ok(sm_down(SM_IN_HANDLER), "first call in the handler")?;
    // A caller that will not wait is told so at once.
    ensure_eq!(
        call_with(PORTAL, call_flags::DISABLE_BLOCKING),
        Err(Status::Timeout)
    );
    // The second client calls and waits (this CPU naps so that it can).
    start(1)?;
    let nap = tsc() + 50_000_000;
    ensure_eq!(sm_down_until(SM_NAP, nap), Err(Status::Timeout));
    ensure_eq!(STARTED.load(Ordering::SeqCst), 2u64);
    ensure_eq!(FINISHED.load(Ordering::SeqCst), 0u64);
    ensure_eq!(CALLS.load(Ordering::SeqCst), 1u64);
    // Let the handler go: the first client gets its reply, then the second is served.
    ok(sm_up(SM_HOLD), "release the handler")?;
    for _ in 0..CLIENTS {
        ok(sm_down(SM_DONE), "a client finished")?;
    }
    ensure_eq!(CALLS.load(Ordering::SeqCst), 2u64);
    // Both succeeded, served in the order they called.
    for k in 0..CLIENTS {
        ensure_eq!(RESULT[k].load(Ordering::SeqCst), Status::Success as u64);
        ensure_eq!(SERVED[k].load(Ordering::SeqCst), k as u64);
    }
    Ok(())
}
