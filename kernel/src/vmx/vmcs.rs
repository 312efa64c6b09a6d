//! VMCS field encodings (Intel SDM volume 3, appendix B) and VMREAD/VMWRITE.
#![allow(dead_code)]

use core::arch::asm;

// The guest-state fields the MTD tables name live with the tables.
pub use facet_kcore::vcpu_state::vmcs::*;

// Control fields.
pub const VPID: u64 = 0x0000;
pub const IO_BITMAP_A: u64 = 0x2000;
pub const IO_BITMAP_B: u64 = 0x2002;
pub const MSR_BITMAP: u64 = 0x2004;
pub const EXIT_MSR_STORE_ADDR: u64 = 0x2006;
pub const EXIT_MSR_LOAD_ADDR: u64 = 0x2008;
pub const ENTRY_MSR_LOAD_ADDR: u64 = 0x200a;
pub const TSC_OFFSET: u64 = 0x2010;
pub const VIRTUAL_APIC_ADDR: u64 = 0x2012;
pub const APIC_ACCESS_ADDR: u64 = 0x2014;
pub const TPR_THRESHOLD: u64 = 0x401c;
pub const EPT_POINTER: u64 = 0x201a;
pub const GUEST_PHYSICAL: u64 = 0x2400;
pub const LINK_POINTER: u64 = 0x2800;
pub const HOST_PAT: u64 = 0x2c00;
pub const HOST_EFER: u64 = 0x2c02;
pub const PIN_CONTROLS: u64 = 0x4000;
pub const PROC_CONTROLS: u64 = 0x4002;
pub const EXCEPTION_BITMAP: u64 = 0x4004;
pub const EXIT_CONTROLS: u64 = 0x400c;
pub const EXIT_MSR_STORE_COUNT: u64 = 0x400e;
pub const EXIT_MSR_LOAD_COUNT: u64 = 0x4010;
pub const ENTRY_CONTROLS: u64 = 0x4012;
pub const ENTRY_MSR_LOAD_COUNT: u64 = 0x4014;
pub const ENTRY_INTR_INFO: u64 = 0x4016;
pub const ENTRY_INTR_ERROR: u64 = 0x4018;
pub const ENTRY_INST_LEN: u64 = 0x401a;
pub const PROC_CONTROLS2: u64 = 0x401e;
pub const INSTRUCTION_ERROR: u64 = 0x4400;
pub const EXIT_REASON: u64 = 0x4402;
pub const EXIT_INTR_INFO: u64 = 0x4404;
pub const EXIT_INTR_ERROR: u64 = 0x4406;
pub const IDT_VECT_INFO: u64 = 0x4408;
pub const IDT_VECT_ERROR: u64 = 0x440a;
pub const INSTRUCTION_LEN: u64 = 0x440c;
pub const CR0_MASK: u64 = 0x6000;
pub const CR4_MASK: u64 = 0x6002;
pub const CR0_SHADOW: u64 = 0x6004;
pub const CR4_SHADOW: u64 = 0x6006;
pub const EXIT_QUALIFICATION: u64 = 0x6400;

// Basic exit reasons (EXIT_REASON bits 15:0), which are also the event numbers a VMM
// sees for them.
pub const REASON_EXCEPTION_OR_NMI: u32 = 0;
pub const REASON_EXTERNAL_INTERRUPT: u32 = 1;
pub const REASON_CR_ACCESS: u32 = 28;
pub const REASON_INVALID_GUEST_STATE: u32 = 33;
pub const REASON_PREEMPTION_TIMER: u32 = 52;
/// EXIT_REASON bit 31: the VM entry failed.
pub const REASON_ENTRY_FAILED: u32 = 1 << 31;
pub const GUEST_LINEAR: u64 = 0x640a;

// Guest state: selectors, limits, access rights, bases (ES, CS, SS, DS, FS, GS, LDTR, TR).
pub const GUEST_ES_SEL: u64 = 0x0800;
pub const GUEST_ES_LIMIT: u64 = 0x4800;
pub const GUEST_ES_AR: u64 = 0x4814;
pub const GUEST_ES_BASE: u64 = 0x6806;
pub const GUEST_GDTR_LIMIT: u64 = 0x4810;
pub const GUEST_IDTR_LIMIT: u64 = 0x4812;
pub const GUEST_GDTR_BASE: u64 = 0x6816;
pub const GUEST_IDTR_BASE: u64 = 0x6818;
pub const GUEST_INTERRUPTIBILITY: u64 = 0x4824;
pub const GUEST_ACTIVITY: u64 = 0x4826;
pub const PREEMPTION_TIMER: u64 = 0x482e;
pub const GUEST_CR0: u64 = 0x6800;
pub const GUEST_CR4: u64 = 0x6804;

// Host state.
pub const HOST_ES_SEL: u64 = 0x0c00;
pub const HOST_CS_SEL: u64 = 0x0c02;
pub const HOST_SS_SEL: u64 = 0x0c04;
pub const HOST_DS_SEL: u64 = 0x0c06;
pub const HOST_FS_SEL: u64 = 0x0c08;
pub const HOST_GS_SEL: u64 = 0x0c0a;
pub const HOST_TR_SEL: u64 = 0x0c0c;
pub const HOST_SYSENTER_CS: u64 = 0x4c00;
pub const HOST_CR0: u64 = 0x6c00;
pub const HOST_CR3: u64 = 0x6c02;
pub const HOST_CR4: u64 = 0x6c04;
pub const HOST_FS_BASE: u64 = 0x6c06;
pub const HOST_GS_BASE: u64 = 0x6c08;
pub const HOST_TR_BASE: u64 = 0x6c0a;
pub const HOST_GDTR_BASE: u64 = 0x6c0c;
pub const HOST_IDTR_BASE: u64 = 0x6c0e;
pub const HOST_SYSENTER_ESP: u64 = 0x6c10;
pub const HOST_SYSENTER_EIP: u64 = 0x6c12;
pub const HOST_RSP: u64 = 0x6c14;
pub const HOST_RIP: u64 = 0x6c16;

/// Segment `n` (0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS, 6 LDTR, 7 TR): (selector, limit,
/// access rights, base) field encodings.
pub const fn segment(n: u64) -> (u64, u64, u64, u64) {
    (
        GUEST_ES_SEL + 2 * n,
        GUEST_ES_LIMIT + 2 * n,
        GUEST_ES_AR + 2 * n,
        GUEST_ES_BASE + 2 * n,
    )
}

/// Reads a field of the current VMCS.
pub fn read(field: u64) -> u64 {
    let v: u64;
    // SAFETY: VMREAD of the current VMCS only reads; with no current VMCS it fails with
    // flags set and leaves `v` unspecified, which callers tolerate.
    unsafe { asm!("vmread {}, {}", out(reg) v, in(reg) field, options(nostack)) };
    v
}

/// Writes a field of the current VMCS; `false` if the CPU refused.
pub fn write(field: u64, value: u64) -> bool {
    let ok: u8;
    // SAFETY: VMWRITE changes only the current VMCS, which the calling vCPU owns.
    unsafe {
        asm!("vmwrite {}, {}", "setna {}", in(reg) field, in(reg) value, out(reg_byte) ok, options(nostack))
    };
    ok == 0
}
