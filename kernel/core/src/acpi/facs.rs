//! The firmware ACPI control structure (FACS, signature `FACS`) and the sleep registers:
//! what suspending to S3 needs. The FACS has no checksum; it lives in ACPI NVS memory and
//! holds the waking vector, where the firmware jumps when the machine wakes. Offsets used
//! (ACPI 6.x, 5.2.10): signature (0), length (4), hardware signature (8),
//! FIRMWARE_WAKING_VECTOR (12, u32: real mode, CS = vector >> 4, IP = vector & 0xf),
//! global lock (16), flags (20), X_FIRMWARE_WAKING_VECTOR (24, u64, version 1 and
//! later; 0 means the 32-bit vector is used), version (32).
//!
//! Entering a sleep state writes SLP_TYPx and SLP_EN into the PM1a and PM1b control
//! registers (ACPI 6.x, 4.8.3.2.1: SLP_TYP bits 12:10, SLP_EN bit 13) after clearing
//! WAK_STS (bit 15 of the PM1 status registers, write one to clear).

use super::{read_array, AcpiError};
use crate::phys::PhysRead;

/// The FACS's signature.
pub const SIGNATURE: &[u8; 4] = b"FACS";
/// The smallest FACS (every version has 64 bytes).
pub const MIN_LEN: u32 = 64;
/// Offset of FIRMWARE_WAKING_VECTOR.
pub const WAKING_VECTOR: u64 = 12;
/// Offset of X_FIRMWARE_WAKING_VECTOR.
pub const X_WAKING_VECTOR: u64 = 24;

/// PM1 control: SLP_TYPx, bits 12:10.
pub const SLP_TYP_SHIFT: u32 = 10;
pub const SLP_TYP_MASK: u16 = 0b111 << SLP_TYP_SHIFT;
/// PM1 control: SLP_EN.
pub const SLP_EN: u16 = 1 << 13;
/// PM1 status: WAK_STS.
pub const WAK_STS: u16 = 1 << 15;

/// A FACS whose signature and length were checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facs {
    /// Its physical address.
    pub addr: u64,
    /// Its length (at least [`MIN_LEN`]).
    pub length: u32,
    /// Its version (0 for ACPI 1.0's, without the 64-bit vector).
    pub version: u8,
    /// FIRMWARE_WAKING_VECTOR as found.
    pub waking_vector: u32,
}

/// Reads the FACS at `addr`: the signature must be `FACS` and the length at least 64.
pub fn read<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Facs, AcpiError> {
    let b: [u8; MIN_LEN as usize] = read_array(mem, addr, "FACS")?;
    let mut sig = [0u8; 4];
    sig.copy_from_slice(&b[..4]);
    if &sig != SIGNATURE {
        return Err(AcpiError::Signature {
            addr,
            expected: super::Sig(*SIGNATURE),
            found: super::Sig(sig),
        });
    }
    let length = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    if length < MIN_LEN {
        return Err(AcpiError::TableLength {
            sig: super::Sig(sig),
            addr,
            length,
        });
    }
    Ok(Facs {
        addr,
        length,
        version: b[32],
        waking_vector: u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
    })
}

/// Whether the sleep types the caller found in the DSDT (`\_Sx`) fit SLP_TYPx, as the
/// reference checks them: both below 8.
pub fn valid_sleep_types(slp_typa: u8, slp_typb: u8) -> bool {
    (u32::from(slp_typa | slp_typb) << SLP_TYP_SHIFT) & !u32::from(SLP_TYP_MASK) == 0
}

/// The value to write into a PM1 control register that now reads `current`: its other
/// bits kept, SLP_TYPx set to `slp_typ`, SLP_EN set.
pub fn sleep_control(current: u16, slp_typ: u8) -> u16 {
    (current & !SLP_TYP_MASK) | ((u16::from(slp_typ) << SLP_TYP_SHIFT) & SLP_TYP_MASK) | SLP_EN
}
