//! The DMA remapping reporting table (DMAR, Intel VT-d): remapping hardware units and
//! reserved memory regions.
//!
//! Layout (Intel VT-d specification 3.x/4.x, chapter 8): header (36), host address width
//! (u8 @36, the width minus 1), flags (u8 @37), 10 reserved bytes, then remapping
//! structures from offset 48, each starting with type (u16) and length (u16, of the whole
//! structure). Types read here:
//!
//! - 0 DRHD, 16 bytes + device scopes: flags (u8 @4, bit 0 INCLUDE_PCI_ALL), size (u8 @5,
//!   VT-d 3.x+: register set is 2^size 4 KiB pages), segment (u16 @6), register base
//!   (u64 @8), scopes from @16.
//! - 1 RMRR, 24 bytes + device scopes: segment (u16 @6), base (u64 @8), inclusive limit
//!   (u64 @16), scopes from @24.
//!
//! Other types (ATSR, RHSA, ANDD, SATC, SIDP) are skipped by their length. A device scope
//! is type (u8 @0), length (u8 @1, 6 + 2 * path entries), flags (u8 @2), reserved,
//! enumeration ID (u8 @4), start bus (u8 @5), then (device, function) byte pairs that
//! walk the bridges from the start bus to the device.

use super::{push, AcpiError, Body};
use crate::phys::PhysRead;

/// The DMAR's signature.
pub const SIGNATURE: &[u8; 4] = b"DMAR";
/// DRHD units kept; further ones are counted in [`Dmar::dropped_drhds`].
pub const MAX_DRHDS: usize = 8;
/// RMRRs kept; further ones are counted in [`Dmar::dropped_rmrrs`].
pub const MAX_RMRRS: usize = 8;
/// Device scopes kept per structure; further ones are counted in [`Scopes::dropped`].
pub const MAX_SCOPES: usize = 16;
/// Path entries kept per device scope; a scope with a longer path is not kept but counted
/// in [`Scopes::dropped`] (a truncated path would name the wrong device).
pub const MAX_PATH: usize = 4;

/// `flags` bit: interrupt remapping is supported.
pub const FLAG_INTR_REMAP: u8 = 1 << 0;
/// `flags` bit: firmware asks the OS not to enable x2APIC mode.
pub const FLAG_X2APIC_OPT_OUT: u8 = 1 << 1;
/// `flags` bit: the platform opts in to DMA protection of firmware-initiated DMA.
pub const FLAG_DMA_CTRL_PLATFORM_OPT_IN: u8 = 1 << 2;
/// DRHD `flags` bit: the unit covers every PCI device of its segment not claimed by
/// another unit's scopes.
pub const DRHD_INCLUDE_PCI_ALL: u8 = 1 << 0;

/// Device scope type: a PCI endpoint.
pub const SCOPE_PCI_ENDPOINT: u8 = 1;
/// Device scope type: a PCI bridge and everything behind it.
pub const SCOPE_PCI_SUB_HIERARCHY: u8 = 2;
/// Device scope type: an I/O APIC (enumeration ID: its I/O APIC ID).
pub const SCOPE_IOAPIC: u8 = 3;
/// Device scope type: an MSI-capable HPET (enumeration ID: its HPET number).
pub const SCOPE_HPET: u8 = 4;
/// Device scope type: an ACPI namespace device (enumeration ID: its ANDD number).
pub const SCOPE_ACPI_NAMESPACE: u8 = 5;

/// Bytes before the first remapping structure.
const STRUCTS: u32 = 48;
/// Structure types.
const TYPE_DRHD: u16 = 0;
const TYPE_RMRR: u16 = 1;
/// Fixed parts of the structures, before their device scopes.
const DRHD_LEN: u32 = 16;
const RMRR_LEN: u32 = 24;
/// Fixed part of a device scope.
const SCOPE_HEADER: u32 = 6;

/// One step of a device scope's path: device and function on the current bus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PathEntry {
    /// PCI device number.
    pub dev: u8,
    /// PCI function number.
    pub func: u8,
}

