//! The mapping database: creating, delegating and revoking capabilities across spaces.

use super::table::{clear_slot, occupy, read_slot, write_parent, TableMem};
use super::{Cap, CapError, Slot, SlotRef, Table, PERMS, SPACE_LIMIT, W_CAP, W_CHILD, W_SIBLING};
use crate::phys::FrameSource;

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
    /// Space ids are below [`SPACE_LIMIT`](super::SPACE_LIMIT), so that links can name
    /// them.
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
    /// Takes back a frame of a table that [`revoke`] emptied (the frame source that gave
    /// it out is the caller's).
    fn free_frame(&mut self, frame: u64);
}

/// The frame source [`revoke`] hands emptied frames to: the spaces' own.
struct Freeing<'a, S>(&'a mut S);

impl<S: Spaces> FrameSource for Freeing<'_, S> {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        // A revoke allocates nothing.
        None
    }

    fn free(&mut self, frame: u64) {
        self.0.free_frame(frame);
    }
}

/// What [`delegate`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelegateOutcome {
    /// Destination slots filled.
    pub delegated: u64,
    /// Source capabilities not delegated: no permission bits left after the mask, or a
    /// destination slot of their node's part occupied (which includes a node delegated
    /// onto itself).
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
    // Links hold 26-bit space ids: the caller's ids are below the limit.
    debug_assert!(space < SPACE_LIMIT);
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

/// [`CapError::Misaligned`] unless `base` is a multiple of `1 << order`.
fn aligned(base: u64, order: u32) -> Result<(), CapError> {
    let mask = 1u64.checked_shl(order).map_or(u64::MAX, |len| len - 1);
    if base & mask != 0 {
        return Err(CapError::Misaligned);
    }
    Ok(())
}

/// The node slot `index` of `table` belongs to, holding `cap`: `[first, end)`, the
/// naturally aligned `2^cap.order` slots around it (clipped to the table).
fn node_of(table: &Table, cap: Cap, index: u64) -> (u64, u64) {
    let first = cap.range_base(index);
    let end = first
        .saturating_add(1u64 << (cap.order as u32).min(63))
        .min(table.len());
    (first, end)
}

/// The number of used slots of `table` in `[from, to)`.
fn count_used(table: &Table, mem: &impl TableMem, mut from: u64, to: u64) -> u64 {
    let mut n = 0;
    while let Some((i, _)) = table.next_used_in(mem, from, to) {
        n += 1;
        from = i + 1;
    }
    n
}

/// Stores a root capability (no parent) as one node: the `2^cap.order` slots from
/// `index`, each holding `cap` (order 0 for a newly created object, the range received for
/// ports from the kernel). Then calls [`Spaces::added`] and [`Spaces::changed`] for each.
///
/// Errors, checked in this order and with nothing changed: [`CapError::UnknownSpace`],
/// [`CapError::IndexOutOfRange`] (`index`), [`CapError::Malformed`] (see
/// [`Cap::is_valid`]), [`CapError::NoPermissions`], [`CapError::Misaligned`] (`index`
/// not a multiple of the node's length), [`CapError::IndexOutOfRange`] (the node's end),
/// [`CapError::Occupied`] (a slot of the node is not empty), [`CapError::OutOfMemory`]
/// (the frames made for the node are handed back).
pub fn insert_root(
    spaces: &mut impl Spaces,
    mem: &mut impl TableMem,
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
    let order = cap.order as u32;
    aligned(index, order)?;
    let end = range_end(&table, index, order)?;
    if order == 0 {
        // One slot (every new object): nothing to reserve first.
        if table.next_used_in(mem, index, index + 1).is_some() {
            return Err(CapError::Occupied);
        }
        let addr = table
            .slot_addr_alloc(mem, frames, index)
            .inspect_err(|_| table.trim(mem, frames, index, end))?;
        mem.write_u64(addr + W_CAP, cap.encode());
        occupy(mem, addr);
        spaces.added(cap.obj);
        spaces.changed(space, index, Some(cap));
        return Ok(());
    }
    if table.next_used_in(mem, index, end).is_some() {
        return Err(CapError::Occupied);
    }
    table
        .reserve(mem, frames, index, end)
        .inspect_err(|_| table.trim(mem, frames, index, end))?;
    for i in index..end {
        let addr = table.slot_addr(mem, i).expect("capspace: reserved frame");
        mem.write_u64(addr + W_CAP, cap.encode());
        occupy(mem, addr);
        spaces.added(cap.obj);
        spaces.changed(space, i, Some(cap));
    }
    Ok(())
}

