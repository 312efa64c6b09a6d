//! The application-processor start-up code: real mode -> protected mode -> long mode.
//!
//! A start-up IPI starts an AP in 16-bit real mode at the start of a page below 1 MiB
//! (the SIPI vector is its page number), with CS holding the page's segment and IP 0;
//! an ACPI waking vector enters the same way after S3. The page is one the memory map
//! marks usable (`mem::init::Plan::low_page`), so the code is position-independent: it
//! takes its base from CS, writes the absolute addresses it needs (the GDT's base and
//! its two far-jump targets) into its own page while still in real mode, and reaches
//! the parameter block at its end relative to that base. The bootstrap CPU copies the
//! code there and fills the parameter block: the page table to load (below 4 GiB), the
//! stack, the 64-bit entry point and the CPU number. The page table maps the page
//! read+execute at its physical address and shares the kernel half, so the jump to the
//! kernel works.

use core::arch::global_asm;

/// Offsets of the parameter block, from the start of the page.
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
    movw %cs, %ax
    movw %ax, %ds
    movzwl %ax, %ebx
    shll $4, %ebx
    // The absolute addresses, from this page's base in EBX (written every time, so a
    // second CPU or a second wake-up finds the same values).
    leal (__ap_gdt - __ap_trampoline_start)(%ebx), %eax
    movl %eax, (__ap_gdt_ptr + 2 - __ap_trampoline_start)
    leal (__ap_pm32 - __ap_trampoline_start)(%ebx), %eax
    movl %eax, (__ap_far32 - __ap_trampoline_start)
    leal (__ap_lm64 - __ap_trampoline_start)(%ebx), %eax
    movl %eax, (__ap_far64 - __ap_trampoline_start)
    lgdtl (__ap_gdt_ptr - __ap_trampoline_start)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl *(__ap_far32 - __ap_trampoline_start)

    .code32
__ap_pm32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $0xa0, %eax
    movl %eax, %cr4
    movl 0xf00(%ebx), %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    xorl %edx, %edx
    movl $0x901, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax
    movl %eax, %cr0
    ljmpl *(__ap_far64 - __ap_trampoline_start)(%ebx)

    .code64
__ap_lm64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    // The upper halves of the registers are undefined after the switch to 64-bit mode.
    movl %ebx, %ebx
    movq 0xf08(%rbx), %rsp
    movq 0xf10(%rbx), %rax
    movl 0xf18(%rbx), %edi
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
    .long 0
    // Far pointers (32-bit offset, then selector) to the protected-mode and the
    // 64-bit code.
__ap_far32:
    .long 0
    .short 0x08
__ap_far64:
    .long 0
    .short 0x18
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
