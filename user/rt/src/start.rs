//! Program entry. The kernel starts a roottask with RSP pointing at the HIP; `_start`
//! keeps that address, switches to a stack of its own and calls the program's `main`
//! (declared with [`entry!`](crate::entry)) as `main(cpu, hip_address)`.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text._start, "ax"
    .global _start
_start:
    mov rsi, rsp
    lea rsp, [rip + __rt_stack_top]
    and rsp, -16
    xor ebp, ebp
    call __facet_main
2:
    pause
    jmp 2b

    /* A byte of initialised data, placed first in the data segment by the linker
       script, so that the segment (with .bss folded in) is stored in the file. */
    .section .data.rt_marker, "aw"
    .byte 1

    .section .bss.rt_stack, "aw", @nobits
    .balign 16
__rt_stack_bottom:
    .skip 0x10000
__rt_stack_top:
"#
);

/// Declares the program's main function: `fn(cpu: u64, hip: u64) -> !`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[no_mangle]
        extern "C" fn __facet_main(cpu: u64, hip: u64) -> ! {
            $main(cpu, hip)
        }
    };
}
