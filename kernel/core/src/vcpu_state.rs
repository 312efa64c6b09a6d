//! Where a vCPU's state travels in a VMM's UTCB: for each part, its UTCB word, where
//! the CPU keeps it (a VMCS field on VMX, a VMCB offset on SVM, a register of the
//! frame the kernel keeps) and the MTD bit that selects it.
//!
//! The kernel's state transfers (`vmx/state.rs`, `svm/state.rs`) walk these tables in
//! both directions and handle what does not fit a table (control registers with their
//! shadows, segment access rights, injection, the TSC) by hand. Keeping the tables here
//! lets host tests check what the two extensions must agree on: the same UTCB word is
//! selected by the same MTD bit on both, no two parts share a word, and every word lies
//! in the UTCB's state area.

use facet_abi::mtd;
use facet_abi::utcb as u;

use crate::utcb::Reg;

/// The general registers the kernel keeps in a vCPU's frame on both extensions, with
/// their UTCB offsets and MTD bits: all but RAX (in the VMCB on SVM, moved by hand on
/// VMX) and RSP (in the VMCB or VMCS).
pub const GPRS: [(usize, Reg, u32); 14] = [
    (u::RCX, Reg::Rcx, mtd::GPR_ACDB),
    (u::RDX, Reg::Rdx, mtd::GPR_ACDB),
    (u::RBX, Reg::Rbx, mtd::GPR_ACDB),
    (u::RBP, Reg::Rbp, mtd::GPR_BSD),
    (u::RSI, Reg::Rsi, mtd::GPR_BSD),
    (u::RDI, Reg::Rdi, mtd::GPR_BSD),
    (u::R8, Reg::R8, mtd::GPR_R8_R15),
    (u::R8 + 8, Reg::R9, mtd::GPR_R8_R15),
    (u::R8 + 16, Reg::R10, mtd::GPR_R8_R15),
    (u::R8 + 24, Reg::R11, mtd::GPR_R8_R15),
    (u::R8 + 32, Reg::R12, mtd::GPR_R8_R15),
    (u::R8 + 40, Reg::R13, mtd::GPR_R8_R15),
    (u::R8 + 48, Reg::R14, mtd::GPR_R8_R15),
    (u::R8 + 56, Reg::R15, mtd::GPR_R8_R15),
];

/// VMCS field encodings (Intel SDM volume 3, appendix B) of the guest state the VMX
/// table names.
pub mod vmcs {
    pub const GUEST_PAT: u64 = 0x2804;
    pub const GUEST_EFER: u64 = 0x2806;
    pub const GUEST_SYSENTER_CS: u64 = 0x482a;
    pub const GUEST_CR3: u64 = 0x6802;
    pub const GUEST_DR7: u64 = 0x681a;
    pub const GUEST_RSP: u64 = 0x681c;
    pub const GUEST_RIP: u64 = 0x681e;
    pub const GUEST_RFLAGS: u64 = 0x6820;
    pub const GUEST_SYSENTER_ESP: u64 = 0x6824;
    pub const GUEST_SYSENTER_EIP: u64 = 0x6826;
}

/// VMCB state-save-area offsets (AMD64 APM volume 2, appendix B) the SVM tables name.
pub mod vmcb {
    pub const ES: u64 = 0x400;
    pub const CS: u64 = 0x410;
    pub const SS: u64 = 0x420;
    pub const DS: u64 = 0x430;
    pub const FS: u64 = 0x440;
    pub const GS: u64 = 0x450;
    pub const GDTR: u64 = 0x460;
    pub const LDTR: u64 = 0x470;
    pub const IDTR: u64 = 0x480;
    pub const TR: u64 = 0x490;
    pub const EFER: u64 = 0x4d0;
    pub const CR4: u64 = 0x548;
    pub const CR3: u64 = 0x550;
    pub const CR0: u64 = 0x558;
    pub const DR7: u64 = 0x560;
    pub const RFLAGS: u64 = 0x570;
    pub const RIP: u64 = 0x578;
    pub const RSP: u64 = 0x5d8;
    pub const RAX: u64 = 0x5f8;
    pub const STAR: u64 = 0x600;
    pub const LSTAR: u64 = 0x608;
    pub const SFMASK: u64 = 0x618;
    pub const KERNEL_GS_BASE: u64 = 0x620;
    pub const SYSENTER_CS: u64 = 0x628;
    pub const SYSENTER_ESP: u64 = 0x630;
    pub const SYSENTER_EIP: u64 = 0x638;
    pub const CR2: u64 = 0x640;
    pub const G_PAT: u64 = 0x668;
}

/// The VMX tables.
pub mod vmx {
    use super::{mtd, u, vmcs};

    /// UTCB offsets of the MSRs VMX switches on entry and exit (MTD SYSCALL_SWAPGS), in
    /// the order of the kernel's switched-MSR area.
    pub const SYSCALL_MSRS: [usize; 4] = [u::STAR, u::LSTAR, u::FMASK, u::KERNEL_GS_BASE];

    /// Segments: UTCB offset (selector, access rights, limit word; base word after it),
    /// VMCS segment number (0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS, 6 LDTR, 7 TR), MTD bit.
    pub const SEGS: [(usize, u64, u32); 8] = [
        (u::ES, 0, mtd::DS_ES),
        (u::CS, 1, mtd::CS_SS),
        (u::SS, 2, mtd::CS_SS),
        (u::DS, 3, mtd::DS_ES),
        (u::FS, 4, mtd::FS_GS),
        (u::GS, 5, mtd::FS_GS),
        (u::LDTR, 6, mtd::LDTR),
        (u::TR, 7, mtd::TR),
    ];

