//! Semaphore deadlines hold however many wait: 512 threads each wait with a deadline on a
//! semaphore nobody signals, and every one of them gets TIMEOUT. (The kernel kept timed
//! waits in a table of 256 once; a wait beyond it never ended.)

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::hypercall::{arg1, Hypercall};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{create_ec, create_sc, create_sm, ec_flags, revoke, sm_down_until};

use super::naps::tsc;
use super::{ok, Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
/// 2^ORDER threads, their ECs and SCs in aligned selector ranges nothing else uses.
const ORDER: u8 = 9;
const ECS: u64 = 3 << 20;
const SCS: u64 = ECS + (1 << 12);
/// The semaphore they wait on, the one they park on afterwards, and the roottask's nap.
const SM_WAIT: u64 = ECS + (1 << 13);
const SM_PARK: u64 = SM_WAIT + 1;
const SM_NAP: u64 = SM_WAIT + 2;
/// Their event base (the start-up portal at + 30).
const EVT: u64 = ECS + (1 << 14);

/// The absolute TSC deadline the threads wait until, and how many got TIMEOUT.
static DEADLINE: AtomicU64 = AtomicU64::new(0);
static TIMED_OUT: AtomicU64 = AtomicU64::new(0);

// Each thread: `sm_ctrl down` on SM_WAIT until DEADLINE (ARG2 its high half, ARG3 its
// low half), counts a TIMEOUT, then parks for good. Registers only: the threads share
// one stack they never touch.
global_asm!(
    r#"
    .section .text.timeouts_thread, "ax"
    .global __timeouts_thread
__timeouts_thread:
    mov rdx, [rip + {deadline}]
    mov rsi, rdx
    shr rsi, 32
    mov edx, edx
    mov rdi, {wait}
    syscall
    cmp dil, {timeout}
    jne 2f
    lock inc qword ptr [rip + {timed_out}]
2:
    mov rdi, {park}
    xor esi, esi
    xor edx, edx
    syscall
    jmp 2b
"#,
    deadline = sym DEADLINE,
    timed_out = sym TIMED_OUT,
    wait = const arg1(Hypercall::SmCtrl, 1, SM_WAIT),
    park = const arg1(Hypercall::SmCtrl, 1, SM_PARK),
    timeout = const Status::Timeout as u8,
);

extern "C" {
    fn __timeouts_thread() -> !;
}

pub fn every_deadline_ends_its_wait(w: &World) -> TestResult {
    let count = 1u64 << ORDER;
    let per_ms = w.hip.u32(off::FREQ_TSC) as u64;
    for sm in [SM_WAIT, SM_PARK, SM_NAP] {
        ok(create_sm(sm, PD, 0, 0), "semaphore")?;
    }
    super::ipc::startup_portal(__timeouts_thread as *const () as u64, EVT)?;
    // Set before any thread can run (a timer tick may give them the CPU at any time).
    DEADLINE.store(tsc() + 300 * per_ms, Ordering::SeqCst);
    for i in 0..count {
        create_ec(ECS + i, PD, ec_flags::GLOBAL, 0, 0, 0, EVT)
            .map_err(|s| Fail::new(format_args!("EC {i}: {}", s.name())))?;
        create_sc(SCS + i, PD, ECS + i, 1, 10_000)
            .map_err(|s| Fail::new(format_args!("SC {i}: {}", s.name())))?;
    }
    // The roottask naps past the deadline; the threads start, wait and time out.
    let until = DEADLINE.load(Ordering::SeqCst) + 100 * per_ms;
    while tsc() < until {
        let nap = sm_down_until(SM_NAP, until);
        ensure!(nap.is_err(), "nap: {:?}", nap);
    }
    let done = TIMED_OUT.load(Ordering::SeqCst);
    for (base, order) in [(SCS, ORDER), (ECS, ORDER), (EVT + 30, 0)] {
        ok(
            revoke(Crd::new(Kind::Object, base, order, perm::ALL), true, None),
            "revoke",
        )?;
    }
    for sm in [SM_WAIT, SM_PARK, SM_NAP] {
        ok(
            revoke(Crd::new(Kind::Object, sm, 0, perm::ALL), true, None),
            "revoke",
        )?;
    }
    ensure_eq!(done, count);
    Ok(())
}