/// Delegates the `1 << order` slots from `src_base` in `src_space` to the same number of
/// slots from `dst_base` in `dst_space`, node by node, as the reference kernel does.
///
/// For each node of the source overlapping the range, in increasing index order: the
/// part inside the range (the smaller of the two, both being aligned) becomes one new node
/// at the same offset from `dst_base`, of that part's order, each slot naming the same
/// object and kind as its source slot with the source's permissions `& perms_mask`, and
/// linked as its newest child; [`Spaces::added`] and [`Spaces::changed`] are called for
/// each slot. The part is skipped whole when no permission is left or any slot it would
/// fill is occupied (delegating onto itself included): a node is never merged into or
/// split. Ranges overlapping in one space are processed in that order, so a node made
/// early can be a source later (as in the reference kernel).
///
/// Absent source frames are skipped whole, so the cost follows the populated part of the
/// source range, not its length.
///
/// Errors: [`CapError::UnknownSpace`], [`CapError::IndexOutOfRange`] (either range not
/// inside its table) and [`CapError::Misaligned`] (a base not a multiple of `1 << order`)
/// before anything is done. [`CapError::OutOfMemory`] when a destination frame cannot be
/// had: the nodes before the failing one stay delegated (and were reported), the failing
/// one is not (the frames made for it are handed back), and the MDB is consistent.
#[allow(clippy::too_many_arguments)] // Two ranges, their length and the mask.
pub fn delegate(
    spaces: &mut impl Spaces,
    mem: &mut impl TableMem,
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
    aligned(src_base, order)?;
    aligned(dst_base, order)?;
    let mask = perms_mask & PERMS;
    let mut out = DelegateOutcome::default();
    let mut from = src_base;
    while let Some((s, s_addr)) = src.next_used_in(mem, from, src_end) {
        let Some(cap) = Cap::decode(mem.read_u64(s_addr + W_CAP)) else {
            from = s + 1;
            continue;
        };
        // The part of the source node inside the range.
        let (node, node_end) = node_of(&src, cap, s);
        let (first, end) = (node.max(src_base), node_end.min(src_end));
        from = end;
        let (d_first, d_end) = (dst_base + (first - src_base), dst_base + (end - src_base));
        let perms = cap.perms & mask;
        if perms == 0 || dst.next_used_in(mem, d_first, d_end).is_some() {
            out.skipped += count_used(&src, mem, first, end);
            continue;
        }
        dst.reserve(mem, frames, d_first, d_end)
            .inspect_err(|_| dst.trim(mem, frames, d_first, d_end))?;
        let part_order = cap.order.min(order as u8);
        let mut at = first;
        while let Some((s, s_addr)) = src.next_used_in(mem, at, end) {
            at = s + 1;
            let Some(cap) = Cap::decode(mem.read_u64(s_addr + W_CAP)) else {
                continue;
            };
            let d = dst_base + (s - src_base);
            let d_addr = dst.slot_addr(mem, d).expect("capspace: reserved frame");
            let new = cap.with_perms(cap.perms & mask).with_order(part_order);
            // Both indices are below 2^32: tables have at most 32 index bits.
            let src_ref = SlotRef::new(src_space, s as u32);
            let dst_ref = SlotRef::new(dst_space, d as u32);
            let older = mem.read_u64(s_addr + W_CHILD);
            mem.write_u64(d_addr + W_CAP, new.encode());
            write_parent(mem, d_addr, Some(src_ref));
            mem.write_u64(d_addr + W_CHILD, 0);
            mem.write_u64(d_addr + W_SIBLING, older);
            occupy(mem, d_addr);
            mem.write_u64(s_addr + W_CHILD, SlotRef::encode(Some(dst_ref)));
            spaces.added(cap.obj);
            spaces.changed(dst_space, d, Some(new));
            out.delegated += 1;
        }
    }
    Ok(out)
}

