//! A call to a busy portal handler: a blocking caller waits until the handler is free and
//! is then served (in the order callers came); a caller that asked not to block gets
//! TIMEOUT at once.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hypercall::call as call_flags;
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{call, call_with, reply, sm_down, sm_down_until, sm_up};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::{HELPING as S, HELPING_EVENTS, HELPING_UTCBS};
use crate::suite::naps::tsc;
use crate::suite::tools::{semaphores, thread, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

/// The portal's handler and the clients' start-up handler.
const HANDLER: Handler = Handler::new(S.at(0), HELPING_UTCBS.utcb(0));
const STARTER: Handler = Handler::new(S.at(1), HELPING_UTCBS.utcb(1));
const CLIENTS: [u64; 2] = [S.at(2), S.at(3)];
const CLIENT_SCS: [u64; 2] = [S.at(10), S.at(11)];
const PORTAL: u64 = S.at(20);
const SM_IN_HANDLER: u64 = S.at(30);
const SM_HOLD: u64 = S.at(31);
const SM_DONE: u64 = S.at(32);
const SM_PARK: u64 = S.at(33);
const SM_NAP: u64 = S.at(34);
const EVT: u64 = HELPING_EVENTS.base(0);
const H: Utcb = HANDLER.utcb;
/// Client `k`'s UTCB.
const fn client_utcb(k: u64) -> Utcb {
    HELPING_UTCBS.utcb(2 + k)
}

static CALLS: AtomicU64 = AtomicU64::new(0);
static STARTED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);
static RESULT: [AtomicU64; 2] = [const { AtomicU64::new(u64::MAX) }; 2];
/// Which client the handler served first and second (from the word each one sends).
static SERVED: [AtomicU64; 2] = [const { AtomicU64::new(u64::MAX) }; 2];

static HANDLER_STACK: Stack = Stack::new();
static STARTER_STACK: Stack = Stack::new();
static CLIENT_STACKS: [Stack; 2] = [const { Stack::new() }; 2];

facet_rt::portal_entry!(fn busy_entry on HANDLER_STACK => busy_handler);
facet_rt::portal_entry!(fn start_entry on STARTER_STACK => start_client);

/// The portal's handler: records whom it serves; the first call holds it busy until the
/// roottask lets go.
extern "C" fn busy_handler(_id: u64) -> ! {
    // Word 0 of the message is the client's number.
    let client = H.word(0);
    let n = CALLS.fetch_add(1, Ordering::SeqCst);
    if let Some(slot) = SERVED.get(n as usize) {
        slot.store(client, Ordering::SeqCst);
    }
    if n == 0 {
        let _ = sm_up(SM_IN_HANDLER);
        let _ = sm_down(SM_HOLD);
    }
    H.set_items(0);
    reply()
}

/// Start-up of the next client: its function, its stack, its number in RDI.
extern "C" fn start_client(_id: u64) -> ! {
    let k = STARTED.fetch_add(1, Ordering::SeqCst);
    let s = STARTER.utcb;
    let m = s.start_thread(client, &CLIENT_STACKS[k as usize % 2]);
    s.put(u::RDI, k);
    s.reply_with(m | mtd::GPR_BSD);
    reply()
}

/// Client `k`: one call through the portal (its number as the message), then report and
/// park.
extern "C" fn client(k: u64) -> ! {
    // One untyped word: `k`.
    client_utcb(k).send(&[k]);
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
    let (ec, sc) = (CLIENTS[k as usize], CLIENT_SCS[k as usize]);
    thread(ec, client_utcb(k).addr(), EVT, sc)
}

pub fn busy_handler_makes_callers_wait(_: &Env) -> TestResult {
    HANDLER.create()?;
    STARTER.create()?;
    HANDLER.portal(PORTAL, 0, busy_entry)?;
    STARTER.startup_portal(EVT, start_entry)?;
    semaphores([SM_IN_HANDLER, SM_HOLD, SM_DONE, SM_PARK, SM_NAP])?;
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
    for _ in CLIENTS {
        ok(sm_down(SM_DONE), "a client finished")?;
    }
    ensure_eq!(CALLS.load(Ordering::SeqCst), 2u64);
    // Both succeeded, served in the order they called.
    for k in 0..CLIENTS.len() {
        ensure_eq!(RESULT[k].load(Ordering::SeqCst), Status::Success as u64);
        ensure_eq!(SERVED[k].load(Ordering::SeqCst), k as u64);
    }
    Ok(())
}
