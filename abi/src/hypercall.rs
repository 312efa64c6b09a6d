//! Hypercall numbers and the layout of their first argument.
//!
//! A hypercall is a `syscall` instruction with ARG1..ARG5 in RDI, RSI, RDX, RAX and R8.
//! ARG1 bits 3:0 select the hypercall, bits 7:4 carry flags or a sub-operation and bits
//! 63:8 usually a capability selector. Results come back in RDI (status in bits 7:0) and,
//! for some hypercalls, RSI, RDX and RAX (`docs/hypercalls.md`).

/// Hypercall numbers (ARG1 bits 3:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Hypercall {
    /// Call a portal.
    Call = 0,
    /// Reply to the caller and wait for the next message.
    Reply = 1,
    /// Create a protection domain.
    CreatePd = 2,
    /// Create an execution context.
    CreateEc = 3,
    /// Create a scheduling context.
    CreateSc = 4,
    /// Create a portal.
    CreatePt = 5,
    /// Create a semaphore.
    CreateSm = 6,
    /// Revoke capabilities.
    Revoke = 7,
    /// Protection domain control (lookup, map_access_page, delegate, msr_access).
    PdCtrl = 8,
    /// Execution context control (recall).
    EcCtrl = 9,
    /// Scheduling context control (consumed time).
    ScCtrl = 10,
    /// Portal control (set the portal id).
    PtCtrl = 11,
    /// Semaphore control (up, down).
    SmCtrl = 12,
    /// Assign a PCI device to a PD's device page table.
    AssignPci = 13,
    /// Route a global system interrupt to a semaphore.
    AssignGsi = 14,
    /// Machine control (suspend, update_microcode).
    MachineCtrl = 15,
}

impl Hypercall {
    /// Decodes ARG1 bits 3:0. Every 4-bit value names a hypercall.
    pub fn from_arg1(arg1: u64) -> Hypercall {
        match arg1 & 0xf {
            0 => Hypercall::Call,
            1 => Hypercall::Reply,
            2 => Hypercall::CreatePd,
            3 => Hypercall::CreateEc,
            4 => Hypercall::CreateSc,
            5 => Hypercall::CreatePt,
            6 => Hypercall::CreateSm,
            7 => Hypercall::Revoke,
            8 => Hypercall::PdCtrl,
            9 => Hypercall::EcCtrl,
            10 => Hypercall::ScCtrl,
            11 => Hypercall::PtCtrl,
            12 => Hypercall::SmCtrl,
            13 => Hypercall::AssignPci,
            14 => Hypercall::AssignGsi,
            _ => Hypercall::MachineCtrl,
        }
    }
}

/// ARG1 bits 7:4: flags or sub-operation.
pub fn arg1_flags(arg1: u64) -> u64 {
    (arg1 >> 4) & 0xf
}

/// ARG1 bits 63:8: a capability selector for most hypercalls.
pub fn arg1_selector(arg1: u64) -> u64 {
    arg1 >> 8
}

/// Builds ARG1 from a hypercall, its flags (4 bits) and a selector.
pub const fn arg1(hypercall: Hypercall, flags: u64, selector: u64) -> u64 {
    (hypercall as u64) | ((flags & 0xf) << 4) | (selector << 8)
}

/// `pd_ctrl` sub-operations (ARG1 bits 5:4).
pub mod pd_ctrl {
    /// Look up a capability range.
    pub const LOOKUP: u64 = 0;
    /// Map the APIC access page.
    pub const MAP_ACCESS_PAGE: u64 = 1;
    /// Delegate capabilities from one PD to another.
    pub const DELEGATE: u64 = 2;
    /// Read or write a model-specific register (pass-through PDs only).
    pub const MSR_ACCESS: u64 = 3;
    /// With [`MSR_ACCESS`], in the same field (ARG1 bit 6): write ARG2 instead of reading.
    pub const MSR_WRITE: u64 = 1 << 2;
}

/// `ec_ctrl` sub-operations (ARG1 bits 5:4).
pub mod ec_ctrl {
    /// Recall the EC (the only sub-operation; the others answer BAD_PAR).
    pub const RECALL: u64 = 0;
}

