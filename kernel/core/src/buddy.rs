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
mod tests;
