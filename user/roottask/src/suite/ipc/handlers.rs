//! More IPC: every untyped word count from 0 to the UTCB's maximum in both directions
//! (and counts beyond it, which arrive bounded), calls nested three deep (each handler
//! calling the next on the lent Sc), a handler that dies in a call (the caller gets
//! ABORT, as do later callers), a handler that calls its own portal, and a higher
//! priority that runs before its creator returns.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::mtd;
use facet_abi::status::Status;
use facet_abi::utcb as u;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    call, create_ec, create_pt, create_sc, ec_flags, pt_ctrl, reply, sm_down,
};
use facet_rt::utcb::{Utcb, MAX_WORDS};

use crate::suite::fixture::{
    IPC_HANDLERS as S, IPC_HANDLERS_EVENTS, IPC_HANDLERS_UTCBS, NO_PORTALS,
};
use crate::suite::tools::{semaphores, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// Handler ECs (count, depth 0..2, dying, start-up, self-calling) and their portals.
const EC_COUNT: u64 = S.at(0);
const EC_DEPTH: u64 = S.at(1);
const EC_DIE: u64 = S.at(4);
const EC_STARTER: u64 = S.at(5);
const EC_SELF: u64 = S.at(15);
const PT_COUNT: u64 = S.at(10);
const PT_DEPTH: u64 = S.at(11);
const PT_DIE: u64 = S.at(14);
const PT_SELF: u64 = S.at(16);
/// The high-priority worker, its SC, and where it parks.
const EC_HIGH: u64 = S.at(6);
const SC_HIGH: u64 = S.at(7);
const SM_HIGH_PARK: u64 = S.at(8);

static BAD_WORDS: AtomicU64 = AtomicU64::new(0);
static HIGH_RAN: AtomicU64 = AtomicU64::new(0);

static COUNT_STACK: Stack = Stack::new();
/// The nested handlers run at once, each on its own stack (by portal id).
static DEPTH_STACKS: [Stack; 3] = [const { Stack::new() }; 3];
static STARTER_STACK: Stack = Stack::new();
static HIGH_STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn count_entry on COUNT_STACK => count_handler);
facet_rt::portal_entry!(fn depth_entry on DEPTH_STACKS[id] => depth_handler);
facet_rt::portal_entry!(fn start_high_entry on STARTER_STACK => start_high);
facet_rt::portal_entry!(fn high_worker_entry on HIGH_STACK => high_worker);

global_asm!(
    r#"
    .section .text.ipc_handlers, "ax"
    .global __ipc_die
    .global __ipc_self_call
    // A handler whose first instruction faults.
__ipc_die:
    ud2
    // A handler that calls its own portal (blocking): call = hypercall 0.
__ipc_self_call:
    mov rdi, {self_call}
    syscall
    ud2
"#,
    self_call = const PT_SELF << 8,
);

extern "C" {
    fn __ipc_die();
    fn __ipc_self_call();
}

/// The UTCB of handler EC `ec`.
const fn utcb_of(ec: u64) -> Utcb {
    IPC_HANDLERS_UTCBS.utcb(ec - EC_COUNT)
}

/// Handler EC `ec`.
const fn handler(ec: u64) -> Handler {
    Handler::new(ec, utcb_of(ec))
}

/// Start-up of the high-priority worker: at its entry, which sets up its own stack.
extern "C" fn start_high(_id: u64) -> ! {
    let h = utcb_of(EC_STARTER);
    h.put(u::RIP, addr(high_worker_entry));
    h.reply_with(mtd::RIP_LEN);
    reply()
}

/// Records that it ran, then waits for good.
extern "C" fn high_worker(_: u64) -> ! {
    HIGH_RAN.store(1, Ordering::SeqCst);
    loop {
        let _ = sm_down(SM_HIGH_PARK);
    }
}

fn word_value(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9) ^ n
}

