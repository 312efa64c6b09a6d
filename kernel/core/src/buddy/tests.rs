//! Host tests: every order, coalescing, exhaustion, double and bad frees, ranges cut into
//! blocks, and a randomized check against a model.

use super::*;
use std::vec;
use std::vec::Vec;

const MIB: u64 = 1 << 20;

fn records(frames: usize) -> Vec<FrameInfo> {
    vec![FrameInfo::default(); frames]
}

impl Buddy<'_> {
    /// Number of free blocks of `order`, by walking its list.
    fn blocks(&self, order: usize) -> usize {
        let mut n = 0;
        let mut i = self.heads[order];
        while i != NIL {
            n += 1;
            i = self.meta[i as usize].next;
        }
        n
    }

    /// Checks every invariant of the module description, and the counters.
    fn check(&self) {
        // The window partitions into unmanaged frames and whole, aligned blocks.
        let (mut free, mut total, mut on_lists) = (0, 0, 0);
        let mut i = 0;
        while i < self.meta.len() {
            let f = self.meta[i];
            match f.state {
                State::Unmanaged => {
                    i += 1;
                    continue;
                }
                State::Tail => panic!("tail frame {i} outside any block"),
                State::Free | State::Allocated => {}
            }
            let size = 1usize << f.order;
            assert!(usize::from(f.order) <= MAX_ORDER);
            assert_eq!(
                (self.base_pfn + i as u64) % size as u64,
                0,
                "misaligned block {i}"
            );
            assert!(i + size <= self.meta.len(), "block {i} leaves the window");
            for t in &self.meta[i + 1..i + size] {
                assert_eq!(t.state, State::Tail, "block {i} has a non-tail frame");
            }
            total += size as u64;
            if f.state == State::Free {
                free += size as u64;
                // Fully merged: the buddy is never a free block of the same order.
                if usize::from(f.order) < MAX_ORDER {
                    if let Some(b) = self.index((self.base_pfn + i as u64) ^ size as u64) {
                        let bf = self.meta[b];
                        assert!(
                            !(bf.state == State::Free && bf.order == f.order),
                            "free buddies {i} and {b} not merged"
                        );
                    }
                }
            }
            i += size;
        }
        // The lists hold exactly the free heads, with consistent back links.
        for o in 0..=MAX_ORDER {
            let mut prev = NIL;
            let mut at = self.heads[o];
            while at != NIL {
                let f = self.meta[at as usize];
                assert_eq!(f.state, State::Free);
                assert_eq!(usize::from(f.order), o);
                assert_eq!(f.prev, prev);
                on_lists += 1u64 << o;
                prev = at;
                at = f.next;
            }
        }
        assert_eq!(on_lists, free);
        assert_eq!(self.free, free);
        assert_eq!(self.total, total);
    }
}

#[test]
fn frame_info_is_small_and_meta_bytes_matches() {
    assert_eq!(core::mem::size_of::<FrameInfo>(), 12);
    assert_eq!(Buddy::meta_bytes(1024), 1024 * 12);
    assert_eq!(Buddy::meta_bytes(u64::MAX), u64::MAX);
    // The kernel zero-fills the records; zero must read as an unmanaged frame.
    assert_eq!(FrameInfo::default().state as u8, 0);
}

#[test]
fn alloc_and_free_every_order() {
    let mut meta = records(2048);
    let mut b = Buddy::new(&mut meta, 0x100); // window 1 MiB..9 MiB
    assert_eq!(b.add_range(MIB, 9 * MIB), 2048);
    assert_eq!(b.blocks(MAX_ORDER), 1); // 4..8 MiB; the rest is smaller pieces
    for order in 0..=MAX_ORDER {
        let a = b.alloc(order).unwrap();
        assert_eq!(a % (FRAME_SIZE << order), 0, "order {order} misaligned");
        assert!((MIB..9 * MIB).contains(&a));
        assert_eq!(b.free_frames(), 2048 - (1 << order));
        b.check();
        b.free(a, order).unwrap();
        assert_eq!(b.free_frames(), 2048);
        b.check();
    }
    assert_eq!(b.alloc(MAX_ORDER + 1), None);
    assert_eq!(b.alloc(usize::MAX), None);
}

