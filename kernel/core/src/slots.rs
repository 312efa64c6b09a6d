//! Small kernel objects packed into frames: slots of [`SLOT_BYTES`] bytes, [`SLOTS`] to a
//! frame.
//!
//! A semaphore, portal, scheduling context or protection domain is a hundred bytes or so;
//! a frame each would spend forty times that, and the kernel pool would hold only a few
//! thousand objects. Each frame of slots keeps its bookkeeping in its own first slot (the
//! links of the list of frames that have a free slot, and the mask of free slots), so
//! there is no table to size: a slot is found by the frame at the head of that list, and
//! a freed slot's frame is its address rounded down. A frame whose slots are all free
//! again is handed back at once, so that the pool's figure returns to where it was when
//! everything made since is gone.
//!
//! Like the rest of this crate the frames are reached through [`PhysMem`], which the
//! kernel implements over its direct map and the host tests over simulated memory.

use crate::phys::PhysMem;

/// Bytes in one slot (a power of two: slots are aligned to it).
pub const SLOT_BYTES: u64 = 128;
/// Slots in a frame, the first of which holds the frame's bookkeeping.
pub const SLOTS: u64 = 4096 / SLOT_BYTES;

/// The mask of a frame with every object slot free (slot 0 is the bookkeeping).
const ALL_FREE: u64 = ((1u128 << SLOTS) - 2) as u64;

/// Words of a frame's bookkeeping slot.
const NEXT: u64 = 0;
const PREV: u64 = 8;
const FREE: u64 = 16;

/// What [`Slots::free`] refuses.
#[derive(Debug, PartialEq, Eq)]
pub enum SlotError {
    /// Not the address of an object slot.
    NotASlot,
    /// The slot is free already.
    NotInUse,
}

/// The slot allocator's state: the list of frames that have a free slot.
pub struct Slots {
    /// The first frame with a free slot (0: none); linked through NEXT and PREV.
    partial: u64,
    /// Frames holding slots (for statistics).
    frames: u64,
    /// Frames stay with the allocator when they empty (see [`Slots::keeping`]).
    keep: bool,
}

impl Slots {
    pub const fn new() -> Slots {
        Slots {
            partial: 0,
            frames: 0,
            keep: false,
        }
    }

    /// An allocator that never gives a frame back: its frames only ever hold its own
    /// slots, so an address that once was one of its slots is one of its slots for good
    /// (for objects the kernel may still name after they are freed).
    pub const fn keeping() -> Slots {
        Slots {
            partial: 0,
            frames: 0,
            keep: true,
        }
    }

    /// Frames that hold slots now.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// A free slot's address, taking a frame from `new_frame` (a 4 KiB-aligned frame,
    /// contents unspecified) when no frame has one; `None` if that gives none.
    pub fn alloc(
        &mut self,
        mem: &mut impl PhysMem,
        new_frame: impl FnOnce() -> Option<u64>,
    ) -> Option<u64> {
        if self.partial == 0 {
            let frame = new_frame()?;
            debug_assert!(frame != 0 && frame.is_multiple_of(4096));
            mem.write_u64(frame + NEXT, 0);
            mem.write_u64(frame + PREV, 0);
            mem.write_u64(frame + FREE, ALL_FREE);
            self.partial = frame;
            self.frames += 1;
        }
        let frame = self.partial;
        let free = mem.read_u64(frame + FREE);
        if free == 0 || free & !ALL_FREE != 0 {
            // Broken bookkeeping (a frame on the list must have a free slot): nothing
            // handed out from it.
            debug_assert!(false, "slot frame {frame:#x} with free mask {free:#x}");
            return None;
        }
        let slot = free.trailing_zeros() as u64;
        let free = free & !(1 << slot);
        mem.write_u64(frame + FREE, free);
        if free == 0 {
            // Full: off the list (it is the head).
            self.unlink(mem, frame);
        }
        Some(frame + slot * SLOT_BYTES)
    }

    /// Frees the slot at `addr`. Returns the frame if all its slots are free now: it no
    /// longer belongs to the allocator and goes back to the caller. The checks catch a
    /// second free of a slot while its frame still holds slots; after the frame went
    /// back, the caller must not free into it (the kernel frees each object once).
    pub fn free(&mut self, mem: &mut impl PhysMem, addr: u64) -> Result<Option<u64>, SlotError> {
        let (frame, slot) = (addr & !4095, (addr & 4095) / SLOT_BYTES);
        if !addr.is_multiple_of(SLOT_BYTES) || slot == 0 || frame == 0 {
            return Err(SlotError::NotASlot);
        }
        let free = mem.read_u64(frame + FREE);
        if free & (1 << slot) != 0 || free & !ALL_FREE != 0 {
            return Err(SlotError::NotInUse);
        }
        if free == 0 {
            // It was full: back on the list.
            mem.write_u64(frame + NEXT, self.partial);
            mem.write_u64(frame + PREV, 0);
            if self.partial != 0 {
                mem.write_u64(self.partial + PREV, frame);
            }
            self.partial = frame;
        }
        let free = free | 1 << slot;
        mem.write_u64(frame + FREE, free);
        if free != ALL_FREE || self.keep {
            return Ok(None);
        }
        self.unlink(mem, frame);
        self.frames -= 1;
        Ok(Some(frame))
    }

    /// Takes `frame` off the list of frames with a free slot.
    fn unlink(&mut self, mem: &mut impl PhysMem, frame: u64) {
        let (next, prev) = (mem.read_u64(frame + NEXT), mem.read_u64(frame + PREV));
        if prev == 0 {
            self.partial = next;
        } else {
            mem.write_u64(prev + NEXT, next);
        }
        if next != 0 {
            mem.write_u64(next + PREV, prev);
        }
    }
}

impl Default for Slots {
    fn default() -> Self {
        Slots::new()
    }
}

#[cfg(test)]
mod tests;
