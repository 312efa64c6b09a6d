use std::collections::{BTreeMap, BTreeSet};
use std::vec::Vec;

use super::*;
use crate::testrng::Rng;

const BASE: u64 = 0x10_0000;

/// Simulated frames: words by address; every access must fall in a frame handed out and
/// not given back, and a slot handed out must not be touched by the allocator.
struct Ram {
    words: BTreeMap<u64, u64>,
    live_frames: BTreeSet<u64>,
    live_slots: BTreeSet<u64>,
}

impl Ram {
    fn new() -> Ram {
        Ram {
            words: BTreeMap::new(),
            live_frames: BTreeSet::new(),
            live_slots: BTreeSet::new(),
        }
    }
    fn check(&self, addr: u64) {
        assert!(addr.is_multiple_of(8));
        assert!(
            self.live_frames.contains(&(addr & !4095)),
            "access at {addr:#x} outside the allocator's frames"
        );
        assert!(
            !self.live_slots.contains(&(addr & !(SLOT_BYTES - 1))),
            "the allocator touched slot {addr:#x}, which is in use"
        );
    }
}

impl PhysMem for Ram {
    fn read_u64(&self, addr: u64) -> u64 {
        self.check(addr);
        self.words
            .get(&addr)
            .copied()
            .unwrap_or(0xdead_beef_dead_beef)
    }
    fn write_u64(&mut self, addr: u64, value: u64) {
        self.check(addr);
        self.words.insert(addr, value);
    }
}

/// Frames to hand out: the lowest free one of a simulated pool of `limit` frames.
struct Pool {
    free: BTreeSet<u64>,
}

impl Pool {
    fn new(limit: u64) -> Pool {
        Pool {
            free: (0..limit).map(|i| BASE + i * 4096).collect(),
        }
    }
}

fn alloc(s: &mut Slots, ram: &mut Ram, pool: &mut Pool) -> Option<u64> {
    // The frame the allocator may take, filled with junk: it must not rely on zeroes.
    let candidate = pool.free.first().copied();
    if let Some(f) = candidate {
        ram.live_frames.insert(f);
        for w in 0..512 {
            ram.words.insert(f + w * 8, 0x5a5a_5a5a_5a5a_5a5a);
        }
    }
    let mut taken = false;
    let slot = s.alloc(ram, || {
        taken = true;
        candidate
    });
    if let Some(f) = candidate {
        if taken {
            pool.free.remove(&f);
        } else {
            ram.live_frames.remove(&f);
        }
    }
    let slot = slot?;
    assert!(
        ram.live_slots.insert(slot),
        "slot {slot:#x} handed out twice"
    );
    Some(slot)
}

fn free(s: &mut Slots, ram: &mut Ram, pool: &mut Pool, slot: u64) {
    assert!(ram.live_slots.remove(&slot));
    if let Some(frame) = s.free(ram, slot).unwrap() {
        assert!(
            !ram.live_slots.iter().any(|&x| x & !4095 == frame),
            "frame {frame:#x} given back with a slot in use"
        );
        ram.live_frames.remove(&frame);
        pool.free.insert(frame);
    }
}

#[test]
fn slots_are_aligned_distinct_and_fill_a_frame_before_the_next() {
    let (mut s, mut ram, mut pool) = (Slots::new(), Ram::new(), Pool::new(8));
    let first: Vec<u64> = (0..SLOTS - 1)
        .map(|_| alloc(&mut s, &mut ram, &mut pool).unwrap())
        .collect();
    assert!(first
        .iter()
        .all(|&a| a & !4095 == BASE && a % SLOT_BYTES == 0));
    assert!(!first.contains(&BASE), "slot 0 holds the bookkeeping");
    assert_eq!(s.frames(), 1);
    let next = alloc(&mut s, &mut ram, &mut pool).unwrap();
    assert_eq!(next & !4095, BASE + 4096);
    assert_eq!(s.frames(), 2);
}

#[test]
fn an_empty_frame_goes_back_at_once_and_a_full_one_comes_back_to_the_list() {
    let (mut s, mut ram, mut pool) = (Slots::new(), Ram::new(), Pool::new(8));
    let a: Vec<u64> = (0..SLOTS - 1)
        .map(|_| alloc(&mut s, &mut ram, &mut pool).unwrap())
        .collect();
    let b = alloc(&mut s, &mut ram, &mut pool).unwrap();
    // The first frame is full; freeing one of its slots makes it the one to use.
    free(&mut s, &mut ram, &mut pool, a[3]);
    assert_eq!(alloc(&mut s, &mut ram, &mut pool), Some(a[3]));
    free(&mut s, &mut ram, &mut pool, b);
    assert_eq!(s.frames(), 1, "the second frame emptied and went back");
    assert_eq!(pool.free.len(), 7);
    for &x in &a {
        free(&mut s, &mut ram, &mut pool, x);
    }
    assert_eq!((s.frames(), pool.free.len()), (0, 8));
}

