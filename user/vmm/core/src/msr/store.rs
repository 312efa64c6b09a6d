//! The MSRs the VMM keeps itself, one [`MsrStore`] per vCPU, and the checks a WRMSR to
//! a state MSR must pass before the VMM puts the value into the vCPU state.
//!
//! Values read as a sensible machine would have them: MTRRs enabled with write-back as
//! the default type and eight free variable ranges (no fixed ranges), fast strings on,
//! no machine-check banks, the TSC counting at the P0 frequency (AMD HWCR), a constant
//! microcode revision. Writes keep what the architecture lets software change and raise
//! #GP for reserved bits, as the real MSR would; none of them has an effect beyond being
//! read back (guest memory types come from the guest's PAT and nested paging).

use super::{classify, GeneralProtection, MsrHandling, MsrModel, StateMsr};
use crate::cpuid::Vendor;

/// IA32_MTRRCAP: eight variable ranges, write-combining, no fixed ranges, no SMRR.
const MTRRCAP: u64 = 8 | 1 << 10;
const VARIABLE_RANGES: usize = 8;
/// IA32_MTRR_DEF_TYPE at reset here: MTRRs enabled, default type write-back.
const MTRR_DEF_TYPE: u64 = 1 << 11 | 6;
/// IA32_MISC_ENABLE: fast strings; BTS and PEBS unavailable.
const MISC_ENABLE: u64 = 1 | 1 << 11 | 1 << 12;
const MISC_ENABLE_WRITABLE: u64 = 1;
/// IA32_FEATURE_CONTROL: locked, VMX off.
const FEATURE_CONTROL_LOCKED: u64 = 1;
/// The microcode revision (Intel, in EDX) or patch level (AMD, in EAX) reported.
pub const MICROCODE_REVISION: u32 = 1;
/// AMD HWCR bit 24: the TSC counts at the P0 frequency (Linux warns otherwise).
const HWCR_TSC_FREQ_SEL: u64 = 1 << 24;
/// IA32_SPEC_CTRL bits: IBRS, STIBP, SSBD.
const SPEC_CTRL_BITS: u64 = 0b111;

const EFER_SCE: u64 = 1;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;
const EFER_SVME: u64 = 1 << 12;

/// One vCPU's emulated MSRs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsrStore {
    mtrr_def_type: u64,
    mtrr_variable: [u64; 2 * VARIABLE_RANGES],
    misc_enable: u64,
    cstar: u64,
    hwcr: u64,
    nb_cfg: u64,
    spec_ctrl: u64,
    kvm_wall_clock: u64,
    kvm_system_time: u64,
}

impl Default for MsrStore {
    fn default() -> Self {
        MsrStore {
            mtrr_def_type: MTRR_DEF_TYPE,
            mtrr_variable: [0; 2 * VARIABLE_RANGES],
            misc_enable: MISC_ENABLE,
            cstar: 0,
            hwcr: HWCR_TSC_FREQ_SEL,
            nb_cfg: 0,
            spec_ctrl: 0,
            kvm_wall_clock: 0,
            kvm_system_time: 0,
        }
    }
}

impl MsrStore {
    /// RDMSR of an MSR [`classify`] calls `Emulated` or `Kvmclock`.
    pub fn read(&self, model: &MsrModel, msr: u32) -> Result<u64, GeneralProtection> {
        if !stored(model, msr) {
            return Err(GeneralProtection);
        }
        Ok(match msr {
            0x17 => 0,
            0x3a => FEATURE_CONTROL_LOCKED,
            0x48 => self.spec_ctrl,
            0x8b => match model.vendor {
                Vendor::Intel => (MICROCODE_REVISION as u64) << 32,
                Vendor::Amd => MICROCODE_REVISION as u64,
            },
            0xce => platform_info(model.tsc_hz),
            0xfe => MTRRCAP,
            0x179 | 0x17a | 0x1d9 | 0xc001_0010 => 0,
            0x1a0 => self.misc_enable,
            0x200..=0x20f => self.mtrr_variable[(msr - 0x200) as usize],
            0x2ff => self.mtrr_def_type,
            0x4b56_4d00 => self.kvm_wall_clock,
            0x4b56_4d01 => self.kvm_system_time,
            0xc000_0083 => self.cstar,
            0xc001_0015 => self.hwcr,
            0xc001_001f => self.nb_cfg,
            // PRED_CMD is write-only.
            _ => return Err(GeneralProtection),
        })
    }

