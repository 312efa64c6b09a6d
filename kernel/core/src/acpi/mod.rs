//! ACPI tables: finding the root pointer and parsing the tables the kernel needs.
//!
//! Everything is read from physical memory through [`PhysRead`]; nothing is cached or
//! borrowed from it. The flow at boot is:
//!
//! 1. [`rsdp::find`] validates the RSDP at the boot loader's copy, or scans the BIOS areas.
//! 2. [`sdt::Tables::new`] validates the root table (XSDT if the RSDP names a valid one,
//!    else the RSDT); [`sdt::Tables::find`] gives the physical address of the first valid
//!    table with a signature.
//! 3. [`madt::parse`], [`fadt::parse`], [`mcfg::parse`], [`dmar::parse`] and [`hpet::parse`]
//!    turn one table each into a fixed-capacity value.
//!
//! Invariants kept:
//! - Firmware is not trusted. Every table is checked for its signature, a length in
//!   [[`sdt::HEADER_LEN`], [`sdt::MAX_TABLE_LEN`]] that does not wrap the address space, and
//!   a zero checksum over that length; every entry inside a table is checked against the
//!   table end and against the minimum length of its type; every address computation is
//!   overflow-checked. Every fault is an [`AcpiError`] value; nothing here panics on any
//!   memory contents, and every walk advances by at least one byte per step, so it ends.
//! - Nothing allocates. Lists live in fixed arrays; entries beyond their capacity are
//!   counted in `dropped_*` fields, which is not an error.
//! - A table is read again for every field after its checksum was checked. Should firmware
//!   memory change in between, the result may be wrong but every read stays inside the
//!   table's checked length.

pub mod dmar;
pub mod facs;
pub mod fadt;
pub mod hpet;
pub mod madt;
pub mod mcfg;
pub mod rsdp;
pub mod sdt;

#[cfg(test)]
mod tests;

use crate::phys::PhysRead;
use core::fmt;

/// A four-byte table signature (`b"APIC"`), shown as text in messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sig(pub [u8; 4]);

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if (0x20..0x7f).contains(&b) {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig(\"{self}\")")
    }
}

/// An ACPI generic address structure (GAS): where a register lives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Gas {
    /// Address space: [`Gas::SYSTEM_MEMORY`], [`Gas::SYSTEM_IO`], [`Gas::PCI_CONFIG`], others.
    pub space_id: u8,
    /// Width of the register in bits.
    pub bit_width: u8,
    /// Offset of the register inside the addressed location, in bits.
    pub bit_offset: u8,
    /// Access size: 0 undefined (legacy), 1 byte, 2 word, 3 dword, 4 qword.
    pub access_size: u8,
    /// Address in the given space (a port number for system I/O).
    pub address: u64,
}

impl Gas {
    /// `space_id` of system memory.
    pub const SYSTEM_MEMORY: u8 = 0;
    /// `space_id` of system I/O (port) space.
    pub const SYSTEM_IO: u8 = 1;
    /// `space_id` of PCI configuration space.
    pub const PCI_CONFIG: u8 = 2;
    /// Bytes of a GAS in a table.
    pub const LEN: u32 = 12;

    /// Decodes the 12 bytes of a GAS.
    pub fn from_bytes(b: [u8; 12]) -> Gas {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[4..]);
        Gas {
            space_id: b[0],
            bit_width: b[1],
            bit_offset: b[2],
            access_size: b[3],
            address: u64::from_le_bytes(a),
        }
    }
}

