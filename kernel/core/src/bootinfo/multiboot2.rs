//! Multiboot 2: a size-prefixed list of tags (EAX = [`MB2_MAGIC`]).
//!
//! [`MB2_MAGIC`]: super::MB2_MAGIC

use super::read::{at, check_cstr, read_u32, read_u64};
use super::{BootError, BootInfo, Protocol, Rsdp, MAX_INFO_SIZE};
use crate::phys::PhysRead;

/// Multiboot2 tag types handled here.
pub(super) const TAG_END: u32 = 0;
pub(super) const TAG_CMDLINE: u32 = 1;
pub(super) const TAG_MODULE: u32 = 3;
pub(super) const TAG_MEMINFO: u32 = 4;
pub(super) const TAG_MMAP: u32 = 6;
pub(super) const TAG_EFI32: u32 = 11;
pub(super) const TAG_EFI64: u32 = 12;
pub(super) const TAG_ACPI_OLD: u32 = 14;
pub(super) const TAG_ACPI_NEW: u32 = 15;
/// Header of every multiboot2 tag (type, size) and of the info itself (total_size,
/// reserved).
pub(super) const MB2_HEADER: u32 = 8;
/// An ACPI 1.0 RSDP is 20 bytes, an ACPI 2.0+ XSDP 36; a tag carrying less cannot hold
/// the structure it claims to copy.
pub(super) const RSDP_V1_LEN: u32 = 20;
pub(super) const RSDP_V2_LEN: u32 = 36;
/// Smallest multiboot2 memory-map entry: base, length, type, reserved.
pub(super) const MB2_MMAP_ENTRY_MIN: u32 = 24;

/// Parses a multiboot2 info structure (magic already checked).
pub(super) fn parse(info_addr: u64, mem: &impl PhysRead) -> Result<BootInfo, BootError> {
    const INFO: &str = "multiboot2 info";
    const TAG: &str = "multiboot2 tag";
    const MMAP: &str = "multiboot2 memory map";
    if !info_addr.is_multiple_of(8) {
        return Err(BootError::Misaligned { addr: info_addr });
    }
    let total = read_u32(mem, info_addr, INFO)?;
    if !(2 * MB2_HEADER..=MAX_INFO_SIZE).contains(&total) {
        return Err(BootError::TotalSize {
            addr: info_addr,
            total_size: total,
        });
    }
    at(info_addr, total.into(), INFO)?;
    let mut bi = BootInfo::new(Protocol::Multiboot2, info_addr, total.into());

    let mut seen = 0u32; // bit per tag type, to reject duplicates of single-use tags
    let mut meminfo = None;
    let mut rsdp_old = None;
    let mut rsdp_new = None;
    let mut module_index = 0usize;
    // Offsets stay below total + 8 <= 2^20 + 8: no u32 overflow anywhere in the walk.
    let mut off = MB2_HEADER;
    loop {
        if total.saturating_sub(off) < MB2_HEADER {
            return Err(BootError::MissingEndTag {
                addr: info_addr,
                total_size: total,
            });
        }
        let tag = info_addr + u64::from(off); // below info_addr + total, checked above
        let ty = read_u32(mem, tag, TAG)?;
        let size = read_u32(mem, tag + 4, TAG)?;
        let too_small = |min: u32| BootError::TagTooSmall {
            addr: info_addr,
            offset: off,
            tag: ty,
            size,
            min,
        };
        if size < MB2_HEADER {
            return Err(too_small(MB2_HEADER));
        }
        if size > total - off {
            return Err(BootError::TagPastEnd {
                addr: info_addr,
                offset: off,
                size,
                total_size: total,
            });
        }
        let min = match ty {
            TAG_MODULE | TAG_MEMINFO | TAG_MMAP => 16,
            TAG_ACPI_OLD => MB2_HEADER + RSDP_V1_LEN,
            TAG_ACPI_NEW => MB2_HEADER + RSDP_V2_LEN,
            _ => MB2_HEADER,
        };
        if size < min {
            return Err(too_small(min));
        }
        if matches!(
            ty,
            TAG_CMDLINE | TAG_MEMINFO | TAG_MMAP | TAG_ACPI_OLD | TAG_ACPI_NEW
        ) {
            if seen & (1 << ty) != 0 {
                return Err(BootError::Malformed(match ty {
                    TAG_CMDLINE => "multiboot2 info has two command line tags",
                    TAG_MEMINFO => "multiboot2 info has two basic memory information tags",
                    TAG_MMAP => "multiboot2 info has two memory map tags",
                    TAG_ACPI_OLD => "multiboot2 info has two ACPI old RSDP tags",
                    _ => "multiboot2 info has two ACPI new RSDP tags",
                }));
            }
            seen |= 1 << ty;
        }
        let body = u64::from(size);
        match ty {
            TAG_END => break,
            TAG_CMDLINE => {
                check_cstr(mem, tag + 8, body - 8, "multiboot2 command line")?;
                bi.cmdline = tag + 8;
            }
            TAG_MODULE => {
                let start = read_u32(mem, tag + 8, TAG)?;
                let end = read_u32(mem, tag + 12, TAG)?;
                check_cstr(mem, tag + 16, body - 16, "multiboot2 module command line")?;
                bi.push_module(module_index, start.into(), end.into(), tag + 16)?;
                module_index += 1;
            }
            TAG_MEMINFO => {
                meminfo = Some((read_u32(mem, tag + 8, TAG)?, read_u32(mem, tag + 12, TAG)?));
            }
            TAG_MMAP => {
                let entry = read_u32(mem, tag + 8, TAG)?;
                if entry < MB2_MMAP_ENTRY_MIN || !entry.is_multiple_of(8) {
                    return Err(BootError::MmapEntrySize {
                        protocol: Protocol::Multiboot2,
                        addr: tag,
                        size: entry,
                    });
                }
                let entry = u64::from(entry);
                let tag_end = tag + body;
                let mut p = tag + 16;
                while p < tag_end {
                    if tag_end - p < entry {
                        return Err(BootError::MmapOverrun {
                            addr: p,
                            end: tag_end,
                        });
                    }
                    let base = read_u64(mem, p, MMAP)?;
                    let length = read_u64(mem, p + 8, MMAP)?;
                    let kind = read_u32(mem, p + 16, MMAP)?;
                    bi.push_region(base, length, kind)?;
                    p += entry;
                }
            }
            TAG_EFI32 | TAG_EFI64 => bi.efi = true,
            TAG_ACPI_OLD | TAG_ACPI_NEW => {
                let new = ty == TAG_ACPI_NEW;
                let rsdp = Some(Rsdp {
                    addr: tag + 8,
                    len: size - 8,
                    new,
                });
                if new {
                    rsdp_new = rsdp;
                } else {
                    rsdp_old = rsdp;
                }
            }
            // Tags this kernel does not use (framebuffer, ELF sections, APM, ...).
            _ => {}
        }
        // Tags start on 8-byte boundaries; the padding is not part of `size`.
        off += size.next_multiple_of(8);
    }
    // The XSDP also gives the XSDT address, which ACPI 2.0+ prefers over the RSDT.
    bi.rsdp = rsdp_new.or(rsdp_old);

    if bi.no_regions() {
        if let Some((lower, upper)) = meminfo {
            bi.push_meminfo(lower, upper)?;
        }
    }
    if bi.no_regions() {
        return Err(BootError::NoMemoryMap);
    }
    Ok(bi)
}
