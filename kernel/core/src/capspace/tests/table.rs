//! The radix table alone.

use super::*;
use std::vec;

const TOP_OBJ: u64 = (1 << 26) - 1;
const TOP_PORT: u64 = (1 << 16) - 1;

fn slot_with(obj: u64, kind: u8, perms: u8, links: [u64; 3]) -> Slot {
    Slot {
        cap: Some(cap(obj, kind, perms)),
        parent: SlotRef::decode(links[0]),
        first_child: SlotRef::decode(links[1]),
        next_sibling: SlotRef::decode(links[2]),
    }
}

#[test]
fn word_grants_is_the_decoded_kind_and_permission_check() {
    // Every kind, every permission set and every request, with and without a range order
    // and a large object: the one masked comparison agrees with the decoded fields.
    for kind in 1..8u8 {
        for perms in 0..=PERMS {
            for order in [0u8, 5, MAX_BITS as u8] {
                for obj in [1, 0x1234, OBJ_LIMIT - 1] {
                    let word = cap(obj, kind, perms).with_order(order).encode();
                    assert_eq!(Cap::word_obj(word), obj);
                    for want_kind in 0..8u8 {
                        for want in 0..=PERMS {
                            let c = Cap::decode(word).unwrap();
                            let expected =
                                want_kind != 0 && c.kind == want_kind && c.perms & want == want;
                            assert_eq!(Cap::word_grants(word, want_kind, want), expected);
                        }
                    }
                }
            }
        }
    }
    // The empty word is no capability of any kind.
    for kind in 0..8u8 {
        for want in 0..=PERMS {
            assert!(!Cap::word_grants(0, kind, want));
        }
    }
}

fn set(sim: &mut Sim, t: Table, index: u64, slot: Slot) -> Result<(), CapError> {
    t.set(&mut sim.mem, &mut sim.frames, index, slot)
}

#[test]
fn encodings_are_the_documented_words() {
    let c = cap(0x1234, 2, 0b10101);
    assert_eq!(c.encode(), 0x48d_0055);
    assert_eq!(Cap::decode(0x48d_0055), Some(c));
    assert_eq!(Cap::decode(0), None);
    // The range order sits between the kind and the object.
    let ranged = c.with_order(5);
    assert_eq!(ranged.encode(), 0x48d_0555);
    assert_eq!(Cap::decode(0x48d_0555), Some(ranged));
    assert_eq!(ranged.range_base(0x47), 0x40);
    assert_eq!(c.range_base(0x47), 0x47);
    let big = cap(OBJ_LIMIT - 1, 7, 0x1f).with_order(MAX_BITS as u8);
    assert!(big.is_valid());
    assert_eq!(big.encode(), 0xffff_ffff_ffff_daff);
    assert_eq!(Cap::decode(0xffff_ffff_ffff_daff), Some(big));
    assert!(!cap(0, 1, 1).is_valid());
    assert!(!cap(OBJ_LIMIT, 1, 1).is_valid());
    assert!(!cap(1, 8, 1).is_valid());
    assert!(!cap(1, 1, 0x20).is_valid());
    assert!(!cap(1, 1, 1).with_order(MAX_BITS as u8 + 1).is_valid());
    assert!(cap(1, 0, 0).is_valid());

    // Space ids and indices take 26 bits each, in bits 63:12.
    assert_eq!(SlotRef::encode(Some(r(3, 0x1ff_ffff))), 0xdf_ffff_f000);
    let top = r(SPACE_LIMIT - 1, (1 << MAX_BITS) - 1);
    assert_eq!(SlotRef::encode(Some(top)), 0xffff_ffff_ffff_f000);
    assert_eq!(SlotRef::encode(None), 0);
    assert_eq!(SlotRef::decode(0xdf_ffff_f000), Some(r(3, 0x1ff_ffff)));
    assert_eq!(SlotRef::decode(0), None);
    // Index 0 of space 1 is still a link; bits 11:0 (a leaf's count) are not part of it.
    assert_eq!(SlotRef::decode(1 << 38), Some(r(1, 0)));
    assert_eq!(SlotRef::decode(0x40_0000_5fff), Some(r(1, 5)));
    assert_eq!(SlotRef::decode(0xfff), None);

    let s = slot_with(
        0x99,
        1,
        3,
        [0x40_0000_5000, 0x80_0000_0000, 0x1c0_0001_0000],
    );
    assert_eq!(
        s.encode(),
        [
            0x99 << 14 | 1 << 5 | 3,
            0x40_0000_5000,
            0x80_0000_0000,
            0x1c0_0001_0000
        ]
    );
    assert_eq!(s.parent, Some(r(1, 5)));
    assert_eq!(s.next_sibling, Some(r(7, 0x10)));
    // Links that do not fit are malformed.
    let wide = Slot {
        parent: Some(r(SPACE_LIMIT, 0)),
        ..s
    };
    assert!(!wide.is_valid());
    let far = Slot {
        first_child: Some(r(1, 1 << MAX_BITS)),
        ..s
    };
    assert!(!far.is_valid());
    assert_eq!(Slot::decode(s.encode()), s);
    assert_eq!(Slot::EMPTY.encode(), [0; 4]);
    assert!(Slot::EMPTY.is_empty() && !s.is_empty());
}

