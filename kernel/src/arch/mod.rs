//! x86_64 structures and instructions the kernel needs.

pub mod cpu;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod io;
pub mod lapic;
pub mod msr;
pub mod pic;
pub mod ports;
pub mod regs;
pub mod syscall;
