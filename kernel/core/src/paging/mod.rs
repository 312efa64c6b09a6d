//! x86-64 4-level page tables, built and inspected through [`PhysMem`](crate::phys::PhysMem).
//!
//! A [`PageTable`] is a PML4 frame; PDPTs, PDs and PTs are allocated on demand from a
//! [`FrameSource`]. Leaves are 4 KiB, 2 MiB or 1 GiB pages; virtual addresses are 48-bit
//! canonical and physical addresses at most 52 bits (the architectural limit; the CPU's
//! own MAXPHYADDR may be lower and is the caller's to check).
//!
//! Invariants this module keeps, and which the kernel's W^X check relies on:
//! - Rights live in the leaves. Intermediate entries this module writes are writable and
//!   never NX, and gain US once a user leaf is mapped below them (they keep it), so the
//!   effective rights of a page are those of its leaf. [`PageTable::translate`] and
//!   [`PageTable::for_each_leaf`] still combine every level, so entries written by
//!   anyone else are judged by what the CPU would do.
//! - A present leaf is never silently changed: [`PageTable::map`] only fills empty slots
//!   (or accepts an identical leaf); replacing or removing takes [`PageTable::remap`] or
//!   [`PageTable::unmap`].
//! - Every entry that points at a table counts that table's present entries (in bits the
//!   hardware ignores there), and a table whose last entry goes is unlinked and handed
//!   back to the frame source (`count.rs`): a user address space holds only the tables
//!   its mappings need.
//! - Argument errors are found before anything is written. Only running out of frames can
//!   stop an operation midway, and then what remains is spelled out on each method.
//!
//! Nothing here flushes TLBs; each method says what its caller must invalidate.

mod count;
mod edit;
mod entry;
#[cfg(test)]
mod tests;
mod walk;

pub use entry::Entry;

use crate::phys::FrameSource;

/// Bytes in a small page.
pub const PAGE_4K: u64 = 1 << 12;
/// Bytes in a page mapped by a PD entry.
pub const PAGE_2M: u64 = 1 << 21;
/// Bytes in a page mapped by a PDPT entry.
pub const PAGE_1G: u64 = 1 << 30;
/// One past the highest physical address an entry can hold (52 address bits).
pub const PHYS_LIMIT: u64 = 1 << 52;
/// Entries in every table.
pub const ENTRIES: usize = 512;

/// The PML4 slot that translates `virt`; e.g. 256 for the start of the upper half.
pub const fn pml4_index(virt: u64) -> usize {
    ((virt >> 39) & 511) as usize
}

/// Whether `virt` is canonical for 4-level paging: bits 63:47 all equal.
pub const fn is_canonical(virt: u64) -> bool {
    (((virt << 16) as i64) >> 16) as u64 == virt
}

/// The size of a leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageSize {
    /// 4 KiB, mapped by a PT entry.
    Size4K,
    /// 2 MiB, mapped by a PD entry with PS set.
    Size2M,
    /// 1 GiB, mapped by a PDPT entry with PS set (needs CPUID.80000001H:EDX.Page1GB).
    Size1G,
}

impl PageSize {
    /// The page's length in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => PAGE_4K,
            PageSize::Size2M => PAGE_2M,
            PageSize::Size1G => PAGE_1G,
        }
    }
}

/// What a mapping allows. Execute-disable is set whenever `execute` is false, so EFER.NXE
/// must be on before such a table is loaded (otherwise bit 63 is reserved and faults).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Attrs {
    /// Writes allowed (R/W).
    pub write: bool,
    /// Instruction fetches allowed (no XD/NX).
    pub execute: bool,
    /// User-mode access allowed (U/S).
    pub user: bool,
    /// The translation survives CR3 switches (G); for kernel mappings shared by all spaces.
    pub global: bool,
    /// Not cached: PCD and PWT, which select UC with the default PAT.
    pub uncached: bool,
}

/// Why a mapping was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// An address or length is not a multiple of the page size.
    Misaligned,
    /// A virtual address is not canonical, or a range crosses the non-canonical hole or
    /// wraps around the top of the address space.
    NonCanonical,
    /// The slot holds a leaf with a different target or attributes, a huge page covers the
    /// address, or a table sits where a huge leaf should go.
    AlreadyMapped,
    /// The frame source ran dry.
    OutOfMemory,
    /// A physical address does not fit in 52 bits.
    AddressTooLarge,
}

/// The rights accumulated along a walk: an access must be allowed at every level.
#[derive(Clone, Copy)]
struct Rights {
    write: bool,
    user: bool,
    execute: bool,
}

impl Rights {
    const ALL: Rights = Rights {
        write: true,
        user: true,
        execute: true,
    };

    /// The rights left after passing through `e`.
    fn through(self, e: Entry) -> Rights {
        Rights {
            write: self.write && e.writable(),
            user: self.user && e.user(),
            execute: self.execute && !e.nx(),
        }
    }

    /// The effective attributes of `leaf` reached with these rights (its own included).
    /// Caching and G come from the leaf alone: in non-leaf entries PCD/PWT only govern
    /// fetching the next table, and G is ignored.
    fn attrs(self, leaf: Entry) -> Attrs {
        Attrs {
            write: self.write,
            execute: self.execute,
            user: self.user,
            global: leaf.global(),
            uncached: leaf.uncached(),
        }
    }
}

/// A 4-level page table rooted at physical address `root` (the PML4 frame).
///
/// The value is only a handle: copying the address does not copy the tables, and the
/// tables are freed explicitly with [`PageTable::free_tables`].
#[derive(Debug, PartialEq, Eq)]
pub struct PageTable {
    /// Physical address of the PML4, as loaded into CR3 (without PCID bits).
    pub root: u64,
}

impl PageTable {
    /// An empty table: one zeroed PML4 frame. `None` when no frame is left.
    pub fn new(frames: &mut impl FrameSource) -> Option<PageTable> {
        frames.alloc_zeroed().map(|root| PageTable { root })
    }
}
