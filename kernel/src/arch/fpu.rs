//! Saving and restoring user FPU/SSE/AVX state with XSAVE, which every CPU Facet runs on
//! has (the boot refuses others). Facet switches this state eagerly whenever the CPU
//! changes execution context: one XSAVE/XRSTOR pair per switch, and no #NM traps.

use core::arch::asm;

use core::sync::atomic::{AtomicU32, Ordering};

/// Space for one context's state: large enough for x87, SSE, AVX, AVX-512 and PKRU (the
/// components the kernel enables; CPUID 0xD reports at most 2,696 bytes for them, and
/// `super::cpu::enable` falls back to fewer on a CPU that needs more).
#[repr(C, align(64))]
pub struct FpuArea(pub [u8; 3072]);

/// The XCR0 the kernel enabled, in the two halves XSAVE and XRSTOR take in EAX and EDX:
/// written once at boot, read on every switch.
static MASK_LOW: AtomicU32 = AtomicU32::new(0);
static MASK_HIGH: AtomicU32 = AtomicU32::new(0);

/// Records the XCR0 the kernel enabled.
pub fn init(xcr0: u64) {
    MASK_LOW.store(xcr0 as u32, Ordering::Relaxed);
    MASK_HIGH.store((xcr0 >> 32) as u32, Ordering::Relaxed);
}

/// The XCR0 the kernel enabled as the two halves XSAVE and XRSTOR take in EAX and EDX.
#[inline(always)]
pub fn mask() -> (u32, u32) {
    (
        MASK_LOW.load(Ordering::Relaxed),
        MASK_HIGH.load(Ordering::Relaxed),
    )
}

/// The XCR0 the kernel runs with.
pub fn host_xcr0() -> u64 {
    (MASK_HIGH.load(Ordering::Relaxed) as u64) << 32 | MASK_LOW.load(Ordering::Relaxed) as u64
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
#[inline]
pub fn save(area: &mut FpuArea) {
    let (low, high) = (
        MASK_LOW.load(Ordering::Relaxed),
        MASK_HIGH.load(Ordering::Relaxed),
    );
    // SAFETY: the area is 64-byte aligned and large enough for every enabled component
    // (see `FpuArea`); CR4.OSXSAVE is on; the instruction only writes the area.
    unsafe {
        asm!("xsave64 [{}]", in(reg) area.0.as_mut_ptr(), in("eax") low, in("edx") high,
             options(nostack, preserves_flags));
    }
}

/// Loads the CPU's user FPU state from `area`. An all-zero area (a new context) loads
/// the initial state.
#[inline]
pub fn restore(area: &FpuArea) {
    let (low, high) = (
        MASK_LOW.load(Ordering::Relaxed),
        MASK_HIGH.load(Ordering::Relaxed),
    );
    // SAFETY: as for `save`. An all-zero XSAVE header (XSTATE_BV = 0) is valid and puts
    // every component in its initial state.
    unsafe {
        asm!("xrstor64 [{}]", in(reg) area.0.as_ptr(), in("eax") low, in("edx") high,
             options(nostack, preserves_flags));
    }
}