#[test]
fn geometry() {
    let mut sim = Sim::new();
    let obj = sim.space(1, OBJECT_BITS);
    let port = sim.space(2, PORT_BITS);
    assert_eq!((obj.levels(), obj.len()), (4, 1 << 26));
    assert_eq!((port.levels(), port.len()), (2, 1 << 16));
    assert_eq!(sim.space(3, 7).levels(), 1);
    assert_eq!(sim.space(4, 1).levels(), 1);
    assert_eq!(sim.space(5, 8).levels(), 2);
    assert_eq!(sim.space(6, 17).levels(), 3);
    assert_eq!(sim.space(7, 26).levels(), 4);
    assert_eq!(Table::new(&mut sim.mem, &mut sim.frames, 0), None);
    assert_eq!(Table::new(&mut sim.mem, &mut sim.frames, 27), None);
    // Refused sizes take no frame.
    assert_eq!(sim.frames.handed.len(), 7);
    assert!(obj.contains(TOP_OBJ) && !obj.contains(TOP_OBJ + 1));
}

#[test]
fn absent_indices_read_empty_without_allocating() {
    let mut sim = Sim::new();
    let t = sim.space(1, OBJECT_BITS);
    for i in [0, 5, 127, 128, 1 << 16, TOP_OBJ, TOP_OBJ + 1, u64::MAX] {
        assert_eq!(t.get(&sim.mem, i), Slot::EMPTY, "index {i}");
        // In range: a slot of the shared empty leaf, which nothing writes.
        let in_empty_leaf = sim.mem.empty(0) + (i % LEAF_SLOTS) * SLOT_BYTES;
        let expected = t.contains(i).then_some(in_empty_leaf);
        assert_eq!(t.slot_addr(&sim.mem, i), expected, "index {i}");
    }
    assert_eq!(sim.frames.handed, vec![POOL]);
    assert_eq!(sim.mem.writes, 0);
    assert_eq!(t.next_used(&sim.mem, 0), None);
}