#[test]
fn buddies_coalesce_back() {
    let mut meta = records(1024);
    let mut b = Buddy::new(&mut meta, 1024); // exactly one 4 MiB block at 4 MiB
    assert_eq!(b.add_range(4 * MIB, 8 * MIB), 1024);
    let mut frames: Vec<u64> = (0..1024).map(|_| b.alloc(0).unwrap()).collect();
    assert_eq!(b.alloc(0), None);
    assert_eq!(b.free_frames(), 0);
    // Free in a scrambled order so that merges happen at every level and both sides.
    let mut rng = Rng(7);
    for k in (1..frames.len()).rev() {
        frames.swap(k, rng.below(k as u64 + 1) as usize);
    }
    for (n, f) in frames.iter().enumerate() {
        b.free(*f, 0).unwrap();
        if n % 97 == 0 {
            b.check();
        }
    }
    b.check();
    assert_eq!(b.free_frames(), b.total_frames());
    assert_eq!(b.blocks(MAX_ORDER), 1);
    assert_eq!(b.alloc(MAX_ORDER), Some(4 * MIB));
}

#[test]
fn exhaustion_then_free_all() {
    let mut meta = records(600);
    let mut b = Buddy::new(&mut meta, 0);
    let added = b.add_range(0x5000, 0x25_3000);
    assert_eq!(added, 0x253 - 5);
    let mut got = Vec::new();
    while let Some(a) = b.alloc(0) {
        got.push(a);
    }
    assert_eq!(got.len() as u64, added);
    let mut sorted = got.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), got.len(), "a frame was handed out twice");
    assert_eq!(b.alloc(0), None);
    for a in got {
        b.free(a, 0).unwrap();
    }
    b.check();
    assert_eq!(b.free_frames(), added);
    // Merged back: frames 256..512 are the largest block, as right after adding.
    assert_eq!(b.alloc(9), None);
    assert_eq!(b.alloc(8), Some(0x10_0000));
}

#[test]
fn double_free_is_refused_without_change() {
    let mut meta = records(64);
    let mut b = Buddy::new(&mut meta, 0);
    b.add_range(0, 64 * FRAME_SIZE);
    let x = b.alloc(0).unwrap();
    let y = b.alloc(0).unwrap(); // x's buddy
    b.free(x, 0).unwrap();
    assert_eq!(b.free(x, 0), Err(FreeError::NotAllocated));
    assert_eq!(b.free_frames(), 63);
    b.check();
    b.free(y, 0).unwrap();
    // x has now been merged away into a larger free block; still a double free.
    assert_eq!(b.free(x, 0), Err(FreeError::NotAllocated));
    assert_eq!(b.free(y, 0), Err(FreeError::NotAllocated));
    b.check();
    assert_eq!(b.free_frames(), 64);
    assert_eq!(b.alloc(6), Some(0));
}

#[test]
fn bad_frees_are_classified_and_change_nothing() {
    let mut meta = records(64);
    let mut b = Buddy::new(&mut meta, 16); // window 64 KiB..320 KiB
    b.add_range(16 * FRAME_SIZE, 48 * FRAME_SIZE); // frames 48..80 stay unmanaged
    let a = b.alloc(2).unwrap();
    let free_before = b.free_frames();
    let cases = [
        (a + 1, 2, FreeError::Misaligned),            // not frame-aligned
        (a + FRAME_SIZE, 1, FreeError::Misaligned),   // odd frame, order 1
        (a + FRAME_SIZE, 0, FreeError::NotAllocated), // tail frame
        (a + 2 * FRAME_SIZE, 1, FreeError::NotAllocated), // tail, aligned for order 1
        (a, 1, FreeError::WrongOrder),                // smaller order
        (a, 3, FreeError::WrongOrder),                // larger order
        (a, MAX_ORDER + 1, FreeError::WrongOrder),    // no such order
        (a, usize::MAX, FreeError::WrongOrder),       // no such order
        (0, 0, FreeError::NotManaged),                // below the window
        (80 * FRAME_SIZE, 0, FreeError::NotManaged),  // above the window
        (u64::MAX - 4095, 0, FreeError::NotManaged),  // far above
        (60 * FRAME_SIZE, 0, FreeError::NotManaged),  // in the window, not added
        (a + 4 * FRAME_SIZE, 2, FreeError::NotAllocated), // a free block
    ];
    for (addr, order, err) in cases {
        assert_eq!(b.free(addr, order), Err(err), "free({addr:#x}, {order})");
        assert_eq!(b.free_frames(), free_before);
        b.check();
    }
    b.free(a, 2).unwrap();
    assert_eq!(b.free_frames(), 32);
    b.check();
}

