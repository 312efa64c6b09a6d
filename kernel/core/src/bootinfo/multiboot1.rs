//! Multiboot 0.6.96: a fixed structure of `u32` fields (EAX = [`MB1_MAGIC`]) with
//! pointers to a memory map and a module list.
//!
//! [`MB1_MAGIC`]: super::MB1_MAGIC

use super::read::{at, read_u32, read_u64};
use super::{BootError, BootInfo, Protocol, MAX_INFO_SIZE};
use crate::phys::PhysRead;

/// The multiboot1 info structure as of the 0.6.96 specification (up to the framebuffer
/// fields). Reported as the info's length so the kernel keeps it from its allocator.
pub(super) const MB1_INFO_LEN: u64 = 116;
/// Multiboot1 `flags` bits naming which fields are valid.
pub(super) const MB1_FLAG_MEMINFO: u32 = 1 << 0;
pub(super) const MB1_FLAG_CMDLINE: u32 = 1 << 2;
pub(super) const MB1_FLAG_MODS: u32 = 1 << 3;
pub(super) const MB1_FLAG_MMAP: u32 = 1 << 6;
/// Smallest multiboot1 memory-map entry (`size` excludes the size field itself).
pub(super) const MB1_MMAP_ENTRY_MIN: u32 = 20;
/// A multiboot1 module entry: mod_start, mod_end, string, reserved.
pub(super) const MB1_MODULE_SIZE: u64 = 16;

/// Parses a multiboot1 info structure (magic already checked).
pub(super) fn parse(info_addr: u64, mem: &impl PhysRead) -> Result<BootInfo, BootError> {
    const INFO: &str = "multiboot1 info";
    const MODS: &str = "multiboot1 module list";
    const MMAP: &str = "multiboot1 memory map";
    // The kernel reserves [info_addr, info_addr + 116): that range must exist.
    at(info_addr, MB1_INFO_LEN, INFO)?;
    let field = |off: u64| read_u32(mem, at(info_addr, off, INFO)?, INFO);

    let flags = field(0)?;
    let mut bi = BootInfo::new(Protocol::Multiboot1, info_addr, MB1_INFO_LEN);

    if flags & MB1_FLAG_CMDLINE != 0 {
        // A pointer to loader memory, read later with a bounded reader; 0 means none.
        bi.cmdline = u64::from(field(16)?);
    }

    if flags & MB1_FLAG_MODS != 0 {
        let count = field(20)?;
        let list = u64::from(field(24)?);
        let len = u64::from(count) * MB1_MODULE_SIZE;
        if len > u64::from(MAX_INFO_SIZE) {
            return Err(BootError::TooLarge {
                what: MODS,
                len,
                max: u64::from(MAX_INFO_SIZE),
            });
        }
        for index in 0..count as usize {
            // No overflow: list < 2^32 and the offset is below MAX_INFO_SIZE.
            let e = list + index as u64 * MB1_MODULE_SIZE;
            let start = read_u32(mem, e, MODS)?;
            let end = read_u32(mem, e + 4, MODS)?;
            let string = read_u32(mem, e + 8, MODS)?;
            bi.push_module(index, start.into(), end.into(), string.into())?;
        }
    }

    if flags & MB1_FLAG_MMAP != 0 {
        let len = field(44)?;
        let map = u64::from(field(48)?);
        if len > MAX_INFO_SIZE {
            return Err(BootError::TooLarge {
                what: MMAP,
                len: len.into(),
                max: u64::from(MAX_INFO_SIZE),
            });
        }
        // No overflow anywhere below: map < 2^32, len <= 2^20, size < 2^32.
        let end = map + u64::from(len);
        let mut p = map;
        while p < end {
            // The size field itself must lie inside the map, then the entry it sizes.
            if end - p < 4 {
                return Err(BootError::MmapOverrun { addr: p, end });
            }
            let size = read_u32(mem, p, MMAP)?;
            if size < MB1_MMAP_ENTRY_MIN {
                return Err(BootError::MmapEntrySize {
                    protocol: Protocol::Multiboot1,
                    addr: p,
                    size,
                });
            }
            let next = p + 4 + u64::from(size);
            if next > end {
                return Err(BootError::MmapOverrun { addr: p, end });
            }
            let base = read_u64(mem, p + 4, MMAP)?;
            let length = read_u64(mem, p + 12, MMAP)?;
            let kind = read_u32(mem, p + 20, MMAP)?;
            bi.push_region(base, length, kind)?;
            p = next;
        }
    }

    // An empty (or all zero-length) map is no map: fall back to the basic information.
    if bi.no_regions() && flags & MB1_FLAG_MEMINFO != 0 {
        bi.push_meminfo(field(4)?, field(8)?)?;
    }
    if bi.no_regions() {
        return Err(BootError::NoMemoryMap);
    }
    Ok(bi)
}
