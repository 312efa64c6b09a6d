//! The mapping database: creating, delegating and revoking capabilities across spaces.

use super::table::read_slot;
use super::{Cap, CapError, Slot, SlotRef, Table, PERMS, W_CAP, W_CHILD, W_PARENT, W_SIBLING};
use crate::phys::{FrameSource, PhysMem};

/// The caller's view of all spaces: how to find them, and what to do when capabilities
/// come and go.
///
/// The hooks are called while an operation is under way, with the MDB between two
/// consistent states: they must not call back into this module. In particular, freeing an
/// object whose last capability was dropped must not revoke anything right away (a PD's
/// own spaces, say); queue such work and do it after the operation has returned.
pub trait Spaces {
    /// The table of the space with this id (`None` if the id is unknown). Never asked
    /// for id 0. While any link points into a space, its id must keep resolving to it.
    fn table(&self, space: u32) -> Option<Table>;
    /// Called for every slot whose capability changes: set, reduced or removed. `cap` is
    /// the new value (`None`: removed). For the I/O bitmap, TLB-like caches and the like.
    fn changed(&mut self, space: u32, index: u64, cap: Option<Cap>);
    /// Called once for every capability to `obj` created ([`insert_root`] and each slot
    /// [`delegate`] fills), before the `changed` for its slot.
    fn added(&mut self, obj: u64);
    /// Called once for every capability to `obj` deleted, after the `changed` for its
    /// slot. When calls to `dropped` have caught up with calls to `added`, no capability
    /// to `obj` is left.
    fn dropped(&mut self, obj: u64);
}

/// What [`delegate`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelegateOutcome {
    /// Destination slots filled.
    pub delegated: u64,
    /// Source capabilities not delegated: no permission bits left after the mask, or the
    /// destination slot occupied (which includes a slot delegated onto itself).
    pub skipped: u64,
}

/// What [`revoke`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RevokeOutcome {
    /// Capabilities that lost permission bits and were kept.
    pub changed: u64,
    /// Capabilities deleted.
    pub deleted: u64,
}

/// The table of space `space`.
fn table_of(spaces: &impl Spaces, space: u32) -> Result<Table, CapError> {
    if space == 0 {
        return Err(CapError::UnknownSpace);
    }
    spaces.table(space).ok_or(CapError::UnknownSpace)
}

/// The end of the range of `1 << order` indices from `base`, if it fits in `table`.
fn range_end(table: &Table, base: u64, order: u32) -> Result<u64, CapError> {
    1u64.checked_shl(order)
        .and_then(|len| base.checked_add(len))
        .filter(|&end| end <= table.len())
        .ok_or(CapError::IndexOutOfRange)
}

/// Stores a root capability (no parent): for newly created objects and kernel-sourced
/// ports. Then calls [`Spaces::added`] and [`Spaces::changed`].
///
/// Errors, checked in this order and with nothing changed: [`CapError::UnknownSpace`],
/// [`CapError::IndexOutOfRange`], [`CapError::Malformed`] (see [`Cap::is_valid`]),
/// [`CapError::NoPermissions`], [`CapError::Occupied`] (the slot is not empty),
/// [`CapError::OutOfMemory`] (empty frames may stay linked in, as for [`Table::set`]).
pub fn insert_root(
    spaces: &mut impl Spaces,
    mem: &mut impl PhysMem,
    frames: &mut impl FrameSource,
    space: u32,
    index: u64,
    cap: Cap,
) -> Result<(), CapError> {
    let table = table_of(spaces, space)?;
    if !table.contains(index) {
        return Err(CapError::IndexOutOfRange);
    }
    if !cap.is_valid() {
        return Err(CapError::Malformed);
    }
    if cap.perms == 0 {
        return Err(CapError::NoPermissions);
    }
    if !table.get(mem, index).is_empty() {
        return Err(CapError::Occupied);
    }
    table.set(mem, frames, index, Slot::root(cap))?;
    spaces.added(cap.obj);
    spaces.changed(space, index, Some(cap));
    Ok(())
}