#[test]
fn unaligned_range_is_cut_into_maximal_blocks() {
    let mut meta = records(0x100);
    let mut b = Buddy::new(&mut meta, 0);
    // Frames 3..0x9d: 3 | 4..8 | 8..16 | 16..32 | 32..64 | 64..128 | 128..144 | 144..152
    // | 152..156 | 156.
    assert_eq!(b.add_range(0x3000, 0x9d000), 0x9d - 3);
    b.check();
    let per_order: Vec<usize> = (0..=MAX_ORDER).map(|o| b.blocks(o)).collect();
    assert_eq!(per_order, [2, 0, 2, 2, 2, 1, 1, 0, 0, 0, 0]);
    assert_eq!(b.alloc(7), None);
    assert_eq!(b.alloc(6), Some(0x40000));
    assert_eq!(b.alloc(5), Some(0x20000));
    b.check();
}

#[test]
fn ranges_round_inward_and_stay_in_the_window() {
    let mut meta = records(16);
    let mut b = Buddy::new(&mut meta, 4); // frames 4..20
    assert_eq!(b.add_range(0x5001, 0x6fff), 0); // no whole frame
    assert_eq!(b.add_range(0x4fff, 0x7001), 2); // frames 5, 6
    assert_eq!(b.add_range(0x9000, 0x8000), 0); // reversed
    assert_eq!(b.add_range(0, 0x2_0000), 14); // clipped to the window, 5 and 6 kept
    assert_eq!(b.add_range(0, u64::MAX), 0); // everything already added
    assert_eq!(b.total_frames(), 16);
    assert_eq!(b.free_frames(), 16);
    b.check();
    // Blocks never cross the window, even where the physical buddy would be outside.
    assert_eq!(b.alloc(4), None);
    assert_eq!(b.alloc(3), Some(0x8000));

    // A window at the very top of the address space is cut to what addresses can reach.
    let mut meta = records(16);
    let mut b = Buddy::new(&mut meta, PFN_LIMIT - 4);
    assert_eq!(b.add_range(0, u64::MAX), 3); // the last frame ends at 2^64, past u64::MAX
    assert_eq!(b.add_range(u64::MAX - 3 * FRAME_SIZE, u64::MAX), 0);
    assert_eq!(b.alloc(1), Some(u64::MAX - 4 * FRAME_SIZE + 1));
    b.check();
    let mut meta = records(4);
    let mut b = Buddy::new(&mut meta, u64::MAX);
    assert_eq!(b.add_range(0, u64::MAX), 0);
    assert_eq!(b.alloc(0), None);
    assert_eq!(b.free(u64::MAX - 4095, 0), Err(FreeError::NotManaged));
}

#[test]
fn a_hole_splits_and_filling_it_merges() {
    let mut meta = records(1024);
    let mut b = Buddy::new(&mut meta, 0);
    assert_eq!(b.add_range(0, MIB), 256);
    assert_eq!(b.add_range(2 * MIB, 4 * MIB), 512);
    b.check();
    assert_eq!(b.alloc(MAX_ORDER), None);
    assert_eq!(b.free_frames(), 768);
    // Nothing is ever handed out from the hole.
    let mut got = Vec::new();
    while let Some(a) = b.alloc(1) {
        assert!(!(MIB..2 * MIB).contains(&a), "frame from the hole: {a:#x}");
        got.push(a);
    }
    assert_eq!(got.len(), 384);
    for a in got {
        b.free(a, 1).unwrap();
    }
    // Adding the hole later coalesces with the free blocks around it.
    assert_eq!(b.add_range(MIB, 2 * MIB), 256);
    b.check();
    assert_eq!(b.blocks(MAX_ORDER), 1);
    assert_eq!(b.alloc(MAX_ORDER), Some(0));
    assert_eq!(b.free_frames(), 0);
}

