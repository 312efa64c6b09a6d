//! The entry and exit paths of exceptions and interrupts.
//!
//! One 16-byte stub per vector pushes a zero error code where the CPU does not push one,
//! then the vector number, and jumps to one of three paths:
//!
//! - **Common** (every vector but those below): switches GS for an entry from user mode
//!   (the saved CS says which, and it can be trusted here: these vectors cannot arrive in
//!   the few instructions around `swapgs`), saves the general registers into a
//!   [`Frame`](crate::arch::regs::Frame) and calls [`super::trap::exception_entry`]; returning
//!   goes back through the same path, so the handler may change the frame.
//! - **Paranoid** (NMI, #DF, #MC, on interrupt stacks of their own): these can arrive
//!   anywhere, also between `syscall` and its `swapgs` or between the exit's `swapgs` and
//!   `iretq`, so the saved CS says nothing about GS. The entry keeps whatever GS base it
//!   finds, loads this CPU's per-CPU block (found above the interrupt stack's top, see
//!   `arch::stacks`) and puts the old base back on the way out; its handlers never
//!   switch Ecs ([`super::trap::paranoid_entry`]).
//! - **Protection** (#NP, #SS, #GP, on an interrupt stack): the faults a return to user
//!   mode can raise. A return runs `iretq` with RSP inside the returning Ec's register
//!   frame, where nothing may be pushed; the interrupt stack takes the CPU's frame
//!   instead. A fault from user mode moves on to the kernel stack and takes the common
//!   path. A fault on one of the exit paths' `iretq` instructions (after their
//!   `swapgs`) is the returning Ec's: the entry swaps GS back, moves to the kernel stack
//!   and marks the vector [`RETURN_FAULT`], and the Ec takes the fault as its own
//!   exception. Any other fault in the kernel stays on the interrupt stack (an MSR probe's
//!   fix-up, or a fatal report).

use core::arch::global_asm;
use core::mem::offset_of;

use crate::arch::gdt::PerCpu;
use crate::arch::regs::{pop_gprs, push_gprs};

/// Marks the vector of a fault taken by an exit path's `iretq` (see the module
/// documentation): the state that could not be entered is the running Ec's.
pub const RETURN_FAULT: u64 = 1 << 12;

global_asm!(
    r#"
    .section .text.isr, "ax"
    .balign 16
    .global __isr_table
__isr_table:
    .set __isr_vec, 0
    .rept 256
    .balign 16
    .if (__isr_vec == 8) || ((__isr_vec >= 10) && (__isr_vec <= 14)) || (__isr_vec == 17) || (__isr_vec == 21) || (__isr_vec == 29) || (__isr_vec == 30)
    .else
    push 0
    .endif
    push __isr_vec
    .if (__isr_vec == 2) || (__isr_vec == 8) || (__isr_vec == 18)
    jmp __isr_paranoid
    .elseif (__isr_vec >= 11) && (__isr_vec <= 13)
    jmp __isr_protection
    .else
    jmp __isr_common
    .endif
    .set __isr_vec, __isr_vec + 1
    .endr

__isr_common:
    test byte ptr [rsp + 24], 3
    jz __isr_kernel_gs
    swapgs
__isr_kernel_gs:
"#,
    push_gprs!(),
    r#"
    mov rdi, rsp
    cld
    call {entry}
    .global __return_from_frame
__return_from_frame:
"#,
    pop_gprs!(),
    r#"
    test byte ptr [rsp + 24], 3
    jz 2f
    swapgs
2:
    add rsp, 16
    .global __exit_iret_trap
__exit_iret_trap:
    iretq

    // [rsp]: vector, error, RIP, CS, RFLAGS, RSP, SS (on the interrupt stack).
__isr_protection:
    test byte ptr [rsp + 24], 3
    jnz 1f
    cmp qword ptr [rsp + 16], offset __exit_sysret_status
    je 2f
    cmp qword ptr [rsp + 16], offset __exit_sysret_call_status
    je 2f
    cmp qword ptr [rsp + 16], offset __exit_iret_frame
    je 2f
    cmp qword ptr [rsp + 16], offset __exit_iret_trap
    je 2f
    // A fault in the kernel: a fix-up or a fatal report, on this stack.
    jmp __isr_kernel_gs
2:
    // Leaving for user mode failed after the exit's swapgs.
    or qword ptr [rsp], {return_fault}
1:
    swapgs
    // Onto the kernel stack, which holds nothing now: the CPU came from user mode or
    // was leaving for it.
    mov gs:[{scratch}], rax
    mov rax, rsp
    mov rsp, gs:[{kernel_rsp}]
    push qword ptr [rax + 48]
    push qword ptr [rax + 40]
    push qword ptr [rax + 32]
    push qword ptr [rax + 24]
    push qword ptr [rax + 16]
    push qword ptr [rax + 8]
    push qword ptr [rax]
    mov rax, gs:[{scratch}]
    jmp __isr_kernel_gs

__isr_paranoid:
"#,
    push_gprs!(),
    r#"
    // Whatever GS base the CPU had stays in RBX (callee-saved) until the exit; the
    // per-CPU block's address sits in the highest word of the interrupt stack's top page.
    rdgsbase rbx
    mov rax, rsp
    or rax, 0xfff
    mov rax, [rax - 7]
    wrgsbase rax
    mov rdi, rsp
    cld
    call {paranoid}
    wrgsbase rbx
"#,
    pop_gprs!(),
    r#"
    add rsp, 16
    iretq
"#,
    entry = sym super::trap::exception_entry,
    paranoid = sym super::trap::paranoid_entry,
    return_fault = const RETURN_FAULT,
    scratch = const offset_of!(PerCpu, entry_scratch),
    kernel_rsp = const offset_of!(PerCpu, kernel_rsp),
);

extern "C" {
    static __isr_table: u8;
}

/// The first of the 256 entry stubs (one per vector, 16 bytes apart), for the IDT.
pub fn stubs() -> u64 {
    core::ptr::addr_of!(__isr_table) as u64
}
