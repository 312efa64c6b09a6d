//! A VMM cannot park a CPU. In VMX's wait-for-SIPI activity state (3) a CPU ignores
//! interrupts, NMIs and the preemption timer, and in shutdown (2) interrupts: a guest
//! entered in either would keep its CPU for good, and the next TLB shootdown, which
//! waits for every CPU, would stop the kernel. The kernel runs both as HLT, which every
//! exit it needs leaves.
//!
//! A vCPU on CPU 1 is entered in activity state 3 by its VMM's start-up reply: a recall
//! reaches its VMM, which parks it in state 3 again, and a memory revoke in the
//! roottask that needs a shootdown returns; then the same with state 2, and a last
//! recall. A CPU that stayed parked shows as a recall that does not arrive before its
//! deadline (the test fails then, before any shootdown could hang the kernel).

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_RECALL, VM_EVENT_STARTUP};
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{create_sm, ec_recall, reply, revoke, sm_down_until, sm_up};
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::vmm::{reasons, TestVm};
use super::SPIN_AT;
use crate::suite::fixture::{
    VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, VM_PARKED_SHOOTDOWN,
    VM_PARKED_SHOOTDOWN_RAM,
};
use crate::suite::naps::tsc;
use crate::suite::tools::map_from_kernel;
use crate::suite::{ok, Env, Fail, TestResult};

const VM: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 7).on_cpu(1);
const H: Utcb = VM.utcb();
/// A semaphore nobody signals, for naps.
const NAP: u64 = VM.extra(0);
/// The page mapped, read and revoked for each shootdown.
const PAGE: Window = VM_PARKED_SHOOTDOWN.window();
/// Activity states (the STA word's bits 33:32): wait-for-SIPI, shutdown, and HLT, the
/// one the kernel runs both as.
const WAIT_FOR_SIPI: u64 = 3;
const SHUTDOWN: u64 = 2;
const HLT: u64 = 1;
/// The activity state of each entry: the start-up reply's, then each recall's reply's
/// (the third recall is the last: its VMM keeps the vCPU).
const STATES: [u64; 3] = [WAIT_FOR_SIPI, WAIT_FOR_SIPI, SHUTDOWN];
const RECALLS: usize = STATES.len();
/// How long a recall may take to arrive, in milliseconds: the CPU leaves the guest
/// at the recall's IPI, or at the latest when the preemption timer (two timer periods)
/// fires.
const RECALL_MS: u64 = 500;

/// Per recall: the guest's RIP and activity state as the VMM saw them.
static RECALLED_RIP: [AtomicU64; RECALLS] = [const { AtomicU64::new(u64::MAX) }; RECALLS];
static RECALLED_STATE: [AtomicU64; RECALLS] = [const { AtomicU64::new(u64::MAX) }; RECALLS];
static RECALLS_SEEN: AtomicU64 = AtomicU64::new(0);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => parked_startup);
facet_rt::portal_entry!(fn recall_entry on STACK => parked_recall);

/// Real mode at the `jmp $` of the first VM (interrupts disabled), entered in
/// activity state `state`.
fn enter_in(state: u64) -> ! {
    H.put(u::INTR_STATE, state << 32);
    let m = H.real_mode(SPIN_AT, 2);
    H.reply_with(m | mtd::STA);
    reply()
}

extern "C" fn parked_startup(_id: u64) -> ! {
    enter_in(STATES[0])
}

/// A recall arrived: record where the guest was, tell the test, and park it again in
/// the next state (after the last recall, keep it).
extern "C" fn parked_recall(_id: u64) -> ! {
    let n = RECALLS_SEEN.load(Ordering::SeqCst) as usize;
    if n < RECALLS {
        RECALLED_RIP[n].store(H.get(u::RIP), Ordering::SeqCst);
        RECALLED_STATE[n].store(H.get(u::INTR_STATE) >> 32 & 3, Ordering::SeqCst);
    }
    RECALLS_SEEN.store(n as u64 + 1, Ordering::SeqCst);
    match STATES.get(n + 1) {
        Some(&state) => {
            let _ = sm_up(VM.done());
            enter_in(state)
        }
        None => VM.finish(),
    }
}

/// Naps `ms` milliseconds: time for the vCPU to (re-)enter its guest.
fn nap(e: &Env, ms: u64) -> TestResult {
    ensure_eq!(
        sm_down_until(NAP, tsc() + ms * e.per_ms()),
        Err(Status::Timeout)
    );
    Ok(())
}

/// Recall number `n` (from 0): it must reach the VMM before its deadline.
fn recall(e: &Env, n: usize) -> TestResult {
    ok(ec_recall(VM.vcpu()), "recall")?;
    let arrived = sm_down_until(VM.done(), tsc() + RECALL_MS * e.per_ms());
    ensure!(
        arrived.is_ok(),
        "recall {} of a vCPU entered in activity state {}: {:?} (the CPU stays in the guest)",
        n,
        STATES[n],
        arrived
    );
    Ok(())
}

/// A revoke that needs a TLB shootdown: the page is mapped and read here (on CPU 0), and
/// CPU 1 has run the roottask's handler; the shootdown waits for every CPU that may
/// hold translations, the one in the guest included.
fn shootdown() -> TestResult {
    let rw = perm::MEM_R | perm::MEM_W;
    map_from_kernel(VM_PARKED_SHOOTDOWN_RAM.page(0), 0, rw, PAGE, "map")?;
    let _: u64 = PAGE.read(0);
    let page = Crd::new(Kind::Memory, PAGE.page_number(), 0, perm::MEM_ALL);
    ok(revoke(page, true, None), "revoke")
}

/// Needs `vm::guest_runs_and_exits` first (the guest's code).
pub fn parked_activity_states_are_left(e: &Env) -> TestResult {
    // Activity states are VMX's; the vCPU runs on a CPU of its own.
    if !reasons(e).is_some_and(|r| r.vmx) || e.cpus(2) < 2 {
        return Ok(());
    }
    ok(create_sm(NAP, ROOT_SEL_PD, 0, 0), "nap semaphore")?;
    VM.create_vmm(&[
        (VM_EVENT_STARTUP, 0, startup_entry),
        (VM_EVENT_RECALL, mtd::RIP_LEN | mtd::STA, recall_entry),
    ])?;
    VM.start()?;
    // The start-up reply's state, and the state of each recall's reply: a recall must
    // get the vCPU out, and a shootdown must return while it is in there.
    for n in 0..RECALLS {
        nap(e, 10)?;
        recall(e, n)?;
        if n + 1 < RECALLS {
            nap(e, 10)?;
            shootdown()?;
        }
    }
    ensure_eq!(RECALLS_SEEN.load(Ordering::SeqCst), RECALLS as u64);
    for n in 0..RECALLS {
        // Still at its `jmp $` (a halted guest runs nothing), halted.
        ensure_eq!(RECALLED_RIP[n].load(Ordering::SeqCst), SPIN_AT);
        ensure_eq!(RECALLED_STATE[n].load(Ordering::SeqCst), HLT);
    }
    Ok(())
}
