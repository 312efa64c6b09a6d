//! The state a new vCPU starts from, which its start-up message reports: the reference's,
//! not the architectural state after reset. A VMM written for the reference sets what it
//! needs in its start-up reply and relies on the rest being zero (a CS base of 0, say).
//!
//! The facts, from the reference's code (API 4.3): its VMCB constructor sets only EFER
//! (SVME), the guest PAT (the power-on value), virtual interrupt masking, the ASID and
//! the intercepts; its VMCS constructor writes no guest-state field, so every one reads
//! zero; every vCPU's XCR0 starts as x87 only; CR0 and CR4 are reported through their
//! shadows, which start at zero. So every register an MTD carries starts at zero, but
//! for these:
//!
//! - EFER on SVM: SVME, which VMRUN requires. The reference reports it, and so does
//!   Facet (a VMM hides it from its guest's RDMSR); the kernel keeps it set whatever a
//!   VMM writes.
//! - PAT on SVM: the power-on value, which the reference's SVM guests run with (its SVM
//!   path carries no PAT; Facet's does, and reports it). On VMX the PAT is 0.
//! - XCR0: x87 only (bit 0 must be set).
//!
//! Where the zero state is not enterable the kernel keeps what the CPU requires and the
//! start-up message leaves it out: VMX's fixed CR0 and CR4 bits (always, through the
//! shadows), and what [`vmx`] lists.

/// EFER on SVM: SVME.
pub const SVM_EFER: u64 = 1 << 12;
/// The guest PAT on SVM: the power-on value.
pub const SVM_PAT: u64 = 0x0007_0406_0007_0406;
/// The guest's XCR0: x87 only.
pub const XCR0: u64 = 1;
/// DR6, which no MTD carries (neither extension's message has it): as a reset leaves
/// it, no debug condition recorded, the reserved bits that read as 1 set.
pub const DR6: u64 = 0xffff_0ff0;

/// What VMX refuses to enter in the zero state, which a new VMCS holds instead: RFLAGS
/// bit 1 (reserved, must be set), and access rights that make CS a present, accessed
/// code segment, SS, DS, ES, FS and GS present, accessed read/write data segments (as
/// real mode after INIT has them: VMX checks that usable ones are), TR a busy TSS, and
/// LDTR unusable. Selectors, bases and limits stay zero. The start-up message reports
/// RFLAGS without bit 1 and every segment's rights as 0; after the first entry, the
/// reports are what the CPU holds.
pub mod vmx {
    /// The RFLAGS bit VM entry requires.
    pub const RFLAGS: u64 = 1 << 1;

    /// VMCS access-rights fields by VMCS segment number (ES, CS, SS, DS, FS, GS, LDTR,
    /// TR).
    pub const AR: [u64; 8] = [0x93, 0x9b, 0x93, 0x93, 0x93, 0x93, 0x1_0000, 0x8b];

    /// RFLAGS as a start-up message reports it.
    pub const fn reported_rflags(rflags: u64) -> u64 {
        rflags & !RFLAGS
    }

    /// A segment's first UTCB word (selector, access rights at bits 31:16, limit) as a
    /// start-up message reports it: without the rights.
    pub const fn reported_segment(word: u64) -> u64 {
        word & !(0xffff << 16)
    }
}

#[cfg(test)]
mod tests;
