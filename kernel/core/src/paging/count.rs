//! How many entries each table holds, so that a table goes when its last entry does.
//!
//! Every entry that points at a table (a PML4, PDPT or PD entry) keeps the number of
//! present entries of that table in bits the hardware ignores there
//! ([`Entry::COUNT_MASK`]). Whoever makes an entry present or not present on a walk
//! adjusts the count in the entry above; a table whose count drops to 0 is unlinked and
//! handed back to the frame source, and its own removal counts against the table above,
//! up to (never including) the root. The root has no entry above it and stays while the
//! address space does, and so does a table whose entry is pinned ([`Entry::PINNED`],
//! which [`super::PageTable::populate_top_level`] sets).
//!
//! The kernel half of an address space (PML4 slots 256 to 511) is shared: every space
//! copies the kernel's PML4 entries, so a table there is never unlinked from one of them
//! (counts are kept all the same).

use super::entry::Level;
use super::Entry;
use crate::phys::{FrameSource, PhysMem};

/// The first PML4 slot of the (shared) kernel half.
const KERNEL_HALF: u64 = 256;

/// The entries one walk went through: `entry[l]` is the address of the entry of the
/// level-`l` table (4 = PML4 ... 1 = PT) on the way to an address, 0 where the walk
/// stopped above that level.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Path {
    root: u64,
    entry: [u64; 5],
}

impl Path {
    /// A walk from the PML4 at `root`.
    pub(super) const fn new(root: u64) -> Path {
        Path {
            root,
            entry: [0; 5],
        }
    }

    /// The walk used the entry at `addr` of the table at `level`.
    pub(super) fn at(&mut self, level: Level, addr: u64) {
        self.entry[level.number() as usize] = addr;
    }

    /// The entry that points at the table of `level`, unless that table is the root.
    fn above(&self, level: Level) -> Option<u64> {
        let up = level.number() as usize + 1;
        (up <= 4).then(|| self.entry[up]).filter(|&a| a != 0)
    }

    /// Whether the walk went through the shared kernel half.
    fn in_kernel_half(&self) -> bool {
        self.entry[4] >= self.root + KERNEL_HALF * 8
    }

    /// The table of `level` on the path gained a present entry.
    pub(super) fn grew(&self, mem: &mut impl PhysMem, level: Level) {
        if let Some(up) = self.above(level) {
            let e = Entry(mem.read_u64(up));
            mem.write_u64(up, e.with_count(e.count() + 1).0);
        }
    }

    /// The table of `level` on the path lost a present entry: tables left empty go,
    /// from `level` upwards, each handed to `frames` once its entry is cleared.
    pub(super) fn shrank(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        mut level: Level,
    ) {
        while let Some(up) = self.above(level) {
            let e = Entry(mem.read_u64(up));
            let left = e.count().saturating_sub(1);
            if left != 0 || e.pinned() || self.in_kernel_half() {
                mem.write_u64(up, e.with_count(left).0);
                return;
            }
            mem.write_u64(up, Entry::EMPTY.0);
            frames.free(e.addr());
            level = level.up();
        }
    }
}
