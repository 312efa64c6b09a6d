//! Inserting, delegating and revoking across spaces.

use super::*;
use facet_abi::perm;
use std::vec;

const A: u32 = 1;
const B: u32 = 2;
const C: u32 = 3;
const P: u32 = 10;
const Q: u32 = 11;
const ALL: u8 = PERMS;

/// Object spaces A, B and C, port spaces P and Q.
fn world() -> Sim {
    let mut sim = Sim::new();
    for id in [A, B, C] {
        sim.space(id, OBJECT_BITS);
    }
    for id in [P, Q] {
        sim.space(id, PORT_BITS);
    }
    sim
}

fn out(delegated: u64, skipped: u64) -> DelegateOutcome {
    DelegateOutcome { delegated, skipped }
}

fn rev(changed: u64, deleted: u64) -> RevokeOutcome {
    RevokeOutcome { changed, deleted }
}

/// Hook calls and memory are untouched by `f`, which must fail with `err`.
fn refused<T: core::fmt::Debug>(
    sim: &mut Sim,
    err: CapError,
    f: impl FnOnce(&mut Sim) -> Result<T, CapError>,
) {
    let before = sim.state();
    let hooks = (
        sim.world.changes.len(),
        sim.world.added.clone(),
        sim.world.drop_log.len(),
    );
    let writes = sim.mem.writes;
    assert_eq!(f(sim).unwrap_err(), err);
    assert_eq!(sim.state(), before);
    assert_eq!(sim.mem.writes, writes);
    let after = (
        sim.world.changes.len(),
        sim.world.added.clone(),
        sim.world.drop_log.len(),
    );
    assert_eq!(after, hooks);
}

#[test]
fn insert_root_stores_and_reports() {
    let mut sim = world();
    let c = cap(0x10, 1, ALL);
    sim.insert(A, 5, c).unwrap();
    assert_eq!(sim.cap(A, 5), Some(c));
    assert_eq!(sim.slot(A, 5), Slot::root(c));
    assert_eq!(sim.world.changes, vec![(A, 5, Some(c))]);
    assert_eq!(sim.world.added[&0x10], 1);
    let other = cap(0x11, 1, ALL);
    refused(&mut sim, CapError::Occupied, |s| s.insert(A, 5, other));
    refused(&mut sim, CapError::UnknownSpace, |s| s.insert(9, 5, other));
    refused(&mut sim, CapError::UnknownSpace, |s| s.insert(0, 5, other));
    refused(&mut sim, CapError::IndexOutOfRange, |s| {
        s.insert(A, 1 << 26, other)
    });
    refused(&mut sim, CapError::IndexOutOfRange, |s| {
        s.insert(P, 1 << 16, other)
    });
    refused(&mut sim, CapError::NoPermissions, |s| {
        s.insert(A, 6, cap(0x11, 1, 0))
    });
    refused(&mut sim, CapError::Malformed, |s| {
        s.insert(A, 6, cap(0, 1, 1))
    });
    refused(&mut sim, CapError::Malformed, |s| {
        s.insert(A, 6, cap(OBJ_LIMIT, 1, 1))
    });
    refused(&mut sim, CapError::Malformed, |s| {
        s.insert(A, 6, cap(1, 8, 1))
    });
    refused(&mut sim, CapError::Malformed, |s| {
        s.insert(A, 6, cap(1, 1, 0x20))
    });
    sim.insert(P, 0x3f8, cap(0x3f8, 1, perm::PIO_A)).unwrap();
    assert_eq!(sim.check(), 2);
}

#[test]
fn insert_root_out_of_memory_reports_nothing() {
    let mut sim = Sim::with_limit(2);
    sim.space(A, OBJECT_BITS);
    assert_eq!(sim.insert(A, 0, cap(1, 1, 1)), Err(CapError::OutOfMemory));
    assert!(sim.world.changes.is_empty() && sim.world.added.is_empty());
    assert_eq!(sim.cap(A, 0), None);
    assert_eq!(sim.check(), 0);
}

#[test]
fn lookup_cases() {
    let mut sim = world();
    sim.insert(A, 300, cap(7, 2, 3)).unwrap();
    assert_eq!(sim.cap(A, 300), Some(cap(7, 2, 3)));
    assert_eq!(sim.cap(A, 301), None);
    assert_eq!(sim.cap(A, 1 << 20), None); // absent frames
    assert_eq!(sim.cap(A, 1 << 26), None); // out of range
    assert_eq!(lookup(&sim.world, &sim.mem, 9, 300), None);
    assert_eq!(lookup(&sim.world, &sim.mem, 0, 300), None);
}

