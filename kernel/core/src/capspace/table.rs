//! The radix table of one capability space.
//!
//! Index bits 6:0 pick one of the 128 slots of a leaf frame; each 9 bits above pick one of
//! the 512 entries of a directory frame. A directory entry is the address of the
//! next-level frame as the [`FrameSource`] named it (the kernel's are direct-map
//! addresses, so that a walk loads through them as they are). An object space (26 bits)
//! has four levels (root directory, two directories, leaf), a port space (16 bits) two, a
//! table of at most 7 bits one (the root is the leaf).
//!
//! An absent frame is not a null entry but the address of the memory's shared *empty*
//! frame of that level ([`TableMem::empty`]): an all-zero leaf, and directories whose
//! every entry is the empty frame of the level below. A lookup therefore follows entries
//! without testing them (every hypercall's lookup saves a test and a branch per
//! directory) and ends at an empty slot where nothing was ever stored. The empty frames
//! are shared by every table and never written: only code that changes a table tells
//! them apart from its own frames.
//!
//! Frames go as their last entry does. Each leaf counts its used slots in bits 11:0 of
//! its first slot's parent word, which links never use ([`super::SlotRef`]), so that the
//! count lives in the frame it counts and costs no walk; a leaf whose count drops to 0 is
//! unlinked and handed back ([`Table::release`]), and so is every directory above it that
//! is then empty (found by looking at its 512 entries, which only a leaf's release
//! does). The root stays while the table does. Lookups read directory entries as they
//! are: the counts cost them nothing.

use super::{
    CapError, Slot, SlotRef, DIR_ENTRIES, LEAF_SLOTS, LINK_MASK, MAX_BITS, SLOT_BYTES, W_CAP,
    W_CHILD, W_PARENT, W_SIBLING,
};
use crate::phys::{FrameSource, PhysMem};

/// Memory that holds capability tables: physical memory plus the shared empty frames
/// that stand for absent ones.
pub trait TableMem: PhysMem {
    /// The empty frame of `level` (0 = leaf, at most [`EMPTY_LEVELS`] - 1), as
    /// [`build_empty`] made them: never written, never handed back.
    fn empty(&self, level: u32) -> u64;
}

/// Levels of empty frames a table of [`MAX_BITS`] needs: every level below its root.
pub const EMPTY_LEVELS: usize = (1 + (MAX_BITS - LEAF_BITS).div_ceil(DIR_BITS)) as usize - 1;

/// Makes the empty frames for [`TableMem::empty`], lowest level first: a zeroed leaf and
/// directories pointing at the level below. `None` if `frames` runs out (the frames taken
/// so far are given back).
pub fn build_empty(
    mem: &mut impl PhysMem,
    frames: &mut impl FrameSource,
) -> Option<[u64; EMPTY_LEVELS]> {
    let mut empty = [0u64; EMPTY_LEVELS];
    for level in 0..EMPTY_LEVELS {
        let Some(frame) = alloc(frames) else {
            empty[..level].iter().for_each(|&f| frames.free(f));
            return None;
        };
        if level > 0 {
            for i in 0..DIR_ENTRIES {
                mem.write_u64(frame + i * 8, empty[level - 1]);
            }
        }
        empty[level] = frame;
    }
    Some(empty)
}

/// Index bits resolved by the leaf.
const LEAF_BITS: u32 = 7;
/// Index bits resolved by each directory.
const DIR_BITS: u32 = 9;
/// Frames on the path to a leaf in an object space.
const OBJECT_LEVELS: u32 = 1 + (super::OBJECT_BITS - LEAF_BITS).div_ceil(DIR_BITS);
/// Bytes in a frame.
const FRAME: u64 = 4096;
/// The bits of a leaf's count (bits 11:0 of its first slot's parent word).
const COUNT: u64 = !LINK_MASK;

/// One capability space: the root frame and the number of index bits.
///
/// The value is only a handle: copying it does not copy the frames, and the frames are
/// returned explicitly with [`Table::free_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    /// Address of the top frame (as the [`FrameSource`] named it).
    pub root: u64,
    /// Index bits: valid indices are `0..1 << bits`.
    pub bits: u32,
}

/// One frame from `frames`; a frame at address 0 could not be told from an absent entry,
/// so it counts as none.
fn alloc(frames: &mut impl FrameSource) -> Option<u64> {
    frames.alloc_zeroed().filter(|&f| f != 0)
}

