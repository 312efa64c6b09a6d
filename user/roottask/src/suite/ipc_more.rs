//! More IPC: every untyped word count from 0 to the UTCB's maximum in both directions
//! (and counts beyond it, which arrive bounded),
//! calls nested three deep (each handler calling the next on the lent Sc), a handler
//! that dies in a call (the caller gets ABORT, as do later callers), and a higher
//! priority that runs before its creator returns.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{ROOT_SEL_PD, ROOT_UTCB_ADDR};
use facet_abi::status::Status;
use facet_abi::utcb as u;
use facet_rt::hypercall::{call, create_ec, create_pt, pt_ctrl, reply};

use super::vmm::Utcb;
use super::{ok, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// Untyped words a UTCB holds after its header.
const MAX_WORDS: u64 = (4096 - u::DATA as u64) / 8;
/// Handler ECs (count, depth 1..3, dying) and their portals.
const EC_COUNT: u64 = 1900;
const EC_DEPTH: u64 = 1901;
const EC_DIE: u64 = 1904;
const PT_COUNT: u64 = 1910;
const PT_DEPTH: u64 = 1911;
const PT_DIE: u64 = 1914;
/// Handler UTCBs: one page each from here, by EC offset.
const UTCBS: u64 = 0x3007_0000;

/// An event base with no portals anywhere near it.
const NO_PORTALS: u64 = 60_000;

static BAD_WORDS: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.ipc_more_stacks, "aw", @nobits
    .balign 16
ipc_more_stacks:
    .skip 0x4000 * 7
    .section .text.ipc_more_entries, "ax"
    .global __ipc_count
    .global __ipc_depth
    .global __ipc_die
    .global __ipc_start_high
    // The portal id (rdi) picks the handler's stack.
__ipc_count:
    lea rsp, [rip + ipc_more_stacks + 0x4000]
    call {count}
    ud2
__ipc_depth:
    lea rsp, [rip + ipc_more_stacks]
    mov rax, rdi
    add rax, 2
    shl rax, 14
    add rsp, rax
    call {depth}
    ud2
__ipc_die:
    lea rsp, [rip + ipc_more_stacks + 0x14000]
    ud2
__ipc_start_high:
    lea rsp, [rip + ipc_more_stacks + 0x18000]
    call {start_high}
    ud2
__ipc_high_worker:
    lea rsp, [rip + ipc_more_stacks + 0x1c000]
    call {high}
    ud2
    .global __ipc_high_worker
"#,
    count = sym count_handler,
    depth = sym depth_handler,
    start_high = sym start_high,
    high = sym high_worker,
);

extern "C" {
    fn __ipc_count();
    fn __ipc_depth();
    fn __ipc_die();
    fn __ipc_start_high();
    fn __ipc_high_worker();
}

const EC_STARTER: u64 = 1905;
const EC_HIGH: u64 = 1906;
const SC_HIGH: u64 = 1907;
const SM_HIGH_PARK: u64 = 1908;
const EVT_HIGH: u64 = 60_256;
static HIGH_RAN: AtomicU64 = AtomicU64::new(0);

/// Start-up of the high-priority worker.
extern "C" fn start_high(_id: u64) -> ! {
    let h = utcb_of(EC_STARTER);
    h.put(u::RIP, __ipc_high_worker as *const () as u64);
    h.reply_with(facet_abi::mtd::RIP_LEN);
    reply()
}

/// Records that it ran, then waits for good.
extern "C" fn high_worker() -> ! {
    HIGH_RAN.store(1, Ordering::SeqCst);
    loop {
        let _ = facet_rt::hypercall::sm_down(SM_HIGH_PARK);
    }
}

fn utcb_of(ec: u64) -> Utcb {
    Utcb(UTCBS + (ec - EC_COUNT) * 0x1000)
}

fn word_value(i: u64, n: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9) ^ n
}

/// Checks the `n` words it got (each `word_value(i, n)`) and answers with `MAX - n`.
extern "C" fn count_handler(_id: u64) -> ! {
    let h = utcb_of(EC_COUNT);
    let n = h.get(u::ITEMS) & 0xffff;
    for i in 0..n {
        if h.get(u::DATA + 8 * i as usize) != word_value(i, n) {
            BAD_WORDS.fetch_add(1, Ordering::SeqCst);
        }
    }
    let m = MAX_WORDS - n;
    for i in 0..m {
        h.put(u::DATA + 8 * i as usize, word_value(i, m) ^ 1);
    }
    h.put(u::ITEMS, m);
    reply()
}

/// Depth `d` (the portal id, 0..2): adds `d + 1` to word 0 times 10^d, calls the next.
extern "C" fn depth_handler(d: u64) -> ! {
    let h = utcb_of(EC_DEPTH + d);
    let mut v = h.get(u::DATA);
    if d < 2 {
        // Word 0 goes on to the next handler, which answers with its sum.
        h.put(u::ITEMS, 1);
        if call(PT_DEPTH + d + 1).is_ok() {
            v = h.get(u::DATA);
        }
    }
    h.put(u::DATA, v + (d + 1) * 10u64.pow(d as u32));
    h.put(u::ITEMS, 1);
    reply()
}

fn root() -> Utcb {
    Utcb(ROOT_UTCB_ADDR)
}

