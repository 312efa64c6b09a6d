//! The kernel pool: physical frames for page tables and kernel objects.
//!
//! The pool is one contiguous range set aside at boot and managed by the buddy
//! allocator of `facet_kcore::buddy`, whose per-frame records live at the start of the
//! pool itself; the boot-only code's frames join it after the boot (`add_boot_only`).
//! Memory outside the pool belongs to user space (through the roottask).
//! Every frame handed out is counted under what it is used for (`usage`), or is a
//! kernel object's (`alloc_object`), so that the statistics account for all of them.

use facet_kcore::buddy::{Buddy, FrameInfo, FreeError};
use facet_kcore::phys::FrameSource;

use super::direct_map::{virt, zero_frame};
use super::usage::{self, Use};
use crate::sync::SpinLock;

static POOL: SpinLock<Option<Buddy<'static>>> = SpinLock::new(None);

/// The frames of the kernel image's boot-only code, given to the pool after the boot
/// ([`add_boot_only`]): a second buddy allocator, as they lie far from the pool, whose
/// records sit in the range's first frame. Taken from when the pool has no block left.
static BOOT_ONLY: SpinLock<Option<Buddy<'static>>> = SpinLock::new(None);

/// Installs the allocator (once, at boot).
pub fn install(buddy: Buddy<'static>) {
    *POOL.lock() = Some(buddy);
}

/// Adds the frames of `[start, end)` (physical, page-aligned, direct-mapped, no longer
/// used by anything) to the pool; how many frames it gained. The first frame holds the
/// allocator's records of the others. Once, after the boot.
pub fn add_boot_only(start: u64, end: u64) -> u64 {
    let frames = (end.saturating_sub(start) / 4096) as usize;
    let records = frames.saturating_sub(1);
    if records == 0 || records * core::mem::size_of::<FrameInfo>() > 4096 {
        return 0;
    }
    let p = virt(start) as *mut FrameInfo;
    // SAFETY: the caller hands over the frames for good; the first one, direct-mapped and
    // page-aligned, holds `records` records (checked to fit above), each written before
    // the slice is formed.
    let meta: &'static mut [FrameInfo] = unsafe {
        for i in 0..records {
            p.add(i).write(FrameInfo::default());
        }
        core::slice::from_raw_parts_mut(p, records)
    };
    let mut buddy = Buddy::new(meta, start / 4096 + 1);
    let added = buddy.add_range(start + 4096, end);
    *BOOT_ONLY.lock() = Some(buddy);
    added
}

/// Allocates `2^order` frames with whatever they held; returns the physical address.
/// For a kernel object, which is written whole when it is created.
fn alloc(order: usize) -> Option<u64> {
    let from_pool = POOL.lock().as_mut()?.alloc(order);
    from_pool.or_else(|| BOOT_ONLY.lock().as_mut()?.alloc(order))
}

/// Allocates `2^order` frames for `of` with whatever they held (the caller writes them
/// whole); returns the physical address.
pub fn alloc_for(order: usize, of: Use) -> Option<u64> {
    let phys = alloc(order)?;
    usage::add(of, 1 << order);
    Some(phys)
}

/// Allocates `2^order` zeroed frames for `of`; returns the physical address.
pub fn alloc_zeroed(order: usize, of: Use) -> Option<u64> {
    let phys = alloc(order)?;
    for i in 0..(1u64 << order) {
        // SAFETY: the frames were just allocated to us and the pool is direct-mapped.
        unsafe { zero_frame(phys + i * 4096) }
    }
    usage::add(of, 1 << order);
    Some(phys)
}

/// Returns frames used for `of` to the pool. Freeing what was not allocated is
/// reported, not fatal.
pub fn free(phys: u64, order: usize, of: Use) {
    if give_back(phys, order) {
        usage::sub(of, 1 << order);
    }
}

/// Returns frames to the buddy allocator; whether it took them.
fn give_back(phys: u64, order: usize) -> bool {
    let p = POOL.lock().as_mut().map(|p| p.free(phys, order));
    // Not the pool's: a boot-only frame, or a bad free.
    let p = match p {
        Some(Err(FreeError::NotManaged)) => BOOT_ONLY.lock().as_mut().map(|b| b.free(phys, order)),
        p => p,
    };
    let Some(p) = p else {
        return false;
    };
    if let Err(e) = p {
        crate::println!("FACET WARNING: bad frame free {phys:#x} order {order}: {e:?}");
        return false;
    }
    true
}

