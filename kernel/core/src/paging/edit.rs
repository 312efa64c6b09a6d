//! Changing page tables: mapping, remapping (with huge-page splits) and the top level.

use super::count::Path;
use super::entry::Level;
use super::{
    is_canonical, Attrs, Entry, MapError, PageSize, PageTable, ENTRIES, PAGE_4K, PHYS_LIMIT,
};
use crate::phys::{FrameSource, PhysMem};

/// What a walk towards a leaf slot found, without changing anything.
enum Probe {
    /// A level on the way, or the slot itself, is empty.
    Missing,
    /// The slot holds this leaf.
    Leaf(Entry),
    /// A huge leaf above the wanted level covers the address.
    Huge,
    /// The slot points at a table where a huge leaf was wanted.
    Table,
}

/// How [`PageTable::slot`] treats a huge leaf in the way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnHuge {
    Fail,
    Split,
}

impl PageTable {
    /// Maps one `size` page at `virt` to `phys` with `attrs`.
    ///
    /// Missing tables are created with P|RW, plus US when `attrs.user` (a present table
    /// on the way gains US for a user leaf); the leaf decides the real rights and only
    /// leaves get NX. Mapping a leaf identical to the present one (ignoring accessed and
    /// dirty) is `Ok` and writes nothing; any other present leaf, a huge page covering
    /// `virt`, or a table in the slot of a huge leaf is [`MapError::AlreadyMapped`] with
    /// nothing written; change those with [`PageTable::remap`].
    ///
    /// On [`MapError::OutOfMemory`] nothing changes: the tables created before the
    /// failure are unlinked and handed back to `frames` again.
    ///
    /// No TLB flush is needed: only empty slots are filled. (Adding US to a present table
    /// only widens rights, which at worst costs another CPU one spurious fault.)
    pub fn map(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        virt: u64,
        phys: u64,
        size: PageSize,
        attrs: Attrs,
    ) -> Result<(), MapError> {
        check_page(virt, Some(phys), size)?;
        let want = Entry::leaf(phys, size, attrs);
        let identical = match self.probe(mem, virt, Level::of(size)) {
            Probe::Missing => false,
            Probe::Leaf(old) if old.same_leaf(want) => true,
            Probe::Leaf(_) | Probe::Huge | Probe::Table => return Err(MapError::AlreadyMapped),
        };
        // Walk even for an identical leaf: a table on the way may still lack US.
        let at = self.slot(mem, frames, virt, Level::of(size), attrs.user, OnHuge::Fail)?;
        if !identical {
            mem.write_u64(at.slot, want.0);
            if !at.fresh {
                at.path.grew(mem, Level::of(size));
            }
        }
        Ok(())
    }

    /// Maps `[virt, virt + len)` to `[phys, phys + len)` with `attrs`, each piece with the
    /// largest page both addresses are aligned for and that fits in what is left: 1 GiB
    /// only when `allow_1g`, then 2 MiB, then 4 KiB.
    ///
    /// The addresses and `len` must be 4 KiB aligned; `len == 0` maps nothing. Every piece
    /// is checked before anything is written, so argument errors and
    /// [`MapError::AlreadyMapped`] leave the table untouched (pieces already mapped
    /// identically are accepted). On [`MapError::OutOfMemory`] the pieces before the
    /// failing one stay mapped, plus empty tables as for [`PageTable::map`]; remove them
    /// with `remap` or discard the address space.
    #[allow(clippy::too_many_arguments)] // The range, its target and the policy are all needed.
    pub fn map_range(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        virt: u64,
        phys: u64,
        len: u64,
        attrs: Attrs,
        allow_1g: bool,
    ) -> Result<(), MapError> {
        if len == 0 {
            return Ok(());
        }
        let last = virt.checked_add(len - 1).ok_or(MapError::NonCanonical)?;
        // Both ends canonical and in the same half means no byte is in the hole.
        if !is_canonical(virt) || !is_canonical(last) || (virt ^ last) >> 63 != 0 {
            return Err(MapError::NonCanonical);
        }
        if (virt | phys | len) & (PAGE_4K - 1) != 0 {
            return Err(MapError::Misaligned);
        }
        if phys >= PHYS_LIMIT || len > PHYS_LIMIT - phys {
            return Err(MapError::AddressTooLarge);
        }
        let pieces = Pieces {
            virt,
            phys,
            left: len,
            allow_1g,
        };
        for (v, p, size) in pieces.clone() {
            match self.probe(mem, v, Level::of(size)) {
                Probe::Missing => {}
                Probe::Leaf(old) if old.same_leaf(Entry::leaf(p, size, attrs)) => {}
                Probe::Leaf(_) | Probe::Huge | Probe::Table => return Err(MapError::AlreadyMapped),
            }
        }
        for (v, p, size) in pieces {
            self.map(mem, frames, v, p, size, attrs)?;
        }
        Ok(())
    }

