//! Interrupt descriptor table and the entry/exit paths of exceptions and interrupts.
//!
//! One 16-byte stub per vector pushes a zero error code where the CPU does not push one,
//! then the vector number, and jumps to one of three paths:
//!
//! - **Common** (every vector but those below): switches GS for an entry from user mode
//!   (the saved CS says which, and it can be trusted here: these vectors cannot arrive in
//!   the few instructions around `swapgs`), saves the general registers into a
//!   [`Frame`](super::regs::Frame) and calls [`crate::trap::exception_entry`]; returning
//!   goes back through the same path, so the handler may change the frame.
//! - **Paranoid** (NMI, #DF, #MC, on interrupt stacks of their own): these can arrive
//!   anywhere, also between `syscall` and its `swapgs` or between the exit's `swapgs` and
//!   `iretq`, so the saved CS says nothing about GS. The entry keeps whatever GS base it
//!   finds, loads this CPU's per-CPU block (found above the interrupt stack's top, see
//!   `super::stacks`) and puts the old base back on the way out; its handlers never
//!   switch Ecs ([`crate::trap::paranoid_entry`]).
//! - **Protection** (#NP, #SS, #GP, on an interrupt stack): the faults a return to user
//!   mode can raise. A return runs `iretq` with RSP inside the returning Ec's register
//!   frame, where nothing may be pushed; the interrupt stack takes the CPU's frame
//!   instead. A fault from user mode moves on to the kernel stack and takes the common
//!   path. A fault on one of the exit paths' `iretq` instructions (after their
//!   `swapgs`) is the returning Ec's: the entry swaps GS back, moves to the kernel stack
//!   and marks the vector [`RETURN_FAULT`], and the Ec takes the fault as its own
//!   exception. Any other fault in the kernel stays on the interrupt stack (an MSR probe's
//!   fix-up, or a fatal report).

use core::arch::{asm, global_asm};
use core::mem::offset_of;

use super::gdt::{DescriptorPointer, PerCpu, SEL_KERNEL_CODE};
use super::stacks::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI, IST_PROTECTION};

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
    super::regs::push_gprs!(),
    r#"
    mov rdi, rsp
    cld
    call {entry}
    .global __return_from_frame
__return_from_frame:
"#,
    super::regs::pop_gprs!(),
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
    cmp qword ptr [rsp + 16], offset __exit_iret_status
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
    super::regs::push_gprs!(),
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
    super::regs::pop_gprs!(),
    r#"
    add rsp, 16
    iretq
"#,
    entry = sym crate::trap::exception_entry,
    paranoid = sym crate::trap::paranoid_entry,
    return_fault = const RETURN_FAULT,
    scratch = const offset_of!(PerCpu, entry_scratch),
    kernel_rsp = const offset_of!(PerCpu, kernel_rsp),
);

extern "C" {
    static __isr_table: u8;
}

/// The interrupt stack of each vector that has one.
fn ist_of(vector: usize) -> u64 {
    match vector {
        2 => IST_NMI,
        8 => IST_DOUBLE_FAULT,
        11..=13 => IST_PROTECTION,
        18 => IST_MACHINE_CHECK,
        _ => 0,
    }
}

/// The interrupt descriptor table (shared by all CPUs).
#[repr(C, align(16))]
pub struct Idt([[u64; 2]; 256]);

static mut IDT: Idt = Idt([[0; 2]; 256]);

/// Fills the IDT and loads it on the executing CPU.
pub fn init() {
    // SAFETY: only the bootstrap CPU calls this, once, before anything reads the IDT.
    let idt = unsafe { &mut *core::ptr::addr_of_mut!(IDT) };
    // `__isr_table` is the first stub; the stubs follow at 16-byte intervals.
    let base = core::ptr::addr_of!(__isr_table) as u64;
    for (vector, gate) in idt.0.iter_mut().enumerate() {
        let handler = base + 16 * vector as u64;
        // Interrupt gates of DPL 0 (user mode cannot raise vectors with INT n), but for
        // #BP and #OF, which INT3 and INTO raise from user mode (as in the reference).
        let dpl = if vector == 3 || vector == 4 { 3u64 } else { 0 };
        gate[0] = (handler & 0xffff)
            | (SEL_KERNEL_CODE as u64) << 16
            | ist_of(vector) << 32
            | (0x8e | dpl << 5) << 40
            | ((handler >> 16) & 0xffff) << 48;
        gate[1] = handler >> 32;
    }
    load();
}

/// Loads the IDT on the executing CPU.
pub fn load() {
    let ptr = DescriptorPointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: core::ptr::addr_of!(IDT) as u64,
    };
    // SAFETY: the IDT is static and fully initialised by `init`.
    unsafe { asm!("lidt [{}]", in(reg) &ptr, options(nostack, preserves_flags)) }
}
