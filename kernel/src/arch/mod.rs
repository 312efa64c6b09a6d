//! x86_64 structures and instructions the kernel needs.

pub mod cpu;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod io;
pub mod ioapic;
pub mod lapic;
pub mod microcode;
pub mod msr;
pub mod nmi;
pub mod percpu;
pub mod pic;
pub mod ports;
pub mod regs;
pub mod stacks;
pub mod vmx;

/// Registers the I/O APIC at its standard address (until the ACPI tables say more).
pub fn arch_ioapic_default() -> bool {
    ioapic::add(0xfec0_0000, 0, 0).is_some()
}
