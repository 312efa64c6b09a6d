//! Multiboot headers and the 32-bit entry: from the bootloader's protected mode to long
//! mode in the top 2 GiB.
//!
//! Both multiboot1 and multiboot2 loaders enter at `__facet_entry32` in 32-bit protected
//! mode with paging off, EAX holding the loader's magic and EBX the physical address of
//! its information structure. The code here builds temporary page tables in the boot
//! section that map the first 4 GiB three times (identity, at the direct-map base, and
//! the first 1 GiB at the kernel's link address), enables PAE, long mode and
//! no-execute, and calls `kernel_start(magic, info)` on the boot stack. The temporary
//! tables are replaced by the real kernel address space as soon as the physical
//! allocator exists.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .multiboot, "a"
    .balign 4
__mb1_header:
    .long 0x1BADB002
    .long 0x00000003
    .long 0x100000000 - 0x1BADB002 - 3

    .balign 8
__mb2_header:
    .long 0xE85250D6
    .long 0
    .long __mb2_end - __mb2_header
    .long 0x100000000 - 0xE85250D6 - (__mb2_end - __mb2_header)
    /* module alignment tag: modules start on page boundaries */
    .short 6
    .short 0
    .long 8
    /* end tag */
    .short 0
    .short 0
    .long 8
__mb2_end:

    .section .boot.bss, "aw", @nobits
    .balign 4096
__boot_pml4:      .skip 4096
__boot_pdpt_low:  .skip 4096
__boot_pdpt_high: .skip 4096
__boot_pd:        .skip 4096 * 4
__boot_tables_end:

    .section .boot.data, "aw"
    .balign 8
__boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
__boot_gdt_ptr:
    .short __boot_gdt_ptr - __boot_gdt - 1
    .quad __boot_gdt
__boot_magic: .long 0
__boot_info:  .long 0
__boot_no_lm_msg: .asciz "Facet: this CPU has no long mode; halting."

    .section .boot.text, "ax"
    .code32
    .global __facet_entry32
__facet_entry32:
    cli
    cld
    mov dword ptr [__boot_magic], eax
    mov dword ptr [__boot_info], ebx

    /* Long mode present? (CPUID 0x80000001 EDX bit 29) */
    mov eax, 0x80000000
    cpuid
    cmp eax, 0x80000001
    jb 9f
    mov eax, 0x80000001
    cpuid
    bt edx, 29
    jnc 9f
    mov ebp, edx                 /* keep bit 20 (NX) for later */

    /* Clear the temporary tables. */
    mov edi, offset __boot_pml4
    mov ecx, 7 * 1024                /* seven 4 KiB tables, in dwords */
    xor eax, eax
    rep stosd

    /* PML4: 0 (identity) and 256 (direct map) share the low PDPT; 511 the high one. */
    mov dword ptr [__boot_pml4], offset __boot_pdpt_low + 3
    mov dword ptr [__boot_pml4 + 256 * 8], offset __boot_pdpt_low + 3
    mov dword ptr [__boot_pml4 + 511 * 8], offset __boot_pdpt_high + 3

    /* Low PDPT: four page directories for 0..4 GiB. */
    mov dword ptr [__boot_pdpt_low + 0], offset __boot_pd + 0x0000 + 3
    mov dword ptr [__boot_pdpt_low + 8], offset __boot_pd + 0x1000 + 3
    mov dword ptr [__boot_pdpt_low + 16], offset __boot_pd + 0x2000 + 3
    mov dword ptr [__boot_pdpt_low + 24], offset __boot_pd + 0x3000 + 3
    /* High PDPT: 0xffffffff80000000 -> physical 0 (first GiB). */
    mov dword ptr [__boot_pdpt_high + 510 * 8], offset __boot_pd + 3

    /* 2048 2-MiB pages, present + writable + large. */
    mov edi, offset __boot_pd
    mov eax, 0x83
    mov ecx, 2048
2:
    mov dword ptr [edi], eax
    add eax, 0x200000
    add edi, 8
    loop 2b

    /* PAE + PGE */
    mov eax, cr4
    or eax, 0xa0
    mov cr4, eax
    mov eax, offset __boot_pml4
    mov cr3, eax

    /* EFER, written whole (no bit a bootloader or firmware left, such as AMD's FFXSR,
       survives): long mode enable, syscall enable, no-execute enable when present. */
    mov ecx, 0xc0000080
    xor edx, edx
    mov eax, 0x101
    bt ebp, 20
    jnc 3f
    or eax, 0x800
3:
    wrmsr

    /* Paging, write-protect in ring 0, protected mode. */
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax

    lgdt [__boot_gdt_ptr]
    /* Far return into the 64-bit code segment (selector 0x08). */
    mov eax, 0x08
    push eax
    mov eax, offset __facet_entry64
    push eax
    retf

    /* No long mode: say so on COM1 and the VGA screen, then stop. */
9:
    mov esi, offset __boot_no_lm_msg
    mov edi, 0xb8000
4:
    lodsb
    test al, al
    jz 5f
    mov ah, 0x4f
    mov word ptr [edi], ax
    add edi, 2
    mov dx, 0x3f8
    out dx, al
    jmp 4b
5:
    hlt
    jmp 5b

    .code64
__facet_entry64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    movabs rsp, offset __stack_top
    xor ebp, ebp
    mov edi, dword ptr [__boot_magic]
    mov esi, dword ptr [__boot_info]
    movabs rax, offset kernel_start
    call rax
6:
    hlt
    jmp 6b
"#
);