impl Table {
    /// An empty table of `bits` index bits (`1..=26`; 26 for objects, 16 for ports): one
    /// frame, whose entries all name the empty frame below (also those no index in range
    /// reaches: [`Table::object_slot_addr`] relies on it). `None` when no frame is left or
    /// `bits` is out of range.
    pub fn new(mem: &mut impl TableMem, frames: &mut impl FrameSource, bits: u32) -> Option<Table> {
        if bits == 0 || bits > MAX_BITS {
            return None;
        }
        let t = Table {
            root: alloc(frames)?,
            bits,
        };
        let top = t.levels() - 1;
        if top > 0 {
            t.fill_absent(mem, t.root, top, DIR_ENTRIES);
        }
        Some(t)
    }

    /// Points the first `n` entries of the directory `frame` at `level` at the empty
    /// frame below.
    fn fill_absent(&self, mem: &mut impl TableMem, frame: u64, level: u32, n: u64) {
        let empty = mem.empty(level - 1);
        for i in 0..n {
            mem.write_u64(frame + i * 8, empty);
        }
    }

    /// The number of indices: `1 << bits`.
    pub const fn len(&self) -> u64 {
        1 << self.bits
    }

    /// Never true: a table has at least two indices.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// Whether `index` is inside the table.
    pub const fn contains(&self, index: u64) -> bool {
        index < self.len()
    }

    /// Frames on the path from the root to a leaf, both included (3 for objects, 2 for
    /// ports).
    pub const fn levels(&self) -> u32 {
        1 + (self.bits.saturating_sub(LEAF_BITS)).div_ceil(DIR_BITS)
    }

    /// The slot at `index`; [`Slot::EMPTY`] if it holds nothing or `index` is out of
    /// range.
    pub fn get(&self, mem: &impl TableMem, index: u64) -> Slot {
        match self.slot_addr(mem, index) {
            Some(addr) => read_slot(mem, addr),
            None => Slot::EMPTY,
        }
    }

    /// Stores `slot` at `index`, creating the frames on the way as needed (storing
    /// [`Slot::EMPTY`] where the frame is absent creates nothing and always succeeds).
    /// Emptying the last used slot of a leaf hands the leaf back to `frames`, with the
    /// directories it leaves empty.
    ///
    /// This is the raw store: it keeps none of the MDB's invariants, which the functions
    /// of [`super`] do.
    ///
    /// Errors: [`CapError::IndexOutOfRange`], [`CapError::Malformed`] (see
    /// [`Slot::is_valid`]) with nothing written; [`CapError::OutOfMemory`] with nothing
    /// changed (frames created before the failure are handed back).
    pub fn set(
        &self,
        mem: &mut impl TableMem,
        frames: &mut impl FrameSource,
        index: u64,
        slot: Slot,
    ) -> Result<(), CapError> {
        if !self.contains(index) {
            return Err(CapError::IndexOutOfRange);
        }
        if !slot.is_valid() {
            return Err(CapError::Malformed);
        }
        let addr = if slot.is_empty() {
            match self.slot_addr(mem, index) {
                Some(addr) => addr,
                None => return Ok(()),
            }
        } else {
            self.slot_addr_alloc(mem, frames, index)
                .inspect_err(|_| self.trim(mem, frames, index, index + 1))?
        };
        let was_used = used(mem, addr);
        if slot.is_empty() {
            if was_used && clear_slot(mem, addr) {
                self.release(mem, frames, index);
            }
            return Ok(());
        }
        let words = slot.encode();
        mem.write_u64(addr + W_CAP, words[0]);
        write_parent(mem, addr, slot.parent);
        mem.write_u64(addr + W_CHILD, words[2]);
        mem.write_u64(addr + W_SIBLING, words[3]);
        if !was_used {
            occupy(mem, addr);
        }
        Ok(())
    }

    /// Passes every frame of the table to `free`, each once, lower levels before the
    /// directory that points at them and the root last. The slots are not looked at: empty
    /// the space first (e.g. [`super::revoke`] with all permissions and `include_self` over
    /// the whole range), or links from other spaces will dangle. The table must not be used
    /// afterwards.
    pub fn free_all(&self, mem: &impl TableMem, mut free: impl FnMut(u64)) {
        free_below(mem, self.root, self.levels() - 1, &mut free);
        free(self.root);
    }

    /// The number of frames the table holds, its root included.
    pub fn frames(&self, mem: &impl TableMem) -> u64 {
        1 + count_below(mem, self.root, self.levels() - 1)
    }

    /// Calls `f` with the index and contents of every used slot (holding a capability), in
    /// increasing index order,
    /// skipping absent frames.
    pub fn for_each_used(&self, mem: &impl TableMem, mut f: impl FnMut(u64, Slot)) {
        self.scan(mem, 0, self.len(), &mut |index, addr| {
            f(index, read_slot(mem, addr));
            true
        });
    }

