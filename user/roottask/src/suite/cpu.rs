//! What the kernel enabled on the CPU, seen from user mode.

use core::arch::asm;

use facet_abi::hip::{self, off};

use super::{Fail, TestResult};
use crate::args::Args;
use crate::world::World;

/// CPUID from user mode as (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    let (a, b, c, d): (u32, u32, u32, u32);
    // SAFETY: CPUID has no memory effects; RBX is preserved around it.
    unsafe {
        asm!("mov {t:r}, rbx", "cpuid", "xchg {t:r}, rbx", t = out(reg) b, inout("eax") leaf => a,
             inout("ecx") sub => c, out("edx") d, options(nomem, nostack, preserves_flags))
    }
    (a, b, c, d)
}

pub fn virtualization_flags(w: &World, args: &Args) -> TestResult {
    let flags = w.hip.u32(off::API_FLG);
    let vmx = cpuid(1, 0).2 & (1 << 5) != 0;
    let svm = cpuid(0x8000_0000, 0).0 >= 0x8000_0001 && cpuid(0x8000_0001, 0).2 & (1 << 2) != 0;
    ensure_eq!(flags & hip::FEAT_VMX != 0, vmx);
    ensure_eq!(flags & hip::FEAT_SVM != 0, svm);
    match args.expect_virt {
        Some("svm") => ensure!(svm && !vmx, "expected SVM only (svm={}, vmx={})", svm, vmx),
        Some("vmx") => ensure!(vmx && !svm, "expected VMX only (svm={}, vmx={})", svm, vmx),
        Some(_) => ensure!(
            !vmx && !svm,
            "expected no virtualization (svm={}, vmx={})",
            svm,
            vmx
        ),
        None => {}
    }
    Ok(())
}

pub fn xsave_enabled() -> TestResult {
    let ecx = cpuid(1, 0).2;
    if ecx & (1 << 26) == 0 {
        ensure!(ecx & (1 << 27) == 0, "OSXSAVE set without XSAVE");
        return Ok(());
    }
    ensure!(
        ecx & (1 << 27) != 0,
        "CPU has XSAVE but CR4.OSXSAVE is clear"
    );
    let (lo, hi): (u32, u32);
    // SAFETY: XGETBV is allowed in user mode once CR4.OSXSAVE is set (checked above).
    unsafe {
        asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack))
    };
    let xcr0 = (hi as u64) << 32 | lo as u64;
    let d = cpuid(0xd, 0);
    let offered = (d.3 as u64) << 32 | d.0 as u64;
    ensure!(xcr0 & 3 == 3, "XCR0 {:#x} lacks x87/SSE", xcr0);
    ensure!(
        xcr0 & !offered == 0,
        "XCR0 {:#x} has components the CPU does not offer ({:#x})",
        xcr0,
        offered
    );
    let mut expected = offered & 0b1110_0111;
    if expected & 0b100 == 0 || expected & 0b1110_0000 != 0b1110_0000 {
        expected &= !0b1110_0000;
    }
    ensure!(
        xcr0 == (expected | 3),
        "XCR0 {:#x}, expected {:#x} (offered {:#x})",
        xcr0,
        expected | 3,
        offered
    );
    Ok(())
}

pub fn fsgsbase_usable() -> TestResult {
    if cpuid(7, 0).1 & 1 == 0 {
        return Ok(());
    }
    let before: u64;
    let after: u64;
    // SAFETY: with CR4.FSGSBASE set these instructions work in user mode; FS is not
    // used by this program, and its base is restored.
    unsafe {
        asm!("rdfsbase {}", out(reg) before, options(nomem, nostack));
        asm!("wrfsbase {}", in(reg) 0x1234_5000u64, options(nomem, nostack));
        asm!("rdfsbase {}", out(reg) after, options(nomem, nostack));
        asm!("wrfsbase {}", in(reg) before, options(nomem, nostack));
    }
    ensure_eq!(after, 0x1234_5000u64);
    Ok(())
}

/// The FS base set with WRFSBASE belongs to the EC: another EC does not see it, and it
/// survives the switch there and back.
pub fn fs_base_is_per_ec() -> TestResult {
    if cpuid(7, 0).1 & 1 == 0 {
        return Ok(());
    }
    let before: u64;
    // SAFETY: as in `fsgsbase_usable`.
    unsafe { asm!("rdfsbase {}", out(reg) before, options(nomem, nostack)) };
    // SAFETY: as above; restored below.
    unsafe { asm!("wrfsbase {}", in(reg) 0x7777_0000u64, options(nomem, nostack)) };
    let seen = super::ipc::fs_base_of_handler();
    let mine: u64;
    // SAFETY: as above.
    unsafe {
        asm!("rdfsbase {}", out(reg) mine, options(nomem, nostack));
        asm!("wrfsbase {}", in(reg) before, options(nomem, nostack));
    }
    let seen = seen?;
    ensure_eq!(seen, 0u64);
    ensure_eq!(mine, 0x7777_0000u64);
    Ok(())
}

pub fn sse_usable() -> TestResult {
    let out: u64;
    // SAFETY: SSE registers are usable in user mode when CR4.OSFXSR is set and CR0.EM
    // is clear; the kernel keeps the state of this (only) program.
    unsafe {
        asm!(
            "movq xmm0, {a}",
            "movq xmm1, {b}",
            "paddq xmm0, xmm1",
            "movq {o}, xmm0",
            a = in(reg) 40u64, b = in(reg) 2u64, o = out(reg) out,
            out("xmm0") _, out("xmm1") _,
            options(nomem, nostack),
        )
    }
    ensure_eq!(out, 42u64);
    Ok(())
}