#[test]
fn object_round_trip_allocates_on_demand() {
    let mut sim = Sim::new();
    let t = sim.space(1, OBJECT_BITS);
    let cases = [
        // index, frames handed out in total afterwards
        (0, 4), // root + two directories + leaf
        (127, 4),
        (128, 5),      // next leaf, same directory
        (1 << 16, 7),  // next lower directory
        (TOP_OBJ, 10), // the root's other entry: two directories and a leaf
    ];
    let mut written = Vec::new();
    for (n, (index, frames)) in cases.into_iter().enumerate() {
        let n = n as u64;
        let s = slot_with(
            0x100 + n,
            1 + n as u8,
            1 << n,
            [(n + 1) << 38 | 7 << 12, 0, (9 << 38) | n << 12],
        );
        set(&mut sim, t, index, s).unwrap();
        assert_eq!(sim.frames.handed.len(), frames, "after index {index}");
        written.push((index, s));
        for &(i, s) in &written {
            assert_eq!(t.get(&sim.mem, i), s, "index {i}");
        }
    }
    for i in [1, 126, 129, 255, 256, (1 << 16) - 1, TOP_OBJ - 1] {
        assert_eq!(t.get(&sim.mem, i), Slot::EMPTY, "index {i}");
    }
    // The layout: root entry 0 -> upper directory, its entry 0 -> lower directory, whose
    // entry 1 -> the second leaf, slot 0.
    let upper = sim.mem.word(t.root);
    assert_eq!(upper, POOL + FRAME);
    let dir = sim.mem.word(upper);
    assert_eq!(dir, POOL + 2 * FRAME);
    let leaf0 = sim.mem.word(dir);
    assert_eq!(leaf0, POOL + 3 * FRAME);
    let leaf1 = sim.mem.word(dir + 8);
    assert_eq!(leaf1, POOL + 4 * FRAME);
    assert_eq!(sim.mem.word(leaf0 + 127 * 32), 0x101 << 14 | 2 << 5 | 2);
    assert_eq!(sim.mem.word(leaf0 + 127 * 32 + 8), 2 << 38 | 7 << 12);
    assert_eq!(sim.mem.word(leaf0 + 127 * 32 + 24), 9 << 38 | 1 << 12);
    assert_eq!(sim.mem.word(leaf1), 0x102 << 14 | 3 << 5 | 4);
    // The top index: root entry 1, directory entries 511, slot 127.
    let top_upper = sim.mem.word(t.root + 8);
    let top_dir = sim.mem.word(top_upper + 511 * 8);
    let top_leaf = sim.mem.word(top_dir + 511 * 8);
    assert_eq!(sim.mem.word(top_leaf + 127 * 32), 0x104 << 14 | 5 << 5 | 16);
    assert_eq!(t.slot_addr(&sim.mem, TOP_OBJ), Some(top_leaf + 127 * 32));
}

#[test]
fn port_round_trip() {
    let mut sim = Sim::new();
    let t = sim.space(2, PORT_BITS);
    let a = slot_with(0x3f8, 1, 1, [0, 0, 0]);
    let b = slot_with(0xcf8, 1, 1, [0, 0, 0]);
    set(&mut sim, t, 0, a).unwrap();
    assert_eq!(sim.frames.handed.len(), 2); // root + leaf
    set(&mut sim, t, TOP_PORT, b).unwrap();
    assert_eq!(sim.frames.handed.len(), 3);
    assert_eq!(t.get(&sim.mem, 0), a);
    assert_eq!(t.get(&sim.mem, TOP_PORT), b);
    let leaf = sim.mem.word(t.root + 511 * 8);
    assert_eq!(sim.mem.word(leaf + 127 * 32), 0xcf8 << 14 | 1 << 5 | 1);
    assert_eq!(set(&mut sim, t, 1 << 16, a), Err(CapError::IndexOutOfRange));
}

#[test]
fn refused_stores_write_nothing() {
    let mut sim = Sim::new();
    let t = sim.space(1, OBJECT_BITS);
    let good = slot_with(1, 1, 1, [0, 0, 0]);
    let before = sim.state();
    assert_eq!(
        set(&mut sim, t, 1 << 26, good),
        Err(CapError::IndexOutOfRange)
    );
    assert_eq!(
        set(&mut sim, t, u64::MAX, good),
        Err(CapError::IndexOutOfRange)
    );
    let bad_caps = [
        cap(0, 1, 1),
        cap(OBJ_LIMIT, 1, 1),
        cap(1, 8, 1),
        cap(1, 1, 0x20),
    ];
    for c in bad_caps {
        let s = Slot::root(c);
        assert_eq!(set(&mut sim, t, 3, s), Err(CapError::Malformed), "{c:?}");
    }
    let bad_link = Slot {
        parent: Some(r(0, 4)),
        ..good
    };
    assert_eq!(set(&mut sim, t, 3, bad_link), Err(CapError::Malformed));
    assert_eq!(sim.state(), before);
    assert_eq!(sim.mem.writes, 0);
}

#[test]
fn storing_empty_allocates_nothing_and_clears() {
    let mut sim = Sim::new();
    let t = sim.space(1, OBJECT_BITS);
    set(&mut sim, t, 1 << 20, Slot::EMPTY).unwrap();
    assert_eq!((sim.frames.handed.len(), sim.mem.writes), (1, 0));
    let s = slot_with(5, 1, 1, [0, 0, 0]);
    set(&mut sim, t, 9, s).unwrap();
    set(&mut sim, t, 9, Slot::EMPTY).unwrap();
    assert_eq!(t.get(&sim.mem, 9), Slot::EMPTY);
    assert_eq!(t.next_used(&sim.mem, 0), None);
    // Links come only with a capability.
    let links_only = Slot {
        parent: Some(r(1, 1)),
        ..Slot::EMPTY
    };
    assert!(!links_only.is_valid());
    assert_eq!(set(&mut sim, t, 10, links_only), Err(CapError::Malformed));
    assert_eq!(t.next_used(&sim.mem, 0), None);
}