/// Why an ACPI structure was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcpiError {
    /// A structure (named by `what`) could not be read at `addr`, or its range wraps.
    Unreadable {
        /// The structure being read.
        what: &'static str,
        /// The physical address that failed.
        addr: u64,
    },
    /// The scan of the EBDA and the BIOS area found no valid RSDP.
    RsdpNotFound,
    /// No `"RSD PTR "` signature at the address given.
    RsdpSignature {
        /// Where the RSDP was expected.
        addr: u64,
    },
    /// The RSDP's checksum over its first `len` bytes (20, or `length` for the extended
    /// checksum of revision 2+) is not zero.
    RsdpChecksum {
        /// The RSDP's address.
        addr: u64,
        /// Bytes covered by the failing checksum.
        len: u32,
    },
    /// A revision 2+ RSDP's `length` is outside [36, [`rsdp::MAX_LEN`]].
    RsdpLength {
        /// The RSDP's address.
        addr: u64,
        /// The length it claims.
        length: u32,
    },
    /// The RSDP names neither an RSDT nor an XSDT.
    NoRootTable {
        /// The RSDP's address.
        addr: u64,
    },
    /// A table does not have the signature it was expected to have.
    Signature {
        /// The table's address.
        addr: u64,
        /// The signature wanted.
        expected: Sig,
        /// The signature found.
        found: Sig,
    },
    /// A table's length is outside [[`sdt::HEADER_LEN`], [`sdt::MAX_TABLE_LEN`]].
    TableLength {
        /// Its signature.
        sig: Sig,
        /// Its address.
        addr: u64,
        /// The length it claims.
        length: u32,
    },
    /// Part of a table's `length` bytes is outside readable memory or wraps the address
    /// space.
    TableUnreadable {
        /// Its signature.
        sig: Sig,
        /// Its address.
        addr: u64,
        /// The length it claims.
        length: u32,
    },
    /// A table's bytes do not sum to zero.
    TableChecksum {
        /// Its signature.
        sig: Sig,
        /// Its address.
        addr: u64,
        /// Its length.
        length: u32,
        /// The sum found.
        sum: u8,
    },
    /// A table is too short for the fixed fields of its kind.
    TooShort {
        /// Its signature.
        sig: Sig,
        /// Its address.
        addr: u64,
        /// Its length.
        length: u32,
        /// The least length its fixed fields need.
        min: u32,
    },
    /// A field read lies past the table end (a parser's own bound check; not expected).
    FieldPastEnd {
        /// The table's signature.
        sig: Sig,
        /// The table's address.
        addr: u64,
        /// Offset of the field in the table.
        offset: u32,
        /// Size of the field.
        size: u32,
        /// The table's length.
        length: u32,
    },
    /// An entry (MADT interrupt controller structure, DMAR remapping structure) is
    /// shorter than its header or than its type requires.
    EntryTooShort {
        /// The table's signature.
        sig: Sig,
        /// The table's address.
        addr: u64,
        /// Offset of the entry in the table.
        offset: u32,
        /// The entry's type.
        kind: u16,
        /// The length it claims.
        length: u32,
        /// The least length acceptable.
        min: u32,
    },
    /// An entry, or the header of one, runs past the table end.
    EntryPastEnd {
        /// The table's signature.
        sig: Sig,
        /// The table's address.
        addr: u64,
        /// Offset of the entry in the table.
        offset: u32,
        /// The table's length.
        length: u32,
    },
    /// An entry holds values that cannot be right (e.g. a range that ends before it starts).
    BadEntry {
        /// The table's signature.
        sig: Sig,
        /// The table's address.
        addr: u64,
        /// Offset of the entry in the table.
        offset: u32,
        /// What is wrong.
        why: &'static str,
    },
    /// A table's fixed fields hold values that cannot be right.
    BadTable {
        /// Its signature.
        sig: Sig,
        /// Its address.
        addr: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// A DMAR device scope's length is below 6 or not 6 plus a multiple of 2.
    ScopeLength {
        /// The DMAR table's address.
        addr: u64,
        /// Offset of the scope in the table.
        offset: u32,
        /// The length it claims.
        length: u8,
    },
    /// A DMAR device scope runs past the end of the structure that holds it.
    ScopePastEnd {
        /// The DMAR table's address.
        addr: u64,
        /// Offset of the scope in the table.
        offset: u32,
        /// Offset in the table where the holding structure ends.
        end: u32,
    },
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AcpiError::Unreadable { what, addr } => {
                write!(f, "{what} at {addr:#x} is not readable")
            }
            AcpiError::RsdpNotFound => write!(
                f,
                "no valid RSDP in the first KiB of the EBDA or in {:#x}..{:#x}",
                rsdp::BIOS_START,
                rsdp::BIOS_END
            ),
            AcpiError::RsdpSignature { addr } => {
                write!(f, "no \"RSD PTR \" signature at {addr:#x}")
            }
            AcpiError::RsdpChecksum { addr, len } => write!(
                f,
                "RSDP at {addr:#x}: checksum over its first {len} bytes is not zero"
            ),
            AcpiError::RsdpLength { addr, length } => write!(
                f,
                "RSDP at {addr:#x}: length {length} is outside [{}, {}]",
                rsdp::V2_LEN,
                rsdp::MAX_LEN
            ),
            AcpiError::NoRootTable { addr } => {
                write!(f, "RSDP at {addr:#x} names neither an RSDT nor an XSDT")
            }
            AcpiError::Signature {
                addr,
                expected,
                found,
            } => write!(
                f,
                "table at {addr:#x} has signature \"{found}\", expected \"{expected}\""
            ),
            AcpiError::TableLength { sig, addr, length } => write!(
                f,
                "{sig} table at {addr:#x}: length {length:#x} is outside [{:#x}, {:#x}]",
                sdt::HEADER_LEN,
                sdt::MAX_TABLE_LEN
            ),
            AcpiError::TableUnreadable { sig, addr, length } => write!(
                f,
                "{sig} table at {addr:#x} (length {length:#x}) is not entirely in readable memory"
            ),
            AcpiError::TableChecksum {
                sig,
                addr,
                length,
                sum,
            } => write!(
                f,
                "{sig} table at {addr:#x}: its {length:#x} bytes sum to {sum:#04x}, not 0"
            ),
            AcpiError::TooShort {
                sig,
                addr,
                length,
                min,
            } => write!(
                f,
                "{sig} table at {addr:#x}: length {length:#x} is less than the {min:#x} its fixed fields need"
            ),
            AcpiError::FieldPastEnd {
                sig,
                addr,
                offset,
                size,
                length,
            } => write!(
                f,
                "{sig} table at {addr:#x}: {size}-byte field at offset {offset:#x} lies past the table end (length {length:#x})"
            ),
            AcpiError::EntryTooShort {
                sig,
                addr,
                offset,
                kind,
                length,
                min,
            } => write!(
                f,
                "{sig} table at {addr:#x}: entry type {kind} at offset {offset:#x} has length {length}, less than {min}"
            ),
            AcpiError::EntryPastEnd {
                sig,
                addr,
                offset,
                length,
            } => write!(
                f,
                "{sig} table at {addr:#x}: entry at offset {offset:#x} runs past the table end (length {length:#x})"
            ),
            AcpiError::BadEntry {
                sig,
                addr,
                offset,
                why,
            } => write!(f, "{sig} table at {addr:#x}: entry at offset {offset:#x}: {why}"),
            AcpiError::BadTable { sig, addr, why } => {
                write!(f, "{sig} table at {addr:#x}: {why}")
            }
            AcpiError::ScopeLength {
                addr,
                offset,
                length,
            } => write!(
                f,
                "DMAR table at {addr:#x}: device scope at offset {offset:#x} has length {length}, not 6 plus a multiple of 2"
            ),
            AcpiError::ScopePastEnd { addr, offset, end } => write!(
                f,
                "DMAR table at {addr:#x}: device scope at offset {offset:#x} runs past the end of its structure at offset {end:#x}"
            ),
        }
    }
}

