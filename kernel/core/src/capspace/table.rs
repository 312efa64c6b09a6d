//! The radix table of one capability space.
//!
//! Index bits 6:0 pick one of the 128 slots of a leaf frame; each 9 bits above pick one of
//! the 512 entries of a directory frame. A directory entry is the physical address of the
//! next-level frame, 0 when absent. An object space (25 bits) has three levels (root
//! directory, directory, leaf), a port space (16 bits) two, a table of at most 7 bits one
//! (the root is the leaf).

use super::{
    CapError, Slot, DIR_ENTRIES, LEAF_SLOTS, MAX_BITS, SLOT_BYTES, W_CAP, W_CHILD, W_PARENT,
    W_SIBLING,
};
use crate::phys::{FrameSource, PhysMem};

/// Index bits resolved by the leaf.
const LEAF_BITS: u32 = 7;
/// Index bits resolved by each directory.
const DIR_BITS: u32 = 9;
/// Frames on the path to a leaf in an object space.
const OBJECT_LEVELS: u32 = 1 + (super::OBJECT_BITS - LEAF_BITS).div_ceil(DIR_BITS);

/// One capability space: the root frame and the number of index bits.
///
/// The value is only a handle: copying it does not copy the frames, and the frames are
/// returned explicitly with [`Table::free_all`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    /// Physical address of the top frame.
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
    /// An empty table of `bits` index bits (`1..=32`; 25 for objects, 16 for ports): one
    /// zeroed frame. `None` when no frame is left or `bits` is out of range.
    pub fn new(frames: &mut impl FrameSource, bits: u32) -> Option<Table> {
        if bits == 0 || bits > MAX_BITS {
            return None;
        }
        alloc(frames).map(|root| Table { root, bits })
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

    /// The slot at `index`; [`Slot::EMPTY`] if its frame is absent or `index` is out of
    /// range.
    pub fn get(&self, mem: &impl PhysMem, index: u64) -> Slot {
        match self.slot_addr(mem, index) {
            Some(addr) => read_slot(mem, addr),
            None => Slot::EMPTY,
        }
    }

    /// Stores `slot` at `index`, creating the frames on the way as needed (storing
    /// [`Slot::EMPTY`] where the frame is absent creates nothing and always succeeds).
    ///
    /// This is the raw store: it keeps none of the MDB's invariants, which the functions
    /// of [`super`] do.
    ///
    /// Errors: [`CapError::IndexOutOfRange`], [`CapError::Malformed`] (see
    /// [`Slot::is_valid`]) with nothing written; [`CapError::OutOfMemory`] with the slot
    /// unchanged, though the frames created before the failure stay linked in, empty:
    /// they read as empty slots, later stores reuse them and `free_all` frees them.
    pub fn set(
        &self,
        mem: &mut impl PhysMem,
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
            self.slot_addr_alloc(mem, frames, index)?
        };
        for (i, word) in slot.encode().into_iter().enumerate() {
            mem.write_u64(addr + i as u64 * 8, word);
        }
        Ok(())
    }

    /// Passes every frame of the table to `free`, each once, lower levels before the
    /// directory that points at them and the root last. The slots are not looked at: empty
    /// the space first (e.g. [`super::revoke`] with all permissions and `include_self` over
    /// the whole range), or links from other spaces will dangle. The table must not be used
    /// afterwards.
    pub fn free_all(&self, mem: &impl PhysMem, mut free: impl FnMut(u64)) {
        free_below(mem, self.root, self.levels() - 1, &mut free);
        free(self.root);
    }

    /// Calls `f` with the index and contents of every slot that is not entirely empty
    /// (in a consistent MDB: every slot holding a capability), in increasing index order,
    /// skipping absent frames.
    pub fn for_each_used(&self, mem: &impl PhysMem, mut f: impl FnMut(u64, Slot)) {
        self.scan(mem, 0, self.len(), &mut |index, addr| {
            f(index, read_slot(mem, addr));
            true
        });
    }

    /// The lowest index at or above `from` whose slot is not entirely empty.
    pub fn next_used(&self, mem: &impl PhysMem, from: u64) -> Option<u64> {
        self.next_used_in(mem, from, self.len())
            .map(|(index, _)| index)
    }

    /// The lowest index in `[from, to)` whose slot is not entirely empty, with the slot's
    /// physical address. `to` must not exceed `len()`.
    pub(super) fn next_used_in(
        &self,
        mem: &impl PhysMem,
        from: u64,
        to: u64,
    ) -> Option<(u64, u64)> {
        if to == from + 1 {
            // One slot (revoking a single capability, the common case): straight there.
            return self
                .slot_addr(mem, from)
                .filter(|&addr| used(mem, addr))
                .map(|addr| (from, addr));
        }
        let mut found = None;
        self.scan(mem, from, to, &mut |index, addr| {
            found = Some((index, addr));
            false
        });
        found
    }

    /// The physical address of the slot at `index`, if its leaf frame exists.
    ///
    /// Always inlined: every hypercall's capability lookup comes here, and inlined the
    /// object-space walk is three loads with the table's bounds known.
    #[inline(always)]
    pub fn slot_addr(&self, mem: &impl PhysMem, index: u64) -> Option<u64> {
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

    #[inline(always)]
    fn walk(&self, mem: &impl PhysMem, index: u64, levels: u32) -> Option<u64> {
        let mut frame = self.root;
        for level in (1..levels).rev() {
            frame = mem.read_u64(frame + dir_index(index, level) * 8);
            if frame == 0 {
                return None;
            }
        }
        Some(frame + (index % LEAF_SLOTS) * SLOT_BYTES)
    }

    /// The physical address of the slot at `index` (in range), creating missing frames.
    pub(super) fn slot_addr_alloc(
        &self,
        mem: &mut impl PhysMem,
        frames: &mut impl FrameSource,
        index: u64,
    ) -> Result<u64, CapError> {
        debug_assert!(self.contains(index));
        let mut frame = self.root;
        for level in (1..self.levels()).rev() {
            let entry = frame + dir_index(index, level) * 8;
            let mut next = mem.read_u64(entry);
            if next == 0 {
                next = alloc(frames).ok_or(CapError::OutOfMemory)?;
                mem.write_u64(entry, next);
            }
            frame = next;
        }
        Ok(frame + (index % LEAF_SLOTS) * SLOT_BYTES)
    }

    /// Creates the missing frames for the slots `[from, to)` (`to <= len()`), so that
    /// writing them afterwards cannot fail: a node is stored whole or not at all. On
    /// [`CapError::OutOfMemory`] the frames made so far stay, empty.
    pub(super) fn reserve(
        &self,
        mem: &mut impl PhysMem,
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

    /// Calls `f(index, slot address)` for each not entirely empty slot in `[from, to)` in
    /// index order until it returns false. `to <= len()`.
    fn scan(&self, mem: &impl PhysMem, from: u64, to: u64, f: &mut impl FnMut(u64, u64) -> bool) {
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

/// The slot at physical address `addr`.
pub(super) fn read_slot(mem: &impl PhysMem, addr: u64) -> Slot {
    Slot::decode([
        mem.read_u64(addr + W_CAP),
        mem.read_u64(addr + W_PARENT),
        mem.read_u64(addr + W_CHILD),
        mem.read_u64(addr + W_SIBLING),
    ])
}

/// Whether the slot at `addr` holds anything.
fn used(mem: &impl PhysMem, addr: u64) -> bool {
    [W_CAP, W_PARENT, W_CHILD, W_SIBLING]
        .into_iter()
        .any(|w| mem.read_u64(addr + w) != 0)
}

/// [`Table::scan`] below the `level` frame at `frame`, whose first index is `base`, where
/// `from` lies in or before the frame. Returns false once `f` has.
fn scan_frame(
    mem: &impl PhysMem,
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
            if next != 0 && !scan_frame(mem, next, level - 1, start, from, to, f) {
                return false;
            }
        }
    }
    true
}

/// Frees the frames below the `level` frame at `frame` (not `frame` itself).
fn free_below(mem: &impl PhysMem, frame: u64, level: u32, free: &mut impl FnMut(u64)) {
    if level == 0 {
        return;
    }
    for i in 0..DIR_ENTRIES {
        let next = mem.read_u64(frame + i * 8);
        if next != 0 {
            free_below(mem, next, level - 1, free);
            free(next);
        }
    }
}
