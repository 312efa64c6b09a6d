//! A binary buddy allocator for physical frames: the kernel pool's source of page tables
//! and kernel objects.
//!
//! Blocks are 2^order frames of [`FRAME_SIZE`] bytes, order 0..=[`MAX_ORDER`], and start at
//! a physical frame number that is a multiple of 2^order (alignment is physical, not
//! relative to the managed window). The allocator owns no memory of its own: the caller
//! provides one [`FrameInfo`] record per frame of a window of frames starting at some
//! physical frame number, and only frames later given to [`Buddy::add_range`] are ever
//! handed out. Free blocks of each order are kept on a doubly linked list threaded through
//! the records by index, so allocating and freeing take O(MAX_ORDER) steps.
//!
//! Invariants, for every frame in the window:
//! - a frame never added is `Unmanaged` and belongs to no block;
//! - every added frame belongs to exactly one block, free or allocated, lying wholly inside
//!   the window; the block's first frame (its head) records the state and the order, every
//!   other frame of it is a `Tail`;
//! - a free head is on the list of its order, and nothing else is on any list;
//! - two free buddies of the same order never coexist: freeing merges them.
//!
//! Keeping heads and tails exact only costs O(1) per split or merge (a split turns one
//! tail into a head, a merge one head into a tail), and it is what lets `free` recognise
//! double frees and addresses inside a block without scanning.

/// Size of a frame, the unit of allocation, in bytes.
pub const FRAME_SIZE: u64 = 4096;

/// Largest order: blocks of up to 2^10 frames (4 MiB).
pub const MAX_ORDER: usize = 10;

/// End of a free list, and the reason why the window holds fewer than `u32::MAX` frames.
const NIL: u32 = u32::MAX;

/// Frame numbers from here on would have byte addresses beyond `u64::MAX`.
const PFN_LIMIT: u64 = u64::MAX / FRAME_SIZE + 1;

/// What a frame currently is. The kernel zero-fills the records before use, so the
/// unmanaged state must be 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
enum State {
    /// Not given to the allocator; never handed out.
    #[default]
    Unmanaged = 0,
    /// First frame of a free block, on the free list of its order.
    Free = 1,
    /// First frame of an allocated block.
    Allocated = 2,
    /// Any other frame of a block, free or allocated.
    Tail = 3,
}

/// The allocator's record of one frame: 12 bytes. The default value is an unmanaged frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameInfo {
    /// Free heads only: index of the next block on the same free list, or `NIL`.
    next: u32,
    /// Free heads only: index of the previous block on the same free list, or `NIL`.
    prev: u32,
    /// Heads only: the block's order.
    order: u8,
    state: State,
}

/// Why a [`Buddy::free`] was refused. A refused free changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The address is outside the window or in a frame never added to the allocator.
    NotManaged,
    /// No block was allocated at this address: a double free, or an address inside a block.
    NotAllocated,
    /// The address is not a multiple of the frame size, or of the block size of `order`.
    Misaligned,
    /// A block is allocated here, but of a different order (or `order` exceeds
    /// [`MAX_ORDER`]).
    WrongOrder,
}

/// A buddy allocator over the frames whose records it was given.
pub struct Buddy<'m> {
    /// One record per frame of the window; index `i` is frame `base_pfn + i`.
    meta: &'m mut [FrameInfo],
    base_pfn: u64,
    /// Index of the first free block of each order, or `NIL`.
    heads: [u32; MAX_ORDER + 1],
    free: u64,
    total: u64,
}

impl<'m> Buddy<'m> {
    /// `meta.len()` frames starting at physical frame number `base_pfn` can be managed; all
    /// start Unmanaged (not allocatable), whatever `meta` held before. The window is cut
    /// short where frame numbers would exceed the 64-bit address space or indices would
    /// not fit the records' 32-bit links (more than 16 TiB of frames).
    pub fn new(meta: &'m mut [FrameInfo], base_pfn: u64) -> Self {
        let fit = PFN_LIMIT.saturating_sub(base_pfn).min(u64::from(NIL));
        let len = meta.len().min(usize::try_from(fit).unwrap_or(usize::MAX));
        let (meta, _) = meta.split_at_mut(len);
        meta.fill(FrameInfo::default());
        Buddy {
            meta,
            base_pfn,
            heads: [NIL; MAX_ORDER + 1],
            free: 0,
            total: 0,
        }
    }

    /// Bytes of metadata needed to manage `frames` frames (for the caller's carving).
    pub const fn meta_bytes(frames: u64) -> u64 {
        frames.saturating_mul(core::mem::size_of::<FrameInfo>() as u64)
    }

    /// Adds the frames of [start, end) (byte addresses, rounded inward to frames) as free
    /// memory; frames outside the metadata window are ignored, and so are frames added
    /// before. Returns the number of frames added. The frames are cut into the largest
    /// aligned blocks that fit, each merged with free buddies already present.
    pub fn add_range(&mut self, start: u64, end: u64) -> u64 {
        let window_end = self.base_pfn + self.meta.len() as u64;
        let first = start.div_ceil(FRAME_SIZE).max(self.base_pfn);
        let last = (end / FRAME_SIZE).min(window_end);
        if first >= last {
            return 0;
        }
        let (lo, hi) = (
            (first - self.base_pfn) as usize,
            (last - self.base_pfn) as usize,
        );
        let mut added = 0;
        let mut i = lo;
        // Frames added before must keep their blocks, so only runs of unmanaged frames
        // are turned into new blocks.
        while i < hi {
            if self.meta[i].state != State::Unmanaged {
                i += 1;
                continue;
            }
            let run_start = i;
            while i < hi && self.meta[i].state == State::Unmanaged {
                i += 1;
            }
            added += self.add_run(run_start, i);
        }
        self.free += added;
        self.total += added;
        added
    }