#[test]
fn delegated_copies_keep_the_part_of_their_range() {
    let mut sim = world();
    // Ports 0x40..0x48 as one node of order 3 (the way the kernel hands out ports).
    sim.insert(P, 0x40, cap(1, 1, 1).with_order(3)).unwrap();
    assert_eq!(sim.check(), 8);
    // Four of them on: the copies are a node of order 2.
    assert_eq!(sim.delegate(P, 0x44, Q, 0x44, 2, ALL), Ok(out(4, 0)));
    let c = sim.cap(Q, 0x46).unwrap();
    assert_eq!((c.order, c.range_base(0x46)), (2, 0x44));
    // All eight into an empty space: one node of the source's order (3).
    sim.space(12, PORT_BITS);
    assert_eq!(sim.delegate(P, 0x40, 12, 0x40, 4, ALL), Ok(out(8, 0)));
    assert_eq!(sim.cap(12, 0x41).unwrap().order, 3);
    // Into Q, where half of them are: the node is skipped whole, as in the reference.
    assert_eq!(sim.delegate(P, 0x40, Q, 0x40, 3, ALL), Ok(out(0, 8)));
    assert_eq!(sim.cap(Q, 0x41), None);
    assert_eq!(sim.cap(Q, 0x45).unwrap().order, 2);
    // Single objects stay single whatever the order delegated.
    sim.insert(A, 8, cap(0x30, 2, ALL)).unwrap();
    assert_eq!(sim.delegate(A, 8, B, 8, 3, ALL), Ok(out(1, 0)));
    assert_eq!(sim.cap(B, 8).unwrap().order, 0);
    assert_eq!(sim.check(), 22);
}

#[test]
fn a_root_node_is_stored_whole_or_not_at_all() {
    let mut sim = world();
    let node = cap(1, 1, 1).with_order(4);
    assert_eq!(sim.insert(P, 0x48, node), Err(CapError::Misaligned));
    assert_eq!(
        sim.insert(P, 0xfff0, node.with_order(17)),
        Err(CapError::Misaligned)
    );
    assert_eq!(
        sim.insert(P, 0, node.with_order(17)),
        Err(CapError::IndexOutOfRange)
    );
    sim.insert(P, 0x45, cap(2, 1, 1)).unwrap();
    assert_eq!(sim.insert(P, 0x40, node), Err(CapError::Occupied));
    assert_eq!(sim.check(), 1);
    sim.insert(P, 0x50, node).unwrap();
    assert_eq!(sim.check(), 17);
    assert!((0x50..0x60).all(|p| sim.cap(P, p) == Some(node)));
    // Out of memory: nothing stored, nothing reported (the node at 0x80 needs the
    // table's second leaf).
    let mut sim = Sim::with_limit(2);
    sim.space(P, PORT_BITS);
    sim.insert(P, 0x70, node).unwrap();
    sim.world.changes.clear();
    assert_eq!(
        sim.insert(P, 0x78, cap(3, 1, 1).with_order(3)),
        Err(CapError::Occupied)
    );
    assert_eq!(
        sim.insert(P, 0x80, cap(3, 1, 1).with_order(7)),
        Err(CapError::OutOfMemory)
    );
    assert!(sim.world.changes.is_empty());
    assert_eq!(sim.check(), 16);
}

#[test]
fn delegate_reduces_perms_by_mask() {
    let mut sim = world();
    sim.insert(A, 1, cap(0x20, 3, 0b11011)).unwrap();
    assert_eq!(sim.delegate(A, 1, B, 7, 0, 0b01110), Ok(out(1, 0)));
    let child = cap(0x20, 3, 0b01010);
    assert_eq!(
        sim.slot(B, 7),
        Slot {
            cap: Some(child),
            parent: Some(r(A, 1)),
            first_child: None,
            next_sibling: None,
        }
    );
    assert_eq!(sim.slot(A, 1).first_child, Some(r(B, 7)));
    assert_eq!(sim.world.changes.last(), Some(&(B, 7, Some(child))));
    assert_eq!(sim.world.added[&0x20], 2);
    // Mask bits above the five permission bits mean nothing.
    assert_eq!(sim.delegate(A, 1, C, 7, 0, 0xff), Ok(out(1, 0)));
    assert_eq!(sim.perms(C, 7), Some(0b11011));
    // The stored words of the child and the parent's link, spelled out.
    let t = sim.world.tables[&B];
    let addr = t.slot_addr(&sim.mem, 7).unwrap();
    assert_eq!(sim.mem.word(addr), 0x20 << 14 | 3 << 5 | 0b01010);
    assert_eq!(sim.mem.word(addr + 8), 1 << 38 | 1 << 12);
    let parent = sim.world.tables[&A].slot_addr(&sim.mem, 1).unwrap();
    assert_eq!(sim.mem.word(parent + 16), 3 << 38 | 7 << 12); // newest child: C:7
    assert_eq!(sim.check(), 3);
}

