//! The kernel pool: physical frames for page tables and kernel objects.
//!
//! The pool is one contiguous range set aside at boot and managed by the buddy
//! allocator of `facet_kcore::buddy`, whose per-frame records live at the start of the
//! pool itself. Memory outside the pool belongs to user space (through the roottask).

use facet_kcore::buddy::Buddy;
use facet_kcore::phys::FrameSource;

use super::direct_map::zero_frame;
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

/// Returns frames to the pool (used once objects can be destroyed).
#[allow(dead_code)]
/// Returns frames to the pool. Freeing what was not allocated is reported, not fatal.
pub fn free(phys: u64, order: usize) {
    if let Some(p) = POOL.lock().as_mut() {
        if let Err(e) = p.free(phys, order) {
            crate::println!("FACET WARNING: bad frame free {phys:#x} order {order}: {e:?}");
        }
    }
}

/// (free frames, total frames) of the pool.
pub fn stats() -> (u64, u64) {
    POOL.lock()
        .as_ref()
        .map(|p| (p.free_frames(), p.total_frames()))
        .unwrap_or((0, 0))
}

/// Page-table frames from the pool.
pub struct PoolFrames;

impl FrameSource for PoolFrames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        alloc_zeroed(0)
    }
}