#[test]
fn out_of_memory_midway_hands_the_new_frames_back() {
    // Root and two directories, but no leaf: the directories go again.
    let mut sim = Sim::with_limit(3);
    let t = sim.space(1, OBJECT_BITS);
    let s = slot_with(7, 1, 3, [0, 0, 0]);
    assert_eq!(set(&mut sim, t, 300, s), Err(CapError::OutOfMemory));
    assert_eq!(sim.frames.handed, vec![POOL]);
    assert_eq!(
        sim.mem.word(POOL),
        sim.mem.empty(2),
        "the root links nothing but the empty directory"
    );
    assert_eq!(t.get(&sim.mem, 300), Slot::EMPTY);
    assert_eq!(t.next_used(&sim.mem, 0), None);
    let mut seen = 0;
    t.for_each_used(&sim.mem, |_, _| seen += 1);
    assert_eq!(seen, 0);
    // With a frame more for the leaf the same store goes through.
    sim.frames.limit += 1;
    set(&mut sim, t, 301, s).unwrap();
    assert_eq!(sim.frames.handed.len(), 4);
    assert_eq!(t.get(&sim.mem, 301), s);
    assert_eq!(t.get(&sim.mem, 300), Slot::EMPTY);
    sim.world.tables.insert(1, t);
    sim.check_frames();
    // Emptying it again hands back the leaf and both directories.
    set(&mut sim, t, 301, Slot::EMPTY).unwrap();
    assert_eq!(sim.frames.handed, vec![POOL]);
    sim.check_frames();
}

#[test]
fn a_leaf_counts_its_used_slots_in_its_first_parent_word() {
    let mut sim = Sim::new();
    let t = sim.space(1, PORT_BITS);
    let s = slot_with(7, 1, 3, [0, 0, 0]);
    for i in [130, 131, 255] {
        set(&mut sim, t, i, s).unwrap();
    }
    let leaf = t.slot_addr(&sim.mem, 128).unwrap();
    assert_eq!(sim.mem.word(leaf + 8), 3);
    // The first slot's own parent link sits beside the count.
    let child = Slot {
        parent: Some(r(2, 9)),
        ..s
    };
    set(&mut sim, t, 128, child).unwrap();
    assert_eq!(sim.mem.word(leaf + 8), 2 << 38 | 9 << 12 | 4);
    assert_eq!(t.get(&sim.mem, 128), child);
    set(&mut sim, t, 128, Slot::EMPTY).unwrap();
    assert_eq!(sim.mem.word(leaf + 8), 3);
    assert_eq!(t.get(&sim.mem, 128), Slot::EMPTY);
    assert_eq!(t.next_used(&sim.mem, 128), Some(130));
    for i in [130, 131, 255] {
        set(&mut sim, t, i, Slot::EMPTY).unwrap();
    }
    assert_eq!(
        t.slot_addr(&sim.mem, 128),
        Some(sim.mem.empty(0)),
        "the leaf went with its last slot"
    );
    assert_eq!(sim.frames.handed, vec![t.root]);
}

#[test]
fn free_all_returns_each_frame_once_root_last() {
    let mut sim = Sim::new();
    let t = sim.space(1, OBJECT_BITS);
    let indices = [
        0,
        1,
        127,
        128,
        5000,
        1 << 16,
        (1 << 16) + 129,
        1 << 24,
        TOP_OBJ,
    ];
    for (n, &i) in indices.iter().enumerate() {
        set(&mut sim, t, i, slot_with(n as u64 + 1, 1, 1, [0, 0, 0])).unwrap();
    }
    let mut freed = Vec::new();
    t.free_all(&sim.mem, |f| freed.push(f));
    assert_eq!(freed.last(), Some(&t.root));
    let mut sorted = freed.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), freed.len(), "a frame was freed twice");
    let mut handed = sim.frames.handed.clone();
    handed.sort_unstable();
    assert_eq!(sorted, handed);
    // Each frame comes after every frame it points at (leaf words here are never
    // frame addresses).
    for (pos, &f) in freed.iter().enumerate() {
        for i in 0..DIR_ENTRIES {
            let e = sim.mem.word(f + i * 8);
            if let Some(at) = freed.iter().position(|&x| x == e) {
                assert!(at < pos, "{e:#x} freed after {f:#x}, which points at it");
            }
        }
    }
}