#[test]
fn delegate_skips_zero_permission_results() {
    let mut sim = world();
    sim.insert(A, 1, cap(0x20, 4, perm::PT_CALL)).unwrap();
    let before = sim.state();
    let changes = sim.world.changes.len();
    assert_eq!(sim.delegate(A, 1, B, 1, 0, perm::PT_CT), Ok(out(0, 1)));
    assert_eq!(sim.delegate(A, 1, B, 1, 0, 0), Ok(out(0, 1)));
    assert_eq!(sim.state(), before);
    assert_eq!(sim.world.changes.len(), changes);
    assert_eq!(sim.check(), 1);
}

#[test]
fn delegate_skips_occupied_destinations() {
    let mut sim = world();
    sim.insert(A, 1, cap(0x20, 1, ALL)).unwrap();
    sim.insert(B, 7, cap(0x30, 1, 1)).unwrap();
    assert_eq!(sim.delegate(A, 1, B, 7, 0, ALL), Ok(out(0, 1)));
    assert_eq!(sim.slot(B, 7), Slot::root(cap(0x30, 1, 1)));
    assert_eq!(sim.children(A, 1), vec![]);
    // Delegating the same slot twice: the second finds its own earlier child there.
    assert_eq!(sim.delegate(A, 1, B, 8, 0, ALL), Ok(out(1, 0)));
    assert_eq!(sim.delegate(A, 1, B, 8, 0, 1), Ok(out(0, 1)));
    assert_eq!(sim.perms(B, 8), Some(ALL));
    assert_eq!(sim.check(), 3);
}

#[test]
fn delegate_partially_populated_range() {
    let mut sim = world();
    for (i, obj) in [(8, 0x80), (10, 0xa0), (11, 0xb0), (15, 0xf0)] {
        sim.insert(A, i, cap(obj, 2, ALL)).unwrap();
    }
    sim.insert(B, 66, cap(0x66, 1, 1)).unwrap(); // where A:10 would go
    sim.world.changes.clear();
    assert_eq!(sim.delegate(A, 8, B, 64, 3, 0b111), Ok(out(3, 1)));
    let want = [(64, 0x80), (67, 0xb0), (71, 0xf0)];
    let changes: Vec<_> = want
        .iter()
        .map(|&(i, obj)| (B, i, Some(cap(obj, 2, 0b111))))
        .collect();
    assert_eq!(sim.world.changes, changes);
    for (i, obj) in want {
        assert_eq!(sim.slot(B, i).parent, Some(r(A, (i - 56) as u32)));
        assert_eq!(sim.cap(B, i).unwrap().obj, obj);
    }
    assert_eq!(sim.children(A, 10), vec![]);
    for i in [65, 68, 69, 70] {
        assert_eq!(sim.slot(B, i), Slot::EMPTY);
    }
    assert_eq!(sim.check(), 8);
}

#[test]
fn delegate_links_across_spaces_newest_first() {
    let mut sim = world();
    sim.insert(A, 0, cap(0x40, 1, ALL)).unwrap();
    sim.delegate(A, 0, B, 0, 0, ALL).unwrap();
    sim.delegate(A, 0, C, 0, 0, 0b111).unwrap();
    sim.delegate(A, 0, A, 200, 0, 0b1).unwrap();
    sim.delegate(B, 0, C, 1, 0, 0b1100).unwrap();
    assert_eq!(sim.children(A, 0), vec![r(A, 200), r(C, 0), r(B, 0)]);
    assert_eq!(sim.children(B, 0), vec![r(C, 1)]);
    assert_eq!(sim.slot(C, 1).parent, Some(r(B, 0)));
    assert_eq!(sim.slot(C, 0).next_sibling, Some(r(B, 0)));
    assert_eq!(sim.slot(B, 0).next_sibling, None);
    assert_eq!(sim.check(), 5);
}

#[test]
fn delegate_onto_itself_is_skipped() {
    let mut sim = world();
    for i in [4, 5, 7] {
        sim.insert(A, i, cap(i, 1, ALL)).unwrap();
    }
    let before = sim.state();
    assert_eq!(sim.delegate(A, 4, A, 4, 0, ALL), Ok(out(0, 1)));
    assert_eq!(sim.delegate(A, 4, A, 4, 2, ALL), Ok(out(0, 3)));
    assert_eq!(sim.state(), before);
    assert_eq!(sim.check(), 3);
}

#[test]
fn ranges_must_be_aligned() {
    // Aligned ranges of one order either coincide or are apart, so a delegation can never
    // feed itself (the MDB relies on it: a node is made from a node that was there
    // before).
    let mut sim = world();
    sim.insert(A, 0, cap(9, 1, ALL)).unwrap();
    let before = sim.state();
    assert_eq!(sim.delegate(A, 0, A, 1, 2, ALL), Err(CapError::Misaligned));
    assert_eq!(sim.delegate(A, 2, B, 0, 2, ALL), Err(CapError::Misaligned));
    assert_eq!(sim.revoke(A, 1, 1, ALL, true), Err(CapError::Misaligned));
    assert_eq!(sim.state(), before);
    assert!(sim.world.changes.len() == 1);
    assert_eq!(sim.delegate(A, 0, A, 0, 2, ALL), Ok(out(0, 1)));
    assert_eq!(sim.delegate(A, 0, A, 4, 2, ALL), Ok(out(1, 0)));
    assert_eq!(sim.slot(A, 4).parent, Some(r(A, 0)));
    assert_eq!(sim.check(), 2);
}