/// A device scope: a device (or hierarchy) a structure applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceScope {
    /// `SCOPE_*` type (others are kept as found).
    pub kind: u8,
    /// I/O APIC ID, HPET number or ANDD number, per `kind`.
    pub enumeration_id: u8,
    /// Bus where the path starts.
    pub start_bus: u8,
    /// The path; only the first `path_len` entries are valid.
    pub path: [PathEntry; MAX_PATH],
    /// Valid entries in `path` (may be 0 if firmware gave none).
    pub path_len: u8,
}

impl DeviceScope {
    /// The path entries.
    pub fn path(&self) -> &[PathEntry] {
        &self.path[..usize::from(self.path_len).min(MAX_PATH)]
    }
}

/// The device scopes of one structure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    /// Scopes in table order; only the first `count` are valid.
    pub items: [DeviceScope; MAX_SCOPES],
    /// Valid entries in `items`.
    pub count: usize,
    /// Scopes not kept: beyond [`MAX_SCOPES`] or with a path longer than [`MAX_PATH`].
    /// When non-zero, the structure applies to devices the kernel does not know about.
    pub dropped: usize,
}

impl Scopes {
    /// The scopes kept.
    pub fn as_slice(&self) -> &[DeviceScope] {
        &self.items[..self.count.min(MAX_SCOPES)]
    }
}

/// A DMA remapping hardware unit definition (DRHD).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drhd {
    /// `DRHD_*` flags.
    pub flags: u8,
    /// Register set size: 2^size 4 KiB pages (0 on firmware before VT-d 3.x: one page).
    pub size: u8,
    /// PCI segment the unit serves.
    pub segment: u16,
    /// Physical address of its registers (4 KiB aligned, non-zero).
    pub base: u64,
    /// The devices it serves (besides all others of the segment if INCLUDE_PCI_ALL).
    pub scopes: Scopes,
}

impl Drhd {
    /// The unit covers all PCI devices of its segment not claimed by other units.
    pub fn include_pci_all(&self) -> bool {
        self.flags & DRHD_INCLUDE_PCI_ALL != 0
    }
}

/// A reserved memory region reporting structure (RMRR): memory that devices in its scope
/// may DMA to at any time and that must stay identity mapped for them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rmrr {
    /// PCI segment of the devices.
    pub segment: u16,
    /// First byte of the region (4 KiB aligned).
    pub base: u64,
    /// Last byte of the region (inclusive; `limit + 1` is 4 KiB aligned; `limit >= base`).
    pub limit: u64,
    /// The devices.
    pub scopes: Scopes,
}

/// The parsed DMAR (about 3.6 KiB: mind the stack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dmar {
    /// Host address width field: the DMA physical address width minus 1.
    pub host_address_width: u8,
    /// `FLAG_*` bits.
    pub flags: u8,
    /// DRHD units in table order; only the first `drhd_count` are valid.
    pub drhds: [Drhd; MAX_DRHDS],
    /// Valid entries in `drhds`.
    pub drhd_count: usize,
    /// RMRRs in table order; only the first `rmrr_count` are valid.
    pub rmrrs: [Rmrr; MAX_RMRRS],
    /// Valid entries in `rmrrs`.
    pub rmrr_count: usize,
    /// DRHDs beyond [`MAX_DRHDS`]: their devices would go unprotected.
    pub dropped_drhds: usize,
    /// RMRRs beyond [`MAX_RMRRS`].
    pub dropped_rmrrs: usize,
}

impl Dmar {
    /// The DMA physical address width in bits.
    pub fn address_bits(&self) -> u32 {
        u32::from(self.host_address_width) + 1
    }

    /// Interrupt remapping is supported.
    pub fn intr_remap(&self) -> bool {
        self.flags & FLAG_INTR_REMAP != 0
    }

    /// The DRHD units kept.
    pub fn drhds(&self) -> &[Drhd] {
        &self.drhds[..self.drhd_count.min(MAX_DRHDS)]
    }

    /// The RMRRs kept.
    pub fn rmrrs(&self) -> &[Rmrr] {
        &self.rmrrs[..self.rmrr_count.min(MAX_RMRRS)]
    }
}