use crate::testrng::Rng;

#[test]
fn randomized_against_a_model() {
    const FRAMES: usize = 4096;
    const BASE: u64 = 0x103; // not aligned to any order above 0
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut meta = records(FRAMES);
    let mut b = Buddy::new(&mut meta, BASE);
    let base = BASE * FRAME_SIZE;
    // Usable memory with holes, like a real memory map.
    let ranges = [
        (0x0, 0x9f800),
        (0xa0000, 0x61_0000),
        (0x68_1000, 0x7f_f000),
        (0x90_0000, 0x200_0000),
    ];
    let mut managed = vec![false; FRAMES];
    for (s, e) in ranges {
        b.add_range(base + s, base + e);
        let first = s.div_ceil(FRAME_SIZE) as usize;
        let last = ((e / FRAME_SIZE) as usize).min(FRAMES);
        managed[first..last].fill(true);
    }
    let total = managed.iter().filter(|&&m| m).count() as u64;
    assert_eq!(b.total_frames(), total);
    b.check();

    // The model: live blocks and which frames they own.
    let mut live: Vec<(u64, usize)> = Vec::new();
    let mut owned = vec![false; FRAMES];
    let mut used = 0u64;
    for step in 0..40_000 {
        let grow = live.len() < 50 || rng.below(100) < 52;
        if grow {
            // Small orders mostly, large ones now and then.
            let order = match rng.below(16) {
                0 => rng.below(MAX_ORDER as u64 + 1) as usize,
                1..=3 => 3 + rng.below(3) as usize,
                _ => rng.below(3) as usize,
            };
            match b.alloc(order) {
                Some(a) => {
                    assert_eq!(a % (FRAME_SIZE << order), 0);
                    let first = ((a - base) / FRAME_SIZE) as usize;
                    for k in first..first + (1 << order) {
                        assert!(managed[k], "frame {k} was never added");
                        assert!(!owned[k], "frame {k} handed out twice");
                        owned[k] = true;
                    }
                    live.push((a, order));
                    used += 1 << order;
                }
                // Larger orders may fail through fragmentation, single frames only when
                // none is left.
                None => assert!(
                    order > 0 || used == total,
                    "order-0 alloc failed with free frames"
                ),
            }
        } else if !live.is_empty() {
            let (a, order) = live.swap_remove(rng.below(live.len() as u64) as usize);
            if rng.below(8) == 0 && order > 0 {
                assert_eq!(b.free(a, order - 1), Err(FreeError::WrongOrder));
            }
            b.free(a, order).unwrap();
            if rng.below(8) == 0 {
                assert_eq!(b.free(a, order), Err(FreeError::NotAllocated));
            }
            let first = ((a - base) / FRAME_SIZE) as usize;
            owned[first..first + (1 << order)].fill(false);
            used -= 1 << order;
        }
        assert_eq!(b.free_frames(), total - used);
        if step % 1000 == 0 {
            b.check();
        }
    }
    for (a, order) in live.drain(..) {
        b.free(a, order).unwrap();
    }
    b.check();
    assert_eq!(b.free_frames(), total);
    // Everything merged back: the same blocks as right after adding.
    let mut fresh_meta = records(FRAMES);
    let mut fresh = Buddy::new(&mut fresh_meta, BASE);
    for (s, e) in ranges {
        fresh.add_range(base + s, base + e);
    }
    for o in 0..=MAX_ORDER {
        assert_eq!(b.blocks(o), fresh.blocks(o), "order {o}");
    }
}