    /// Replaces (`target = Some((phys, attrs))`) or removes (`None`) the `size` leaf that
    /// maps `virt`, returning the leaf that was there, if any.
    ///
    /// A huge page covering `virt` at a larger size is first split into a table of pages
    /// one level smaller with the same frames and attributes (repeatedly, 1 GiB to 2 MiB
    /// to 4 KiB), so all other translations stay as they were; the returned entry is then
    /// the piece produced by the split. Removing where nothing is mapped is `Ok(None)` and
    /// writes nothing. A table where a `size` leaf should be is
    /// [`MapError::AlreadyMapped`]. Tables left empty by a removal are unlinked and handed
    /// to `frames` (except in the shared kernel half, see `count.rs`), so an address space
    /// holds no table it does not need.
    ///
    /// On [`MapError::OutOfMemory`] (only when a table or a split needs a frame) every
    /// translation is unchanged: tables created for the call are handed back again, and
    /// splits already done stay, translating as before.
    ///
    /// The caller must invalidate `virt` on every CPU using this table when a leaf was
    /// returned; that also drops the huge TLB entry a split replaced, and the other pages'
    /// translations did not change. A flush of the whole TLB (which also empties the
    /// paging-structure caches) must come before the frames handed back are used again.
    pub fn remap(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        virt: u64,
        target: Option<(u64, Attrs)>,
        size: PageSize,
    ) -> Result<Option<Entry>, MapError> {
        check_page(virt, target.map(|(phys, _)| phys), size)?;
        let level = Level::of(size);
        match self.probe(mem, virt, level) {
            Probe::Table => return Err(MapError::AlreadyMapped),
            Probe::Missing if target.is_none() => return Ok(None),
            Probe::Missing | Probe::Leaf(_) | Probe::Huge => {}
        }
        let user = target.is_some_and(|(_, attrs)| attrs.user);
        let at = self.slot(mem, frames, virt, level, user, OnHuge::Split)?;
        let old = Entry(mem.read_u64(at.slot));
        let new = target.map_or(Entry::EMPTY, |(phys, attrs)| Entry::leaf(phys, size, attrs));
        if old != new {
            mem.write_u64(at.slot, new.0);
        }
        // Whether the table's count includes this slot already.
        let counted = old.present() || at.fresh;
        match (counted, new.present()) {
            (false, true) => at.path.grew(mem, level),
            (true, false) => at.path.shrank(mem, frames, level),
            _ => {}
        }
        Ok(old.present().then_some(old))
    }

    /// Removes every leaf in `[virt, virt + len)` (4 KiB aligned, both ends canonical and
    /// in one half), as [`PageTable::remap`] with `None` would page by page, and returns
    /// the number of 4 KiB pages that were mapped there. Absent tables are skipped whole,
    /// so the cost follows what is mapped, not the length; a huge leaf that reaches out of
    /// the range is split first. Tables left empty go as for `remap`, and the same flush
    /// is the caller's.
    ///
    /// On [`MapError::OutOfMemory`] (a split needs a frame) the part before the huge leaf
    /// in question is unmapped and the rest unchanged.
    pub fn unmap(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        virt: u64,
        len: u64,
    ) -> Result<u64, MapError> {
        if len == 0 {
            return Ok(0);
        }
        let last = virt.checked_add(len - 1).ok_or(MapError::NonCanonical)?;
        if !is_canonical(virt) || !is_canonical(last) || (virt ^ last) >> 63 != 0 {
            return Err(MapError::NonCanonical);
        }
        if (virt | len) & (PAGE_4K - 1) != 0 {
            return Err(MapError::Misaligned);
        }
        let mut removed = 0;
        let mut v = virt;
        loop {
            let next = self.unmap_step(mem, frames, v, virt, last, &mut removed)?;
            match next {
                Some(n) if n <= last => v = n,
                _ => return Ok(removed),
            }
        }
    }

