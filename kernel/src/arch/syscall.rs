//! The `syscall` entry: hypercalls from user mode.
//!
//! The stub switches to the kernel GS, builds the same [`Frame`](super::regs::Frame) an exception would (user
//! CS/SS, RIP from RCX, RFLAGS from R11, vector [`VECTOR_SYSCALL`]) directly in the
//! running Ec (`ipc::current`), switches to the kernel stack and calls
//! [`crate::hypercall::dispatch`]. It leaves through [`__return_to_user`], which restores
//! whichever Ec runs by then.

use core::arch::global_asm;

use super::gdt::PerCpu;
use super::msr;
use super::regs::VECTOR_SYSCALL;

global_asm!(
    r#"
    .section .text.syscall, "ax"
    .global __syscall_entry
__syscall_entry:
    swapgs
    mov gs:[16], rsp
    mov rsp, gs:[32]
    push 0x23
    push qword ptr gs:[16]
    push r11
    push 0x2b
    push rcx
    push 0
    push {vector}
"#,
    super::regs::push_gprs!(),
    r#"
    mov rsp, gs:[8]
    call {dispatch}
    .global __return_to_user
__return_to_user:
    mov rsp, gs:[40]
"#,
    super::regs::pop_gprs!(),
    r#"
    add rsp, 16
    swapgs
    iretq
"#,
    vector = const VECTOR_SYSCALL,
    dispatch = sym crate::hypercall::dispatch,
);

extern "C" {
    fn __syscall_entry();
    fn __return_to_user() -> !;
}

/// Leaves the kernel towards the running Ec's saved user state (`ipc::current`).
///
/// # Safety
/// 1. The running Ec's frame must be a complete, valid user state: CS and SS are user
///    selectors, RIP and RSP are canonical, RFLAGS has IOPL 0 and IF set.
/// 2. GS must hold the kernel's per-CPU base (the exit path swaps it for the user's).
pub unsafe fn enter_user() -> ! {
    // SAFETY: the exit path restores the running Ec's frame (points 1 and 2); nothing on
    // the kernel stack is needed afterwards.
    unsafe { core::arch::asm!("jmp {}", sym __return_to_user, options(noreturn)) }
}

/// Sets up the syscall MSRs on the executing CPU. EFER.SCE is already on (boot code).
pub fn init() {
    // STAR: kernel CS 0x08 (SS 0x10); SYSRET bases user selectors at 0x18 (CS 0x2b, SS 0x23).
    let star = (0x18u64 << 48) | (0x08u64 << 32);
    // Mask IF, TF, DF, AC and NT on entry (the entry stub relies on DF being clear).
    let fmask = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);
    // SAFETY: these MSRs exist on every x86_64 CPU; the entry point is the stub above.
    unsafe {
        msr::write(msr::IA32_STAR, star);
        msr::write(msr::IA32_LSTAR, __syscall_entry as *const () as u64);
        msr::write(msr::IA32_FMASK, fmask);
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