/// Revokes permissions `perms` (masked to five bits) from the nodes of `space` that
/// overlap the `1 << order` slots from `base`, as the reference kernel does.
///
/// Node by node, in increasing index order, for each node holding any of `perms`: with
/// `include_self`, the whole node loses `perms`, even slots outside the range, and so
/// does everything delegated from it, in any space and at any depth. Without, the node
/// keeps its rights, and each node delegated from it that has a slot in the range loses
/// `perms` whole, with everything delegated from that. A slot left without permission
/// bits is deleted with its whole subtree (children never have rights their parent
/// lacks): unlinked from its parent's child list, its slot cleared, then
/// [`Spaces::changed`] with `None` and [`Spaces::dropped`]. A kept capability that lost
/// bits gets [`Spaces::changed`]. Nodes stay whole: every slot of a node has the same
/// rights.
///
/// Revoking all permissions with `include_self` over a whole space empties it; that is
/// how a PD's spaces are torn down before [`Table::free_all`].
///
/// The trees are walked through their links, without recursion. Costs: per slot visited a
/// few table walks; subtrees whose root has none of `perms` are skipped; unlinking a node
/// slot that is deleted scans its parent's child list from the newest child up to it (the
/// siblings delegated after it), while deleted descendants are unlinked in constant time.
/// Absent frames are skipped whole. Nothing is allocated, so nothing can fail midway; a
/// leaf frame whose last slot is deleted goes back at once ([`Spaces::free_frame`]), with
/// the directories above it it leaves empty (in whichever space it lies).
///
/// Errors, before anything is done: [`CapError::UnknownSpace`],
/// [`CapError::IndexOutOfRange`], [`CapError::Misaligned`] (`base` not a multiple of
/// `1 << order`).
///
/// # Panics
///
/// If the links are broken: a link into an unknown space or to an empty slot.
pub fn revoke(
    spaces: &mut impl Spaces,
    mem: &mut impl TableMem,
    space: u32,
    base: u64,
    order: u32,
    perms: u8,
    include_self: bool,
) -> Result<RevokeOutcome, CapError> {
    let table = table_of(spaces, space)?;
    let end = range_end(&table, base, order)?;
    aligned(base, order)?;
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
        let Some(cap) = Cap::decode(mdb.mem.read_u64(addr + W_CAP)) else {
            from = index + 1;
            continue;
        };
        let (node, node_end) = node_of(&table, cap, index);
        from = node_end;
        // Descendants have no bits the node lacks: nothing to do anywhere below.
        if cap.perms & perms == 0 {
            continue;
        }
        if include_self {
            if node_end - node == 1 {
                // A single slot (every object capability): the one just found.
                mdb.demote_slot(SlotRef::new(space, index as u32), addr, perms);
            } else {
                mdb.demote_node(table, space, node, node_end, perms);
            }
            continue;
        }
        // The nodes delegated from the part of this node inside the range.
        let mut at = node.max(base);
        let stop = node_end.min(end);
        while let Some((i, i_addr)) = table.next_used_in(mdb.mem, at, stop) {
            at = i + 1;
            let mut next = read_slot(mdb.mem, i_addr).first_child;
            while let Some(child) = next {
                // Demoting the child's node unlinks only the child itself from this list
                // (its other slots hang below other slots), so its successor stays.
                let (_, c_slot, c_cap) = mdb.load(child);
                next = c_slot.next_sibling;
                if c_cap.perms & perms != 0 {
                    let c_table = table_of(mdb.spaces, child.space)
                        .expect("capspace: link into an unknown space");
                    let (c_node, c_end) = node_of(&c_table, c_cap, child.index as u64);
                    mdb.demote_node(c_table, child.space, c_node, c_end, perms);
                }
            }
        }
    }
    Ok(mdb.out)
}