#[test]
fn delegate_refuses_bad_ranges_without_side_effects() {
    let mut sim = world();
    sim.insert(A, (1 << 26) - 1, cap(1, 1, ALL)).unwrap();
    sim.insert(A, 0, cap(2, 1, ALL)).unwrap();
    sim.insert(P, 0xfff8, cap(3, 1, 1)).unwrap();
    let top = (1u64 << 26) - 2;
    let oor = CapError::IndexOutOfRange;
    refused(&mut sim, oor, |s| s.delegate(A, top, B, 0, 2, ALL));
    refused(&mut sim, oor, |s| s.delegate(A, 0, B, top, 2, ALL));
    refused(&mut sim, oor, |s| s.delegate(A, 0, B, 0, 27, ALL));
    refused(&mut sim, oor, |s| s.delegate(A, 0, B, 0, 64, ALL));
    refused(&mut sim, oor, |s| s.delegate(A, 0, B, 0, u32::MAX, ALL));
    refused(&mut sim, oor, |s| s.delegate(A, u64::MAX, B, 0, 1, ALL));
    refused(&mut sim, oor, |s| s.delegate(P, 0xfff8, Q, 0xfff8, 4, ALL));
    refused(&mut sim, oor, |s| s.delegate(A, 0, P, 0xfff0, 5, ALL));
    let unknown = CapError::UnknownSpace;
    refused(&mut sim, unknown, |s| s.delegate(9, 0, B, 0, 0, ALL));
    refused(&mut sim, unknown, |s| s.delegate(A, 0, 9, 0, 0, ALL));
    refused(&mut sim, unknown, |s| s.delegate(A, 0, 0, 0, 0, ALL));
    // The whole space at once is in range.
    assert_eq!(sim.delegate(A, 0, B, 0, 26, ALL), Ok(out(2, 0)));
    assert_eq!(sim.check(), 5);
}

#[test]
fn delegate_out_of_memory_keeps_what_was_done() {
    // Roots of A and B, A's two directories and two leaves (slots 0 and 200), B's two
    // directories and first leaf: no frame for B's second leaf.
    let mut sim = Sim::with_limit(9);
    sim.space(A, OBJECT_BITS);
    sim.space(B, OBJECT_BITS);
    sim.insert(A, 0, cap(1, 1, ALL)).unwrap();
    sim.insert(A, 200, cap(2, 1, ALL)).unwrap();
    sim.world.changes.clear();
    assert_eq!(sim.delegate(A, 0, B, 0, 8, ALL), Err(CapError::OutOfMemory));
    assert_eq!(sim.world.changes, vec![(B, 0, Some(cap(1, 1, ALL)))]);
    assert_eq!(sim.children(A, 200), vec![]);
    assert_eq!(sim.check(), 3);
    sim.frames.limit += 1;
    assert_eq!(sim.delegate(A, 0, B, 0, 8, ALL), Ok(out(1, 1)));
    assert_eq!(sim.slot(B, 200).parent, Some(r(A, 200)));
    assert_eq!(sim.check(), 4);
}

/// A:0 (all) -> B:0 (all) -> C:0 (01111) -> A:9 (00011)
///           -> C:5 (00111)
///           B:0 -> A:3 (10000)
fn three_generations() -> Sim {
    let mut sim = world();
    sim.insert(A, 0, cap(0x77, 1, ALL)).unwrap();
    sim.delegate(A, 0, B, 0, 0, ALL).unwrap();
    sim.delegate(A, 0, C, 5, 0, 0b00111).unwrap();
    sim.delegate(B, 0, C, 0, 0, 0b01111).unwrap();
    sim.delegate(C, 0, A, 9, 0, 0b00011).unwrap();
    sim.delegate(B, 0, A, 3, 0, 0b10000).unwrap();
    assert_eq!(sim.check(), 6);
    sim.world.changes.clear();
    sim
}

