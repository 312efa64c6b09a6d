//! Semaphore deadlines hold however many wait: 512 threads each wait with a deadline on a
//! semaphore nobody signals, and every one of them gets TIMEOUT. (The kernel kept timed
//! waits in a table of 256 once; a wait beyond it never ended.)

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hypercall::{arg1, Hypercall};
use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::status::Status;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{create_ec, create_sc, create_sm, ec_flags, revoke, sm_down_until};

use super::fixture::{SM_EVENTS, SM_SCS, SM_SEMAPHORES, SM_THREADS};
use super::ipc::startup_portal;
use super::naps::tsc;
use super::tools::revoke_all;
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The threads' ECs and SCs, each in an aligned range (one revoke each).
const ECS: u64 = SM_THREADS.at(0);
const SCS: u64 = SM_SCS.at(0);
/// The semaphore they wait on, the one they park on afterwards, and the roottask's nap.
const SM_WAIT: u64 = SM_SEMAPHORES.at(0);
const SM_PARK: u64 = SM_SEMAPHORES.at(1);
const SM_NAP: u64 = SM_SEMAPHORES.at(2);
/// Their event base (the start-up portal at + 30).
const EVT: u64 = SM_EVENTS.base(0);

/// The stack every thread starts on; they never touch it.
static STACK: Stack = Stack::new();

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
    fn __timeouts_thread();
}

/// Needs `ipc::exceptions_startup_and_semaphores` first (the start-up handler).
pub fn every_deadline_ends_its_wait(e: &Env) -> TestResult {
    let count = SM_THREADS.len();
    let per_ms = e.per_ms();
    for sm in [SM_WAIT, SM_PARK, SM_NAP] {
        ok(create_sm(sm, PD, 0, 0), "semaphore")?;
    }
    startup_portal(EVT, addr(__timeouts_thread), STACK.top() - 8)?;
    // Set before any thread can run (the end of a quantum may give them the CPU at any time).
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
    for range in [SM_SCS, SM_THREADS] {
        ok(revoke(range.crd(), true, None), "revoke")?;
    }
    revoke_all([EVT + EVENT_STARTUP, SM_WAIT, SM_PARK, SM_NAP])?;
    ensure_eq!(done, count);
    Ok(())
}
