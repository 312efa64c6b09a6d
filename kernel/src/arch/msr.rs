//! Model-specific registers.

use core::arch::asm;

pub const IA32_STAR: u32 = 0xc000_0081;
pub const IA32_LSTAR: u32 = 0xc000_0082;
pub const IA32_CSTAR: u32 = 0xc000_0083;
pub const IA32_FMASK: u32 = 0xc000_0084;
pub const IA32_SYSENTER_CS: u32 = 0x174;
pub const IA32_SYSENTER_ESP: u32 = 0x175;
pub const IA32_SYSENTER_EIP: u32 = 0x176;
pub const IA32_GS_BASE: u32 = 0xc000_0101;
pub const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// Reads an MSR.
///
/// # Safety
/// 1. `msr` must exist on this CPU (reading a missing MSR raises #GP in the kernel).
pub unsafe fn read(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: the caller guarantees the MSR exists (point 1).
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags))
    }
    (hi as u64) << 32 | lo as u64
}

/// Writes an MSR.
///
/// # Safety
/// 1. `msr` must exist and accept `value`.
/// 2. The write must not break an invariant the kernel relies on (segment bases,
///    system-call entry, paging mode).
pub unsafe fn write(msr: u32, value: u64) {
    // SAFETY: the caller guarantees points 1 and 2.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
             options(nomem, nostack, preserves_flags))
    }
}

/// Reads an MSR that may not exist: a #GP is caught (see `crate::entry::trap`) and gives `None`.
pub fn read_checked(msr: u32) -> Option<u64> {
    let (lo, hi): (u32, u32);
    let ok: u64;
    // SAFETY: a missing MSR raises #GP at label 2, which the fault handler turns into a
    // jump to label 4 through the fixup table; reading an MSR has no memory effects.
    unsafe {
        asm!(
            "mov {ok}, 1",
            "2: rdmsr",
            "jmp 3f",
            "4: xor {ok:e}, {ok:e}",
            "xor eax, eax",
            "xor edx, edx",
            "3:",
            ".pushsection .fixup, \"a\"",
            ".quad 2b, 4b",
            ".popsection",
            ok = out(reg) ok,
            in("ecx") msr,
            out("eax") lo,
            out("edx") hi,
            options(nostack),
        )
    }
    (ok != 0).then_some((hi as u64) << 32 | lo as u64)
}

/// Writes an MSR that may not exist or may refuse the value: a #GP gives `None`.
pub fn write_checked(msr: u32, value: u64) -> Option<u64> {
    let ok: u64;
    // SAFETY: as for `read_checked`; callers keep MSRs the kernel depends on out.
    unsafe {
        asm!(
            "mov {ok}, 1",
            "2: wrmsr",
            "jmp 3f",
            "4: xor {ok:e}, {ok:e}",
            "3:",
            ".pushsection .fixup, \"a\"",
            ".quad 2b, 4b",
            ".popsection",
            ok = out(reg) ok,
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack),
        )
    }
    (ok != 0).then_some(value)
}