#[test]
fn revoke_through_three_generations_and_spaces() {
    let mut sim = three_generations();
    assert_eq!(sim.revoke(A, 0, 0, 0b00001, false), Ok(rev(4, 0)));
    assert_eq!(sim.perms(A, 0), Some(ALL));
    assert_eq!(sim.perms(B, 0), Some(0b11110));
    assert_eq!(sim.perms(C, 5), Some(0b00110));
    assert_eq!(sim.perms(C, 0), Some(0b01110));
    assert_eq!(sim.perms(A, 9), Some(0b00010));
    assert_eq!(sim.perms(A, 3), Some(0b10000));
    // Pre-order, newest child first.
    let order: Vec<_> = sim.world.changes.iter().map(|&(s, i, _)| (s, i)).collect();
    assert_eq!(order, vec![(C, 5), (B, 0), (C, 0), (A, 9)]);
    assert_eq!(sim.check(), 6);

    assert_eq!(sim.revoke(A, 0, 0, 0b00010, false), Ok(rev(3, 1)));
    assert_eq!(sim.cap(A, 9), None);
    assert_eq!(sim.children(C, 0), vec![]);
    assert_eq!(sim.world.drop_log, vec![0x77]);
    assert_eq!(sim.world.changes.last(), Some(&(A, 9, None)));
    assert_eq!(sim.check(), 5);

    // From the middle of the tree, including the slot itself.
    assert_eq!(sim.revoke(B, 0, 0, 0b01100, true), Ok(rev(1, 1)));
    assert_eq!(sim.perms(B, 0), Some(0b10000));
    assert_eq!(sim.cap(C, 0), None);
    assert_eq!(sim.perms(A, 3), Some(0b10000));
    assert_eq!(sim.perms(C, 5), Some(0b00100));
    assert_eq!(sim.children(B, 0), vec![r(A, 3)]);
    assert_eq!(sim.check(), 4);
}

#[test]
fn revoke_without_self_keeps_the_root() {
    let mut sim = three_generations();
    assert_eq!(sim.revoke(A, 0, 0, ALL, false), Ok(rev(0, 5)));
    assert_eq!(sim.slot(A, 0), Slot::root(cap(0x77, 1, ALL)));
    assert_eq!(sim.world.drop_log, vec![0x77; 5]);
    assert_eq!(sim.check(), 1);
}

#[test]
fn revoke_with_self_deletes_the_root_and_drops() {
    let mut sim = three_generations();
    assert_eq!(sim.revoke(A, 0, 0, ALL, true), Ok(rev(0, 6)));
    assert_eq!(sim.world.drop_log, vec![0x77; 6]);
    assert_eq!(sim.world.added[&0x77], 6);
    assert_eq!(sim.check(), 0);
    for id in [A, B, C] {
        assert_eq!(sim.world.tables[&id].next_used(&sim.mem, 0), None);
    }
    // Every removal was reported once, as a removal.
    assert_eq!(sim.world.changes.len(), 6);
    assert!(sim.world.changes.iter().all(|c| c.2.is_none()));
}

#[test]
fn revoke_leaves_siblings_alone() {
    // R = A:0 with children, oldest first: B:1 (bit 0 only), B:2 (0b011, with a child
    // B:20 of 0b001), B:3 (no bit 0), B:4 (bit 0 only), B:5 (bit 0 only, with a child).
    let mut sim = world();
    sim.insert(A, 0, cap(5, 1, ALL)).unwrap();
    for (i, mask) in [(1, 0b001), (2, 0b011), (3, 0b110), (4, 0b001), (5, 0b001)] {
        sim.delegate(A, 0, B, i, 0, mask).unwrap();
    }
    sim.delegate(B, 2, B, 20, 0, 0b001).unwrap();
    sim.delegate(B, 5, C, 50, 0, ALL).unwrap();
    let list = |i| r(B, i);
    assert_eq!(
        sim.children(A, 0),
        vec![list(5), list(4), list(3), list(2), list(1)]
    );
    sim.check();
    // Revoking bit 0 below R deletes B:5 (and C:50), B:4, B:20 and B:1, and keeps the
    // others in their order.
    assert_eq!(sim.revoke(A, 0, 0, 0b001, false), Ok(rev(1, 5)));
    assert_eq!(sim.children(A, 0), vec![list(3), list(2)]);
    assert_eq!(sim.perms(B, 2), Some(0b010));
    assert_eq!(sim.perms(B, 3), Some(0b110));
    assert_eq!(sim.children(B, 2), vec![]);
    sim.check();

    // Revoking one child in the middle of a list (a range slot with a parent) unlinks
    // just that child.
    let mut sim = world();
    sim.insert(A, 0, cap(5, 1, ALL)).unwrap();
    for i in 1..=4 {
        sim.delegate(A, 0, B, i, 0, ALL).unwrap();
    }
    sim.delegate(B, 3, C, 3, 0, ALL).unwrap();
    assert_eq!(sim.revoke(B, 3, 0, ALL, true), Ok(rev(0, 2)));
    assert_eq!(sim.children(A, 0), vec![r(B, 4), r(B, 2), r(B, 1)]);
    for i in [1, 2, 4] {
        assert_eq!(sim.perms(B, i), Some(ALL));
    }
    sim.check();
    // The oldest, then the newest.
    sim.revoke(B, 1, 0, ALL, true).unwrap();
    sim.revoke(B, 4, 0, ALL, true).unwrap();
    assert_eq!(sim.children(A, 0), vec![r(B, 2)]);
    assert_eq!(sim.check(), 2);
}

