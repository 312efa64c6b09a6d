//! What the kernel enabled on the CPU, seen from user mode.

use core::arch::asm;

use facet_abi::hip::{self, off};
use facet_rt::cpu::{cpuid, fs_base, set_fs_base, xcr0};

use super::{Env, Fail, TestResult};

pub fn virtualization_flags_match_cpuid(e: &Env) -> TestResult {
    let flags = e.hip().u32(off::API_FLG);
    let vmx = cpuid(1, 0).2 & (1 << 5) != 0;
    let svm = cpuid(0x8000_0000, 0).0 >= 0x8000_0001 && cpuid(0x8000_0001, 0).2 & (1 << 2) != 0;
    ensure_eq!(flags & hip::FEAT_VMX != 0, vmx);
    ensure_eq!(flags & hip::FEAT_SVM != 0, svm);
    match e.args.expect_virt {
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

pub fn xsave_enabled(_: &Env) -> TestResult {
    let ecx = cpuid(1, 0).2;
    if ecx & (1 << 26) == 0 {
        ensure!(ecx & (1 << 27) == 0, "OSXSAVE set without XSAVE");
        return Ok(());
    }
    ensure!(
        ecx & (1 << 27) != 0,
        "CPU has XSAVE but CR4.OSXSAVE is clear"
    );
    let xcr0 = xcr0();
    let d = cpuid(0xd, 0);
    let offered = (d.3 as u64) << 32 | d.0 as u64;
    ensure!(xcr0 & 3 == 3, "XCR0 {:#x} lacks x87/SSE", xcr0);
    ensure!(
        xcr0 & !offered == 0,
        "XCR0 {:#x} has components the CPU does not offer ({:#x})",
        xcr0,
        offered
    );
    // x87, SSE, AVX, the three AVX-512 components (only together, and with AVX) and
    // PKRU (bit 9: guests' protection keys are switched with their XSAVE state).
    let mut expected = offered & 0b10_1110_0111;
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

/// Whether the CPU has RDFSBASE and its kin (which the kernel then enables).
pub fn has_fsgsbase() -> bool {
    cpuid(7, 0).1 & 1 != 0
}

pub fn fsgsbase_usable_in_user_mode(_: &Env) -> TestResult {
    if !has_fsgsbase() {
        return Ok(());
    }
    let before = fs_base();
    set_fs_base(0x1234_5000);
    let after = fs_base();
    set_fs_base(before);
    ensure_eq!(after, 0x1234_5000u64);
    Ok(())
}

/// The FS base set with WRFSBASE belongs to the EC: another EC does not see it, and it
/// survives the switch there and back. Needs `ipc::call_and_reply` first (the handler).
pub fn fs_base_is_per_ec(_: &Env) -> TestResult {
    if !has_fsgsbase() {
        return Ok(());
    }
    let before = fs_base();
    set_fs_base(0x7777_0000);
    let seen = super::ipc::fs_base_of_handler();
    let mine = fs_base();
    set_fs_base(before);
    let seen = seen?;
    ensure_eq!(seen, 0u64);
    ensure_eq!(mine, 0x7777_0000u64);
    Ok(())
}

pub fn sse_usable_in_user_mode(_: &Env) -> TestResult {
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
