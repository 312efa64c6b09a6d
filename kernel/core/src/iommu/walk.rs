//! The second-level page walk a unit does for a DMA request (legacy mode), written from
//! the specification so that host tests can check that the device page tables the
//! kernel builds (in the x86 format) translate for a device exactly as they would for
//! the CPU, at both depths Facet uses.
//!
//! Per level: bits 0 and 1 of an entry are read and write (an entry with neither is not
//! present), bit 7 makes an entry of the 2nd or 3rd level a super-page (where the unit
//! supports that size), bit 11 is the snoop bit (reserved without snoop control), bits
//! from the host address width to 51 are reserved, and bits 63:52 are ignored. Rights
//! are the intersection of every level's.

use super::regs::Caps;
use crate::phys::PhysMem;

/// A translation: where the request goes and what the path allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address of the requested byte.
    pub phys: u64,
    pub read: bool,
    pub write: bool,
    /// The size of the page the leaf maps (4 KiB, 2 MiB, 1 GiB).
    pub page: u64,
}

/// Fault reasons the walk reports (VT-d codes).
pub const ADDRESS_BEYOND_WIDTH: u8 = 0x04;
pub const WRITE: u8 = 0x05;
pub const READ: u8 = 0x06;
pub const RESERVED: u8 = 0x0c;

/// Walks the `levels`-level table at `root` for a `write` (else read) of device address
/// `addr`, with `host_width` bits of physical address; the translation or the fault
/// reason.
pub fn translate(
    mem: &impl PhysMem,
    caps: &Caps,
    root: u64,
    levels: u8,
    host_width: u32,
    addr: u64,
    write: bool,
) -> Result<Translation, u8> {
    let width = (12 + 9 * levels as u32).min(caps.mgaw());
    if !(3..=5).contains(&levels) || (width < 64 && addr >> width != 0) {
        return Err(ADDRESS_BEYOND_WIDTH);
    }
    let reserved_addr = ((1u64 << 52) - 1) & !((1u64 << host_width.min(52)) - 1);
    let (mut read_ok, mut write_ok) = (true, true);
    let mut table = root & !0xfff;
    for level in (1..=levels).rev() {
        let shift = 12 + 9 * (level as u32 - 1);
        let e = mem.read_u64(table + ((addr >> shift) & 511) * 8);
        read_ok &= e & 1 != 0;
        write_ok &= e & 2 != 0;
        if e & 3 == 0 || (write && !write_ok) || (!write && !read_ok) {
            return Err(if write { WRITE } else { READ });
        }
        let huge = e & (1 << 7) != 0;
        let super_page = match level {
            2 => caps.super_pages() & 1 != 0,
            3 => caps.super_pages() & 2 != 0,
            _ => false,
        };
        let mut reserved = reserved_addr;
        if !caps.snoop_control() {
            reserved |= 1 << 11;
        }
        if huge && level >= 2 {
            if !super_page {
                return Err(RESERVED);
            }
            // The address bits below the page size are reserved in a super-page entry.
            reserved |= ((1u64 << shift) - 1) & !0xfff;
        }
        if e & reserved != 0 {
            return Err(RESERVED);
        }
        let frame = e & ((1u64 << 52) - 1) & !0xfff;
        if level == 1 || huge {
            let page = 1u64 << shift;
            return Ok(Translation {
                phys: (frame & !(page - 1)) | (addr & (page - 1)),
                read: read_ok,
                write: write_ok,
                page,
            });
        }
        table = frame;
    }
    Err(if write { WRITE } else { READ })
}
