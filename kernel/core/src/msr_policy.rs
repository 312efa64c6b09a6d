//! Which model-specific registers a pass-through Pd may reach with `msr_access`: an
//! allow-list of what a driver or monitor on the host legitimately needs, everything
//! else refused.
//!
//! A refuse list cannot be complete: every CPU generation adds MSRs, and many of them
//! reach past the kernel (Intel PT's output base writes trace data to any physical
//! address, MISC_ENABLE can turn NX off under the kernel's page tables, DEBUGCTL and the
//! LBR stack record other Pds' branches, AMD's SYSCFG, IORRs and TOP_MEM retype memory).
//! So only these groups are reachable:
//!
//! - **identification and capabilities**, read only: platform id, microcode revision
//!   (which software reads by writing 0 first, so that write is allowed), platform info,
//!   architectural and core capabilities, MTRR capabilities, SMI count, machine-check
//!   capabilities and status, the machine-check banks, the MTRRs and PAT;
//! - **performance monitoring**: the general and fixed counters and their event
//!   selectors and global controls (Intel), the core counters (AMD); their interrupts
//!   go through the local APIC, which the kernel keeps;
//! - **power and thermal management**: performance state control and status (Intel and
//!   AMD), clock modulation, the energy-performance bias, hardware P-states (HWP),
//!   thermal status and interrupt control, the temperature target, APERF/MPERF, and the
//!   RAPL energy counters and limits;
//! - **barriers**: the indirect-branch predictor barrier and the L1D flush, write only.
//!
//! Everything the kernel owns (EFER, the system-call and segment-base MSRs, the TSC and
//! its deadline, the APIC base, feature control, the VMX capability range, the SVM host
//! save area, SPEC_CTRL, which is per CPU and shared by every Pd) is outside the list.

/// How an MSR may be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    Read,
    ReadWrite,
    Write,
}

use Access::{Read, ReadWrite, Write};

/// Ranges of MSR indices (inclusive) and how they may be reached.
const ALLOWED: &[(u32, u32, Access)] = &[
    // Identification and capabilities.
    (0x0000_0017, 0x0000_0017, Read),      // IA32_PLATFORM_ID
    (0x0000_0034, 0x0000_0034, Read),      // MSR_SMI_COUNT
    (0x0000_008b, 0x0000_008b, ReadWrite), // IA32_BIOS_SIGN_ID (microcode revision)
    (0x0000_00ce, 0x0000_00cf, Read),      // MSR_PLATFORM_INFO, IA32_CORE_CAPABILITIES
    (0x0000_00fe, 0x0000_00fe, Read),      // IA32_MTRRCAP
    (0x0000_010a, 0x0000_010a, Read),      // IA32_ARCH_CAPABILITIES
    (0x0000_0179, 0x0000_017a, Read),      // IA32_MCG_CAP, IA32_MCG_STATUS
    (0x0000_0200, 0x0000_026f, Read),      // MTRRs
    (0x0000_0277, 0x0000_0277, Read),      // IA32_PAT
    (0x0000_02ff, 0x0000_02ff, Read),      // IA32_MTRR_DEF_TYPE
    (0x0000_0400, 0x0000_047f, Read),      // machine-check banks
    // Performance monitoring (Intel).
    (0x0000_00c1, 0x0000_00c8, ReadWrite), // IA32_PMC0-7
    (0x0000_0186, 0x0000_018d, ReadWrite), // IA32_PERFEVTSEL0-7
    (0x0000_0309, 0x0000_030c, ReadWrite), // IA32_FIXED_CTR0-3
    (0x0000_0345, 0x0000_0345, Read),      // IA32_PERF_CAPABILITIES
    (0x0000_038d, 0x0000_038d, ReadWrite), // IA32_FIXED_CTR_CTRL
    (0x0000_038e, 0x0000_038e, Read),      // IA32_PERF_GLOBAL_STATUS
    (0x0000_038f, 0x0000_0390, ReadWrite), // IA32_PERF_GLOBAL_CTRL, _OVF_CTRL
    // Power and thermal management (Intel).
    (0x0000_00e7, 0x0000_00e8, Read),      // IA32_MPERF, IA32_APERF
    (0x0000_0198, 0x0000_0198, Read),      // IA32_PERF_STATUS
    (0x0000_0199, 0x0000_019b, ReadWrite), // IA32_PERF_CTL, CLOCK_MODULATION, THERM_INTERRUPT
    (0x0000_019c, 0x0000_019c, ReadWrite), // IA32_THERM_STATUS (log bits cleared by writes)
    (0x0000_01a2, 0x0000_01a2, Read),      // MSR_TEMPERATURE_TARGET
    (0x0000_01b0, 0x0000_01b2, ReadWrite), // ENERGY_PERF_BIAS, PACKAGE_THERM_STATUS/INTERRUPT
    (0x0000_0606, 0x0000_0606, Read),      // MSR_RAPL_POWER_UNIT
    (0x0000_0610, 0x0000_0610, ReadWrite), // MSR_PKG_POWER_LIMIT
    (0x0000_0611, 0x0000_0614, Read),      // package energy status and power info
    (0x0000_0618, 0x0000_061c, Read),      // DRAM RAPL
    (0x0000_0638, 0x0000_063a, Read),      // PP0 RAPL
    (0x0000_0640, 0x0000_0642, Read),      // PP1 RAPL
    (0x0000_064d, 0x0000_064d, Read),      // platform energy
    (0x0000_0770, 0x0000_0777, ReadWrite), // HWP
    // Barriers.
    (0x0000_0049, 0x0000_0049, Write), // IA32_PRED_CMD (IBPB)
    (0x0000_010b, 0x0000_010b, Write), // IA32_FLUSH_CMD (L1D flush)
    // AMD.
    (0xc001_0000, 0xc001_0007, ReadWrite), // PERF_CTL0-3, PERF_CTR0-3
    (0xc001_0061, 0xc001_0061, Read),      // P-state current limit
    (0xc001_0062, 0xc001_0062, ReadWrite), // P-state control
    (0xc001_0063, 0xc001_006b, Read),      // P-state status and definitions
    (0xc001_00e7, 0xc001_00e8, Read),      // read-only MPERF, APERF
    (0xc001_0200, 0xc001_020b, ReadWrite), // core performance counters
    (0xc001_0299, 0xc001_029b, Read),      // RAPL unit, core and package energy
];

/// Whether a pass-through Pd may read (`write` false) or write MSR `index`.
pub fn allowed(index: u32, write: bool) -> bool {
    ALLOWED
        .iter()
        .find(|(first, last, _)| (*first..=*last).contains(&index))
        .is_some_and(|&(_, _, access)| match access {
            Read => !write,
            Write => write,
            ReadWrite => true,
        })
}

#[cfg(test)]
mod tests;
