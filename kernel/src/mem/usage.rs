//! What the kernel pool's frames are used for: one counter per use, kept by every
//! allocation and free of the pool (`frames::alloc_zeroed`, `frames::free`), so that
//! `machine_ctrl`'s statistics say where every frame is. Object frames are not counted
//! here: their figures come from the objects and the slot allocators (`obj::live`,
//! `mem::slots::frames`).

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hypercall::machine_ctrl::frames as item;

/// A use of pool frames that is not a kernel object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// UTCBs and virtual-APIC pages.
    Utcbs,
    /// vCPU control blocks.
    Vcpus,
    /// Host page tables of the Pds.
    HostTables,
    /// Guest page tables of the Pds.
    GuestTables,
    /// Device page tables of the Pds.
    DeviceTables,
    /// Object and port spaces.
    CapTables,
    /// I/O bitmaps and APIC-access pages of the Pds.
    PdOther,
    /// The kernel's own page table.
    KernelTables,
    /// Per-CPU structures (and the SVM permission maps).
    PerCpu,
    /// What boot made for good (the HIP).
    Boot,
    /// The IOMMU's tables and device map.
    Iommu,
    /// The microcode update kept for resume, FPU save areas during a suspend.
    Machine,
}

const USES: usize = 12;

impl Use {
    /// Every use, in the order of [`Use::index`].
    const ALL: [Use; USES] = [
        Use::Utcbs,
        Use::Vcpus,
        Use::HostTables,
        Use::GuestTables,
        Use::DeviceTables,
        Use::CapTables,
        Use::PdOther,
        Use::KernelTables,
        Use::PerCpu,
        Use::Boot,
        Use::Iommu,
        Use::Machine,
    ];

    const fn index(self) -> usize {
        self as usize
    }

    /// The interface's name for it (`machine_ctrl::frames`).
    const fn item(self) -> u64 {
        match self {
            Use::Utcbs => item::UTCBS,
            Use::Vcpus => item::VCPUS,
            Use::HostTables => item::HOST_TABLES,
            Use::GuestTables => item::GUEST_TABLES,
            Use::DeviceTables => item::DEVICE_TABLES,
            Use::CapTables => item::CAP_TABLES,
            Use::PdOther => item::PD_OTHER,
            Use::KernelTables => item::KERNEL_TABLES,
            Use::PerCpu => item::PER_CPU,
            Use::Boot => item::BOOT,
            Use::Iommu => item::IOMMU,
            Use::Machine => item::MACHINE,
        }
    }

    /// The use the interface calls `item`, if it is one of these.
    pub fn of_item(item: u64) -> Option<Use> {
        Use::ALL.into_iter().find(|u| u.item() == item)
    }

    /// Whether frames of this use are page tables some processor or the IOMMU may still
    /// cache after they are unlinked (so they wait for a flush before they go back).
    pub const fn walked_by_hardware(self) -> bool {
        matches!(
            self,
            Use::HostTables | Use::GuestTables | Use::DeviceTables | Use::KernelTables
        )
    }
}

static IN_USE: [AtomicU64; USES] = [const { AtomicU64::new(0) }; USES];

/// `frames` more frames are used for `of`.
#[inline]
pub fn add(of: Use, frames: u64) {
    IN_USE[of.index()].fetch_add(frames, Ordering::Relaxed);
}

/// `frames` frames used for `of` went back to the pool.
#[inline]
pub fn sub(of: Use, frames: u64) {
    IN_USE[of.index()].fetch_sub(frames, Ordering::Relaxed);
}

/// Frames used for `of` now.
pub fn frames(of: Use) -> u64 {
    IN_USE[of.index()].load(Ordering::Relaxed)
}
