//! Port I/O for programs that were given the ports.

use core::arch::asm;

/// Writes a byte to a port this program may access.
pub fn outb(port: u16, value: u8) {
    // SAFETY: without the port in this PD's I/O bitmap the CPU raises #GP; the write has
    // no effect on this program's memory.
    unsafe {
        asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a byte from a port this program may access.
pub fn inb(port: u16) -> u8 {
    let v;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags))
    }
    v
}

/// Ends a QEMU run with `isa-debug-exit` at port 0xf4 (QEMU exits with `2 * code + 1`).
pub fn debug_exit(code: u8) {
    outb(0xf4, code);
}

/// Writes a 32-bit word to an I/O port the caller's PD holds.
pub fn outl(port: u16, value: u32) {
    // SAFETY: as for `outb`.
    unsafe {
        asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
    }
}

/// Reads a 32-bit word from an I/O port the caller's PD holds.
pub fn inl(port: u16) -> u32 {
    let v: u32;
    // SAFETY: as for `outb`.
    unsafe {
        asm!("in eax, dx", in("dx") port, out("eax") v, options(nomem, nostack, preserves_flags))
    }
    v
}