    /// Allocates 2^order contiguous, 2^order-aligned frames; returns the physical byte
    /// address. `None` if no block is large enough or `order` exceeds [`MAX_ORDER`].
    pub fn alloc(&mut self, order: usize) -> Option<u64> {
        let mut o = order;
        while o <= MAX_ORDER && self.heads[o] == NIL {
            o += 1;
        }
        if o > MAX_ORDER {
            return None;
        }
        let idx = self.heads[o] as usize;
        self.unlink(idx);
        // Split down to the requested size; each upper half goes back as a free block.
        while o > order {
            o -= 1;
            self.push(idx + (1 << o), o);
        }
        self.meta[idx].state = State::Allocated;
        self.meta[idx].order = order as u8;
        self.free -= 1 << order;
        Some((self.base_pfn + idx as u64) * FRAME_SIZE)
    }

    /// Frees a block allocated with `alloc(order)`, merging it with free buddies. Detects
    /// double free, foreign addresses, misaligned addresses and order mismatch, and then
    /// changes nothing.
    pub fn free(&mut self, addr: u64, order: usize) -> Result<(), FreeError> {
        if !addr.is_multiple_of(FRAME_SIZE) {
            return Err(FreeError::Misaligned);
        }
        let idx = self.index(addr / FRAME_SIZE).ok_or(FreeError::NotManaged)?;
        if order > MAX_ORDER {
            return Err(FreeError::WrongOrder);
        }
        let f = self.meta[idx];
        match f.state {
            State::Unmanaged => return Err(FreeError::NotManaged),
            State::Allocated if usize::from(f.order) == order => {}
            State::Allocated => return Err(FreeError::WrongOrder),
            State::Free | State::Tail => {
                let pfn = self.base_pfn + idx as u64;
                return Err(if !pfn.is_multiple_of(1 << order) {
                    FreeError::Misaligned
                } else {
                    FreeError::NotAllocated
                });
            }
        }
        self.release(idx, order);
        self.free += 1 << order;
        Ok(())
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u64 {
        self.free
    }

    /// Frames ever added with [`Buddy::add_range`].
    pub fn total_frames(&self) -> u64 {
        self.total
    }

    /// Index of frame `pfn` in the window, if it is there.
    fn index(&self, pfn: u64) -> Option<usize> {
        let i = usize::try_from(pfn.checked_sub(self.base_pfn)?).ok()?;
        (i < self.meta.len()).then_some(i)
    }

    /// Turns the unmanaged frames `lo..hi` into free blocks, largest aligned ones first, and
    /// returns how many frames that was.
    fn add_run(&mut self, lo: usize, hi: usize) -> u64 {
        let mut i = lo;
        while i < hi {
            let pfn = self.base_pfn + i as u64;
            let left = (hi - i) as u64;
            // Largest order allowed by the frame's alignment, by what is left of the run,
            // and by MAX_ORDER. Both bounds are at most 64, so the casts are exact.
            let by_align = pfn.trailing_zeros() as usize;
            let by_size = left.ilog2() as usize;
            let o = by_align.min(by_size).min(MAX_ORDER);
            for t in &mut self.meta[i + 1..i + (1 << o)] {
                t.state = State::Tail;
            }
            self.release(i, o);
            i += 1 << o;
        }
        (hi - lo) as u64
    }

    /// Makes the block of 2^order frames at `idx`, whose other frames are already tails, a
    /// free block, merging it with its buddy for as long as that is a free block of the
    /// same order. Does not touch the counters.
    fn release(&mut self, mut idx: usize, mut order: usize) {
        while order < MAX_ORDER {
            let pfn = self.base_pfn + idx as u64;
            let Some(b) = self.index(pfn ^ (1 << order)) else {
                break;
            };
            let buddy = self.meta[b];
            if buddy.state != State::Free || usize::from(buddy.order) != order {
                break;
            }
            self.unlink(b);
            // The merged block starts at the lower of the two; the upper head becomes a tail.
            let (low, high) = if b < idx { (b, idx) } else { (idx, b) };
            self.meta[high].state = State::Tail;
            idx = low;
            order += 1;
        }
        self.push(idx, order);
    }

    /// Marks `idx` a free head of `order` and puts it first on that order's list.
    fn push(&mut self, idx: usize, order: usize) {
        let next = self.heads[order];
        if next != NIL {
            self.meta[next as usize].prev = idx as u32;
        }
        self.meta[idx] = FrameInfo {
            next,
            prev: NIL,
            order: order as u8,
            state: State::Free,
        };
        self.heads[order] = idx as u32;
    }

    /// Takes the free head `idx` off its list (its state is left to the caller).
    fn unlink(&mut self, idx: usize) {
        let FrameInfo {
            next, prev, order, ..
        } = self.meta[idx];
        if prev != NIL {
            self.meta[prev as usize].next = next;
        } else {
            self.heads[usize::from(order)] = next;
        }
        if next != NIL {
            self.meta[next as usize].prev = prev;
        }
    }
}

#[cfg(test)]
mod tests {
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
}