    /// The lowest index at or above `from` whose slot is used.
    pub fn next_used(&self, mem: &impl TableMem, from: u64) -> Option<u64> {
        self.next_used_in(mem, from, self.len())
            .map(|(index, _)| index)
    }

    /// The lowest index in `[from, to)` whose slot is used, with the slot's
    /// physical address. `to` must not exceed `len()`.
    ///
    /// Inlined for the cases every single-capability operation meets (an empty range,
    /// one slot); longer ranges are scanned out of line.
    #[inline(always)]
    pub(super) fn next_used_in(
        &self,
        mem: &impl TableMem,
        from: u64,
        to: u64,
    ) -> Option<(u64, u64)> {
        if from >= to {
            return None;
        }
        if to == from + 1 {
            // One slot (revoking a single capability, the common case): straight there.
            return self
                .slot_addr(mem, from)
                .filter(|&addr| used(mem, addr))
                .map(|addr| (from, addr));
        }
        self.first_used_in(mem, from, to)
    }

    /// [`Table::next_used_in`] for a range of more than one slot.
    #[inline(never)]
    fn first_used_in(&self, mem: &impl TableMem, from: u64, to: u64) -> Option<(u64, u64)> {
        let mut found = None;
        self.scan(mem, from, to, &mut |index, addr| {
            found = Some((index, addr));
            false
        });
        found
    }

    /// The physical address of the slot at `index` if `index` is in range: in the empty
    /// leaf if the table has no leaf there (read it, never write it).
    ///
    /// Always inlined: every hypercall's capability lookup comes here, and inlined the
    /// object-space walk is three loads with the table's bounds known, none tested.
    #[inline(always)]
    pub fn slot_addr(&self, mem: &impl TableMem, index: u64) -> Option<u64> {
        if !self.contains(index) {
            return None;
        }
        // Object spaces are looked up on every hypercall: their depth is a constant the
        // compiler unrolls the walk for.
        if self.bits == super::OBJECT_BITS {
            return self.walk(mem, index, OBJECT_LEVELS);
        }
        self.walk(mem, index, self.levels())
    }

    /// [`Table::slot_addr`] in an object space, with the range check folded into the
    /// root's: `None` only if `index` is beyond what the root's 512 entries cover (2^34);
    /// an index from 2^26 on reaches an empty slot through the root entries no index in
    /// range reaches, which name the empty frame as every absent entry does (and nothing
    /// ever fills). For the kernel's hot lookup, which treats both as no capability.
    #[inline(always)]
    pub fn object_slot_addr(&self, mem: &impl TableMem, index: u64) -> Option<u64> {
        debug_assert_eq!(self.bits, super::OBJECT_BITS);
        let entry = index >> Table::OBJECT_ROOT_SHIFT;
        if entry >= DIR_ENTRIES {
            return None;
        }
        Some(Table::object_slot_below(
            mem,
            mem.read_u64(self.root + entry * 8),
            index,
        ))
    }

    /// The rest of [`Table::object_slot_addr`]'s walk: the address of the slot for `index`
    /// below `below`, the root's entry for it (`root + (index >> 25) * 8`).
    #[inline(always)]
    pub fn object_slot_below(mem: &impl TableMem, below: u64, index: u64) -> u64 {
        walk_from(mem, below, index, OBJECT_LEVELS - 2)
    }

    /// Index bits below those that pick an object space's root entry.
    pub const OBJECT_ROOT_SHIFT: u32 = LEAF_BITS + DIR_BITS * (OBJECT_LEVELS - 2);

    #[inline(always)]
    fn walk(&self, mem: &impl TableMem, index: u64, levels: u32) -> Option<u64> {
        Some(walk_from(mem, self.root, index, levels - 1))
    }

    /// The physical address of the slot at `index` (in range), creating missing frames.
    pub(super) fn slot_addr_alloc(
        &self,
        mem: &mut impl TableMem,
        frames: &mut impl FrameSource,
        index: u64,
    ) -> Result<u64, CapError> {
        debug_assert!(self.contains(index));
        let mut frame = self.root;
        for level in (1..self.levels()).rev() {
            let entry = frame + dir_index(index, level) * 8;
            let mut next = mem.read_u64(entry);
            if absent(mem, next, level - 1) {
                next = alloc(frames).ok_or(CapError::OutOfMemory)?;
                if level > 1 {
                    // A directory: absent below until something is stored there.
                    self.fill_absent(mem, next, level - 1, DIR_ENTRIES);
                }
                mem.write_u64(entry, next);
            }
            frame = next;
        }
        Ok(frame + (index % LEAF_SLOTS) * SLOT_BYTES)
    }

