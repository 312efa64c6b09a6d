//! Intel VT-d, DMA and interrupt remapping: everything the kernel's driver
//! (`kernel/src/iommu`) decides and encodes that needs no hardware, tested on the host.
//!
//! - [`regs`]: the register file of a remapping unit and what its capability registers
//!   say (widths, domains, where the fault and IOTLB registers lie).
//! - [`tables`]: root and context entries (one device to one domain and its second-level
//!   table), interrupt remapping table entries, and the remappable MSI and I/O APIC
//!   formats that name them.
//! - [`inv`]: invalidation, as queued descriptors and as register commands.
//! - [`fault`]: fault recording registers and what their reason codes mean.
//! - [`devices`]: which PCI functions exist and which unit translates each, from a scan of
//!   configuration space and the DMAR's device scopes.
//! - [`walk`]: the second-level page walk a unit does through a protection domain's device
//!   page table, which the kernel builds in the x86 format (its present, writable and
//!   page-size bits are VT-d's read, write and super-page bits).
//!
//! Bit layouts follow the Intel VT-d specification (revision 3.x/4.x, legacy mode:
//! 128-bit root and context entries, no PASIDs). Nothing here trusts what a unit or
//! firmware reports: every field is decoded within its width and every walk is bounded.

pub mod devices;
pub mod fault;
pub mod inv;
pub mod regs;
pub mod tables;
pub mod walk;

#[cfg(test)]
mod tests;
