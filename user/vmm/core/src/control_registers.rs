//! Writes to CR0 and CR4 that the VMM completes for the guest (VMX exits on a write
//! that changes a bit the kernel owns: the CR0 and CR4 bits VMX requires set, which the
//! guest sees as it wrote them in the read shadow). The architectural checks a CPU
//! makes come first (a failing write is #GP), and a write that turns paging on or off
//! with EFER.LME set also moves EFER.LMA, as the CPU would: the kernel enters the guest
//! in IA-32e mode exactly when the VMM's EFER says LMA.

#[cfg(test)]
mod tests;

pub const CR0_PE: u64 = 1;
pub const CR0_TS: u64 = 1 << 3;
pub const CR0_NW: u64 = 1 << 29;
pub const CR0_CD: u64 = 1 << 30;
pub const CR0_PG: u64 = 1 << 31;
pub const CR4_PAE: u64 = 1 << 5;
pub const CR4_PCIDE: u64 = 1 << 17;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;
/// LMSW writes PE, MP, EM and TS (and cannot clear PE).
const LMSW_BITS: u64 = 0xf;

/// The write raises #GP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneralProtection;

/// The control registers a write depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlState {
    pub cr0: u64,
    pub cr4: u64,
    pub efer: u64,
}

impl ControlState {
    /// MOV to CR0 of `value`.
    pub fn write_cr0(self, value: u64) -> Result<ControlState, GeneralProtection> {
        let reserved = value >> 32 != 0;
        let pg_without_pe = value & CR0_PG != 0 && value & CR0_PE == 0;
        let nw_without_cd = value & CR0_NW != 0 && value & CR0_CD == 0;
        let long_without_pae =
            value & CR0_PG != 0 && self.efer & EFER_LME != 0 && self.cr4 & CR4_PAE == 0;
        // Paging off in long mode with PCIDs on, or leaving long mode: not how an OS
        // leaves long mode (it turns PCIDE off first).
        let pcide_off_paging = value & CR0_PG == 0 && self.cr4 & CR4_PCIDE != 0;
        if reserved || pg_without_pe || nw_without_cd || long_without_pae || pcide_off_paging {
            return Err(GeneralProtection);
        }
        let efer = match (value & CR0_PG != 0, self.efer & EFER_LME != 0) {
            (true, true) => self.efer | EFER_LMA,
            _ => self.efer & !EFER_LMA,
        };
        Ok(ControlState {
            cr0: value,
            efer,
            ..self
        })
    }

    /// CLTS.
    pub fn clts(self) -> ControlState {
        ControlState {
            cr0: self.cr0 & !CR0_TS,
            ..self
        }
    }

    /// LMSW with `source`.
    pub fn lmsw(self, source: u16) -> ControlState {
        let pe = self.cr0 & CR0_PE;
        ControlState {
            cr0: self.cr0 & !LMSW_BITS | source as u64 & LMSW_BITS | pe,
            ..self
        }
    }

    /// MOV to CR4 of `value`, for a guest whose CPU model offers the bits `allowed`.
    pub fn write_cr4(self, value: u64, allowed: u64) -> Result<ControlState, GeneralProtection> {
        let leaves_pae_in_long_mode = self.efer & EFER_LMA != 0 && value & CR4_PAE == 0;
        if value & !allowed != 0 || leaves_pae_in_long_mode {
            return Err(GeneralProtection);
        }
        Ok(ControlState { cr4: value, ..self })
    }
}
