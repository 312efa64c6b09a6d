//! Multiboot boot information: what the boot loader tells the kernel about memory, the
//! kernel command line, the boot modules and (multiboot2 only) ACPI and EFI.
//!
//! Both protocols are parsed here: multiboot1 (EAX = [`MB1_MAGIC`], a fixed structure of
//! `u32` fields plus pointers to a memory map and a module list) and multiboot2
//! (EAX = [`MB2_MAGIC`], a size-prefixed list of tags). The result is a [`BootInfo`] of
//! fixed capacity that no longer refers to the loader's memory map or module list, so the
//! kernel may reuse that memory afterwards; strings (command lines) and the ACPI RSDP copy
//! stay where the loader put them and are referred to by physical address.
//!
//! Invariants kept:
//! - Everything the loader wrote is treated as hostile. Memory is read only through
//!   [`PhysRead`], every address computation is overflow-checked, every structure is
//!   checked against the size it claims and against its container (map entries inside the
//!   map, tags inside `total_size`), and every fault is returned as a [`BootError`] value;
//!   nothing here panics on any input.
//! - Nothing allocates: regions and modules are kept in fixed arrays. Entries beyond
//!   [`MAX_REGIONS`] / [`MAX_MODULES`] are counted in `dropped_*`, which is not an error.
//! - A returned [`BootInfo`] has at least one memory region, no zero-length region, no
//!   region whose end wraps past 2^64, and no module whose end lies below its start.
//!
//! Layout: `info` (what a parse yields), `error` (why one fails), `read` (bounded reads
//! of loader memory), and one file per protocol, `multiboot1` and `multiboot2`.

mod error;
mod info;
mod multiboot1;
mod multiboot2;
mod read;
#[cfg(test)]
mod tests;

pub use error::BootError;
pub use info::{BootInfo, MemRegion, Module, Protocol, Rsdp};

use crate::phys::PhysRead;

/// Memory-map entries kept; further ones are counted in [`BootInfo::dropped_regions`].
pub const MAX_REGIONS: usize = 64;
/// Boot modules kept; further ones are counted in [`BootInfo::dropped_modules`].
pub const MAX_MODULES: usize = 16;
/// EAX value from a multiboot1 loader.
pub const MB1_MAGIC: u32 = 0x2BAD_B002;
/// EAX value from a multiboot2 loader.
pub const MB2_MAGIC: u32 = 0x36D7_6289;
/// Largest multiboot2 info structure, multiboot1 memory map and multiboot1 module list
/// accepted, in bytes. Real ones are a few KiB; the bound keeps a corrupt size from
/// sending the parser through gigabytes of memory.
pub const MAX_INFO_SIZE: u32 = 1 << 20;

/// Parses the boot information at physical address `info_addr`, delivered with `magic`
/// in EAX, reading memory through `mem`.
pub fn parse(magic: u32, info_addr: u64, mem: &impl PhysRead) -> Result<BootInfo, BootError> {
    match magic {
        MB1_MAGIC => multiboot1::parse(info_addr, mem),
        MB2_MAGIC => multiboot2::parse(info_addr, mem),
        other => Err(BootError::UnknownMagic(other)),
    }
}