/// Delegates the `1 << order` slots from `src_base` in `src_space` to the same number of
/// slots from `dst_base` in `dst_space`.
///
/// For each `i` in increasing order whose source slot holds a capability: the new
/// capability names the same object and kind, with the source's permissions `&
/// perms_mask` and the smaller of the source's [`Cap::order`] and `order` (the part of
/// the source's range delegated here; with bases aligned to `order`, as the kernel's
/// transfers have them, it is aligned in the destination too). If none are left, or the destination slot `dst_base + i` is occupied
/// (delegating a slot onto itself included), it is skipped; otherwise it is stored there
/// as the newest child of the source slot, then [`Spaces::added`] and [`Spaces::changed`]
/// are called. Ranges overlapping in one space are processed in that order, so a slot
/// filled early can be a source later (as in the reference kernel).
///
/// Bases need not be aligned. Absent source frames are skipped whole, so the cost follows
/// the populated part of the source range, not its length.
///
/// Errors: [`CapError::UnknownSpace`] and [`CapError::IndexOutOfRange`] (either range
/// not inside its table) before anything is done. [`CapError::OutOfMemory`] when a
/// destination frame cannot be had: the slots before the failing one stay delegated
/// (and were reported), and the MDB is consistent.
#[allow(clippy::too_many_arguments)] // Two ranges, their length and the mask.
pub fn delegate(
    spaces: &mut impl Spaces,
    mem: &mut impl PhysMem,
    frames: &mut impl FrameSource,
    src_space: u32,
    src_base: u64,
    dst_space: u32,
    dst_base: u64,
    order: u32,
    perms_mask: u8,
) -> Result<DelegateOutcome, CapError> {
    let src = table_of(spaces, src_space)?;
    let dst = table_of(spaces, dst_space)?;
    let src_end = range_end(&src, src_base, order)?;
    range_end(&dst, dst_base, order)?;
    let mask = perms_mask & PERMS;
    let mut out = DelegateOutcome::default();
    let mut from = src_base;
    while let Some((s, s_addr)) = src.next_used_in(mem, from, src_end) {
        from = s + 1;
        let Some(cap) = Cap::decode(mem.read_u64(s_addr + W_CAP)) else {
            continue;
        };
        let d = dst_base + (s - src_base);
        let perms = cap.perms & mask;
        let occupied = !dst.get(mem, d).is_empty();
        if perms == 0 || occupied {
            out.skipped += 1;
            continue;
        }
        let d_addr = dst.slot_addr_alloc(mem, frames, d)?;
        // The copy belongs to the part of its source's range that was delegated.
        let new = cap.with_perms(perms).with_order(cap.order.min(order as u8));
        // Both indices are below 2^32: tables have at most 32 index bits.
        let src_ref = SlotRef::new(src_space, s as u32);
        let dst_ref = SlotRef::new(dst_space, d as u32);
        let older = mem.read_u64(s_addr + W_CHILD);
        mem.write_u64(d_addr + W_CAP, new.encode());
        mem.write_u64(d_addr + W_PARENT, SlotRef::encode(Some(src_ref)));
        mem.write_u64(d_addr + W_CHILD, 0);
        mem.write_u64(d_addr + W_SIBLING, older);
        mem.write_u64(s_addr + W_CHILD, SlotRef::encode(Some(dst_ref)));
        spaces.added(cap.obj);
        spaces.changed(dst_space, d, Some(new));
        out.delegated += 1;
    }
    Ok(out)
}

/// Revokes permissions `perms` (masked to five bits) from the `1 << order` slots from
/// `base` in `space`.
///
/// For each slot in the range, in increasing index order, holding a capability with any
/// of `perms`: every descendant, in any space and at any depth, loses `perms`, and so does
/// the slot itself if `include_self`. A capability left without permission bits is deleted
/// with its whole subtree (children never have rights their parent lacks): unlinked from
/// its parent's child list, its slot cleared, then [`Spaces::changed`] with `None` and
/// [`Spaces::dropped`]. A kept capability that lost bits gets [`Spaces::changed`].
///
/// Revoking all permissions with `include_self` over a whole space empties it; that is
/// how a PD's spaces are torn down before [`Table::free_all`].
///
/// The trees are walked through their links, without recursion. Costs: per slot visited a
/// few table walks; subtrees whose root has none of `perms` are skipped; unlinking a
/// range slot that is deleted scans its parent's child list from the newest child up to
/// it (the siblings delegated after it), while deleted descendants are unlinked in
/// constant time. Absent frames of the range are skipped whole. Nothing is allocated or
/// freed (emptied frames stay until [`Table::free_all`]), so nothing can fail midway.
///
/// Errors, before anything is done: [`CapError::UnknownSpace`],
/// [`CapError::IndexOutOfRange`].
///
/// # Panics
///
/// If the links are broken: a link into an unknown space or to an empty slot.
pub fn revoke(
    spaces: &mut impl Spaces,
    mem: &mut impl PhysMem,
    space: u32,
    base: u64,
    order: u32,
    perms: u8,
    include_self: bool,
) -> Result<RevokeOutcome, CapError> {
    let table = table_of(spaces, space)?;
    let end = range_end(&table, base, order)?;
    let mut mdb = Mdb {
        spaces,
        mem,
        out: RevokeOutcome::default(),
    };
    let perms = perms & PERMS;
    if perms == 0 {
        return Ok(mdb.out);
    }
    let mut from = base;
    // Deletions may empty slots further on, so look for the next one afresh each time.
    while let Some((index, addr)) = table.next_used_in(mdb.mem, from, end) {
        from = index + 1;
        mdb.revoke_slot(SlotRef::new(space, index as u32), addr, perms, include_self);
    }
    Ok(mdb.out)
}

