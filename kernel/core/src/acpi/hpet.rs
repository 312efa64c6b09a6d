//! The HPET description table (signature `HPET`).
//!
//! Layout (IA-PC HPET specification 1.0a, 3.2.4): header (36), event timer block ID (u32
//! @36), base address (GAS @40, so the address itself is at @44), HPET number (u8 @52),
//! minimum clock tick in periodic mode (u16 @53), page protection and OEM attributes
//! (u8 @55); 56 bytes in all.

use super::{AcpiError, Body, Gas};
use crate::phys::PhysRead;

/// The HPET table's signature.
pub const SIGNATURE: &[u8; 4] = b"HPET";
/// Length of the table.
pub const LEN: u32 = 56;

/// The parsed HPET table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hpet {
    /// Physical address of the 1 KiB register block (non-zero, 1 KiB aligned).
    pub base: u64,
    /// Event timer block ID: a copy of the low 32 bits of the capabilities register
    /// (bits 12:8: number of comparators - 1; bits 31:16: PCI vendor ID).
    pub block_id: u32,
    /// Sequence number of this HPET.
    pub number: u8,
    /// Minimum clock tick in periodic mode, in main counter ticks.
    pub min_tick: u16,
}

/// Parses the HPET table at physical address `addr`. The base must be in system memory,
/// non-zero and 1 KiB aligned.
pub fn parse<M: PhysRead + ?Sized>(mem: &M, addr: u64) -> Result<Hpet, AcpiError> {
    let (t, _) = Body::open(mem, addr, SIGNATURE, LEN)?;
    let gas = t.gas(40)?;
    if gas.space_id != Gas::SYSTEM_MEMORY {
        return Err(t.bad_table("HPET registers are not in system memory"));
    }
    if gas.address == 0 || gas.address % 1024 != 0 {
        return Err(t.bad_table("HPET base address is 0 or not 1 KiB aligned"));
    }
    Ok(Hpet {
        base: gas.address,
        block_id: t.u32(36)?,
        number: t.u8(52)?,
        min_tick: t.u16(53)?,
    })
}