pub fn every_word_count_both_ways() -> TestResult {
    ok(
        create_ec(EC_COUNT, PD, 0, 0, utcb_of(EC_COUNT).0, 0, 0),
        "handler EC",
    )?;
    let entry = __ipc_count as *const () as u64;
    ok(create_pt(PT_COUNT, PD, EC_COUNT, 0, entry), "portal")?;
    let r = root();
    for n in 0..=MAX_WORDS {
        for i in 0..n {
            r.put(u::DATA + 8 * i as usize, word_value(i, n));
        }
        r.put(u::ITEMS, n);
        ok(call(PT_COUNT), "call")?;
        let m = r.get(u::ITEMS) & 0xffff;
        ensure_eq!(m, MAX_WORDS - n);
        for i in 0..m {
            ensure_eq!(r.get(u::DATA + 8 * i as usize), word_value(i, m) ^ 1);
        }
    }
    // A count beyond what a UTCB holds: the handler gets the words that fit and a count
    // saying so (the reference hands on the sender's count as it is).
    for i in 0..MAX_WORDS {
        r.put(u::DATA + 8 * i as usize, word_value(i, MAX_WORDS));
    }
    for sent in [MAX_WORDS + 1, 0xffff] {
        r.put(u::ITEMS, sent);
        ok(call(PT_COUNT), "call with too many words")?;
        ensure_eq!(r.get(u::ITEMS) & 0xffff, 0u64);
    }
    ensure_eq!(BAD_WORDS.load(Ordering::SeqCst), 0u64);
    Ok(())
}

pub fn nested_calls_three_deep() -> TestResult {
    let entry = __ipc_depth as *const () as u64;
    for d in 0..3 {
        ok(
            create_ec(EC_DEPTH + d, PD, 0, 0, utcb_of(EC_DEPTH + d).0, 0, 0),
            "handler EC",
        )?;
        ok(
            create_pt(PT_DEPTH + d, PD, EC_DEPTH + d, 0, entry),
            "portal",
        )?;
        ok(pt_ctrl(PT_DEPTH + d, d), "portal id")?;
    }
    let r = root();
    r.put(u::DATA, 0);
    r.put(u::ITEMS, 1);
    ok(call(PT_DEPTH), "call")?;
    // 3 (depth 2) + 20 (depth 1) + 1 (depth 0), summed back up the chain.
    ensure_eq!(r.get(u::DATA), 321u64);
    Ok(())
}

pub fn dying_handler_answers_abort() -> TestResult {
    ok(
        create_ec(EC_DIE, PD, 0, 0, utcb_of(EC_DIE).0, 0, NO_PORTALS),
        "handler EC",
    )?;
    let entry = __ipc_die as *const () as u64;
    ok(create_pt(PT_DIE, PD, EC_DIE, 0, entry), "portal")?;
    root().put(u::ITEMS, 0);
    // The handler's first instruction is UD2 and it has no exception portals: it dies
    // while serving the call, which answers ABORT; a call to the dead handler answers
    // TIMEOUT, as the reference's does.
    ensure_eq!(call(PT_DIE), Err(Status::Abort));
    ensure_eq!(call(PT_DIE), Err(Status::Timeout));
    Ok(())
}

const EC_SELF: u64 = 1915;
const PT_SELF: u64 = 1916;

global_asm!(
    r#"
    .section .text.ipc_self_call, "ax"
    .global __ipc_self_call
    // A handler that calls its own portal (blocking): call = hypercall 0.
__ipc_self_call:
    mov rdi, {arg1}
    syscall
    ud2
"#,
    arg1 = const PT_SELF << 8,
);

extern "C" {
    fn __ipc_self_call();
}

/// A handler that calls its own portal would wait for itself for good: it is stopped
/// (as the reference stops such a livelock), and its caller gets ABORT.
pub fn calling_ones_own_portal_stops_the_caller() -> TestResult {
    ok(
        create_ec(EC_SELF, PD, 0, 0, utcb_of(EC_SELF).0, 0, NO_PORTALS),
        "handler EC",
    )?;
    let entry = __ipc_self_call as *const () as u64;
    ok(create_pt(PT_SELF, PD, EC_SELF, 0, entry), "portal")?;
    root().put(u::ITEMS, 0);
    ensure_eq!(call(PT_SELF), Err(Status::Abort));
    Ok(())
}

pub fn higher_priority_runs_first() -> TestResult {
    use facet_rt::hypercall::{create_sc, create_sm, ec_flags};
    ok(
        create_ec(EC_STARTER, PD, 0, 0, utcb_of(EC_STARTER).0, 0, 0),
        "start-up handler EC",
    )?;
    let entry = __ipc_start_high as *const () as u64;
    let m = facet_abi::mtd::RIP_LEN as u64;
    ok(create_pt(EVT_HIGH + 30, PD, EC_STARTER, m, entry), "portal")?;
    ok(create_sm(SM_HIGH_PARK, PD, 0, 0), "sm")?;
    ok(
        create_ec(EC_HIGH, PD, ec_flags::GLOBAL, 0, 0, 0, EVT_HIGH),
        "worker EC",
    )?;
    ensure_eq!(HIGH_RAN.load(Ordering::SeqCst), 0u64);
    // The roottask runs at priority 1: an Sc at 5 takes the CPU before create_sc returns.
    ok(create_sc(SC_HIGH, PD, EC_HIGH, 5, 1000), "high SC")?;
    ensure_eq!(HIGH_RAN.load(Ordering::SeqCst), 1u64);
    Ok(())
}
