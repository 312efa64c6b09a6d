//! Saving and restoring user FPU/SSE/AVX state with XSAVE (or FXSAVE where the CPU has
//! no XSAVE). Facet switches this state eagerly whenever the CPU changes execution
//! context: one XSAVE/XRSTOR pair per switch, and no #NM traps.

use core::arch::asm;

use core::sync::atomic::{AtomicU64, Ordering};

/// Space for one context's state: large enough for x87, SSE, AVX and AVX-512 (the
/// components the kernel enables; CPUID 0xD reports at most 2,696 bytes for them).
#[repr(C, align(64))]
pub struct FpuArea(pub [u8; 3072]);

/// The XCR0 the kernel enabled: written once at boot, read on every switch.
static XSAVE_MASK: AtomicU64 = AtomicU64::new(0);

/// Records the XCR0 the kernel enabled (0: no XSAVE, use FXSAVE).
pub fn init(xcr0: u64) {
    XSAVE_MASK.store(xcr0, Ordering::Relaxed);
}

/// The XCR0 the kernel runs with (0 without XSAVE).
pub fn host_xcr0() -> u64 {
    XSAVE_MASK.load(Ordering::Relaxed)
}

/// Loads XCR0 (a guest's before it runs, the kernel's after).
///
/// # Safety
/// `value` must be valid for this CPU (`facet_kcore::xcr0::valid_for_guest` against
/// [`host_xcr0`], or the host's own).
pub unsafe fn set_xcr0(value: u64) {
    // SAFETY: the caller guarantees a value XSETBV accepts.
    unsafe {
        asm!("xsetbv", in("ecx") 0u32, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nostack, preserves_flags))
    };
}

/// Saves the CPU's user FPU state into `area`.
pub fn save(area: &mut FpuArea) {
    let mask = XSAVE_MASK.load(Ordering::Relaxed);
    // SAFETY: the area is 64-byte aligned and large enough for every enabled component
    // (see `FpuArea`); the instructions only write the area.
    unsafe {
        if mask != 0 {
            asm!("xsave64 [{}]", in(reg) area.0.as_mut_ptr(), in("eax") mask as u32, in("edx") (mask >> 32) as u32,
                 options(nostack, preserves_flags));
        } else {
            asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack, preserves_flags));
        }
    }
}

/// Loads the CPU's user FPU state from `area`. An all-zero area (a new context) loads
/// the initial state.
pub fn restore(area: &FpuArea) {
    let mask = XSAVE_MASK.load(Ordering::Relaxed);
    // SAFETY: as for `save`. An all-zero XSAVE header (XSTATE_BV = 0) is valid and puts
    // every component in its initial state.
    unsafe {
        if mask != 0 {
            asm!("xrstor64 [{}]", in(reg) area.0.as_ptr(), in("eax") mask as u32, in("edx") (mask >> 32) as u32,
                 options(nostack, preserves_flags));
        } else {
            asm!("fxrstor64 [{}]", in(reg) area.0.as_ptr(), options(nostack, preserves_flags));
        }
    }
}
