//! The `syscall` entry: hypercalls from user mode.
//!
//! The stub switches to the kernel GS, builds the same [`Frame`] an exception would (user
//! CS/SS, RIP from RCX, RFLAGS from R11, vector [`VECTOR_SYSCALL`]) directly in the
//! running Ec (`exec::current`), switches to the kernel stack and calls
//! [`super::dispatch::dispatch`] (`call` and `reply` first go to the IPC fast path,
//! `super::fastpath`). When another Ec runs by then (or none), it leaves
//! through [`__return_to_user`], which restores that Ec's whole frame with IRETQ; when
//! the caller gets a status, it restores only the registers the kernel may have changed
//! and returns with SYSRET (much cheaper than IRETQ under emulation, and on hardware).

use core::arch::global_asm;
use core::mem::offset_of;

use crate::arch::msr;
use crate::arch::regs::{pop_gprs, push_gprs, Frame, VECTOR_SYSCALL};

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
    push_gprs!(),
    r#"
    mov rsp, gs:[8]
    // `call` and `reply` (hypercalls 0 and 1) try the IPC fast path first.
    test edi, 0xe
    jz .Lcall_or_reply
    call {dispatch}
    cmp al, {switched}
    jae __return_to_user
    // A status for the caller, which runs on. RBX, RBP and R12-R15 still hold its values
    // (every function on the way kept them), so only the registers a hypercall may have
    // changed or the kernel used come back from the frame, and RDI gets the status.
    // SYSRET returns: RCX and R11 come back as the SYSCALL left them (the return address
    // and RFLAGS, which no hypercall writes), the RSP saved at entry. That RCX is always
    // canonical: user mappings end below USER_ADDR, a page short of the canonical
    // boundary, so the instruction after a SYSCALL lies below it (SYSRET to a
    // non-canonical address would fault in ring 0 on Intel CPUs; should it ever, the
    // #GP's interrupt stack takes it and it becomes the Ec's fault, as a failed IRETQ).
    mov rsp, gs:[40]
    movzx edi, al
    mov rax, [rsp + {rax}]
    mov rcx, [rsp + {rcx}]
    mov rdx, [rsp + {rdx}]
    mov rsi, [rsp + {rsi}]
    mov r8, [rsp + {r8}]
    mov r9, [rsp + {r9}]
    mov r10, [rsp + {r10}]
    mov r11, [rsp + {r11}]
    mov rsp, [rsp + {rsp}]
    swapgs
    .global __exit_sysret_status
__exit_sysret_status:
    sysretq
    .global __return_to_user
__return_to_user:
    mov rsp, gs:[40]
"#,
    pop_gprs!(),
    r#"
    add rsp, 16
    swapgs
    .global __exit_iret_frame
__exit_iret_frame:
    iretq
.Lcall_or_reply:
    call {call_or_reply}
    cmp al, {switched}
    jae __return_to_user
    // The same status exit as above, repeated so that neither path jumps to it (a
    // refused call, the null hypercall, saves the jump).
    mov rsp, gs:[40]
    movzx edi, al
    mov rax, [rsp + {rax}]
    mov rcx, [rsp + {rcx}]
    mov rdx, [rsp + {rdx}]
    mov rsi, [rsp + {rsi}]
    mov r8, [rsp + {r8}]
    mov r9, [rsp + {r9}]
    mov r10, [rsp + {r10}]
    mov r11, [rsp + {r11}]
    mov rsp, [rsp + {rsp}]
    swapgs
    .global __exit_sysret_call_status
__exit_sysret_call_status:
    sysretq
"#,
    vector = const VECTOR_SYSCALL,
    dispatch = sym super::dispatch::dispatch,
    call_or_reply = sym super::fastpath::call_or_reply,
    switched = const crate::exec::Outcome::SWITCHED.byte(),
    rax = const offset_of!(Frame, rax),
    rcx = const offset_of!(Frame, rcx),
    rdx = const offset_of!(Frame, rdx),
    rsi = const offset_of!(Frame, rsi),
    r8 = const offset_of!(Frame, r8),
    r9 = const offset_of!(Frame, r9),
    r10 = const offset_of!(Frame, r10),
    r11 = const offset_of!(Frame, r11),
    rsp = const offset_of!(Frame, rsp),
);

// SYSCALL from 32-bit code (IA32_CSTAR; only AMD CPUs take this path, Intel's raise #UD
// themselves): the same frame as a hypercall's, recording the 32-bit code selector and
// the SYSCALL instruction itself (two bytes before the return address) as a #UD, which
// the running Ec takes as its own exception, as it would on Intel.
global_asm!(
    r#"
    .section .text.syscall, "ax"
    .global __syscall32_entry
__syscall32_entry:
    swapgs
    mov gs:[16], rsp
    mov rsp, gs:[32]
    push 0x23
    push qword ptr gs:[16]
    push r11
    push 0x1b
    sub ecx, 2
    push rcx
    push 0
    push 6
"#,
    push_gprs!(),
    r#"
    mov rsp, gs:[8]
    call {compat}
    jmp __return_to_user
"#,
    compat = sym super::trap::compat_syscall_entry,
);

extern "C" {
    fn __syscall_entry();
    fn __syscall32_entry();
    fn __return_to_user() -> !;
}

/// Leaves the kernel towards the running Ec's saved user state (`exec::current`).
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

/// Sets up the syscall MSRs on the executing CPU (64-bit and 32-bit SYSCALL, and
/// SYSENTER refused). EFER.SCE is already on (boot code).
pub fn init() {
    // STAR: kernel CS 0x08 (SS 0x10); SYSRET bases user selectors at 0x18 (CS 0x2b, SS 0x23).
    let star = (0x18u64 << 48) | (0x08u64 << 32);
    // Mask IF, TF, DF, AC and NT on entry (the entry stub relies on DF being clear).
    let fmask = (1 << 9) | (1 << 8) | (1 << 10) | (1 << 18) | (1 << 14);
    // SAFETY: these MSRs exist on every x86_64 CPU; the entry points are the stubs above.
    // SYSENTER_CS 0 makes SYSENTER (which Intel CPUs offer to 64-bit and 32-bit code) a
    // #GP in user mode instead of an entry with whatever state firmware left.
    unsafe {
        msr::write(msr::IA32_STAR, star);
        msr::write(msr::IA32_LSTAR, __syscall_entry as *const () as u64);
        msr::write(msr::IA32_CSTAR, __syscall32_entry as *const () as u64);
        msr::write(msr::IA32_FMASK, fmask);
        msr::write(msr::IA32_SYSENTER_CS, 0);
        msr::write(msr::IA32_SYSENTER_ESP, 0);
        msr::write(msr::IA32_SYSENTER_EIP, 0);
    }
}
