//! The guest's MSRs: which the VMM answers and how. Every RDMSR and WRMSR exits (the
//! kernel intercepts them all); [`classify`] looks the index up in one table and says
//! where the value lives. Everything not in the table raises #GP, as on a CPU without
//! the MSR, and the CPU model advertises no feature whose MSR is missing here.
//!
//! Where values live:
//! - the local APIC model: IA32_APIC_BASE, IA32_TSC_DEADLINE, the x2APIC range;
//! - the vCPU state the kernel switches ([`StateMsr`], read and written in the exit
//!   message under the MTD bit each names): EFER, PAT, STAR, LSTAR, FMASK,
//!   KERNEL_GS_BASE, the FS and GS bases, the SYSENTER MSRs;
//! - the TSC: host TSC plus the vCPU's TSC offset (MTD TSC);
//! - kvmclock: writes name guest memory the VMM fills (`kvmclock.rs`);
//! - a per-vCPU [`MsrStore`] for the rest: MTRRs, the microcode revision, machine-check
//!   capability and status, CSTAR (not in the UTCB), and the vendor-specific ones.
//!
//! What Linux 6.1 touches at boot without a fault handler (a #GP there is fatal before
//! the IDT exists, and an "unchecked MSR access error" splat after), listed in
//! `docs/vmm.md` with the functions: EFER and the GS base (head_64.S, before any IDT);
//! STAR, LSTAR, FMASK and (not on Intel) CSTAR (`syscall_init`); FS/GS/KERNEL_GS
//! bases; PAT; APIC_BASE, the x2APIC registers and TSC_DEADLINE; the MTRRs (`mtrr_bp_init`,
//! as MTRR is advertised); kvmclock's MSRs; on Intel the microcode revision (written and
//! read) and MISC_ENABLE (`early_init_intel`); on AMD HWCR (`bsp_init_amd`) and NB_CFG
//! (`amd_bus_cpu_online`, read and written on every CPU).

mod kvmclock;
mod store;
#[cfg(test)]
mod tests;

pub use kvmclock::{guest_record, write_guest_record, KvmclockError, Pvclock, PVCLOCK_TSC_STABLE};
pub use store::{check_state_write, guest_view, MsrStore};

use crate::cpuid::{CpuModel, Vendor};

/// A WRMSR or RDMSR the guest must see fail with #GP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneralProtection;

/// MSRs that travel in the vCPU state, with the MTD group that carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateMsr {
    /// MTD EFER_PAT. The kernel keeps SVME set under SVM: see [`guest_view`].
    Efer,
    /// MTD EFER_PAT.
    Pat,
    /// MTD SYSCALL_SWAPGS.
    Star,
    /// MTD SYSCALL_SWAPGS.
    Lstar,
    /// MTD SYSCALL_SWAPGS.
    Fmask,
    /// MTD SYSCALL_SWAPGS.
    KernelGsBase,
    /// MTD FS_GS: the FS segment's base.
    FsBase,
    /// MTD FS_GS: the GS segment's base.
    GsBase,
    /// MTD SYSENTER.
    SysenterCs,
    /// MTD SYSENTER.
    SysenterEsp,
    /// MTD SYSENTER.
    SysenterEip,
}

/// The kvmclock MSRs (KVM_FEATURE_CLOCKSOURCE2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvmclockMsr {
    /// MSR_KVM_WALL_CLOCK_NEW: a write names where to put the boot-time wall clock.
    WallClock,
    /// MSR_KVM_SYSTEM_TIME_NEW: bit 0 enables, the rest names this vCPU's time record.
    SystemTime,
}

/// How the VMM handles an MSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrHandling {
    /// Raise #GP.
    Fault,
    /// The local APIC model answers.
    Lapic,
    /// The vCPU state holds it.
    State(StateMsr),
    /// IA32_TSC: the host TSC plus the vCPU's offset; a write moves the offset.
    Tsc,
    /// Stored in the [`MsrStore`]; a write also makes the VMM fill guest memory.
    Kvmclock(KvmclockMsr),
    /// Stored in the [`MsrStore`], which also checks writes.
    Emulated,
}

/// Which machines have a table row's MSRs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Only {
    All,
    Intel,
    Amd,
    /// Only if the CPU model advertises speculation control.
    SpeculationControl,
}

use MsrHandling::{Emulated, Lapic, State};
use StateMsr::*;