/// The capability at `index` of `space`; `None` if the slot is empty, the index is out of
/// range or the space unknown.
pub fn lookup(spaces: &impl Spaces, mem: &impl TableMem, space: u32, index: u64) -> Option<Cap> {
    lookup_in(mem, table_of(spaces, space).ok()?, index)
}

/// The capability at `index` of `table` (a lookup when the caller already knows the
/// space's table, as the kernel does for the running Pd's object space).
#[inline]
pub fn lookup_in(mem: &impl TableMem, table: Table, index: u64) -> Option<Cap> {
    Cap::decode(lookup_word_in(mem, table, index)?)
}

/// The stored word ([`Cap::encode`]) of the capability at `index` of `table` (0 for an
/// empty slot), `None` where the table has no slot there: for checks that test kind and
/// permissions in one comparison ([`Cap::word_grants`]) without decoding.
#[inline]
pub fn lookup_word_in(mem: &impl TableMem, table: Table, index: u64) -> Option<u64> {
    let addr = table.slot_addr(mem, index)?;
    Some(mem.read_u64(addr + W_CAP))
}

/// [`lookup_word_in`] in an object space, the range check folded into the walk
/// ([`Table::object_slot_addr`]): an index from 2^26 to 2^34 reads an empty slot (0),
/// one beyond gives `None`. The kernel's lookup for every hypercall.
#[inline]
pub fn object_lookup_word(mem: &impl TableMem, table: Table, index: u64) -> Option<u64> {
    let addr = table.object_slot_addr(mem, index)?;
    Some(mem.read_u64(addr + W_CAP))
}

/// Where two ranges meet, as the reference kernel's `clamp` computes it: `None` unless
/// `[a, +2^a_order)` and `[b, +2^b_order)` overlap (their bits above the larger order
/// agree); otherwise `a | b` (for aligned bases, the base of the smaller range) and the
/// smaller order.
pub fn meet(a: u64, b: u64, a_order: u32, b_order: u32) -> Option<(u64, u32)> {
    let high = (a ^ b).checked_shr(a_order.max(b_order)).unwrap_or(0);
    (high == 0).then_some((a | b, a_order.min(b_order)))
}

/// Translation, as the reference kernel does it: which capability of `rcv_space`, inside
/// the window `[win_base, +2^win_order)`, the sender's capability at `base` (of a range of
/// order `order`) derives from. Returns (base, order, the sender's capability) of the
/// answer, or `None`.
///
/// The sender's delegation ancestors are searched, nearest first, for a node in
/// `rcv_space` that overlaps the window; when the sender and the receiver are the same
/// space and none is found, the sender's own node counts if it overlaps the window (a PD
/// translating its own capability, as the reference does for Genode). The answer is
/// where the sender's range, its node and that node (carried into the receiver's
/// indices) and the window all meet: for single objects, the selector itself; for ports,
/// the smallest of the four ranges.
#[allow(clippy::too_many_arguments)] // The sender's range, the receiver's window.
pub fn translate(
    spaces: &impl Spaces,
    mem: &impl TableMem,
    snd_space: u32,
    base: u64,
    order: u32,
    rcv_space: u32,
    win_base: u64,
    win_order: u32,
) -> Option<(u64, u32, Cap)> {
    let snd = table_of(spaces, snd_space).ok()?;
    let start = read_slot(mem, snd.slot_addr(mem, base)?);
    let cap = start.cap?;
    let overlaps =
        |cap: Cap, index: u64| meet(cap.range_base(index), win_base, cap.order as u32, win_order);
    let mut found = None;
    let mut link = start.parent;
    // Every step goes to an older slot, so the walk ends; the bound only guards
    // against a corrupted tree.
    for _ in 0..(1u32 << 24) {
        let Some(at) = link else { break };
        let table = table_of(spaces, at.space).ok()?;
        let slot = read_slot(mem, table.slot_addr(mem, at.index as u64)?);
        let at_cap = slot.cap?;
        if at.space == rcv_space {
            if let Some(window) = overlaps(at_cap, at.index as u64) {
                found = Some((at.index as u64, window));
                break;
            }
        }
        link = slot.parent;
    }
    if found.is_none() && snd_space == rcv_space {
        found = overlaps(cap, base).map(|window| (base, window));
    }
    let (index, (win, win_ord)) = found?;
    // The sender's side: its range within its node, carried into the receiver's indices
    // by the distance between the two corresponding slots.
    let (sender, sender_ord) = (base | cap.range_base(base), order.min(cap.order as u32));
    let carried = sender.wrapping_sub(base).wrapping_add(index);
    let (rb, ro) = meet(carried, win, sender_ord, win_ord)?;
    Some((rb, ro, cap))
}