    /// Guest-state fields moved as they are: UTCB offset, VMCS field, MTD bit.
    pub const REGS: [(usize, u64, u32); 10] = [
        (u::RSP, vmcs::GUEST_RSP, mtd::RSP),
        (u::RIP, vmcs::GUEST_RIP, mtd::RIP_LEN),
        (u::RFLAGS, vmcs::GUEST_RFLAGS, mtd::RFLAGS),
        (u::CR3, vmcs::GUEST_CR3, mtd::CR),
        (u::DR7, vmcs::GUEST_DR7, mtd::DR),
        (u::EFER, vmcs::GUEST_EFER, mtd::EFER_PAT),
        (u::PAT, vmcs::GUEST_PAT, mtd::EFER_PAT),
        (u::SYSENTER_CS, vmcs::GUEST_SYSENTER_CS, mtd::SYSENTER),
        (u::SYSENTER_RSP, vmcs::GUEST_SYSENTER_ESP, mtd::SYSENTER),
        (u::SYSENTER_RIP, vmcs::GUEST_SYSENTER_EIP, mtd::SYSENTER),
    ];

    /// The UTCB words VMX moves by hand under the MTD bit given: RAX from the frame,
    /// CR0, CR2 and CR4 with their shadows, the descriptor-table registers.
    pub const BY_HAND: [(usize, u32); 6] = [
        (u::RAX, mtd::GPR_ACDB),
        (u::CR0, mtd::CR),
        (u::CR2, mtd::CR),
        (u::CR4, mtd::CR),
        (u::GDTR, mtd::GDTR),
        (u::IDTR, mtd::IDTR),
    ];

    /// A VMX access-rights field in the UTCB's 12-bit form (as on SVM): bits 7:0 and
    /// 15:12 of the field, the latter moved to 11:8; an unusable segment (bit 16) is 0.
    pub fn compress_ar(ar: u64) -> u64 {
        if ar & 0x1_0000 != 0 {
            0
        } else {
            (ar & 0xff) | ((ar >> 4) & 0xf00)
        }
    }

    /// The VMX access-rights field for the UTCB's 12-bit form `c` (bits 11:0 looked at):
    /// 0 is an unusable segment.
    pub fn expand_ar(c: u64) -> u64 {
        let c = c & 0xfff;
        if c == 0 {
            0x1_0000
        } else {
            (c & 0xff) | ((c & 0xf00) << 4)
        }
    }

    /// The activity state a VMM may enter a guest in: active (0) or HLT (1). In shutdown
    /// (2) and wait-for-SIPI (3) the CPU ignores interrupts, and in wait-for-SIPI also
    /// NMIs and the preemption timer, so neither a recall nor a TLB shootdown could get
    /// it out of the guest (and a shootdown waiting for it would stop every CPU): those
    /// run as HLT, which keeps the guest as still (it only wakes for an event its VMM
    /// injects) and which every exit the kernel needs leaves.
    pub fn activity_state(wanted: u64) -> u64 {
        match wanted & 0x3 {
            0 => 0,
            _ => 1,
        }
    }
}

/// The SVM tables.
pub mod svm {
    use super::{mtd, u, vmcb};

    /// Segments and descriptor-table registers in UTCB order: UTCB offset (selector,
    /// attributes, limit word; base word after it), VMCB offset, MTD bit.
    pub const SEGS: [(usize, u64, u32); 10] = [
        (u::ES, vmcb::ES, mtd::DS_ES),
        (u::DS, vmcb::DS, mtd::DS_ES),
        (u::FS, vmcb::FS, mtd::FS_GS),
        (u::GS, vmcb::GS, mtd::FS_GS),
        (u::CS, vmcb::CS, mtd::CS_SS),
        (u::SS, vmcb::SS, mtd::CS_SS),
        (u::TR, vmcb::TR, mtd::TR),
        (u::LDTR, vmcb::LDTR, mtd::LDTR),
        (u::GDTR, vmcb::GDTR, mtd::GDTR),
        (u::IDTR, vmcb::IDTR, mtd::IDTR),
    ];

    /// VMCB registers moved as they are: UTCB offset, VMCB offset, MTD bit.
    pub const REGS: [(usize, u64, u32); 18] = [
        (u::RAX, vmcb::RAX, mtd::GPR_ACDB),
        (u::RSP, vmcb::RSP, mtd::RSP),
        (u::RIP, vmcb::RIP, mtd::RIP_LEN),
        (u::RFLAGS, vmcb::RFLAGS, mtd::RFLAGS),
        (u::CR0, vmcb::CR0, mtd::CR),
        (u::CR2, vmcb::CR2, mtd::CR),
        (u::CR3, vmcb::CR3, mtd::CR),
        (u::CR4, vmcb::CR4, mtd::CR),
        (u::DR7, vmcb::DR7, mtd::DR),
        (u::EFER, vmcb::EFER, mtd::EFER_PAT),
        (u::PAT, vmcb::G_PAT, mtd::EFER_PAT),
        (u::SYSENTER_CS, vmcb::SYSENTER_CS, mtd::SYSENTER),
        (u::SYSENTER_RSP, vmcb::SYSENTER_ESP, mtd::SYSENTER),
        (u::SYSENTER_RIP, vmcb::SYSENTER_EIP, mtd::SYSENTER),
        (u::STAR, vmcb::STAR, mtd::SYSCALL_SWAPGS),
        (u::LSTAR, vmcb::LSTAR, mtd::SYSCALL_SWAPGS),
        (u::FMASK, vmcb::SFMASK, mtd::SYSCALL_SWAPGS),
        (u::KERNEL_GS_BASE, vmcb::KERNEL_GS_BASE, mtd::SYSCALL_SWAPGS),
    ];
}

pub mod start;

#[cfg(test)]
mod tests;
