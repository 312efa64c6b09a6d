//! The kernel pool: physical frames for page tables and kernel objects.
//!
//! The pool is one contiguous range set aside at boot and managed by the buddy
//! allocator of `facet_kcore::buddy`, whose per-frame records live at the start of the
//! pool itself. Memory outside the pool belongs to user space (through the roottask).

use facet_kcore::buddy::Buddy;
use facet_kcore::phys::FrameSource;

use super::direct_map::{virt, zero_frame};
use crate::sync::SpinLock;

static POOL: SpinLock<Option<Buddy<'static>>> = SpinLock::new(None);

/// Installs the allocator (once, at boot).
pub fn install(buddy: Buddy<'static>) {
    *POOL.lock() = Some(buddy);
}

/// Allocates `2^order` frames with whatever they held; returns the physical address.
/// For memory the caller fills entirely before anything reads it (a kernel object,
/// written whole when it is created).
pub fn alloc(order: usize) -> Option<u64> {
    POOL.lock().as_mut()?.alloc(order)
}

/// Allocates `2^order` zeroed frames; returns the physical address.
pub fn alloc_zeroed(order: usize) -> Option<u64> {
    let phys = alloc(order)?;
    for i in 0..(1u64 << order) {
        // SAFETY: the frames were just allocated to us and the pool is direct-mapped.
        unsafe { zero_frame(phys + i * 4096) }
    }
    Some(phys)
}

/// Returns frames to the pool. Freeing what was not allocated is reported, not fatal.
pub fn free(phys: u64, order: usize) {
    if let Some(p) = POOL.lock().as_mut() {
        if let Err(e) = p.free(phys, order) {
            crate::println!("FACET WARNING: bad frame free {phys:#x} order {order}: {e:?}");
        }
    }
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
    free(phys, 0);
}

/// (free frames, total frames) of the pool; kept object frames count as free.
pub fn stats() -> (u64, u64) {
    let kept = OBJECTS.lock().1;
    POOL.lock()
        .as_ref()
        .map(|p| (p.free_frames() + kept, p.total_frames()))
        .unwrap_or((0, 0))
}

/// Page-table frames from the pool.
pub struct PoolFrames;

impl FrameSource for PoolFrames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        alloc_zeroed(0)
    }
}