/// The capability at `index` of `space`; `None` if the slot is empty, the index is out of
/// range or the space unknown.
pub fn lookup(spaces: &impl Spaces, mem: &impl PhysMem, space: u32, index: u64) -> Option<Cap> {
    lookup_in(mem, table_of(spaces, space).ok()?, index)
}

/// The capability at `index` of `table` (a lookup when the caller already knows the
/// space's table, as the kernel does for the running Pd's object space).
#[inline]
pub fn lookup_in(mem: &impl PhysMem, table: Table, index: u64) -> Option<Cap> {
    let addr = table.slot_addr(mem, index)?;
    Cap::decode(mem.read_u64(addr + W_CAP))
}

/// Translation: the index in `rcv_space` of the capability from which the one at `index`
/// of `snd_space` was delegated, directly or through other spaces (its nearest such
/// ancestor), and the sender's capability. When the sender and the receiver are the same
/// space and nothing is found, the index itself is the answer (a PD translating its own
/// capability, as the reference does for Genode). `None` when nothing matches.
pub fn translate(
    spaces: &impl Spaces,
    mem: &impl PhysMem,
    snd_space: u32,
    index: u64,
    rcv_space: u32,
) -> Option<(u64, Cap)> {
    let snd = table_of(spaces, snd_space).ok()?;
    let start = read_slot(mem, snd.slot_addr(mem, index)?);
    let cap = start.cap?;
    let mut link = start.parent;
    // Every step goes to an older slot, so the walk ends; the bound only guards
    // against a corrupted tree.
    for _ in 0..(1u32 << 24) {
        let Some(at) = link else { break };
        if at.space == rcv_space {
            return Some((at.index as u64, cap));
        }
        let table = table_of(spaces, at.space).ok()?;
        link = read_slot(mem, table.slot_addr(mem, at.index as u64)?).parent;
    }
    (snd_space == rcv_space).then_some((index, cap))
}

/// The state of one revoke.
struct Mdb<'a, S, M> {
    spaces: &'a mut S,
    mem: &'a mut M,
    out: RevokeOutcome,
}

