//! The application-processor start-up code: real mode -> protected mode -> long mode.
//!
//! A start-up IPI starts an AP in 16-bit real mode at `TRAMPOLINE` (the SIPI vector is
//! its page number). The code is assembled here as position-dependent bytes for that
//! address and copied there by the bootstrap CPU, which also fills the parameter block
//! at its end: the page table to load (below 4 GiB), the stack, the 64-bit entry point
//! and the CPU number. The page table maps the trampoline page read+execute at its
//! physical address and shares the kernel half, so the jump to the kernel works.

use core::arch::global_asm;

/// Physical address the trampoline runs at (below 1 MiB, page-aligned).
pub const TRAMPOLINE: u64 = 0x8000;

/// Offsets of the parameter block, from the start of the trampoline.
pub const PARAM_CR3: u64 = 0xf00;
pub const PARAM_STACK: u64 = 0xf08;
pub const PARAM_ENTRY: u64 = 0xf10;
pub const PARAM_CPU: u64 = 0xf18;

global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .balign 16
    .global __ap_trampoline_start
__ap_trampoline_start:
    .code16
    cli
    cld
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl 0x8000 + (__ap_gdt_ptr - __ap_trampoline_start)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $(0x8000 + (__ap_pm32 - __ap_trampoline_start))

    .code32
__ap_pm32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $0xa0, %eax
    movl %eax, %cr4
    movl 0x8000 + 0xf00, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    xorl %edx, %edx
    movl $0x901, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax
    movl %eax, %cr0
    ljmpl $0x18, $(0x8000 + (__ap_lm64 - __ap_trampoline_start))

    .code64
__ap_lm64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movq 0x8000 + 0xf08, %rsp
    movq 0x8000 + 0xf10, %rax
    movl 0x8000 + 0xf18, %edi
    xorl %ebp, %ebp
    jmpq *%rax

    // The descriptors come with their accessed bits set: loading one with the bit clear
    // makes the CPU write it, and once paging is on this page is mapped read-only (a
    // write there faults, and with no IDT yet the AP triple-faults).
    .balign 8
__ap_gdt:
    .quad 0
    .quad 0x00cf9b000000ffff
    .quad 0x00cf93000000ffff
    .quad 0x00af9b000000ffff
__ap_gdt_ptr:
    .short __ap_gdt_ptr - __ap_gdt - 1
    .long 0x8000 + (__ap_gdt - __ap_trampoline_start)
    .global __ap_trampoline_end
__ap_trampoline_end:
    .text
"#,
    options(att_syntax)
);

extern "C" {
    static __ap_trampoline_start: u8;
    static __ap_trampoline_end: u8;
}

/// The trampoline's bytes.
pub fn code() -> &'static [u8] {
    let start = core::ptr::addr_of!(__ap_trampoline_start);
    let end = core::ptr::addr_of!(__ap_trampoline_end);
    let len = end as usize - start as usize;
    // SAFETY: the two symbols delimit the assembled trampoline in read-only data.
    unsafe { core::slice::from_raw_parts(start, len) }
}
