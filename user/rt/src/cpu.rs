//! The unprivileged instructions a user program reads the CPU with: CPUID, the time-stamp
//! counter, XCR0, and its own FS base.

use core::arch::asm;

/// CPUID leaf `leaf`, sub-leaf `sub`, as (EAX, EBX, ECX, EDX).
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    let (a, b, c, d): (u32, u32, u32, u32);
    // SAFETY: CPUID has no memory effects; RBX (reserved by the compiler) is saved in a
    // scratch register around it.
    unsafe {
        asm!("mov {t:r}, rbx", "cpuid", "xchg {t:r}, rbx", t = out(reg) b, inout("eax") leaf => a,
             inout("ecx") sub => c, out("edx") d, options(nomem, nostack, preserves_flags))
    }
    (a, b, c, d)
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// XCR0, the extended state the kernel enabled (needs CPUID.1:ECX.OSXSAVE).
pub fn xcr0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV reads a register; it raises #UD without CR4.OSXSAVE, which the
    // caller checked (a fault ends the EC, it touches no memory).
    unsafe {
        asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack))
    };
    (hi as u64) << 32 | lo as u64
}

/// This EC's FS base (needs CR4.FSGSBASE, which the kernel sets where the CPU has it).
pub fn fs_base() -> u64 {
    let fs: u64;
    // SAFETY: RDFSBASE reads a register (without CR4.FSGSBASE it raises #UD).
    unsafe { asm!("rdfsbase {}", out(reg) fs, options(nomem, nostack)) };
    fs
}

/// Sets this EC's FS base. Programs on this runtime do not address through FS (they
/// have no thread-local storage), so the base is theirs to use.
pub fn set_fs_base(fs: u64) {
    // SAFETY: WRFSBASE writes a register no code of this runtime or its programs uses
    // for addressing (without CR4.FSGSBASE it raises #UD).
    unsafe { asm!("wrfsbase {}", in(reg) fs, options(nomem, nostack)) };
}
