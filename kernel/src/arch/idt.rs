//! The interrupt descriptor table.
//!
//! One gate per vector, all pointing into the table of 16-byte entry stubs that the entry
//! layer defines (`entry::interrupt`, passed to [`init`]). NMI, #DF, #MC and #NP/#SS/#GP
//! run on interrupt stacks of their own (`super::stacks`).

use core::arch::asm;

use super::gdt::{DescriptorPointer, SEL_KERNEL_CODE};
use super::stacks::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI, IST_PROTECTION};

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

/// Fills the IDT with gates to the entry stubs (the first at `base`, the others following
/// at 16-byte intervals) and loads it on the executing CPU.
pub fn init(base: u64) {
    // SAFETY: only the bootstrap CPU calls this, once, before anything reads the IDT.
    let idt = unsafe { &mut *core::ptr::addr_of_mut!(IDT) };
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
