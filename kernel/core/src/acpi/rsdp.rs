//! The root system description pointer (RSDP): where the RSDT and XSDT are.
//!
//! Layout (ACPI 6.x, 5.2.5.3): signature `"RSD PTR "` (8), checksum (1, over the first
//! 20 bytes), OEM ID (6), revision (1), RSDT address (u32) — the 20 bytes of ACPI 1.0;
//! revision 2 and later add length (u32, of the whole structure), XSDT address (u64),
//! extended checksum (1, over `length` bytes) and 3 reserved bytes.

use super::{byte_sum, read_array, AcpiError};
use crate::phys::PhysRead;

/// The signature every RSDP starts with.
pub const SIGNATURE: &[u8; 8] = b"RSD PTR ";
/// Bytes covered by the ACPI 1.0 checksum.
pub const V1_LEN: u32 = 20;
/// Size of the revision 2+ structure.
pub const V2_LEN: u32 = 36;
/// Largest revision 2+ `length` accepted; every known revision has 36.
pub const MAX_LEN: u32 = 4096;
/// Physical address of the BIOS data area word holding the EBDA's real-mode segment.
pub const EBDA_POINTER: u64 = 0x40e;
/// Bytes of the EBDA searched.
pub const EBDA_SCAN_LEN: u64 = 1024;
/// The BIOS read-only area searched after the EBDA: `BIOS_START..BIOS_END`.
pub const BIOS_START: u64 = 0xe0000;
/// End (exclusive) of the BIOS area searched.
pub const BIOS_END: u64 = 0x100000;

/// A validated RSDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// Where it was found.
    pub addr: u64,
    /// 0 for ACPI 1.0; 2 and up for ACPI 2.0+ (only then are `length` and `xsdt` read).
    pub revision: u8,
    /// OEM identification.
    pub oem_id: [u8; 6],
    /// Bytes validated at `addr`: 20 for revision < 2, else the `length` field.
    pub length: u32,
    /// Physical address of the RSDT (0: none).
    pub rsdt: u32,
    /// Physical address of the XSDT (revision 2+, when non-zero).
    pub xsdt: Option<u64>,
}

/// Validates the RSDP at `addr`: signature, the 20-byte checksum and, for revision 2 and
/// later, a `length` in [[`V2_LEN`], [`MAX_LEN`]] and the extended checksum over it.
pub fn read<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Rsdp, AcpiError> {
    const WHAT: &str = "RSDP";
    let b: [u8; V1_LEN as usize] = read_array(mem, addr, WHAT)?;
    if &b[..8] != SIGNATURE {
        return Err(AcpiError::RsdpSignature { addr });
    }
    if b.iter().fold(0u8, |s, &x| s.wrapping_add(x)) != 0 {
        return Err(AcpiError::RsdpChecksum { addr, len: V1_LEN });
    }
    let mut oem_id = [0u8; 6];
    oem_id.copy_from_slice(&b[9..15]);
    let revision = b[15];
    let rsdt = u32::from_le_bytes([b[16], b[17], b[18], b[19]]);
    let mut rsdp = Rsdp {
        addr,
        revision,
        oem_id,
        length: V1_LEN,
        rsdt,
        xsdt: None,
    };
    if revision >= 2 {
        let x: [u8; V2_LEN as usize] = read_array(mem, addr, WHAT)?;
        let length = u32::from_le_bytes([x[20], x[21], x[22], x[23]]);
        if !(V2_LEN..=MAX_LEN).contains(&length) {
            return Err(AcpiError::RsdpLength { addr, length });
        }
        match byte_sum(mem, addr, length) {
            None => return Err(AcpiError::Unreadable { what: WHAT, addr }),
            Some(0) => {}
            Some(_) => return Err(AcpiError::RsdpChecksum { addr, len: length }),
        }
        let mut a = [0u8; 8];
        a.copy_from_slice(&x[24..32]);
        let xsdt = u64::from_le_bytes(a);
        rsdp.length = length;
        rsdp.xsdt = (xsdt != 0).then_some(xsdt);
    }
    Ok(rsdp)
}

/// Finds the RSDP. With a `hint` (the address of the multiboot2 loader's copy), only that
/// address is validated and its error returned; call again with `None` to fall back to the
/// scan. Without one, scans the first KiB of the EBDA (its segment is the word at
/// [`EBDA_POINTER`]; used when the EBDA lies in `0x400..0xa0000`), then
/// [`BIOS_START`]..[`BIOS_END`], on 16-byte boundaries; candidates with the signature but
/// a bad checksum or length are passed over, and unreadable memory is skipped.
pub fn find<M: PhysRead + ?Sized>(mem: &M, hint: Option<u64>) -> Result<Rsdp, AcpiError> {
    if let Some(addr) = hint {
        return read(mem, addr);
    }
    if let Ok(seg) = read_array::<2, M>(mem, EBDA_POINTER, "EBDA pointer") {
        let ebda = u64::from(u16::from_le_bytes(seg)) << 4;
        if (0x400..0xa0000).contains(&ebda) {
            if let Some(r) = scan(mem, ebda, ebda + EBDA_SCAN_LEN) {
                return Ok(r);
            }
        }
    }
    scan(mem, BIOS_START, BIOS_END).ok_or(AcpiError::RsdpNotFound)
}

/// The first valid RSDP at a 16-byte boundary in `start..end` (`start` 16-byte aligned).
fn scan<M: PhysRead + ?Sized>(mem: &M, start: u64, end: u64) -> Option<Rsdp> {
    (start..end)
        .step_by(16)
        .filter(|&a| read_array::<8, M>(mem, a, "RSDP").is_ok_and(|s| &s == SIGNATURE))
        .find_map(|a| read(mem, a).ok())
}
