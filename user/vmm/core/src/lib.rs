//! The virtual machine monitor's portable logic: everything the VMM does that does not
//! need the kernel. The VMM binary (`user/vmm`) links this crate and connects it to
//! vCPU exits; `cargo test` runs the same code on the host.
//!
//! Devices see time as TSC ticks (the guest's TSC runs with the host's) and report what
//! they want done (an interrupt line raised, a deadline to wake at, a byte to print)
//! instead of doing it, so that each register of each device has a host test.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

// Devices.
pub mod i8042;
pub mod lapic;
pub mod pic;
pub mod pit;
pub mod ports;
pub mod rtc;
pub mod uart;

// The machine as a whole.
pub mod machine;

// Exits, what the VMM injects, and the CPU state it completes.
pub mod control_registers;
pub mod event;
pub mod exit;
pub mod page_walk;

// The VMM's command line, the guest's images and its console.
pub mod config;
pub mod guest_console;
pub mod initrd;

// Booting Linux and describing the machine to it.
pub mod boot_params;
pub mod bzimage;
pub mod cpuid;
pub mod msr;
pub mod platform;