/// `machine_ctrl` sub-operations (ARG1 bits 5:4; pass-through PDs only).
pub mod machine_ctrl {
    /// Enter an ACPI sleep state (the reference's).
    pub const SUSPEND: u64 = 0;
    /// Load a microcode update (the reference's).
    pub const UPDATE_MICROCODE: u64 = 1;
    /// Not defined: BAD_PAR, as in the reference.
    pub const RESERVED: u64 = 2;
    /// Facet's own: the kernel's statistics, which ARG2 selects ([`STATS_POOL`],
    /// [`STATS_IOMMU_FAULTS`], [`STATS_FRAMES`], [`STATS_OBJECTS`], [`STATS_PD`],
    /// [`STATS_TIMER`]; others answer BAD_PAR). (The reference answers BAD_PAR here.) For
    /// leak tests, the IOMMU's tests and monitoring. Every statistic of the pool is read
    /// after every object whose last reference went away has been freed.
    pub const FACET_STATS: u64 = 3;
    /// ARG2 of [`FACET_STATS`]: the kernel pool's free and total frames in OUT2 and
    /// OUT3. Free frames include the object frames kept for reuse ([`frames::KEPT`]).
    pub const STATS_POOL: u64 = 0;
    /// ARG2 of [`FACET_STATS`]: the faults the IOMMU's units recorded since boot in
    /// OUT2, the last one's requester, reason and kind in OUT3 and its address or
    /// interrupt index in OUT4 (`args::IommuFaultsOut`).
    pub const STATS_IOMMU_FAULTS: u64 = 1;
    /// ARG2 of [`FACET_STATS`]: where the pool's frames are. ARG3 names one use of them
    /// ([`frames`]): OUT2 its frames, OUT3 the number of uses ([`frames::COUNT`]); an
    /// ARG3 of [`frames::COUNT`] or more answers BAD_PAR. The pool's total is its free
    /// frames ([`STATS_POOL`], which count [`frames::KEPT`] too) plus every other use.
    pub const STATS_FRAMES: u64 = 2;
    /// ARG2 of [`FACET_STATS`]: kernel objects of the kind ARG3 names ([`objects`]):
    /// OUT2 those alive; OUT3 for SCs the most alive at once since boot (their slot
    /// frames stay with them, [`frames::SC_SLOTS`], as many as that many need), 0 for the
    /// other kinds; BAD_PAR for another kind.
    pub const STATS_OBJECTS: u64 = 3;
    /// ARG2 of [`FACET_STATS`]: the frames of the PD whose capability is at selector
    /// ARG3 of the caller (BAD_CAP if there is none), in the part ARG4 names
    /// ([`pd_frames`]; BAD_PAR for another): OUT2.
    pub const STATS_PD: u64 = 4;

    /// ARG3 of [`STATS_FRAMES`]: what the kernel pool's frames are used for.
    pub mod frames {
        /// Execution contexts: a frame each.
        pub const EC: u64 = 0;
        /// Slots of PDs, portals and semaphores: 31 to a frame, which goes back to the
        /// pool with its last object.
        pub const SLOTS: u64 = 1;
        /// Slots of scheduling contexts, 31 to a frame, which stays with them for good:
        /// at most as many as the most SCs alive at once need.
        pub const SC_SLOTS: u64 = 2;
        /// Frames of freed objects kept for the next ones (at most 64); counted as free
        /// by [`super::STATS_POOL`].
        pub const KEPT: u64 = 3;
        /// UTCBs of execution contexts and virtual-APIC pages of vCPUs.
        pub const UTCBS: u64 = 4;
        /// vCPU control blocks (VMCB, or VMCS with its side pages).
        pub const VCPUS: u64 = 5;
        /// Host page tables of every PD, roots included.
        pub const HOST_TABLES: u64 = 6;
        /// Guest (nested) page tables of every PD.
        pub const GUEST_TABLES: u64 = 7;
        /// Device (DMA) page tables of every PD.
        pub const DEVICE_TABLES: u64 = 8;
        /// Capability tables: every PD's object and port spaces.
        pub const CAP_TABLES: u64 = 9;
        /// The rest of each PD: its I/O permission bitmap (two frames) and its vCPUs'
        /// APIC-access page.
        pub const PD_OTHER: u64 = 10;
        /// The kernel's own page table: the direct map, the kernel image, stacks and
        /// device registers.
        pub const KERNEL_TABLES: u64 = 11;
        /// Per CPU: stacks, descriptor tables, the SVM host save areas and VMX regions;
        /// and the SVM permission maps all vCPUs share.
        pub const PER_CPU: u64 = 12;
        /// What boot made for good: the HIP.
        pub const BOOT: u64 = 13;
        /// The IOMMU's root, context and interrupt-remapping tables, its device map and
        /// the kernel's own DMA domain.
        pub const IOMMU: u64 = 14;
        /// The machine's own state: the microcode update in force, kept for a resume from
        /// S3, and each CPU's FPU save area while a suspend is under way.
        pub const MACHINE: u64 = 15;
        /// The number of uses.
        pub const COUNT: u64 = 16;
    }

