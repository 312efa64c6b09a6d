//! Slots for the small kernel objects (semaphores, portals, scheduling contexts,
//! protection domains): `facet_kcore::slots` over frames of the kernel pool.

use facet_kcore::slots::Slots;

use super::frames;
use super::kspace;
use crate::sync::SpinLock;

pub use facet_kcore::slots::SLOT_BYTES;

static SLOTS: SpinLock<Slots> = SpinLock::new(Slots::new());

/// A free slot's physical address (contents unspecified), or `None` if the pool is out of
/// frames.
pub fn alloc() -> Option<u64> {
    let mut mem = kspace::phys();
    SLOTS.lock().alloc(&mut mem, frames::alloc_object)
}

/// Gives back the slot at `phys`; a frame whose slots are all free goes back to the
/// pool's kept object frames. Freeing what is not a slot in use is reported, not fatal.
pub fn free(phys: u64) {
    let mut mem = kspace::phys();
    let freed = SLOTS.lock().free(&mut mem, phys);
    match freed {
        Ok(Some(frame)) => frames::free_object(frame),
        Ok(None) => {}
        Err(e) => crate::println!("FACET WARNING: bad slot free {phys:#x}: {e:?}"),
    }
}
