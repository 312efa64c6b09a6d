//! Portable kernel logic: everything the kernel does that does not need the hardware.
//!
//! The kernel binary links this crate; `cargo test` runs the same code on the host with
//! simulated physical memory. Nothing here is `unsafe`: access to physical memory goes
//! through the small traits in [`phys`], which the kernel implements over its direct map.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod acpi;
pub mod bootinfo;
pub mod buddy;
pub mod capspace;
pub mod cmdline;
pub mod elf;
pub mod hip;
pub mod hipmem;
pub mod iobitmap;
pub mod iommu;
pub mod mem_xfer;
pub mod memmap;
pub mod microcode;
pub mod msr_policy;
pub mod paging;
pub mod phys;
pub mod pool;
pub mod ratelimit;
pub mod sched;
pub mod slots;
pub mod svm_inject;
pub mod tags;
#[cfg(test)]
mod testrng;
pub mod timer;
pub mod topology;
pub mod user_state;
pub mod utcb;
pub mod vcpu_state;
pub mod xcr0;
pub mod xfer;