#[test]
fn bad_frees_are_refused_and_change_nothing() {
    let (mut s, mut ram, mut pool) = (Slots::new(), Ram::new(), Pool::new(2));
    let a = alloc(&mut s, &mut ram, &mut pool).unwrap();
    let b = alloc(&mut s, &mut ram, &mut pool).unwrap();
    assert_eq!(s.free(&mut ram, a + 8), Err(SlotError::NotASlot));
    assert_eq!(s.free(&mut ram, BASE), Err(SlotError::NotASlot));
    assert_eq!(s.free(&mut ram, 64), Err(SlotError::NotASlot));
    ram.live_slots.remove(&b);
    assert_eq!(s.free(&mut ram, b), Ok(None));
    assert_eq!(s.free(&mut ram, b), Err(SlotError::NotInUse));
    // The allocator still works: b comes back, then a frees its frame.
    assert_eq!(alloc(&mut s, &mut ram, &mut pool), Some(b));
    free(&mut s, &mut ram, &mut pool, b);
    free(&mut s, &mut ram, &mut pool, a);
    assert_eq!(s.frames(), 0);
}

#[test]
fn out_of_frames_gives_none_and_recovers() {
    let (mut s, mut ram, mut pool) = (Slots::new(), Ram::new(), Pool::new(1));
    let all: Vec<u64> = (0..SLOTS - 1)
        .map(|_| alloc(&mut s, &mut ram, &mut pool).unwrap())
        .collect();
    assert_eq!(alloc(&mut s, &mut ram, &mut pool), None);
    free(&mut s, &mut ram, &mut pool, all[0]);
    assert_eq!(alloc(&mut s, &mut ram, &mut pool), Some(all[0]));
}

/// Random allocations and frees against the model (the sets of live slots and frames):
/// no slot is handed out twice, the allocator never touches a slot in use, a frame goes
/// back exactly when its last slot is freed, and freeing everything returns every frame.
#[test]
fn random_sequences_agree_with_the_model() {
    for seed in 1..=40 {
        let mut rng = Rng(seed);
        let (mut s, mut ram, mut pool) = (Slots::new(), Ram::new(), Pool::new(6));
        let mut live: Vec<u64> = Vec::new();
        for _ in 0..2000 {
            if live.is_empty() || rng.below(100) < 55 {
                match alloc(&mut s, &mut ram, &mut pool) {
                    Some(a) => live.push(a),
                    None => assert_eq!(live.len() as u64, 6 * (SLOTS - 1)),
                }
            } else {
                let i = rng.below(live.len() as u64) as usize;
                let a = live.swap_remove(i);
                free(&mut s, &mut ram, &mut pool, a);
            }
            let frames: BTreeSet<u64> = live.iter().map(|&a| a & !4095).collect();
            assert_eq!(s.frames(), frames.len() as u64, "seed {seed}");
        }
        for a in live.drain(..) {
            free(&mut s, &mut ram, &mut pool, a);
        }
        assert_eq!((s.frames(), pool.free.len()), (0, 6), "seed {seed}");
    }
}

#[test]
fn a_keeping_allocator_gives_no_frame_back_and_reuses_its_own() {
    let (mut s, mut ram, mut pool) = (Slots::keeping(), Ram::new(), Pool::new(4));
    let a: Vec<u64> = (0..SLOTS + 3)
        .map(|_| alloc(&mut s, &mut ram, &mut pool).unwrap())
        .collect();
    assert_eq!((s.frames(), pool.free.len()), (2, 2));
    for &x in &a {
        ram.live_slots.remove(&x);
        assert_eq!(s.free(&mut ram, x), Ok(None));
    }
    assert_eq!((s.frames(), pool.free.len()), (2, 2));
    // New slots come from the same two frames, not from the pool.
    for _ in 0..2 * (SLOTS - 1) {
        let x = alloc(&mut s, &mut ram, &mut pool).unwrap();
        assert!(x & !4095 == BASE || x & !4095 == BASE + 4096);
    }
    assert_eq!(pool.free.len(), 2);
}
