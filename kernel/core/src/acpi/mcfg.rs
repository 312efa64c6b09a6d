//! The PCI Express memory-mapped configuration table (MCFG): where the ECAM windows are.
//!
//! Layout (PCI Firmware Specification 3.x, 4.1.2): header (36), 8 reserved bytes, then
//! 16-byte entries from offset 44: base address (u64 @0), PCI segment group (u16 @8),
//! start bus (u8 @10), end bus (u8 @11), 4 reserved bytes. The base address is that of
//! bus 0 of the segment, even when the entry starts at a later bus.

use super::{push, AcpiError, Body};
use crate::phys::PhysRead;

/// The MCFG's signature.
pub const SIGNATURE: &[u8; 4] = b"MCFG";
/// Entries kept; further ones are counted in [`Mcfg::dropped`].
pub const MAX_ENTRIES: usize = 8;

/// Bytes before the first entry.
const ENTRIES: u32 = 44;
/// Bytes per entry.
const ENTRY_LEN: u32 = 16;
/// ECAM bytes per bus (32 devices * 8 functions * 4 KiB).
const BUS_BYTES: u64 = 1 << 20;

/// One ECAM window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct McfgEntry {
    /// Physical address of the configuration space of bus 0, device 0, function 0.
    pub base: u64,
    /// PCI segment group.
    pub segment: u16,
    /// First bus decoded; at most `end_bus`.
    pub start_bus: u8,
    /// Last bus decoded.
    pub end_bus: u8,
}

impl McfgEntry {
    /// The physical range `[start, end)` of the window's decoded buses.
    pub fn window(&self) -> (u64, u64) {
        // No overflow: `parse` checked base + (end_bus + 1) MiB.
        (
            self.base + u64::from(self.start_bus) * BUS_BYTES,
            self.base + (u64::from(self.end_bus) + 1) * BUS_BYTES,
        )
    }

    /// Physical address of the 4 KiB configuration space of `bus:dev.func`, or `None` if
    /// the bus is outside the window or `dev` > 31 or `func` > 7.
    pub fn config_addr(&self, bus: u8, dev: u8, func: u8) -> Option<u64> {
        if !(self.start_bus..=self.end_bus).contains(&bus) || dev > 31 || func > 7 {
            return None;
        }
        Some(self.base + (u64::from(bus) << 20 | u64::from(dev) << 15 | u64::from(func) << 12))
    }
}

/// The parsed MCFG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mcfg {
    /// Entries in table order; only the first `count` are valid.
    pub entries: [McfgEntry; MAX_ENTRIES],
    /// Valid entries in `entries`.
    pub count: usize,
    /// Entries beyond [`MAX_ENTRIES`].
    pub dropped: usize,
}

impl Mcfg {
    /// The entries kept.
    pub fn entries(&self) -> &[McfgEntry] {
        &self.entries[..self.count.min(MAX_ENTRIES)]
    }
}

/// Parses the MCFG at physical address `addr`. A trailing partial entry, an entry whose end
/// bus lies below its start bus, and one whose window wraps the address space are errors.
pub fn parse<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Mcfg, AcpiError> {
    let (t, _) = Body::open(mem, addr, SIGNATURE, ENTRIES)?;
    let mut m = Mcfg {
        entries: [McfgEntry::default(); MAX_ENTRIES],
        count: 0,
        dropped: 0,
    };
    let mut off = ENTRIES;
    while off < t.len {
        if !t.holds(off, ENTRY_LEN) {
            return Err(t.past_end(off));
        }
        let e = McfgEntry {
            base: t.u64(off)?,
            segment: t.u16(off + 8)?,
            start_bus: t.u8(off + 10)?,
            end_bus: t.u8(off + 11)?,
        };
        if e.end_bus < e.start_bus {
            return Err(t.bad_entry(off, "end bus lies below start bus"));
        }
        if e.base
            .checked_add((u64::from(e.end_bus) + 1) * BUS_BYTES)
            .is_none()
        {
            return Err(t.bad_entry(off, "ECAM window wraps the address space"));
        }
        push(&mut m.entries, &mut m.count, &mut m.dropped, e);
        off += ENTRY_LEN;
    }
    Ok(m)
}
