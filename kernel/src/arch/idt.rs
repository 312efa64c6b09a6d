//! Interrupt descriptor table and the common entry/exit path.
//!
//! One 16-byte stub per vector pushes a zero error code where the CPU does not push one,
//! then the vector number, and jumps to the common path, which switches GS for entries
//! from user mode, saves the general-purpose registers into a [`Frame`](super::regs::Frame) and calls
//! [`crate::trap::exception_entry`]. Returning goes back through the same path, so the
//! handler may change the frame. Double faults, NMIs and machine checks run on IST1.

use core::arch::{asm, global_asm};

use super::gdt::{DescriptorPointer, SEL_KERNEL_CODE};

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
    jmp __isr_common
    .set __isr_vec, __isr_vec + 1
    .endr

__isr_common:
    test byte ptr [rsp + 24], 3
    jz 1f
    swapgs
1:
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
    iretq
"#,
    entry = sym crate::trap::exception_entry,
);

extern "C" {
    static __isr_table: u8;
}

/// Vectors that run on the interrupt stack (IST1): NMI, double fault, machine check.
const IST_VECTORS: [usize; 3] = [2, 8, 18];

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
        let ist = if IST_VECTORS.contains(&vector) {
            1u64
        } else {
            0
        };
        // Interrupt gates of DPL 0 (user mode cannot raise vectors with INT n), but for
        // #BP and #OF, which INT3 and INTO raise from user mode (as in the reference).
        let dpl = if vector == 3 || vector == 4 { 3u64 } else { 0 };
        gate[0] = (handler & 0xffff)
            | (SEL_KERNEL_CODE as u64) << 16
            | ist << 32
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