    /// ARG3 of [`STATS_OBJECTS`]: the kinds of kernel objects.
    pub mod objects {
        pub const PD: u64 = 0;
        pub const EC: u64 = 1;
        pub const SC: u64 = 2;
        pub const PT: u64 = 3;
        pub const SM: u64 = 4;
        /// The number of kinds.
        pub const COUNT: u64 = 5;
    }

    /// ARG4 of [`STATS_PD`]: the parts of a PD's frames.
    pub mod pd_frames {
        /// Its host page table, root included.
        pub const HOST: u64 = 0;
        /// Its guest page table (0 frames until a vCPU or a delegation needs one).
        pub const GUEST: u64 = 1;
        /// Its device page table (0 frames until a delegation needs one).
        pub const DEVICE: u64 = 2;
        /// Its object space.
        pub const OBJECT_SPACE: u64 = 3;
        /// Its port space.
        pub const PORT_SPACE: u64 = 4;
        /// Its I/O permission bitmap and APIC-access page.
        pub const OTHER: u64 = 5;
        /// The number of parts.
        pub const COUNT: u64 = 6;
    }
    /// ARG2 of [`FACET_STATS`]: the timer interrupts the CPU numbered ARG3 took since
    /// boot, in OUT2 (`args::TimerStatsOut`; BAD_PAR for a CPU that is not online). With
    /// no periodic tick, an idle CPU with nothing timed takes none.
    pub const STATS_TIMER: u64 = 5;
}

/// Transfer kinds (metadata bits 1:0 of a typed item or of `pd_ctrl delegate`).
pub mod xfer {
    /// Translate: name the receiver's own capability for the sent one.
    pub const TRANSLATE: u64 = 0;
    /// Delegate: copy the capabilities into the receiver's window.
    pub const DELEGATE: u64 = 1;
    /// Translate, and delegate if there is nothing to translate.
    pub const TRANS_DELEGATE: u64 = 2;
}

/// `call` flags (ARG1 bits 7:4).
pub mod call {
    /// Fail at once instead of waiting for a busy handler.
    pub const DISABLE_BLOCKING: u64 = 1 << 0;
    /// Do not lend the caller's scheduling context.
    pub const DISABLE_DONATION: u64 = 1 << 1;
    /// Do not give the handler a reply capability.
    pub const DISABLE_REPLYCAP: u64 = 1 << 2;
}

/// Delegate flags (the hotspot-free part of a typed item's metadata, ARG4 of
/// `pd_ctrl delegate`).
pub mod delegate {
    /// Bit 8 set: do NOT map into the host page table (the reference inverts this bit).
    pub const NOT_HOST: u64 = 1 << 8;
    /// Bit 9: map into the device (DMA) page table.
    pub const DEVICE: u64 = 1 << 9;
    /// Bit 10: map into the guest page table.
    pub const GUEST: u64 = 1 << 10;
    /// Bit 11: the source is the kernel itself (only for privileged PDs).
    pub const HYPERVISOR: u64 = 1 << 11;
}

#[cfg(test)]
mod tests;