#[test]
fn port_table_free_all() {
    let mut sim = Sim::new();
    let t = sim.space(2, PORT_BITS);
    for i in [0x20, 0x60, 0x3f8, TOP_PORT] {
        set(&mut sim, t, i, slot_with(i + 1, 1, 1, [0, 0, 0])).unwrap();
    }
    let mut freed = Vec::new();
    t.free_all(&sim.mem, |f| freed.push(f));
    // Ports 0x20 and 0x60 share a leaf; 0x3f8 and 0xffff have their own.
    assert_eq!(freed.len(), 4);
    assert_eq!(freed.last(), Some(&t.root));
}

#[test]
fn for_each_used_goes_in_index_order() {
    let mut sim = Sim::new();
    let t = sim.space(1, OBJECT_BITS);
    let mut indices = vec![TOP_OBJ, 128, 3, 1 << 16, 127, 0, 70_000, 1 << 24, 129, 2];
    for &i in &indices {
        set(&mut sim, t, i, slot_with(i + 1, 1, 1, [0, 0, 0])).unwrap();
    }
    indices.sort_unstable();
    let mut seen = Vec::new();
    t.for_each_used(&sim.mem, |i, s| {
        assert_eq!(s.cap.unwrap().obj, i + 1);
        seen.push(i);
    });
    assert_eq!(seen, indices);
    // `next_used` agrees from every starting point around the used indices.
    for &i in &indices {
        for from in [i.saturating_sub(1), i, i + 1] {
            let want = indices.iter().copied().find(|&j| j >= from);
            assert_eq!(t.next_used(&sim.mem, from), want, "from {from}");
        }
    }
    assert_eq!(t.next_used(&sim.mem, TOP_OBJ + 1), None);
}

#[test]
fn one_level_table() {
    let mut sim = Sim::new();
    let t = sim.space(1, 5);
    set(&mut sim, t, 31, slot_with(1, 1, 1, [0, 0, 0])).unwrap();
    assert_eq!(
        set(&mut sim, t, 32, Slot::EMPTY),
        Err(CapError::IndexOutOfRange)
    );
    assert_eq!(sim.frames.handed.len(), 1);
    assert_eq!(sim.mem.word(t.root + 31 * 32), 1 << 14 | 1 << 5 | 1);
    assert_eq!(t.next_used(&sim.mem, 0), Some(31));
    let mut freed = Vec::new();
    t.free_all(&sim.mem, |f| freed.push(f));
    assert_eq!(freed, vec![t.root]);
}

#[test]
fn object_walk_folds_the_range_check_into_the_root() {
    let mut sim = Sim::new();
    let t = sim.space(1, OBJECT_BITS);
    let s = slot_with(7, 1, 3, [0, 0, 0]);
    for i in [0, 300, 1 << 20, TOP_OBJ] {
        set(&mut sim, t, i, s).unwrap();
    }
    // In range: the same slot as the checked walk, holding what was stored or nothing.
    for i in [
        0,
        1,
        300,
        301,
        1 << 16,
        1 << 20,
        1 << 25,
        TOP_OBJ - 1,
        TOP_OBJ,
    ] {
        assert_eq!(
            t.object_slot_addr(&sim.mem, i),
            t.slot_addr(&sim.mem, i),
            "index {i}"
        );
    }
    assert_eq!(
        object_lookup_word(&sim.mem, t, 300),
        Some(7 << 14 | 1 << 5 | 3)
    );
    // Beyond the space but under 2^34: an empty slot (the root's further entries name
    // the empty directory); from 2^34 on, no slot.
    for i in [TOP_OBJ + 1, 1 << 26 | 300, (1 << 34) - 1] {
        assert_eq!(object_lookup_word(&sim.mem, t, i), Some(0), "index {i}");
    }
    for i in [1 << 34, u64::MAX] {
        assert_eq!(t.object_slot_addr(&sim.mem, i), None, "index {i}");
    }
    sim.check_frames();
}
