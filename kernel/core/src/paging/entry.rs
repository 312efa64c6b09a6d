//! The format of one paging-structure entry and of the four table levels.
//!
//! Bit positions are those of the Intel SDM (vol. 3A, "4-Level Paging") and the AMD APM
//! (vol. 2, "Long-Mode Page Translation"); both vendors agree on every bit used here.

use super::{Attrs, PageSize};

/// One 8-byte entry of a PML4, PDPT, PD or PT.
///
/// The same bits mean different things at different levels: bit 7 is the page-size flag
/// (PS) in PDPT and PD entries, the PAT bit in PT entries and reserved in PML4 entries. An
/// `Entry` does not know its level, so [`Entry::huge`] is only meaningful for PDPT and PD
/// entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry(pub u64);

impl Entry {
    /// Not present: every other bit is ignored by the processor.
    pub const EMPTY: Entry = Entry(0);
    /// P: the entry is used for translation.
    pub const PRESENT: u64 = 1 << 0;
    /// R/W: writes are allowed (at every level on the path).
    pub const WRITABLE: u64 = 1 << 1;
    /// U/S: user-mode accesses are allowed (at every level on the path).
    pub const USER: u64 = 1 << 2;
    /// PWT: write-through caching.
    pub const WRITE_THROUGH: u64 = 1 << 3;
    /// PCD: caching disabled.
    pub const CACHE_DISABLE: u64 = 1 << 4;
    /// A: set by the processor when the entry is used.
    pub const ACCESSED: u64 = 1 << 5;
    /// D: set by the processor when the page is written (leaves only).
    pub const DIRTY: u64 = 1 << 6;
    /// PS: this PDPT or PD entry maps a 1 GiB or 2 MiB page instead of a table.
    pub const HUGE: u64 = 1 << 7;
    /// PAT: in a PT entry, bit 7 selects the PAT entry together with PCD and PWT.
    pub const PAT_4K: u64 = 1 << 7;
    /// G: the translation survives CR3 reloads (leaves only).
    pub const GLOBAL: u64 = 1 << 8;
    /// PAT: in a 1 GiB or 2 MiB leaf the PAT bit moves to bit 12.
    pub const PAT_HUGE: u64 = 1 << 12;
    /// XD/NX: instruction fetches are not allowed (needs EFER.NXE, else the bit is reserved).
    pub const NO_EXECUTE: u64 = 1 << 63;
    /// Bits 51:12, the physical address of a table or of a 4 KiB page.
    pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
    /// Bits 61:52 of an entry that points at a table: how many entries of that table are
    /// present (0 to 512), kept by this module so that a table can go as its last entry
    /// does. Every reader ignores these bits in such an entry: the processor (bits 62:52
    /// of PML4, PDPT and PD entries that reference a table), AMD's nested paging (the
    /// same format), EPT (bits 63:52) and the IOMMU's second-level tables (bits 63:52).
    pub const COUNT_MASK: u64 = 0x3ff << 52;
    const COUNT_SHIFT: u32 = 52;
    /// Bit 62 of an entry that points at a table (ignored there by every reader, as the
    /// count is): the table stays even when its last entry goes, because something
    /// outside the table hierarchy names it (a 3-level IOMMU domain starts at a PDPT).
    pub const PINNED: u64 = 1 << 62;

    /// Whether P is set.
    pub const fn present(self) -> bool {
        self.0 & Self::PRESENT != 0
    }

    /// Whether R/W is set.
    pub const fn writable(self) -> bool {
        self.0 & Self::WRITABLE != 0
    }

    /// Whether U/S is set.
    pub const fn user(self) -> bool {
        self.0 & Self::USER != 0
    }

    /// Whether PS is set (a huge leaf, for PDPT and PD entries only; see the type's docs).
    pub const fn huge(self) -> bool {
        self.0 & Self::HUGE != 0
    }

    /// Whether the execute-disable bit is set.
    pub const fn nx(self) -> bool {
        self.0 & Self::NO_EXECUTE != 0
    }

    /// Whether G is set.
    pub const fn global(self) -> bool {
        self.0 & Self::GLOBAL != 0
    }

    /// Whether PCD is set, i.e. the page is not cached (UC- or UC with the default PAT).
    pub const fn uncached(self) -> bool {
        self.0 & Self::CACHE_DISABLE != 0
    }

    /// Bits 51:12: the next table's address, or the frame of a 4 KiB leaf.
    pub const fn addr(self) -> u64 {
        self.0 & Self::ADDR_MASK
    }

    /// For an entry that points at a table: the number of present entries in that table
    /// ([`Entry::COUNT_MASK`]).
    pub const fn count(self) -> u64 {
        (self.0 & Self::COUNT_MASK) >> Self::COUNT_SHIFT
    }

    /// Whether this entry's table stays when it empties ([`Entry::PINNED`]).
    pub const fn pinned(self) -> bool {
        self.0 & Self::PINNED != 0
    }