/// Parses the DMAR at physical address `addr`. Besides the structural checks, a DRHD with
/// a register base of 0 or not 4 KiB aligned, and an RMRR whose base or `limit + 1` is not
/// 4 KiB aligned or whose limit lies below its base, are errors.
pub fn parse<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Dmar, AcpiError> {
    let (t, _) = Body::open(mem, addr, SIGNATURE, STRUCTS)?;
    let mut d = Dmar {
        host_address_width: t.u8(36)?,
        flags: t.u8(37)?,
        drhds: [Drhd::default(); MAX_DRHDS],
        drhd_count: 0,
        rmrrs: [Rmrr::default(); MAX_RMRRS],
        rmrr_count: 0,
        dropped_drhds: 0,
        dropped_rmrrs: 0,
    };
    let mut off = STRUCTS;
    while off < t.len {
        // `entry` guarantees len >= 4 and off + len <= t.len: the walk advances and ends.
        let (kind, len) = t.entry(off, true)?;
        match kind {
            TYPE_DRHD => {
                t.need(off, kind, len, DRHD_LEN)?;
                let base = t.u64(off + 8)?;
                if base == 0 || base % 4096 != 0 {
                    return Err(t.bad_entry(off, "DRHD register base is 0 or not 4 KiB aligned"));
                }
                let u = Drhd {
                    flags: t.u8(off + 4)?,
                    size: t.u8(off + 5)?,
                    segment: t.u16(off + 6)?,
                    base,
                    scopes: scopes(&t, off + DRHD_LEN, off + len)?,
                };
                push(&mut d.drhds, &mut d.drhd_count, &mut d.dropped_drhds, u);
            }
            TYPE_RMRR => {
                t.need(off, kind, len, RMRR_LEN)?;
                let base = t.u64(off + 8)?;
                let limit = t.u64(off + 16)?;
                if limit < base {
                    return Err(t.bad_entry(off, "RMRR limit lies below its base"));
                }
                if base % 4096 != 0 || limit.wrapping_add(1) % 4096 != 0 {
                    return Err(t.bad_entry(off, "RMRR base or limit + 1 is not 4 KiB aligned"));
                }
                let r = Rmrr {
                    segment: t.u16(off + 6)?,
                    base,
                    limit,
                    scopes: scopes(&t, off + RMRR_LEN, off + len)?,
                };
                push(&mut d.rmrrs, &mut d.rmrr_count, &mut d.dropped_rmrrs, r);
            }
            _ => {}
        }
        off += len;
    }
    Ok(d)
}

/// Parses the device scopes in table offsets `start..end` (the rest of one structure).
fn scopes<M: PhysRead + ?Sized>(
    t: &Body<'_, M>,
    start: u32,
    end: u32,
) -> Result<Scopes, AcpiError> {
    let mut s = Scopes::default();
    let mut off = start;
    while off < end {
        let past_end = AcpiError::ScopePastEnd {
            addr: t.addr,
            offset: off,
            end,
        };
        if end - off < 2 {
            return Err(past_end);
        }
        let len = t.u8(off + 1)?;
        let len32 = u32::from(len);
        if len32 < SCOPE_HEADER || len % 2 != 0 {
            return Err(AcpiError::ScopeLength {
                addr: t.addr,
                offset: off,
                length: len,
            });
        }
        if len32 > end - off {
            return Err(past_end);
        }
        let n = ((len32 - SCOPE_HEADER) / 2) as usize;
        if n > MAX_PATH {
            s.dropped += 1;
        } else {
            let mut scope = DeviceScope {
                kind: t.u8(off)?,
                enumeration_id: t.u8(off + 4)?,
                start_bus: t.u8(off + 5)?,
                path: [PathEntry::default(); MAX_PATH],
                path_len: n as u8,
            };
            for (i, p) in scope.path[..n].iter_mut().enumerate() {
                let [dev, func] = t.bytes::<2>(off + SCOPE_HEADER + 2 * i as u32)?;
                *p = PathEntry { dev, func };
            }
            push(&mut s.items, &mut s.count, &mut s.dropped, scope);
        }
        // len >= 6: the walk advances.
        off += len32;
    }
    Ok(s)
}
