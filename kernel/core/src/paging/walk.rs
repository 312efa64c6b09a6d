//! Reading page tables (translation, leaf enumeration) and tearing them down.

use super::entry::Level;
use super::{is_canonical, Attrs, Entry, PageSize, PageTable, Rights, ENTRIES};
use crate::phys::PhysMem;

impl PageTable {
    /// Translates `virt`: the physical address (page offset included), the effective
    /// attributes, and the size of the leaf. Effective `write`, `user` and `execute` hold
    /// only if every level allows them; `global` and `uncached` are the leaf's. `None` if
    /// `virt` is not canonical or not mapped.
    pub fn translate(&self, mem: &impl PhysMem, virt: u64) -> Option<(u64, Attrs, PageSize)> {
        if !is_canonical(virt) {
            return None;
        }
        let mut table = self.root;
        let mut level = Level::PML4;
        let mut rights = Rights::ALL;
        loop {
            let e = Entry(mem.read_u64(table + level.offset(virt)));
            if !e.present() {
                return None;
            }
            rights = rights.through(e);
            if let Some(size) = level.leaf_size(e) {
                let offset = virt & (size.bytes() - 1);
                return Some((e.frame(size) | offset, rights.attrs(e), size));
            }
            table = e.addr();
            level = level.down();
        }
    }

    /// Calls `f(virt, phys, size, attrs)` for every present leaf whose first address
    /// `virt` lies in `[from, to)`, in increasing address order, with canonical
    /// (sign-extended) `virt` and effective `attrs` as in [`PageTable::translate`]. A huge
    /// leaf that starts below `from` is not reported even if it covers `from`. Subtrees
    /// outside the range are not read.
    pub fn for_each_leaf(
        &self,
        mem: &impl PhysMem,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, u64, PageSize, Attrs),
    ) {
        let mut walk = LeafWalk {
            mem,
            from,
            to,
            f: &mut f,
        };
        walk.table(self.root, Level::PML4, 0, Rights::ALL);
    }

    /// The number of table frames (PDPTs, PDs, PTs) reachable through PML4 slots
    /// `[first, last]`; the PML4 itself is not counted. For statistics: a user space's
    /// tables are these and its root.
    pub fn tables_below(&self, mem: &impl PhysMem, first: usize, last: usize) -> u64 {
        let mut n = 0;
        for i in first..=last.min(ENTRIES - 1) {
            let e = Entry(mem.read_u64(self.root + i as u64 * 8));
            if e.present() && Level::PML4.leaf_size(e).is_none() {
                n += 1 + count_below(mem, e.addr(), Level::PML4.down());
            }
        }
        n
    }

    /// Passes to `free` every table frame (PDPT, PD, PT; never a leaf's frame) reachable
    /// through PML4 slots `[first, last]`, each once, children before parents; then the
    /// PML4 itself if `and_root`, otherwise those slots are cleared so the table stays
    /// valid. Slots past 511 are ignored.
    ///
    /// For a dying user space pass the user half (0 to 255) only: the kernel half is
    /// shared and must not be freed. No CPU may still be using the freed tables (switch
    /// CR3 and flush first). Tables are assumed to form a tree, as this module builds
    /// them; a table linked twice would be passed twice.
    pub fn free_tables(
        &self,
        mem: &mut impl PhysMem,
        first: usize,
        last: usize,
        mut free: impl FnMut(u64),
        and_root: bool,
    ) {
        for i in first..=last.min(ENTRIES - 1) {
            let slot = self.root + i as u64 * 8;
            let e = Entry(mem.read_u64(slot));
            if !e.present() {
                continue;
            }
            free_below(mem, e.addr(), Level::PML4.down(), &mut free);
            free(e.addr());
            if !and_root {
                mem.write_u64(slot, Entry::EMPTY.0);
            }
        }
        if and_root {
            free(self.root);
        }
    }
}

/// The tables below the `level` table at `table` (not `table` itself).
fn count_below(mem: &impl PhysMem, table: u64, level: Level) -> u64 {
    if level == Level::PT {
        return 0;
    }
    let mut n = 0;
    for i in 0..ENTRIES as u64 {
        let e = Entry(mem.read_u64(table + i * 8));
        if e.present() && level.leaf_size(e).is_none() {
            n += 1 + count_below(mem, e.addr(), level.down());
        }
    }
    n
}

/// Frees the tables below the `level` table at `table` (not `table` itself).
fn free_below(mem: &impl PhysMem, table: u64, level: Level, free: &mut impl FnMut(u64)) {
    if level == Level::PT {
        return;
    }
    for i in 0..ENTRIES as u64 {
        let e = Entry(mem.read_u64(table + i * 8));
        if e.present() && level.leaf_size(e).is_none() {
            free_below(mem, e.addr(), level.down(), free);
            free(e.addr());
        }
    }
}

/// The state of one [`PageTable::for_each_leaf`] walk.
struct LeafWalk<'a, M, F> {
    mem: &'a M,
    from: u64,
    to: u64,
    f: &'a mut F,
}

impl<M: PhysMem, F: FnMut(u64, u64, PageSize, Attrs)> LeafWalk<'_, M, F> {
    /// Visits the `level` table at `table`, which covers addresses from `base` and is
    /// reached with `rights`.
    fn table(&mut self, table: u64, level: Level, base: u64, rights: Rights) {
        for i in 0..ENTRIES as u64 {
            let mut start = base + i * level.span();
            if level == Level::PML4 {
                start = sign_extend(start);
            }
            // `start + span - 1` cannot overflow: the last slot ends at u64::MAX.
            if start + (level.span() - 1) < self.from {
                continue;
            }
            // Slots are in increasing address order (the upper half follows the lower).
            if start >= self.to {
                return;
            }
            let e = Entry(self.mem.read_u64(table + i * 8));
            if !e.present() {
                continue;
            }
            let rights = rights.through(e);
            match level.leaf_size(e) {
                Some(size) if start >= self.from => {
                    (self.f)(start, e.frame(size), size, rights.attrs(e));
                }
                Some(_) => {}
                None => self.table(e.addr(), level.down(), start, rights),
            }
        }
    }
}

/// Makes a 48-bit address canonical by copying bit 47 into bits 63:48.
const fn sign_extend(virt: u64) -> u64 {
    (((virt << 16) as i64) >> 16) as u64
}