    /// Creates the missing frames for the slots `[from, to)` (`to <= len()`), so that
    /// writing them afterwards cannot fail: a node is stored whole or not at all. On
    /// [`CapError::OutOfMemory`] the frames made so far stay, empty: the caller hands them
    /// back with [`Table::trim`].
    pub(super) fn reserve(
        &self,
        mem: &mut impl TableMem,
        frames: &mut impl FrameSource,
        from: u64,
        to: u64,
    ) -> Result<(), CapError> {
        let mut index = from;
        while index < to {
            self.slot_addr_alloc(mem, frames, index)?;
            // The first slot of the next leaf.
            index = (index / LEAF_SLOTS + 1) * LEAF_SLOTS;
        }
        Ok(())
    }

    /// Hands back the leaf holding `index`, whose count has dropped to 0, and every
    /// directory above it that is left without entries (never the root): each is
    /// unlinked first (its entry names the empty frame again), then given to `frames`.
    /// Where the walk meets an empty frame, the directories above it that hold nothing
    /// go the same way (what a failed reservation leaves). Nothing happens in a table
    /// whose root is its leaf.
    pub(super) fn release(
        &self,
        mem: &mut impl TableMem,
        frames: &mut impl FrameSource,
        index: u64,
    ) {
        let top = self.levels() - 1;
        // entry[l]: the address of the entry for `index` in the directory of level l.
        let mut entry = [0u64; 5];
        let mut frame = self.root;
        let mut level = top;
        while level >= 1 {
            let at = frame + dir_index(index, level) * 8;
            entry[level as usize] = at;
            let next = mem.read_u64(at);
            if absent(mem, next, level - 1) {
                break;
            }
            frame = next;
            level -= 1;
        }
        // `frame` is the lowest frame of the table's own on the way, at `level`.
        while level < top {
            let empty = if level == 0 {
                leaf_count(mem, frame) == 0
            } else {
                (0..DIR_ENTRIES).all(|i| absent(mem, mem.read_u64(frame + i * 8), level - 1))
            };
            if !empty {
                return;
            }
            let at = entry[level as usize + 1];
            mem.write_u64(at, mem.empty(level));
            frames.free(frame);
            frame = at & !(FRAME - 1);
            level += 1;
        }
    }

    /// Hands back the frames holding the slots `[from, to)` that hold no used slot (what
    /// a failed [`Table::reserve`] or store left), with the directories they leave empty.
    pub(super) fn trim(
        &self,
        mem: &mut impl TableMem,
        frames: &mut impl FrameSource,
        from: u64,
        to: u64,
    ) {
        let mut index = from - from % LEAF_SLOTS;
        while index < to {
            self.release(mem, frames, index);
            index += LEAF_SLOTS;
        }
    }

    /// Calls `f(index, slot address)` for each used slot in `[from, to)` in
    /// index order until it returns false. `to <= len()`.
    fn scan(&self, mem: &impl TableMem, from: u64, to: u64, f: &mut impl FnMut(u64, u64) -> bool) {
        if from < to {
            scan_frame(mem, self.root, self.levels() - 1, 0, from, to, f);
        }
    }
}

/// Indices covered by one entry of a frame at `level` (0 = leaf).
const fn span(level: u32) -> u64 {
    if level == 0 {
        1
    } else {
        1 << (LEAF_BITS + DIR_BITS * (level - 1))
    }
}

/// The entry for `index` in a directory at `level` (1 or more).
const fn dir_index(index: u64, level: u32) -> u64 {
    (index / span(level)) % DIR_ENTRIES
}

/// The address of the slot for `index` below `frame`, a frame at `level` (0: the leaf).
/// Entries are followed untested: an absent frame is the empty one (entries an index can
/// reach are never 0).
#[inline(always)]
fn walk_from(mem: &impl TableMem, mut frame: u64, index: u64, level: u32) -> u64 {
    for l in (1..=level).rev() {
        frame = mem.read_u64(frame + dir_index(index, l) * 8);
    }
    frame + (index % LEAF_SLOTS) * SLOT_BYTES
}

/// Whether directory entry `entry`, above a frame of `level`, names no frame of the
/// table's own: the empty frame of that level, or 0 (a root's entries no index reaches).
#[inline(always)]
fn absent(mem: &impl TableMem, entry: u64, level: u32) -> bool {
    entry == 0 || entry == mem.empty(level)
}

