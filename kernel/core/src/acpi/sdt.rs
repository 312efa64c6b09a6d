//! System description table headers and the root tables (RSDT, XSDT).
//!
//! Every ACPI table but the RSDP and FACS starts with the 36-byte header (ACPI 6.x,
//! 5.2.6): signature (4), length (u32, of the whole table), revision (1), checksum (1,
//! making all `length` bytes sum to 0), OEM ID (6), OEM table ID (8), OEM revision (u32),
//! creator ID (4), creator revision (u32). The RSDT follows it with u32 table addresses,
//! the XSDT with u64 ones (at offset 36, so not 8-byte aligned).

use super::{byte_sum, read_array, rsdp::Rsdp, AcpiError, Sig};
use crate::phys::PhysRead;

/// Bytes of the common table header.
pub const HEADER_LEN: u32 = 36;
/// Largest table length accepted. The tables parsed here are a few KiB; the bound keeps a
/// corrupt length from sending the checksum through gigabytes of memory. (A DSDT larger
/// than this would be rejected by [`Header::read`].)
pub const MAX_TABLE_LEN: u32 = 1 << 20;

/// A validated table header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The table's physical address.
    pub addr: u64,
    /// Its signature, e.g. `*b"APIC"`.
    pub signature: [u8; 4],
    /// Its length in bytes, header included: in [[`HEADER_LEN`], [`MAX_TABLE_LEN`]].
    pub length: u32,
    /// Its revision (the meaning depends on the signature).
    pub revision: u8,
    /// OEM identification.
    pub oem_id: [u8; 6],
    /// OEM table identification.
    pub oem_table_id: [u8; 8],
    /// OEM revision.
    pub oem_revision: u32,
    /// Vendor ID of the tool that created the table.
    pub creator_id: [u8; 4],
    /// Revision of that tool.
    pub creator_revision: u32,
}

impl Header {
    /// Reads and validates the table header at `addr`: a length in
    /// [[`HEADER_LEN`], [`MAX_TABLE_LEN`]], all `length` bytes readable without wrapping
    /// the address space, and a zero byte sum over them.
    pub fn read<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Header, AcpiError> {
        let b: [u8; HEADER_LEN as usize] = read_array(mem, addr, "ACPI table header")?;
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let mut h = Header {
            addr,
            signature: [b[0], b[1], b[2], b[3]],
            length: u32_at(4),
            revision: b[8],
            oem_id: [0; 6],
            oem_table_id: [0; 8],
            oem_revision: u32_at(24),
            creator_id: [b[28], b[29], b[30], b[31]],
            creator_revision: u32_at(32),
        };
        h.oem_id.copy_from_slice(&b[10..16]);
        h.oem_table_id.copy_from_slice(&b[16..24]);
        let sig = Sig(h.signature);
        let length = h.length;
        if !(HEADER_LEN..=MAX_TABLE_LEN).contains(&length) {
            return Err(AcpiError::TableLength { sig, addr, length });
        }
        match byte_sum(mem, addr, length) {
            None => Err(AcpiError::TableUnreadable { sig, addr, length }),
            Some(0) => Ok(h),
            Some(sum) => Err(AcpiError::TableChecksum {
                sig,
                addr,
                length,
                sum,
            }),
        }
    }

    /// Like [`Header::read`], but first checks that the signature is `sig`.
    pub fn read_expect<M: PhysRead + ?Sized>(
        mem: &M,
        addr: u64,
        sig: &[u8; 4],
    ) -> Result<Header, AcpiError> {
        let found: [u8; 4] = read_array(mem, addr, "ACPI table header")?;
        if &found != sig {
            return Err(AcpiError::Signature {
                addr,
                expected: Sig(*sig),
                found: Sig(found),
            });
        }
        Header::read(mem, addr)
    }
}

/// The validated root table: the list of the other tables' addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    addr: u64,
    xsdt: bool,
    count: u32,
}

impl Tables {
    /// Validates the root table the RSDP names: the XSDT if it has one and that XSDT is
    /// valid, else the RSDT. If the XSDT is invalid and there is no valid RSDT either, the
    /// XSDT's error is returned. Trailing bytes after the last whole entry are ignored.
    pub fn new<M: PhysRead + ?Sized>(mem: &M, rsdp: &Rsdp) -> Result<Tables, AcpiError> {
        let rsdt = |first_error: Option<AcpiError>| {
            if rsdp.rsdt == 0 {
                return Err(first_error.unwrap_or(AcpiError::NoRootTable { addr: rsdp.addr }));
            }
            let addr = u64::from(rsdp.rsdt);
            match Header::read_expect(mem, addr, b"RSDT") {
                Ok(h) => Ok(Tables::with(addr, false, h.length)),
                Err(e) => Err(first_error.unwrap_or(e)),
            }
        };
        match rsdp.xsdt {
            Some(addr) => match Header::read_expect(mem, addr, b"XSDT") {
                Ok(h) => Ok(Tables::with(addr, true, h.length)),
                Err(e) => rsdt(Some(e)),
            },
            None => rsdt(None),
        }
    }

    fn with(addr: u64, xsdt: bool, length: u32) -> Tables {
        let size = if xsdt { 8 } else { 4 };
        Tables {
            addr,
            xsdt,
            count: (length - HEADER_LEN) / size,
        }
    }

    /// Physical address of the root table in use.
    pub fn root_addr(&self) -> u64 {
        self.addr
    }

    /// True if the root table is the XSDT (64-bit entries), false for the RSDT.
    pub fn is_xsdt(&self) -> bool {
        self.xsdt
    }

    /// Number of entries in the root table.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Entry `index` of the root table: a table address as written by firmware (not
    /// validated), or `None` past the end or if the root table can no longer be read.
    pub fn entry<M: PhysRead + ?Sized>(&self, mem: &M, index: u32) -> Option<u64> {
        if index >= self.count {
            return None;
        }
        // No overflow: the header check bounded addr + length, and the entry lies inside.
        if self.xsdt {
            let at = self.addr + u64::from(HEADER_LEN) + 8 * u64::from(index);
            read_array(mem, at, "XSDT entry")
                .ok()
                .map(u64::from_le_bytes)
        } else {
            let at = self.addr + u64::from(HEADER_LEN) + 4 * u64::from(index);
            read_array(mem, at, "RSDT entry")
                .ok()
                .map(|b| u64::from(u32::from_le_bytes(b)))
        }
    }

    /// The table addresses in the root table, in order, as written by firmware.
    pub fn entries<'a, M: PhysRead + ?Sized>(
        &'a self,
        mem: &'a M,
    ) -> impl Iterator<Item = u64> + 'a {
        (0..self.count).filter_map(move |i| self.entry(mem, i))
    }

    /// Physical address of the first table with signature `sig` whose header is valid
    /// ([`Header::read`]). Entries that are 0, point at unreadable memory, or lead to a
    /// table with a bad length or checksum are skipped.
    pub fn find<M: PhysRead + ?Sized>(&self, mem: &M, sig: &[u8; 4]) -> Option<u64> {
        self.find_nth(mem, sig, 0)
    }

    /// Like [`Tables::find`], but the `n`th (from 0) valid table with that signature (for
    /// signatures that may repeat, such as `SSDT`).
    pub fn find_nth<M: PhysRead + ?Sized>(&self, mem: &M, sig: &[u8; 4], n: usize) -> Option<u64> {
        self.entries(mem)
            .filter(|&a| a != 0 && Header::read_expect(mem, a, sig).is_ok())
            .nth(n)
    }
}