    /// One step of [`PageTable::unmap`] at `v`: removes the leaf there or skips the absent
    /// table, and returns the next address to look at (`None` past the top).
    fn unmap_step(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        v: u64,
        first: u64,
        last: u64,
        removed: &mut u64,
    ) -> Result<Option<u64>, MapError> {
        let mut path = Path::new(self.root);
        let mut table = self.root;
        let mut at = Level::PML4;
        loop {
            let slot = table + at.offset(v);
            path.at(at, slot);
            let e = Entry(mem.read_u64(slot));
            let base = v & !(at.span() - 1);
            let after = base.checked_add(at.span());
            if !e.present() {
                return Ok(after);
            }
            if at.leaf_size(e).is_some() {
                if base >= first && base + (at.span() - 1) <= last {
                    mem.write_u64(slot, Entry::EMPTY.0);
                    path.shrank(mem, frames, at);
                    *removed += at.span() / PAGE_4K;
                    return Ok(after);
                }
                // Reaches out of the range: split down to the page at `v`.
                self.remap(mem, frames, v, None, PageSize::Size4K)?;
                *removed += 1;
                return Ok(v.checked_add(PAGE_4K));
            }
            table = e.addr();
            at = at.down();
        }
    }

    /// Makes PML4 slots `[first, last]` equal to those of `from`, so both address spaces
    /// share the tables below (the kernel half: `pml4_index(0xffff_8000_0000_0000)` to
    /// 511). Slots past 511 are ignored, and `first > last` copies nothing. Only slots
    /// that differ are written.
    ///
    /// Later changes below a shared slot show in both spaces; a slot that is empty when
    /// copied stays empty here even if `from` fills it later, so fill the shared range
    /// first with [`PageTable::populate_top_level`]. The copies' counts
    /// ([`Entry::COUNT_MASK`]) are not kept up to date (nothing reads them: tables of
    /// the kernel half never go), so a slot that differs only there is left as it is.
    pub fn share_top_level(
        &self,
        mem: &mut impl PhysMem,
        from: &PageTable,
        first: usize,
        last: usize,
    ) {
        for i in first..=last.min(ENTRIES - 1) {
            let offset = i as u64 * 8;
            let e = mem.read_u64(from.root + offset);
            if (mem.read_u64(self.root + offset) ^ e) & !Entry::COUNT_MASK != 0 {
                mem.write_u64(self.root + offset, e);
            }
        }
    }

    /// Gives every empty PML4 slot in `[first, last]` an empty PDPT (P|RW, no US), so that
    /// spaces sharing those slots see everything mapped there later, and pins the PDPT of
    /// every slot in the range ([`Entry::PINNED`]): it stays when it empties, since a
    /// space sharing it, or an IOMMU domain that starts there, names it. Slots past 511
    /// are ignored, and so are slots holding a leaf. On [`MapError::OutOfMemory`] the
    /// slots done so far stay done.
    pub fn populate_top_level(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        first: usize,
        last: usize,
    ) -> Result<(), MapError> {
        for i in first..=last.min(ENTRIES - 1) {
            let slot = self.root + i as u64 * 8;
            let e = Entry(mem.read_u64(slot));
            if !e.present() {
                let frame = frames.alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                mem.write_u64(slot, Entry::table(frame, false).0 | Entry::PINNED);
            } else if !e.pinned() && Level::PML4.leaf_size(e).is_none() {
                mem.write_u64(slot, e.0 | Entry::PINNED);
            }
        }
        Ok(())
    }

    /// Looks at the path to the `level` slot for `virt` without changing anything.
    fn probe(&self, mem: &impl PhysMem, virt: u64, level: Level) -> Probe {
        let mut table = self.root;
        let mut at = Level::PML4;
        loop {
            let e = Entry(mem.read_u64(table + at.offset(virt)));
            if !e.present() {
                return Probe::Missing;
            }
            let is_leaf = at.leaf_size(e).is_some();
            if at == level {
                return if is_leaf {
                    Probe::Leaf(e)
                } else {
                    Probe::Table
                };
            }
            if is_leaf {
                return Probe::Huge;
            }
            table = e.addr();
            at = at.down();
        }
    }