/// Checks the `n` words it got (each `word_value(i, n)`) and answers with `MAX - n`.
extern "C" fn count_handler(_id: u64) -> ! {
    let h = utcb_of(EC_COUNT);
    let n = h.untyped();
    for i in 0..n {
        if h.word(i) != word_value(i, n) {
            BAD_WORDS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let m = MAX_WORDS - n;
    for i in 0..m {
        h.set_word(i, word_value(i, m) ^ 1);
    }
    h.set_items(m);
    reply()
}

/// Depth `d` (the portal id, 0..2): adds `d + 1` to word 0 times 10^d, calls the next.
extern "C" fn depth_handler(d: u64) -> ! {
    let h = utcb_of(EC_DEPTH + d);
    let mut v = h.word(0);
    if d < 2 {
        // Word 0 goes on to the next handler, which answers with its sum.
        h.set_items(1);
        if call(PT_DEPTH + d + 1).is_ok() {
            v = h.word(0);
        }
    }
    h.send(&[v + (d + 1) * 10u64.pow(d as u32)]);
    reply()
}

pub fn every_word_count_both_ways(_: &Env) -> TestResult {
    handler(EC_COUNT).create()?;
    handler(EC_COUNT).portal(PT_COUNT, 0, count_entry)?;
    let r = Utcb::ROOT;
    for n in 0..=MAX_WORDS {
        for i in 0..n {
            r.set_word(i, word_value(i, n));
        }
        r.set_items(n);
        ok(call(PT_COUNT), "call")?;
        let m = r.untyped();
        ensure_eq!(m, MAX_WORDS - n);
        for i in 0..m {
            ensure_eq!(r.word(i), word_value(i, m) ^ 1);
        }
    }
    // A count beyond what a UTCB holds: the handler gets the words that fit and a count
    // saying so (the reference hands on the sender's count as it is).
    for i in 0..MAX_WORDS {
        r.set_word(i, word_value(i, MAX_WORDS));
    }
    for sent in [MAX_WORDS + 1, 0xffff] {
        r.set_items(sent);
        ok(call(PT_COUNT), "call with too many words")?;
        ensure_eq!(r.untyped(), 0u64);
    }
    ensure_eq!(BAD_WORDS.load(Ordering::SeqCst), 0u64);
    Ok(())
}

pub fn nested_calls_three_deep(_: &Env) -> TestResult {
    for d in 0..3 {
        handler(EC_DEPTH + d).create()?;
        handler(EC_DEPTH + d).portal(PT_DEPTH + d, 0, depth_entry)?;
        ok(pt_ctrl(PT_DEPTH + d, d), "portal id")?;
    }
    let r = Utcb::ROOT;
    r.send(&[0]);
    ok(call(PT_DEPTH), "call")?;
    // 3 (depth 2) + 20 (depth 1) + 1 (depth 0), summed back up the chain.
    ensure_eq!(r.word(0), 321u64);
    Ok(())
}

pub fn dying_handler_answers_abort(_: &Env) -> TestResult {
    let no_portals = NO_PORTALS.base(0);
    ok(
        create_ec(EC_DIE, PD, 0, 0, utcb_of(EC_DIE).addr(), 0, no_portals),
        "handler EC",
    )?;
    ok(create_pt(PT_DIE, PD, EC_DIE, 0, addr(__ipc_die)), "portal")?;
    Utcb::ROOT.set_items(0);
    // The handler's first instruction is UD2 and it has no exception portals: it dies
    // while serving the call, which answers ABORT; a call to the dead handler answers
    // TIMEOUT, as the reference's does.
    ensure_eq!(call(PT_DIE), Err(Status::Abort));
    ensure_eq!(call(PT_DIE), Err(Status::Timeout));
    Ok(())
}

/// A handler that calls its own portal would wait for itself for good: it is stopped
/// (as the reference stops such a livelock), and its caller gets ABORT.
pub fn calling_ones_own_portal_stops_the_caller(_: &Env) -> TestResult {
    let no_portals = NO_PORTALS.base(0);
    ok(
        create_ec(EC_SELF, PD, 0, 0, utcb_of(EC_SELF).addr(), 0, no_portals),
        "handler EC",
    )?;
    ok(
        create_pt(PT_SELF, PD, EC_SELF, 0, addr(__ipc_self_call)),
        "portal",
    )?;
    Utcb::ROOT.set_items(0);
    ensure_eq!(call(PT_SELF), Err(Status::Abort));
    Ok(())
}

pub fn higher_priority_runs_first(_: &Env) -> TestResult {
    let evt = IPC_HANDLERS_EVENTS.base(0);
    let starter = handler(EC_STARTER);
    starter.create()?;
    starter.portal(evt + EVENT_STARTUP, mtd::RIP_LEN, start_high_entry)?;
    semaphores([SM_HIGH_PARK])?;
    ok(
        create_ec(EC_HIGH, PD, ec_flags::GLOBAL, 0, 0, 0, evt),
        "worker EC",
    )?;
    ensure_eq!(HIGH_RAN.load(Ordering::SeqCst), 0u64);
    // The roottask runs at priority 1: an Sc at 5 takes the CPU before create_sc returns.
    ok(create_sc(SC_HIGH, PD, EC_HIGH, 5, 1000), "high SC")?;
    ensure_eq!(HIGH_RAN.load(Ordering::SeqCst), 1u64);
    Ok(())
}