/// The state of one revoke.
struct Mdb<'a, S, M> {
    spaces: &'a mut S,
    mem: &'a mut M,
    out: RevokeOutcome,
}

impl<S: Spaces, M: TableMem> Mdb<'_, S, M> {
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

    /// Clears the slot at `r`, already unlinked and without children; a leaf left empty
    /// goes (no slot in it is linked from anywhere, so nothing holds its address).
    fn clear(&mut self, r: SlotRef, addr: u64, cap: Cap) {
        if clear_slot(self.mem, addr) {
            let table = table_of(self.spaces, r.space).expect("capspace: a slot of no space");
            table.release(self.mem, &mut Freeing(self.spaces), r.index as u64);
        }
        self.spaces.changed(r.space, r.index as u64, None);
        self.spaces.dropped(cap.obj);
        self.out.deleted += 1;
    }

    /// Takes `perms` from every slot of the node `[first, end)` of `space` (in `table`)
    /// and from everything delegated from them.
    fn demote_node(&mut self, table: Table, space: u32, first: u64, end: u64, perms: u8) {
        let mut at = first;
        while let Some((i, addr)) = table.next_used_in(self.mem, at, end) {
            at = i + 1;
            self.demote_slot(SlotRef::new(space, i as u32), addr, perms);
        }
    }

    /// Takes `perms` from the slot `r` (at `addr`) and everything delegated from it.
    fn demote_slot(&mut self, r: SlotRef, addr: u64, perms: u8) {
        let slot = read_slot(self.mem, addr);
        let Some(cap) = slot.cap else {
            return;
        };
        // Descendants have no bits `r` lacks: nothing to do anywhere below.
        if cap.perms & perms == 0 {
            return;
        }
        let left = cap.perms & !perms;
        if left == 0 {
            if let Some(parent) = slot.parent {
                self.unlink_by_scan(r, parent, slot.next_sibling);
            }
            // Unlinking changed other slots only: `slot` is still what `r` holds.
            self.delete_subtree(r, addr, cap, slot.first_child);
            return;
        }
        self.reduce(r, addr, cap, left);
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
            self.delete_subtree(node, n_addr, n_cap, n_slot.first_child);
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

    /// Deletes `top` (at `top_addr`, holding `top_cap` and with `top_child` as its first
    /// child), already unlinked from its parent, and everything below it: always the
    /// first leaf below the current node, so each unlink is from the head of a list.
    fn delete_subtree(
        &mut self,
        top: SlotRef,
        top_addr: u64,
        top_cap: Cap,
        top_child: Option<SlotRef>,
    ) {
        if top_child.is_none() {
            // Nothing below it (a capability not delegated on, the common case).
            self.clear(top, top_addr, top_cap);
            return;
        }
        let mut node = top;
        let (mut addr, mut slot, mut cap) = self.load(node);
        loop {
            if let Some(child) = slot.first_child {
                node = child;
                (addr, slot, cap) = self.load(node);
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
            addr = p_addr;
            slot = read_slot(self.mem, addr);
            cap = slot.cap.expect("capspace: link to an empty slot");
        }
    }
}