/// The slot at physical address `addr`.
pub(super) fn read_slot(mem: &impl TableMem, addr: u64) -> Slot {
    Slot::decode([
        mem.read_u64(addr + W_CAP),
        mem.read_u64(addr + W_PARENT),
        mem.read_u64(addr + W_CHILD),
        mem.read_u64(addr + W_SIBLING),
    ])
}

/// Whether the slot at `addr` is used: holds a capability (links come only with one,
/// [`Slot::is_valid`]).
#[inline(always)]
pub(super) fn used(mem: &impl TableMem, addr: u64) -> bool {
    mem.read_u64(addr + W_CAP) != 0
}

/// The word that holds the count of the leaf the slot at `addr` lies in.
#[inline(always)]
fn count_word(addr: u64) -> u64 {
    (addr & !(FRAME - 1)) + W_PARENT
}

/// The number of used slots of the leaf the slot at `addr` lies in.
pub(super) fn leaf_count(mem: &impl TableMem, addr: u64) -> u64 {
    mem.read_u64(count_word(addr)) & COUNT
}

/// The slot at `addr` became used: its leaf counts one more.
#[inline(always)]
pub(super) fn occupy(mem: &mut impl TableMem, addr: u64) {
    let w = count_word(addr);
    let v = mem.read_u64(w);
    mem.write_u64(w, v.wrapping_add(1));
}

/// Empties the used slot at `addr`: its words are cleared and its leaf counts one less.
/// Whether the leaf holds nothing now (for [`Table::release`]).
#[inline(always)]
pub(super) fn clear_slot(mem: &mut impl TableMem, addr: u64) -> bool {
    mem.write_u64(addr + W_CAP, 0);
    mem.write_u64(addr + W_CHILD, 0);
    mem.write_u64(addr + W_SIBLING, 0);
    let w = count_word(addr);
    let v = if w == addr + W_PARENT {
        // The first slot: its parent link goes with the count's decrement.
        (mem.read_u64(w) & COUNT).wrapping_sub(1)
    } else {
        mem.write_u64(addr + W_PARENT, 0);
        mem.read_u64(w).wrapping_sub(1)
    };
    mem.write_u64(w, v);
    v & COUNT == 0
}

/// Writes the parent link of the slot at `addr`, keeping the bits that are not part of
/// the link (the leaf's count, in the first slot).
#[inline(always)]
pub(super) fn write_parent(mem: &mut impl TableMem, addr: u64, link: Option<SlotRef>) {
    let old = mem.read_u64(addr + W_PARENT);
    mem.write_u64(addr + W_PARENT, (old & COUNT) | SlotRef::encode(link));
}

/// [`Table::scan`] below the `level` frame at `frame`, whose first index is `base`, where
/// `from` lies in or before the frame. Returns false once `f` has.
fn scan_frame(
    mem: &impl TableMem,
    frame: u64,
    level: u32,
    base: u64,
    from: u64,
    to: u64,
    f: &mut impl FnMut(u64, u64) -> bool,
) -> bool {
    let span = span(level);
    let entries = if level == 0 { LEAF_SLOTS } else { DIR_ENTRIES };
    let first = from.saturating_sub(base) / span;
    for i in first..entries {
        let start = base + i * span;
        if start >= to {
            break;
        }
        if level == 0 {
            let addr = frame + i * SLOT_BYTES;
            if used(mem, addr) && !f(start, addr) {
                return false;
            }
        } else {
            let next = mem.read_u64(frame + i * 8);
            if !absent(mem, next, level - 1)
                && !scan_frame(mem, next, level - 1, start, from, to, f)
            {
                return false;
            }
        }
    }
    true
}

/// The frames below the `level` frame at `frame` (not `frame` itself).
fn count_below(mem: &impl TableMem, frame: u64, level: u32) -> u64 {
    if level == 0 {
        return 0;
    }
    (0..DIR_ENTRIES)
        .map(|i| mem.read_u64(frame + i * 8))
        .filter(|&next| !absent(mem, next, level - 1))
        .map(|next| 1 + count_below(mem, next, level - 1))
        .sum()
}

/// Frees the frames below the `level` frame at `frame` (not `frame` itself).
fn free_below(mem: &impl TableMem, frame: u64, level: u32, free: &mut impl FnMut(u64)) {
    if level == 0 {
        return;
    }
    for i in 0..DIR_ENTRIES {
        let next = mem.read_u64(frame + i * 8);
        if !absent(mem, next, level - 1) {
            free_below(mem, next, level - 1, free);
            free(next);
        }
    }
}
