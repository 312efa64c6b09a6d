//! Changing page tables: mapping, remapping (with huge-page splits) and the top level.

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
    /// On [`MapError::OutOfMemory`] the tables created before the failure stay linked in,
    /// empty: they map nothing, later maps reuse them and `free_tables` frees them.
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
        let slot = self.slot(mem, frames, virt, Level::of(size), attrs.user, OnHuge::Fail)?;
        if !identical {
            mem.write_u64(slot, want.0);
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
    /// [`MapError::AlreadyMapped`]. Tables left empty by a removal are kept.
    ///
    /// On [`MapError::OutOfMemory`] (only when a table or a split needs a frame) every
    /// translation is unchanged: tables created so far stay linked in, empty, and splits
    /// already done stay, translating as before.
    ///
    /// The caller must invalidate `virt` (INVLPG) on every CPU using this table when a
    /// leaf was returned; that also drops the huge TLB entry a split replaced, and the
    /// other pages' translations did not change.
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
        let slot = self.slot(mem, frames, virt, level, user, OnHuge::Split)?;
        let old = Entry(mem.read_u64(slot));
        let new = target.map_or(Entry::EMPTY, |(phys, attrs)| Entry::leaf(phys, size, attrs));
        if old != new {
            mem.write_u64(slot, new.0);
        }
        Ok(old.present().then_some(old))
    }

    /// Makes PML4 slots `[first, last]` equal to those of `from`, so both address spaces
    /// share the tables below (the kernel half: `pml4_index(0xffff_8000_0000_0000)` to
    /// 511). Slots past 511 are ignored, and `first > last` copies nothing. Only slots
    /// that differ are written.
    ///
    /// Later changes below a shared slot show in both spaces; a slot that is empty when
    /// copied stays empty here even if `from` fills it later, so fill the shared range
    /// first with [`PageTable::populate_top_level`].
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
            if mem.read_u64(self.root + offset) != e {
                mem.write_u64(self.root + offset, e);
            }
        }
    }

    /// Gives every empty PML4 slot in `[first, last]` an empty PDPT (P|RW, no US), so that
    /// spaces sharing those slots see everything mapped there later. Slots past 511 are
    /// ignored. On [`MapError::OutOfMemory`] the slots filled so far stay filled.
    pub fn populate_top_level(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        first: usize,
        last: usize,
    ) -> Result<(), MapError> {
        for i in first..=last.min(ENTRIES - 1) {
            let slot = self.root + i as u64 * 8;
            if !Entry(mem.read_u64(slot)).present() {
                let frame = frames.alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                mem.write_u64(slot, Entry::table(frame, false).0);
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

    /// The physical address of the `level` slot for `virt`, creating missing tables (with
    /// US if `user`, which is also added to present tables on the way) and splitting or
    /// refusing huge leaves on the way as `on_huge` says.
    fn slot(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        virt: u64,
        level: Level,
        user: bool,
        on_huge: OnHuge,
    ) -> Result<u64, MapError> {
        let mut table = self.root;
        let mut at = Level::PML4;
        while at != level {
            let slot = table + at.offset(virt);
            let mut e = Entry(mem.read_u64(slot));
            if !e.present() {
                let frame = frames.alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                e = Entry::table(frame, user);
                mem.write_u64(slot, e.0);
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
        Ok(table + level.offset(virt))
    }
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
    let table = Entry::table(frame, user || huge.user());
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