    /// The `level` slot for `virt` and the path to it, creating missing tables (with US
    /// if `user`, which is also added to present tables on the way) and splitting or
    /// refusing huge leaves on the way as `on_huge` says.
    ///
    /// A table created here is linked with a count of 1: the entry the caller is about to
    /// write into it (or the table below it). On [`MapError::OutOfMemory`] the tables
    /// created so far go again, so nothing changed.
    fn slot(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        virt: u64,
        level: Level,
        user: bool,
        on_huge: OnHuge,
    ) -> Result<Slot, MapError> {
        let mut path = Path::new(self.root);
        let mut table = self.root;
        let mut at = Level::PML4;
        let mut fresh = false;
        while at != level {
            let slot = table + at.offset(virt);
            path.at(at, slot);
            let mut e = Entry(mem.read_u64(slot));
            if !e.present() {
                let Some(frame) = frames.alloc_zeroed() else {
                    if fresh {
                        // The table of `at` was made for this call and is empty.
                        path.shrank(mem, frames, at);
                    }
                    return Err(MapError::OutOfMemory);
                };
                e = Entry::table(frame, user).with_count(1);
                mem.write_u64(slot, e.0);
                if !fresh {
                    path.grew(mem, at);
                }
                fresh = true;
            } else if at.leaf_size(e).is_some() {
                if on_huge == OnHuge::Fail {
                    return Err(MapError::AlreadyMapped);
                }
                e = split(mem, frames, slot, e, at, user)?;
            } else if user && !e.user() {
                e = Entry(e.0 | Entry::USER);
                mem.write_u64(slot, e.0);
            }
            table = e.addr();
            at = at.down();
        }
        let slot = table + level.offset(virt);
        path.at(level, slot);
        Ok(Slot { slot, path, fresh })
    }
}

/// Where [`PageTable::slot`] led.
struct Slot {
    /// The slot's physical address.
    slot: u64,
    /// The entries on the way, for the counts.
    path: Path,
    /// The slot's table was made by the walk, with a count of 1 for this slot.
    fresh: bool,
}

/// Checks one page's addresses: `virt` canonical, both aligned to `size`, `phys` within
/// 52 bits.
fn check_page(virt: u64, phys: Option<u64>, size: PageSize) -> Result<(), MapError> {
    if !is_canonical(virt) {
        return Err(MapError::NonCanonical);
    }
    let mask = size.bytes() - 1;
    if (virt | phys.unwrap_or(0)) & mask != 0 {
        return Err(MapError::Misaligned);
    }
    // Aligned and below the limit means the whole page is below it too.
    if phys.is_some_and(|p| p >= PHYS_LIMIT) {
        return Err(MapError::AddressTooLarge);
    }
    Ok(())
}

/// Replaces the huge leaf `huge` in the `level` slot at `slot` by a table of 512 leaves
/// one level down that translate every address exactly as before, and returns the new
/// table entry. The table is filled completely before it is linked in, so a concurrent
/// walk sees either the old leaf or the whole table.
fn split(
    mem: &mut impl PhysMem,
    frames: &mut impl FrameSource,
    slot: u64,
    huge: Entry,
    level: Level,
    user: bool,
) -> Result<Entry, MapError> {
    let Some(size) = level.page_size() else {
        return Err(MapError::AlreadyMapped);
    };
    let child = level.down();
    let frame = frames.alloc_zeroed().ok_or(MapError::OutOfMemory)?;
    // Keep every flag (rights, caching, G, A/D, software and protection-key bits) but move
    // PAT: it is bit 12 in a huge leaf and bit 7 (where PS would be) in a PT entry.
    let pat = huge.0 & Entry::PAT_HUGE != 0;
    let mut flags = huge.flags() & !Entry::HUGE;
    if child == Level::PT {
        if pat {
            flags |= Entry::PAT_4K;
        }
    } else {
        flags |= Entry::HUGE | if pat { Entry::PAT_HUGE } else { 0 };
    }
    let base = huge.frame(size);
    for i in 0..ENTRIES as u64 {
        mem.write_u64(frame + i * 8, (base + i * child.span()) | flags);
    }
    // Every one of the 512 entries is present.
    let table = Entry::table(frame, user || huge.user()).with_count(ENTRIES as u64);
    mem.write_u64(slot, table.0);
    Ok(table)
}

/// The pieces [`PageTable::map_range`] maps: the largest page that alignment and the
/// remaining length allow, in order. The range was validated, so nothing overflows except
/// `virt` stepping past the very top of the address space after the last piece.
#[derive(Clone)]
struct Pieces {
    virt: u64,
    phys: u64,
    left: u64,
    allow_1g: bool,
}

impl Iterator for Pieces {
    type Item = (u64, u64, PageSize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let fits =
            |s: PageSize| (self.virt | self.phys) & (s.bytes() - 1) == 0 && self.left >= s.bytes();
        let size = if self.allow_1g && fits(PageSize::Size1G) {
            PageSize::Size1G
        } else if fits(PageSize::Size2M) {
            PageSize::Size2M
        } else {
            PageSize::Size4K
        };
        let piece = (self.virt, self.phys, size);
        self.virt = self.virt.wrapping_add(size.bytes());
        self.phys += size.bytes();
        self.left -= size.bytes();
        Some(piece)
    }
}