#[test]
fn revoke_of_nothing_is_a_no_op() {
    let mut sim = three_generations();
    sim.insert(C, 1000, cap(0x99, 1, 0b100)).unwrap();
    sim.world.changes.clear();
    let before = sim.state();
    let writes = sim.mem.writes;
    // An empty range, absent frames, perms nobody holds, perms 0.
    assert_eq!(sim.revoke(A, 16, 4, ALL, true), Ok(rev(0, 0)));
    assert_eq!(sim.revoke(A, 1 << 20, 20, ALL, true), Ok(rev(0, 0)));
    assert_eq!(sim.revoke(C, 1000, 0, 0b011, true), Ok(rev(0, 0)));
    assert_eq!(sim.revoke(A, 0, 25, 0, true), Ok(rev(0, 0)));
    assert_eq!(sim.revoke(A, 0, 0, 0xe0, true), Ok(rev(0, 0)));
    assert_eq!(sim.state(), before);
    assert_eq!(sim.mem.writes, writes);
    assert!(sim.world.changes.is_empty() && sim.world.drop_log.is_empty());
}

#[test]
fn revoke_refuses_bad_ranges_without_side_effects() {
    let mut sim = three_generations();
    let oor = CapError::IndexOutOfRange;
    refused(&mut sim, oor, |s| s.revoke(A, 0, 27, ALL, true));
    refused(&mut sim, oor, |s| s.revoke(A, 0, 64, ALL, true));
    refused(&mut sim, oor, |s| s.revoke(A, 1 << 26, 0, ALL, true));
    refused(&mut sim, oor, |s| s.revoke(A, u64::MAX, 1, ALL, true));
    refused(&mut sim, oor, |s| s.revoke(P, 0, 17, ALL, true));
    refused(&mut sim, CapError::UnknownSpace, |s| {
        s.revoke(9, 0, 0, ALL, true)
    });
    refused(&mut sim, CapError::UnknownSpace, |s| {
        s.revoke(0, 0, 0, ALL, true)
    });
}

#[test]
fn revoke_a_range_holding_related_slots() {
    // A:0 -> A:1 -> A:2 and A:0 -> A:3 all in one range, with include_self.
    let mut sim = world();
    sim.insert(A, 0, cap(3, 1, ALL)).unwrap();
    sim.delegate(A, 0, A, 1, 0, 0b0111).unwrap();
    sim.delegate(A, 1, A, 2, 0, 0b0011).unwrap();
    sim.delegate(A, 0, A, 3, 0, 0b1000).unwrap();
    sim.delegate(A, 2, B, 2, 0, 0b0001).unwrap();
    assert_eq!(sim.revoke(A, 0, 2, 0b0010, true), Ok(rev(3, 0)));
    assert_eq!(sim.perms(A, 0), Some(0b11101));
    assert_eq!(sim.perms(A, 1), Some(0b0101));
    assert_eq!(sim.perms(A, 2), Some(0b0001));
    assert_eq!(sim.perms(A, 3), Some(0b1000));
    assert_eq!(sim.perms(B, 2), Some(0b0001));
    assert_eq!(sim.revoke(A, 0, 2, 0b0001, true), Ok(rev(2, 2)));
    assert_eq!(sim.check(), 3);
    assert_eq!(sim.revoke(A, 0, 2, ALL, true), Ok(rev(0, 3)));
    assert_eq!(sim.check(), 0);
}

