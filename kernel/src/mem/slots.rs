//! Slots for the small kernel objects (semaphores, portals, scheduling contexts,
//! protection domains): `facet_kcore::slots` over frames of the kernel pool.

use facet_kcore::slots::Slots;

use super::frames;
use super::kspace;
use crate::sync::SpinLock;

pub use facet_kcore::slots::SLOT_BYTES;

static SLOTS: SpinLock<Slots> = SpinLock::new(Slots::new());

/// Scheduling contexts have slots of their own, in frames that never leave them: an Ec
/// names the Sc to wake with without holding a reference (`Ec::blocked_sc`), so after
/// the Sc is gone that handle must still name Sc memory (a freed slot, which has no
/// kind, or another Sc, whose serial differs), never a frame reused for something a
/// user could write.
static SC_SLOTS: SpinLock<Slots> = SpinLock::new(Slots::keeping());

/// Which slots: those of scheduling contexts, or of the other small objects.
#[derive(Clone, Copy)]
pub enum For {
    Sc,
    Others,
}

fn slots(of: For) -> &'static SpinLock<Slots> {
    match of {
        For::Sc => &SC_SLOTS,
        For::Others => &SLOTS,
    }
}

/// Frames holding slots of `of` now.
pub fn frames(of: For) -> u64 {
    slots(of).lock().frames()
}

/// A free slot's physical address (contents unspecified), or `None` if the pool is out of
/// frames.
pub fn alloc(of: For) -> Option<u64> {
    let mut mem = kspace::phys();
    slots(of).lock().alloc(&mut mem, frames::alloc_object)
}

/// Gives back the slot at `phys`; a frame whose slots are all free goes back to the
/// pool's kept object frames (never one of the Scs'). Freeing what is not a slot in use
/// is reported, not fatal.
pub fn free(of: For, phys: u64) {
    let mut mem = kspace::phys();
    let freed = slots(of).lock().free(&mut mem, phys);
    match freed {
        Ok(Some(frame)) => frames::free_object(frame),
        Ok(None) => {}
        Err(e) => crate::println!("FACET WARNING: bad slot free {phys:#x}: {e:?}"),
    }
}