    /// The same table entry with count `n` (at most 1023; more is cut to ten bits).
    pub const fn with_count(self, n: u64) -> Entry {
        Entry((self.0 & !Self::COUNT_MASK) | ((n << Self::COUNT_SHIFT) & Self::COUNT_MASK))
    }

    /// The frame of a leaf of `size`: bits 51:12, 51:21 or 51:30. For huge leaves this
    /// leaves out bit 12 (PAT) and the reserved bits below the page boundary.
    pub const fn frame(self, size: PageSize) -> u64 {
        self.0 & Self::ADDR_MASK & !(size.bytes() - 1)
    }

    /// Every bit outside 51:12: the flags in 11:0 and 63:52 (of a table entry, its count
    /// too).
    pub const fn flags(self) -> u64 {
        self.0 & !Self::ADDR_MASK
    }

    /// An entry pointing at the table at `phys`, whose count of present entries is 0. It
    /// grants write access, and user access when `user`, because the leaves below decide
    /// the real rights; it never sets NX.
    pub const fn table(phys: u64, user: bool) -> Entry {
        let us = if user { Self::USER } else { 0 };
        Entry((phys & Self::ADDR_MASK) | Self::PRESENT | Self::WRITABLE | us)
    }

    /// A leaf mapping the `size` page at `phys` with `attrs`. Address bits that do not fit
    /// the entry (beyond 51, or below the page boundary) are dropped; [`super::PageTable`]
    /// rejects such addresses before it gets here.
    pub const fn leaf(phys: u64, size: PageSize, attrs: Attrs) -> Entry {
        let mut e = (phys & Self::ADDR_MASK & !(size.bytes() - 1)) | Self::PRESENT;
        if attrs.write {
            e |= Self::WRITABLE;
        }
        if attrs.user {
            e |= Self::USER;
        }
        if attrs.uncached {
            e |= Self::CACHE_DISABLE | Self::WRITE_THROUGH;
        }
        if attrs.global {
            e |= Self::GLOBAL;
        }
        if !attrs.execute {
            e |= Self::NO_EXECUTE;
        }
        if !matches!(size, PageSize::Size4K) {
            e |= Self::HUGE;
        }
        Entry(e)
    }

    /// This entry's own attributes, as if it were a leaf at the top of the walk.
    pub const fn attrs(self) -> Attrs {
        Attrs {
            write: self.writable(),
            execute: !self.nx(),
            user: self.user(),
            global: self.global(),
            uncached: self.uncached(),
        }
    }

    /// Whether two leaves map the same frame with the same attributes, ignoring the bits
    /// the processor sets on its own (accessed, dirty).
    pub(super) const fn same_leaf(self, other: Entry) -> bool {
        let hw = Self::ACCESSED | Self::DIRTY;
        self.0 & !hw == other.0 & !hw
    }
}

/// A level of the 4-level hierarchy: 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Level(u8);

impl Level {
    pub(super) const PML4: Level = Level(4);
    pub(super) const PT: Level = Level(1);

    /// The level whose entries are leaves of `size`.
    pub(super) const fn of(size: PageSize) -> Level {
        match size {
            PageSize::Size4K => Level(1),
            PageSize::Size2M => Level(2),
            PageSize::Size1G => Level(3),
        }
    }

    /// The lowest virtual-address bit this level's index covers.
    pub(super) const fn shift(self) -> u32 {
        12 + 9 * (self.0 as u32 - 1)
    }

    /// How much address space one entry of this level covers.
    pub(super) const fn span(self) -> u64 {
        1 << self.shift()
    }

    /// The byte offset of the entry for `virt` in a table of this level.
    pub(super) const fn offset(self, virt: u64) -> u64 {
        ((virt >> self.shift()) & 511) * 8
    }

    /// The level's number: 4 for the PML4 down to 1 for a PT.
    pub(super) const fn number(self) -> u8 {
        self.0
    }

    /// The level above; the PML4 has none, and stays put.
    pub(super) const fn up(self) -> Level {
        if self.0 < 4 {
            Level(self.0 + 1)
        } else {
            self
        }
    }

    /// The level below; the PT level has none, and stays put so callers cannot underflow.
    pub(super) const fn down(self) -> Level {
        if self.0 > 1 {
            Level(self.0 - 1)
        } else {
            self
        }
    }

    /// The page size of a leaf at this level, if this level can hold leaves.
    pub(super) const fn page_size(self) -> Option<PageSize> {
        match self.0 {
            1 => Some(PageSize::Size4K),
            2 => Some(PageSize::Size2M),
            3 => Some(PageSize::Size1G),
            _ => None,
        }
    }

    /// The page size if the present entry `e` of this level is a leaf, `None` if it points
    /// at a table. PT entries are always leaves (bit 7 is PAT there); PML4 entries never
    /// are (bit 7 is reserved there, so it is ignored).
    pub(super) const fn leaf_size(self, e: Entry) -> Option<PageSize> {
        match self.0 {
            1 => Some(PageSize::Size4K),
            2 | 3 if e.huge() => self.page_size(),
            _ => None,
        }
    }
}