    /// WRMSR of an MSR [`classify`] calls `Emulated` or `Kvmclock`.
    pub fn write(
        &mut self,
        model: &MsrModel,
        msr: u32,
        value: u64,
    ) -> Result<(), GeneralProtection> {
        if !stored(model, msr) {
            return Err(GeneralProtection);
        }
        let reserved = |mask: u64| match value & !mask {
            0 => Ok(value),
            _ => Err(GeneralProtection),
        };
        match msr {
            0x48 => self.spec_ctrl = reserved(SPEC_CTRL_BITS)?,
            // IBPB: accepted, nothing to flush that the guest could observe.
            0x49 => _ = reserved(1)?,
            // Linux writes 0 before reading the revision, as the SDM asks.
            0x8b if model.vendor == Vendor::Intel => {}
            0x17a | 0x1d9 | 0xc001_0010 => _ = reserved(0)?,
            0x1a0 if (value ^ self.misc_enable) & !MISC_ENABLE_WRITABLE == 0 => {
                self.misc_enable = value
            }
            0x200..=0x20f => {
                let index = (msr - 0x200) as usize;
                let max_address = 1u64
                    .checked_shl(model.physical_address_bits as u32)
                    .map_or(u64::MAX, |limit| limit - 1);
                self.mtrr_variable[index] = if index.is_multiple_of(2) {
                    valid_mtrr_type(value)?;
                    reserved(max_address & !0xf00)?
                } else {
                    reserved(max_address & !0x7ff)?
                };
            }
            0x2ff => {
                valid_mtrr_type(value)?;
                // Type and enable; FE (bit 10) is reserved without fixed ranges.
                self.mtrr_def_type = reserved(0x8ff)?;
            }
            0x4b56_4d00 => self.kvm_wall_clock = value,
            0x4b56_4d01 => self.kvm_system_time = value,
            0xc000_0083 => self.cstar = canonical(value)?,
            0xc001_0015 => self.hwcr = value | HWCR_TSC_FREQ_SEL,
            0xc001_001f => self.nb_cfg = value,
            _ => return Err(GeneralProtection),
        }
        Ok(())
    }
}

fn stored(model: &MsrModel, msr: u32) -> bool {
    matches!(
        classify(msr, model),
        MsrHandling::Emulated | MsrHandling::Kvmclock(_)
    )
}

/// MSR_PLATFORM_INFO: the base (and, as there is no turbo, minimum) ratio of 100 MHz.
fn platform_info(tsc_hz: u64) -> u64 {
    let ratio = (tsc_hz / 100_000_000).clamp(1, 255);
    ratio << 8 | ratio << 40
}

/// MTRR memory types: UC, WC, WT, WP, WB.
fn valid_mtrr_type(value: u64) -> Result<(), GeneralProtection> {
    match value & 0xff {
        0 | 1 | 4 | 5 | 6 => Ok(()),
        _ => Err(GeneralProtection),
    }
}

/// 48-bit canonical (the model hides 5-level paging).
fn canonical(value: u64) -> Result<u64, GeneralProtection> {
    match ((value << 16) as i64 >> 16) as u64 == value {
        true => Ok(value),
        false => Err(GeneralProtection),
    }
}

/// Checks a WRMSR of `value` to a state MSR whose current value is `current`, and
/// returns what goes into the vCPU state. EFER keeps LMA (set by the CPU on paging) and
/// SVME (the kernel's) as they are; changing LME while paging is on is not checked.
pub fn check_state_write(
    msr: StateMsr,
    value: u64,
    current: u64,
    model: &MsrModel,
) -> Result<u64, GeneralProtection> {
    match msr {
        StateMsr::Efer => match value & !(EFER_SCE | EFER_LME | EFER_NXE | EFER_LMA) {
            0 => Ok(value & (EFER_SCE | EFER_LME | EFER_NXE) | current & (EFER_LMA | EFER_SVME)),
            _ => Err(GeneralProtection),
        },
        // Each entry a memory type: UC, WC, WT, WP, WB, UC-.
        StateMsr::Pat => match value
            .to_le_bytes()
            .iter()
            .all(|t| matches!(t, 0 | 1 | 4..=7))
        {
            true => Ok(value),
            false => Err(GeneralProtection),
        },
        StateMsr::Fmask if value >> 32 != 0 => Err(GeneralProtection),
        // AMD keeps 32 bits of these; Intel requires canonical addresses.
        StateMsr::SysenterEsp | StateMsr::SysenterEip if model.vendor == Vendor::Amd => {
            Ok(value & 0xffff_ffff)
        }
        StateMsr::Lstar
        | StateMsr::KernelGsBase
        | StateMsr::FsBase
        | StateMsr::GsBase
        | StateMsr::SysenterEsp
        | StateMsr::SysenterEip => canonical(value),
        StateMsr::Star | StateMsr::Fmask | StateMsr::SysenterCs => Ok(value),
    }
}

/// What RDMSR returns for a state MSR whose vCPU-state value is `raw`: EFER without the
/// SVME bit the kernel keeps set under SVM (the guest never set it and cannot use it).
pub fn guest_view(msr: StateMsr, raw: u64) -> u64 {
    match msr {
        StateMsr::Efer => raw & !EFER_SVME,
        _ => raw,
    }
}