/// (first, last, machines, handling), sorted by index.
const TABLE: &[(u32, u32, Only, MsrHandling)] = &[
    (0x10, 0x10, Only::All, MsrHandling::Tsc),
    (0x17, 0x17, Only::Intel, Emulated), // IA32_PLATFORM_ID
    (0x1b, 0x1b, Only::All, Lapic),      // IA32_APIC_BASE
    (0x3a, 0x3a, Only::Intel, Emulated), // IA32_FEATURE_CONTROL
    (0x48, 0x49, Only::SpeculationControl, Emulated), // SPEC_CTRL, PRED_CMD
    (0x8b, 0x8b, Only::All, Emulated),   // microcode revision / patch level
    (0xce, 0xce, Only::Intel, Emulated), // MSR_PLATFORM_INFO
    (0xfe, 0xfe, Only::All, Emulated),   // IA32_MTRRCAP
    (0x174, 0x174, Only::All, State(SysenterCs)),
    (0x175, 0x175, Only::All, State(SysenterEsp)),
    (0x176, 0x176, Only::All, State(SysenterEip)),
    (0x179, 0x17a, Only::All, Emulated), // IA32_MCG_CAP, IA32_MCG_STATUS
    (0x1a0, 0x1a0, Only::Intel, Emulated), // IA32_MISC_ENABLE
    (0x1d9, 0x1d9, Only::All, Emulated), // IA32_DEBUGCTL
    (0x200, 0x20f, Only::All, Emulated), // variable-range MTRRs
    (0x277, 0x277, Only::All, State(Pat)),
    (0x2ff, 0x2ff, Only::All, Emulated), // IA32_MTRR_DEF_TYPE
    (0x6e0, 0x6e0, Only::All, Lapic),    // IA32_TSC_DEADLINE
    (0x800, 0x8ff, Only::All, Lapic),    // x2APIC registers
    (
        0x4b56_4d00,
        0x4b56_4d00,
        Only::All,
        MsrHandling::Kvmclock(KvmclockMsr::WallClock),
    ),
    (
        0x4b56_4d01,
        0x4b56_4d01,
        Only::All,
        MsrHandling::Kvmclock(KvmclockMsr::SystemTime),
    ),
    (0xc000_0080, 0xc000_0080, Only::All, State(Efer)),
    (0xc000_0081, 0xc000_0081, Only::All, State(Star)),
    (0xc000_0082, 0xc000_0082, Only::All, State(Lstar)),
    (0xc000_0083, 0xc000_0083, Only::All, Emulated), // CSTAR
    (0xc000_0084, 0xc000_0084, Only::All, State(Fmask)),
    (0xc000_0100, 0xc000_0100, Only::All, State(FsBase)),
    (0xc000_0101, 0xc000_0101, Only::All, State(GsBase)),
    (0xc000_0102, 0xc000_0102, Only::All, State(KernelGsBase)),
    (0xc001_0010, 0xc001_0010, Only::Amd, Emulated), // SYSCFG
    (0xc001_0015, 0xc001_0015, Only::Amd, Emulated), // HWCR
    (0xc001_001f, 0xc001_001f, Only::Amd, Emulated), // NB_CFG
];

/// What the MSR model depends on: the CPU model's vendor and features, and the TSC
/// frequency (which MSR_PLATFORM_INFO reports as the base ratio).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsrModel {
    pub vendor: Vendor,
    pub physical_address_bits: u8,
    pub tsc_hz: u64,
    pub speculation_control: bool,
}

impl MsrModel {
    pub fn new(cpu: &CpuModel, tsc_hz: u64) -> Self {
        MsrModel {
            vendor: cpu.vendor(),
            physical_address_bits: cpu.physical_address_bits().clamp(32, 52),
            tsc_hz,
            speculation_control: cpu.advertises_speculation_control(),
        }
    }
}

/// How the VMM handles MSR `msr` on a machine of `model`.
pub fn classify(msr: u32, model: &MsrModel) -> MsrHandling {
    let Some(&(_, _, only, handling)) = TABLE
        .iter()
        .find(|(first, last, _, _)| (*first..=*last).contains(&msr))
    else {
        return MsrHandling::Fault;
    };
    let present = match only {
        Only::All => true,
        Only::Intel => model.vendor == Vendor::Intel,
        Only::Amd => model.vendor == Vendor::Amd,
        Only::SpeculationControl => model.speculation_control,
    };
    if present {
        handling
    } else {
        MsrHandling::Fault
    }
}