impl<S: Spaces, M: PhysMem> Mdb<'_, S, M> {
    /// The physical address of a linked slot.
    fn addr(&self, r: SlotRef) -> u64 {
        let table = self
            .spaces
            .table(r.space)
            .expect("capspace: link into an unknown space");
        table
            .slot_addr(self.mem, r.index as u64)
            .expect("capspace: link to an absent slot")
    }

    /// The address and contents of a linked slot, which must hold a capability.
    fn load(&self, r: SlotRef) -> (u64, Slot, Cap) {
        let addr = self.addr(r);
        let slot = read_slot(self.mem, addr);
        let cap = slot.cap.expect("capspace: link to an empty slot");
        (addr, slot, cap)
    }

    fn write_link(&mut self, addr: u64, word: u64, link: Option<SlotRef>) {
        self.mem.write_u64(addr + word, SlotRef::encode(link));
    }

    /// Lowers the capability at `r` to `perms` (non-zero).
    fn reduce(&mut self, r: SlotRef, addr: u64, cap: Cap, perms: u8) {
        let new = cap.with_perms(perms);
        self.mem.write_u64(addr + W_CAP, new.encode());
        self.spaces.changed(r.space, r.index as u64, Some(new));
        self.out.changed += 1;
    }

    /// Clears the slot at `r`, already unlinked and without children.
    fn clear(&mut self, r: SlotRef, addr: u64, cap: Cap) {
        for word in [W_CAP, W_PARENT, W_CHILD, W_SIBLING] {
            self.mem.write_u64(addr + word, 0);
        }
        self.spaces.changed(r.space, r.index as u64, None);
        self.spaces.dropped(cap.obj);
        self.out.deleted += 1;
    }

    /// Revokes `perms` below the range slot `r` (at `addr`), and from `r` itself if
    /// `include_self`.
    fn revoke_slot(&mut self, r: SlotRef, addr: u64, perms: u8, include_self: bool) {
        let slot = read_slot(self.mem, addr);
        let Some(cap) = slot.cap else {
            return;
        };
        // Descendants have no bits `r` lacks: nothing to do anywhere below.
        if cap.perms & perms == 0 {
            return;
        }
        if include_self {
            let left = cap.perms & !perms;
            if left == 0 {
                if let Some(parent) = slot.parent {
                    self.unlink_by_scan(r, parent, slot.next_sibling);
                }
                self.delete_subtree(r);
                return;
            }
            self.reduce(r, addr, cap, left);
        }
        // Pre-order walk of the descendants. `prev` is the sibling before `node` in its
        // parent's child list (None: `node` is the first child), so deleting is O(1).
        let mut prev = None;
        let mut next = slot.first_child;
        while let Some(node) = next {
            let (n_addr, n_slot, n_cap) = self.load(node);
            if n_cap.perms & perms == 0 {
                next = self.after(r, node, &mut prev);
                continue;
            }
            let left = n_cap.perms & !perms;
            if left != 0 {
                self.reduce(node, n_addr, n_cap, left);
                next = match n_slot.first_child {
                    Some(child) => {
                        prev = None;
                        Some(child)
                    }
                    None => self.after(r, node, &mut prev),
                };
                continue;
            }
            let parent = n_slot.parent.expect("capspace: child without a parent");
            match prev {
                Some(p) => {
                    let p_addr = self.addr(p);
                    self.write_link(p_addr, W_SIBLING, n_slot.next_sibling);
                }
                None => {
                    let p_addr = self.addr(parent);
                    self.write_link(p_addr, W_CHILD, n_slot.next_sibling);
                }
            }
            self.delete_subtree(node);
            next = match n_slot.next_sibling {
                // `prev` now precedes the sibling.
                Some(sibling) => Some(sibling),
                None => self.after(r, parent, &mut prev),
            };
        }
    }

    /// The next node of the pre-order walk below `top` once the subtree of `node` is done:
    /// its next sibling, or that of its nearest ancestor below `top` that has one. Sets
    /// `prev` to the node the returned one follows.
    fn after(
        &self,
        top: SlotRef,
        mut node: SlotRef,
        prev: &mut Option<SlotRef>,
    ) -> Option<SlotRef> {
        loop {
            if node == top {
                return None;
            }
            let (_, slot, _) = self.load(node);
            if let Some(sibling) = slot.next_sibling {
                *prev = Some(node);
                return Some(sibling);
            }
            node = slot.parent.expect("capspace: child without a parent");
        }
    }

    /// Removes `r`, whose next sibling is `next`, from the child list of `parent`.
    fn unlink_by_scan(&mut self, r: SlotRef, parent: SlotRef, next: Option<SlotRef>) {
        let (p_addr, p_slot, _) = self.load(parent);
        if p_slot.first_child == Some(r) {
            self.write_link(p_addr, W_CHILD, next);
            return;
        }
        let mut cur = p_slot
            .first_child
            .expect("capspace: slot missing from its parent's child list");
        loop {
            let (c_addr, c_slot, _) = self.load(cur);
            if c_slot.next_sibling == Some(r) {
                self.write_link(c_addr, W_SIBLING, next);
                return;
            }
            cur = c_slot
                .next_sibling
                .expect("capspace: slot missing from its parent's child list");
        }
    }

    /// Deletes `top`, already unlinked from its parent, and everything below it: always
    /// the first leaf below the current node, so each unlink is from the head of a list.
    fn delete_subtree(&mut self, top: SlotRef) {
        let mut node = top;
        loop {
            let (addr, slot, cap) = self.load(node);
            if let Some(child) = slot.first_child {
                node = child;
                continue;
            }
            self.clear(node, addr, cap);
            if node == top {
                return;
            }
            let parent = slot.parent.expect("capspace: child without a parent");
            let p_addr = self.addr(parent);
            self.write_link(p_addr, W_CHILD, slot.next_sibling);
            node = parent;
        }
    }
}