/// Reads `N` bytes at `addr`; the range must be readable and must not wrap.
fn read_array<const N: usize, M: PhysRead + ?Sized>(
    mem: &M,
    addr: u64,
    what: &'static str,
) -> Result<[u8; N], AcpiError> {
    let mut buf = [0u8; N];
    if addr.checked_add(N as u64).is_none() || !mem.read(addr, &mut buf) {
        return Err(AcpiError::Unreadable { what, addr });
    }
    Ok(buf)
}

/// The byte sum of the `len` bytes at `addr`, or `None` if any is unreadable or the range
/// wraps.
fn byte_sum<M: PhysRead + ?Sized>(mem: &M, addr: u64, len: u32) -> Option<u8> {
    const CHUNK: u32 = 256;
    let mut buf = [0u8; CHUNK as usize];
    addr.checked_add(u64::from(len))?;
    let mut sum = 0u8;
    let mut done = 0u32;
    while done < len {
        let n = (len - done).min(CHUNK);
        let chunk = &mut buf[..n as usize];
        if !mem.read(addr + u64::from(done), chunk) {
            return None;
        }
        sum = chunk.iter().fold(sum, |s, &b| s.wrapping_add(b));
        done += n;
    }
    Some(sum)
}

/// A table whose header has been validated: bounded reads of its fields and entries.
struct Body<'m, M: PhysRead + ?Sized> {
    mem: &'m M,
    sig: Sig,
    addr: u64,
    len: u32,
}

