//! Running a function on another CPU: the caller (holding the kernel lock) names the
//! function and its argument in the CPU's slot, sends it the shootdown IPI and waits for
//! the answer. The CPU answers from its IPI handler, or while it spins for the kernel
//! lock, without the lock, as it answers shootdowns (`super::shootdown::answer`); so
//! the function must need no lock the caller may hold. Used to load a microcode update
//! on every CPU.

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use facet_abi::config::NUM_CPU;

use crate::arch::percpu::cpu_id;

/// Per CPU: the function to run (0: none), its argument and its result.
static FUNCTION: [AtomicUsize; NUM_CPU] = [const { AtomicUsize::new(0) }; NUM_CPU];
static ARGUMENT: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];
static RESULT: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];
/// CPUs running a requested function now.
static RUNNING: AtomicU64 = AtomicU64::new(0);

/// Runs `f(arg)` on online CPU `cpu` (not the executing one) and returns its result.
pub fn on(cpu: u32, f: fn(u64) -> u64, arg: u64) -> u64 {
    let slot = cpu as usize % NUM_CPU;
    ARGUMENT[slot].store(arg, Ordering::Relaxed);
    FUNCTION[slot].store(f as usize, Ordering::Release);
    super::send_ipi(cpu, super::shootdown::VECTOR);
    while FUNCTION[slot].load(Ordering::Acquire) != 0 {
        // Another CPU may be waiting for this one meanwhile.
        super::shootdown::answer();
        core::hint::spin_loop();
    }
    RESULT[slot].load(Ordering::Acquire)
}

/// Asks online CPU `cpu` (not the executing one) to run `f(arg)` and does not wait:
/// for a function that does not return until later (parking a CPU for a suspend).
pub fn post(cpu: u32, f: fn(u64) -> u64, arg: u64) {
    let slot = cpu as usize % NUM_CPU;
    ARGUMENT[slot].store(arg, Ordering::Relaxed);
    FUNCTION[slot].store(f as usize, Ordering::Release);
    super::send_ipi(cpu, super::shootdown::VECTOR);
}

/// Runs the function another CPU asked this one to run, if any.
pub fn answer() {
    let slot = cpu_id() as usize % NUM_CPU;
    let f = FUNCTION[slot].load(Ordering::Acquire);
    if f == 0 || RUNNING.load(Ordering::Relaxed) & (1 << slot) != 0 {
        return;
    }
    // Not again from inside the function (it may wait, answering other requests).
    RUNNING.fetch_or(1 << slot, Ordering::Relaxed);
    // SAFETY: only `on` stores into FUNCTION, and it stores a `fn(u64) -> u64`; the
    // value is read back unchanged.
    let f: fn(u64) -> u64 = unsafe { core::mem::transmute::<usize, fn(u64) -> u64>(f) };
    RESULT[slot].store(f(ARGUMENT[slot].load(Ordering::Relaxed)), Ordering::Relaxed);
    RUNNING.fetch_and(!(1 << slot), Ordering::Relaxed);
    FUNCTION[slot].store(0, Ordering::Release);
}
