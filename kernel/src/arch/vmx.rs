//! The VMCS current on each CPU, and VMCLEAR, which makes a VMCS no CPU's.
//!
//! The VMX code loads a vCPU's VMCS with VMPTRLD on the CPU the vCPU runs on and records
//! it here; a VMCS that is freed must first be cleared on that CPU, which another CPU
//! asks for with the shootdown IPI (`smp::shootdown`). Both need the record, so it lives
//! below them.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::config::NUM_CPU;

/// The VMCS current on each CPU (0: none).
static CURRENT: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// The executing CPU's record of its current VMCS.
pub fn current_slot() -> &'static AtomicU64 {
    &CURRENT[crate::arch::percpu::cpu_id() as usize % NUM_CPU]
}

/// VMCLEAR on the executing CPU (from `vmx::run::forget`, or for another CPU's request).
pub fn clear_here(phys: u64) {
    // SAFETY: VMCLEAR of a VMCS the kernel owns only makes it inactive and flushes it to
    // memory.
    unsafe { asm!("vmclear [{}]", in(reg) &phys, options(nostack)) };
    let slot = current_slot();
    if slot.load(Ordering::Acquire) == phys {
        slot.store(0, Ordering::Release);
    }
}