/// Frames of freed kernel objects kept for the next object: a stack linked through the
/// frames' first words (head, count). Creating and destroying objects then costs neither
/// the buddy allocator's splitting and merging nor a figure that depends on how far a
/// free merges.
static OBJECTS: SpinLock<(u64, u64)> = SpinLock::new((0, 0));
/// At most this many frames wait there; the rest go back to the pool.
const OBJECTS_KEPT: u64 = 64;

/// A frame for a kernel object (not zeroed: the object is written whole).
pub fn alloc_object() -> Option<u64> {
    {
        let mut kept = OBJECTS.lock();
        let (head, count) = *kept;
        if head != 0 {
            // SAFETY: a kept frame is direct-mapped and its first word links the next.
            let next = unsafe { core::ptr::read(virt(head) as *const u64) };
            *kept = (next, count - 1);
            return Some(head);
        }
    }
    alloc(0)
}

/// Gives back the frame of a destroyed kernel object.
pub fn free_object(phys: u64) {
    {
        let mut kept = OBJECTS.lock();
        let (head, count) = *kept;
        if count < OBJECTS_KEPT {
            // SAFETY: the frame was the object's and is the caller's to give back; it is
            // direct-mapped.
            unsafe { core::ptr::write(virt(phys) as *mut u64, head) };
            *kept = (phys, count + 1);
            return;
        }
    }
    give_back(phys, 0);
}

/// Frames of freed objects kept for the next one.
pub fn kept() -> u64 {
    OBJECTS.lock().1
}

/// (free frames, total frames) of the pool; kept object frames count as free.
pub fn stats() -> (u64, u64) {
    let kept = OBJECTS.lock().1;
    let of = |pool: &SpinLock<Option<Buddy<'static>>>| {
        pool.lock()
            .as_ref()
            .map_or((0, 0), |p| (p.free_frames(), p.total_frames()))
    };
    let ((free, total), (boot_free, boot_total)) = (of(&POOL), of(&BOOT_ONLY));
    (free + boot_free + kept, total + boot_total)
}

/// Frames of one use for the page tables of `facet_kcore`.
///
/// A page-table frame a table hands back may still be cached by some processor's
/// paging-structure caches (or the IOMMU's) until the TLB flush that follows the change:
/// such frames wait in this value until [`PoolFrames::flushed`] says the flush is done,
/// and only then go back to the pool. Capability tables are the kernel's alone and go
/// back at once.
pub struct PoolFrames {
    of: Use,
    /// Frames waiting for the flush, linked through their first words (0: none).
    pending: u64,
}

impl PoolFrames {
    /// Frames for `of`.
    pub const fn new(of: Use) -> PoolFrames {
        PoolFrames { of, pending: 0 }
    }

    /// The caller's flush is done: the frames tables gave back go to the pool.
    pub fn flushed(&mut self) {
        while self.pending != 0 {
            let frame = self.pending;
            // SAFETY: a pending frame is a table frame no table links any more, owned by
            // this value and direct-mapped; its first word links the next.
            self.pending = unsafe { core::ptr::read(virt(frame) as *const u64) };
            free(frame, 0, self.of);
        }
    }
}

impl FrameSource for PoolFrames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        alloc_zeroed(0, self.of)
    }

    fn free(&mut self, frame: u64) {
        if !self.of.walked_by_hardware() {
            free(frame, 0, self.of);
            return;
        }
        // SAFETY: the table gave the frame back: it is ours, unlinked and direct-mapped.
        unsafe { core::ptr::write(virt(frame) as *mut u64, self.pending) };
        self.pending = frame;
    }
}

impl Drop for PoolFrames {
    fn drop(&mut self) {
        // Every path that unmaps flushes and then calls `flushed`; a frame still pending
        // here is a kernel bug (kept, not freed: better a leak than a freed table that a
        // processor may still walk).
        debug_assert!(
            self.pending == 0,
            "page-table frames dropped before their flush"
        );
    }
}
