//! The executing CPU's fields of the per-CPU block, one GS-relative load or store each.
//!
//! Only the executing CPU writes its block (other CPUs read the running Ec and Pd with
//! [`current_ec_of`] and [`current_pd_of`]), and kernel code never moves between CPUs, so a
//! read may be reused until the next write. The exception is `ports_owner`, which another
//! CPU may change through [`ports_owner_of`] while this one is out of the kernel (both
//! hold the kernel lock to touch it), so that within one kernel entry it changes only by
//! this CPU's own writes.

use core::arch::asm;
use core::mem::offset_of;
use core::sync::atomic::{AtomicU64, Ordering};

use super::gdt::PerCpu;

macro_rules! field {
    ($field:ident) => {
        #[doc = concat!("This CPU's `", stringify!($field), "`.")]
        #[inline(always)]
        pub fn $field() -> u64 {
            let v: u64;
            // SAFETY: GS holds the kernel's per-CPU base while in the kernel; during a
            // kernel entry a field changes only through its setter (or, for
            // `ports_owner`, an atomic store), which the compiler sees as a write.
            unsafe {
                asm!("mov {}, gs:[{off}]", out(reg) v, off = const offset_of!(PerCpu, $field),
                     options(pure, readonly, nostack, preserves_flags))
            }
            v
        }
    };
    ($field:ident, $set:ident) => {
        field!($field);

        #[doc = concat!("Sets this CPU's `", stringify!($field), "`.")]
        #[inline(always)]
        pub fn $set(v: u64) {
            // SAFETY: GS holds the kernel's per-CPU base; the field belongs to this CPU.
            unsafe {
                asm!("mov gs:[{off}], {}", in(reg) v, off = const offset_of!(PerCpu, $field),
                     options(nostack, preserves_flags))
            }
        }
    };
}

field!(current_ec, set_current_ec);
field!(current_pd, set_current_pd);
field!(obj_root, set_obj_root);
field!(is_vcpu, set_is_vcpu);
field!(lock_mark);
field!(caching, set_caching);
field!(ports_owner);

/// This CPU's `hazard`. Unlike the other fields it is read afresh every time: an
/// interrupt handler sets it, and the interrupt windows of the kernel (an idle CPU's
/// halt, a vCPU's exit) are `asm!` blocks the compiler takes to leave memory alone.
#[inline(always)]
pub fn hazard() -> u64 {
    let v: u64;
    // SAFETY: GS holds the kernel's per-CPU base while in the kernel; the field is this
    // CPU's.
    unsafe {
        asm!("mov {}, gs:[{off}]", out(reg) v, off = const offset_of!(PerCpu, hazard),
             options(nostack, preserves_flags))
    }
    v
}

/// Sets this CPU's `hazard`.
#[inline(always)]
pub fn set_hazard(v: u64) {
    // SAFETY: GS holds the kernel's per-CPU base; the field belongs to this CPU.
    unsafe {
        asm!("mov gs:[{off}], {}", in(reg) v, off = const offset_of!(PerCpu, hazard),
             options(nostack, preserves_flags))
    }
}

/// The executing CPU's number (from the per-CPU block).
pub fn cpu_id() -> u64 {
    let v: u64;
    // SAFETY: GS holds the kernel's per-CPU base while in the kernel.
    unsafe {
        core::arch::asm!("mov {}, gs:[{off}]", out(reg) v, off = const core::mem::offset_of!(PerCpu, cpu_id),
                         options(nostack, readonly, preserves_flags))
    }
    v
}

/// The Ec running on CPU `cpu` (0: none, or no such CPU), read from another CPU.
pub fn current_ec_of(cpu: u32) -> u64 {
    remote(cpu, offset_of!(PerCpu, current_ec)).map_or(0, |f| f.load(Ordering::Acquire))
}

/// The Pd running on CPU `cpu` (0: none, or no such CPU), read from another CPU.
pub fn current_pd_of(cpu: u32) -> u64 {
    remote(cpu, offset_of!(PerCpu, current_pd)).map_or(0, |f| f.load(Ordering::Acquire))
}

/// CPU `cpu`'s `ports_owner`, to read or change from any CPU (None: no such CPU).
pub fn ports_owner_of(cpu: u32) -> Option<&'static AtomicU64> {
    remote(cpu, offset_of!(PerCpu, ports_owner))
}

/// The word at byte offset `off` of CPU `cpu`'s per-CPU block.
fn remote(cpu: u32, off: usize) -> Option<&'static AtomicU64> {
    let t = super::gdt::tables(cpu)?;
    // SAFETY: a CPU's tables live for good once published; `off` is a field of its
    // per-CPU block, an aligned word. Its CPU writes its own fields with one aligned
    // store each, which x86 makes atomic (and orders after its earlier stores), so
    // atomic accesses from other CPUs see the old or the new value.
    unsafe {
        let field = (core::ptr::addr_of_mut!((*t).percpu) as *mut u8).add(off) as *mut u64;
        Some(AtomicU64::from_ptr(field))
    }
}