#[test]
fn long_chain_without_recursion() {
    const DEPTH: u64 = 10_000;
    // A stack far too small for one frame per generation.
    let run = || {
        let mut sim = world();
        sim.insert(A, 0, cap(0x42, 1, ALL)).unwrap();
        // Alternate between two spaces: A:i -> B:i -> A:i+1 -> ...
        for i in 0..DEPTH / 2 {
            assert_eq!(sim.delegate(A, i, B, i, 0, ALL), Ok(out(1, 0)));
            if i + 1 < DEPTH / 2 {
                assert_eq!(sim.delegate(B, i, A, i + 1, 0, ALL), Ok(out(1, 0)));
            }
        }
        assert_eq!(sim.check(), DEPTH as usize);
        assert_eq!(sim.revoke(A, 0, 0, 0b1, false), Ok(rev(DEPTH - 1, 0)));
        assert_eq!(sim.perms(B, DEPTH / 2 - 1), Some(0b11110));
        // A cut in the middle deletes the lower half only.
        assert_eq!(
            sim.revoke(A, DEPTH / 4, 0, ALL, true),
            Ok(rev(0, DEPTH / 2))
        );
        assert_eq!(sim.check(), (DEPTH / 2) as usize);
        assert_eq!(sim.children(B, DEPTH / 4 - 1), vec![]);
        assert_eq!(sim.revoke(A, 0, 25, ALL, true), Ok(rev(0, DEPTH / 2)));
        assert_eq!(sim.check(), 0);
        assert_eq!(sim.world.drop_log.len(), DEPTH as usize);
    };
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn wide_tree() {
    let mut sim = world();
    sim.insert(A, 0, cap(1, 1, ALL)).unwrap();
    assert_eq!(sim.delegate(A, 0, B, 0, 0, ALL), Ok(out(1, 0)));
    for i in 0..3000 {
        sim.delegate(B, 0, C, i, 0, 1 << (i % 5)).unwrap();
    }
    assert_eq!(sim.check(), 3002);
    assert_eq!(sim.revoke(B, 0, 0, 0b00011, false), Ok(rev(0, 1200)));
    assert_eq!(sim.check(), 1802);
    assert_eq!(sim.revoke(A, 0, 0, ALL, true), Ok(rev(0, 1802)));
    assert_eq!(sim.check(), 0);
}

#[test]
fn port_capabilities_report_each_port() {
    let mut sim = world();
    for port in 0x3f8..0x400 {
        sim.insert(P, port, cap(port + 1, 1, perm::PIO_A)).unwrap();
    }
    sim.world.changes.clear();
    assert_eq!(
        sim.delegate(P, 0x3f8, Q, 0x3f8, 3, perm::PIO_A),
        Ok(out(8, 0))
    );
    let ports: Vec<_> = (0x3f8..0x400)
        .map(|p| (Q, p, Some(cap(p + 1, 1, perm::PIO_A))))
        .collect();
    assert_eq!(sim.world.changes, ports);
    sim.world.changes.clear();
    // Taking back the upper half of the range from Q only.
    assert_eq!(sim.revoke(P, 0x3fc, 2, perm::PIO_A, false), Ok(rev(0, 4)));
    let gone: Vec<_> = (0x3fc..0x400).map(|p| (Q, p, None)).collect();
    assert_eq!(sim.world.changes, gone);
    assert_eq!(sim.check(), 12);
}

#[test]
fn tearing_down_a_space() {
    // B received capabilities from A and passed some on to C; it also holds roots.
    let mut sim = world();
    sim.insert(A, 0, cap(1, 1, ALL)).unwrap();
    sim.insert(A, 1, cap(2, 1, ALL)).unwrap();
    sim.delegate(A, 0, B, 100, 1, ALL).unwrap();
    sim.delegate(A, 0, C, 0, 0, ALL).unwrap();
    sim.insert(B, 5000, cap(3, 2, ALL)).unwrap();
    sim.delegate(B, 100, C, 100, 1, 0b11).unwrap();
    sim.delegate(B, 5000, A, 5000, 0, 0b1).unwrap();
    sim.insert(Q, 0x60, cap(0x60, 1, 1)).unwrap();
    sim.delegate(Q, 0x60, P, 0x60, 0, 1).unwrap();
    assert_eq!(sim.check(), 11);
    assert_eq!(sim.revoke(B, 0, OBJECT_BITS, ALL, true), Ok(rev(0, 6)));
    assert_eq!(sim.revoke(Q, 0, PORT_BITS, ALL, true), Ok(rev(0, 2)));
    assert_eq!(sim.children(A, 0), vec![r(C, 0)]);
    assert_eq!(sim.children(A, 1), vec![]);
    assert_eq!(sim.world.dropped[&3], 2);
    // Their leaves and directories went with their last capabilities: only the roots
    // are left to free.
    let b = sim.world.tables.remove(&B).unwrap();
    let q = sim.world.tables.remove(&Q).unwrap();
    let mut freed = Vec::new();
    b.free_all(&sim.mem, |f| freed.push(f));
    q.free_all(&sim.mem, |f| freed.push(f));
    assert_eq!(freed, vec![b.root, q.root]);
    for f in freed {
        sim.frames.free(f);
    }
    // Nothing links into B or Q any more: the checker resolves every link without them.
    assert_eq!(sim.check(), 3);
}

#[test]
fn translate_finds_the_nearest_ancestor_in_the_receiver() {
    let mut sim = world();
    sim.insert(A, 5, cap(0x40, 3, ALL)).unwrap();
    // A:5 -> B:9 -> C:2 -> B:20
    sim.delegate(A, 5, B, 9, 0, ALL).unwrap();
    sim.delegate(B, 9, C, 2, 0, 0b0111).unwrap();
    sim.delegate(C, 2, B, 20, 0, 0b0011).unwrap();
    let all = |s, i, r| translate(&sim.world, &sim.mem, s, i, 0, r, 0, OBJECT_BITS);
    assert_eq!(all(C, 2, A), Some((5, 0, cap(0x40, 3, 0b0111))));
    assert_eq!(all(C, 2, B), Some((9, 0, cap(0x40, 3, 0b0111))));
    // B:20's nearest ancestor in B is B:9 (through C), not itself.
    assert_eq!(all(B, 20, B), Some((9, 0, cap(0x40, 3, 0b0011))));
    assert_eq!(all(B, 20, A), Some((5, 0, cap(0x40, 3, 0b0011))));
    // A root has no ancestor: nothing in another space; itself in its own.
    assert_eq!(all(A, 5, B), None);
    assert_eq!(all(A, 5, A), Some((5, 0, cap(0x40, 3, ALL))));
    // The receiver's window: B:9 lies outside [16, 24), so B:20 is its own answer; in
    // [8, 12) B:9 is; C:2 into A with a window without 5 finds nothing.
    let win = |s, i, r, b, o| translate(&sim.world, &sim.mem, s, i, 0, r, b, o);
    assert_eq!(win(B, 20, B, 16, 3), Some((20, 0, cap(0x40, 3, 0b0011))));
    assert_eq!(win(B, 20, B, 8, 2), Some((9, 0, cap(0x40, 3, 0b0011))));
    assert_eq!(win(C, 2, A, 8, 3), None);
    assert_eq!(win(C, 2, A, 5, 0), Some((5, 0, cap(0x40, 3, 0b0111))));
    // Empty slots, unknown spaces and indices out of range translate to nothing.
    assert_eq!(all(C, 3, A), None);
    assert_eq!(all(9, 2, A), None);
    assert_eq!(all(C, 1 << 40, A), None);
    // After a revoke the chain is gone.
    sim.revoke(A, 5, 0, ALL, false).unwrap();
    assert_eq!(
        translate(&sim.world, &sim.mem, C, 2, 0, A, 0, OBJECT_BITS),
        None
    );
}

#[test]
fn translate_of_port_ranges_answers_where_all_ranges_meet() {
    let mut sim = world();
    sim.insert(P, 0x3f8, cap(1, 1, 1).with_order(3)).unwrap();
    sim.delegate(P, 0x3f8, Q, 0x3f8, 3, ALL).unwrap();
    let t = |base, order, win, win_order| {
        translate(&sim.world, &sim.mem, Q, base, order, P, win, win_order).map(|(b, o, _)| (b, o))
    };
    // The whole node back: the smallest of the four ranges is the node.
    assert_eq!(t(0x3f8, 3, 0, 16), Some((0x3f8, 3)));
    assert_eq!(t(0x3f8, 5, 0, 16), Some((0x3f8, 3)));
    // A smaller sending range or window wins.
    assert_eq!(t(0x3fc, 1, 0, 16), Some((0x3fc, 1)));
    assert_eq!(t(0x3f8, 3, 0x3fe, 0), Some((0x3fe, 0)));
    // Base bits below the order are kept, as the reference's arithmetic does.
    assert_eq!(t(0x3f9, 3, 0, 16), Some((0x3f9, 3)));
    // A window beside the node: nothing.
    assert_eq!(t(0x3f8, 3, 0x400, 3), None);
}

#[test]
fn meet_is_the_references_clamp() {
    assert_eq!(meet(0x3f8, 0, 3, 16), Some((0x3f8, 3)));
    assert_eq!(meet(0, 0x3f8, 16, 3), Some((0x3f8, 3)));
    assert_eq!(meet(0x3f8, 0x400, 3, 3), None);
    assert_eq!(meet(0x10, 0x20, 0, 63), Some((0x30, 0)));
    assert_eq!(meet(u64::MAX, 0, 64, 0), Some((u64::MAX, 0)));
}

#[test]
fn revoking_part_of_a_node_takes_it_whole() {
    let mut sim = world();
    sim.space(12, PORT_BITS);
    sim.insert(P, 0x40, cap(1, 1, 0b11).with_order(3)).unwrap();
    assert_eq!(sim.delegate(P, 0x40, Q, 0x40, 2, ALL), Ok(out(4, 0)));
    assert_eq!(sim.delegate(P, 0x44, Q, 0x44, 2, ALL), Ok(out(4, 0)));
    assert_eq!(sim.delegate(Q, 0x44, 12, 0x44, 1, ALL), Ok(out(2, 0)));
    // One right of one port, from the others: Q's node with the port loses it whole, and
    // so does 12's node below it; Q's other node and P keep it.
    assert_eq!(sim.revoke(P, 0x47, 0, 0b10, false), Ok(rev(6, 0)));
    assert!((0x44..0x48).all(|p| sim.perms(Q, p) == Some(0b01)));
    assert!((0x44..0x46).all(|p| sim.perms(12, p) == Some(0b01)));
    assert!((0x40..0x44).all(|p| sim.perms(Q, p) == Some(0b11)));
    assert_eq!(sim.perms(P, 0x47), Some(0b11));
    // A port no node was delegated from: nothing below it changes.
    assert_eq!(sim.revoke(Q, 0x47, 0, ALL, false), Ok(rev(0, 0)));
    assert_eq!(sim.perms(12, 0x44), Some(0b01));
    // With `self`, one port of P: all of P's node goes, and everything from it.
    assert_eq!(sim.revoke(P, 0x41, 0, ALL, true), Ok(rev(0, 18)));
    assert_eq!(sim.check(), 0);
}