impl<'m, M: PhysRead + ?Sized> Body<'m, M> {
    /// Validates the table at `addr` with signature `sig` (header, length, checksum) and
    /// checks that it holds at least `min` bytes.
    fn open(
        mem: &'m M,
        addr: u64,
        sig: &[u8; 4],
        min: u32,
    ) -> Result<(Self, sdt::Header), AcpiError> {
        let header = sdt::Header::read_expect(mem, addr, sig)?;
        let body = Body {
            mem,
            sig: Sig(*sig),
            addr,
            len: header.length,
        };
        if header.length < min {
            return Err(AcpiError::TooShort {
                sig: body.sig,
                addr,
                length: header.length,
                min,
            });
        }
        Ok((body, header))
    }

    /// True if `size` bytes at offset `off` lie inside the table.
    fn holds(&self, off: u32, size: u32) -> bool {
        u64::from(off) + u64::from(size) <= u64::from(self.len)
    }

    /// `N` bytes at offset `off`, which must lie inside the table.
    fn bytes<const N: usize>(&self, off: u32) -> Result<[u8; N], AcpiError> {
        if !self.holds(off, N as u32) {
            return Err(AcpiError::FieldPastEnd {
                sig: self.sig,
                addr: self.addr,
                offset: off,
                size: N as u32,
                length: self.len,
            });
        }
        // No overflow: the header check made sure addr + len does not wrap.
        read_array(self.mem, self.addr + u64::from(off), "ACPI table field")
    }

    fn u8(&self, off: u32) -> Result<u8, AcpiError> {
        self.bytes::<1>(off).map(|b| b[0])
    }

    fn u16(&self, off: u32) -> Result<u16, AcpiError> {
        self.bytes(off).map(u16::from_le_bytes)
    }

    fn u32(&self, off: u32) -> Result<u32, AcpiError> {
        self.bytes(off).map(u32::from_le_bytes)
    }

    fn u64(&self, off: u32) -> Result<u64, AcpiError> {
        self.bytes(off).map(u64::from_le_bytes)
    }

    fn gas(&self, off: u32) -> Result<Gas, AcpiError> {
        self.bytes(off).map(Gas::from_bytes)
    }

    /// The type and length of the entry at `off`, checked to be at least its header and to
    /// end inside the table. `wide`: DMAR-style header (u16 type, u16 length) instead of
    /// MADT-style (u8 type, u8 length).
    fn entry(&self, off: u32, wide: bool) -> Result<(u16, u32), AcpiError> {
        let hdr = if wide { 4 } else { 2 };
        if !self.holds(off, hdr) {
            return Err(self.past_end(off));
        }
        let (kind, len) = if wide {
            (self.u16(off)?, u32::from(self.u16(off + 2)?))
        } else {
            (u16::from(self.u8(off)?), u32::from(self.u8(off + 1)?))
        };
        self.need(off, kind, len, hdr)?;
        if !self.holds(off, len) {
            return Err(self.past_end(off));
        }
        Ok((kind, len))
    }

    /// Checks that the entry of type `kind` at `off` with length `len` has at least `min`.
    fn need(&self, off: u32, kind: u16, len: u32, min: u32) -> Result<(), AcpiError> {
        if len < min {
            return Err(AcpiError::EntryTooShort {
                sig: self.sig,
                addr: self.addr,
                offset: off,
                kind,
                length: len,
                min,
            });
        }
        Ok(())
    }

    fn past_end(&self, off: u32) -> AcpiError {
        AcpiError::EntryPastEnd {
            sig: self.sig,
            addr: self.addr,
            offset: off,
            length: self.len,
        }
    }

    fn bad_entry(&self, off: u32, why: &'static str) -> AcpiError {
        AcpiError::BadEntry {
            sig: self.sig,
            addr: self.addr,
            offset: off,
            why,
        }
    }

    fn bad_table(&self, why: &'static str) -> AcpiError {
        AcpiError::BadTable {
            sig: self.sig,
            addr: self.addr,
            why,
        }
    }
}

/// Appends `item` to the first `*count` slots of `list`, or counts it in `dropped` when
/// full.
fn push<T>(list: &mut [T], count: &mut usize, dropped: &mut usize, item: T) {
    match list.get_mut(*count) {
        Some(slot) => {
            *slot = item;
            *count += 1;
        }
        None => *dropped += 1,
    }
}
