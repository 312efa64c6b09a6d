//! Capability tables addressed by their direct-map virtual addresses.
//!
//! `facet_kcore::capspace` walks its radix tables through a [`PhysMem`] and takes its
//! frames from a [`FrameSource`], and treats the addresses they deal in as opaque. The
//! kernel hands it the frames' direct-map addresses rather than their physical ones: a
//! directory entry is then the very pointer the next step of a walk loads through, and
//! the lookup every hypercall makes saves adding the direct map's base at each of its
//! four levels (and loading that 64-bit constant). Only the kernel reads these tables
//! (no hardware walks them), so their entries need not be physical.
//!
//! The frames still come from and go back to the pool as physical frames
//! ([`CapFrames`]), counted as [`Use::CapTables`]. Three more, made once at boot
//! ([`init`]), are the empty frames every table's absent entries name
//! (`facet_kcore::capspace::TableMem`), so that a lookup follows entries without testing
//! them.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_kcore::capspace::{build_empty, TableMem, EMPTY_LEVELS};
use facet_kcore::phys::{FrameSource, PhysMem};

use super::direct_map::{virt, DIRECT_MAP_BASE};
use super::frames;
use super::usage::Use;

/// Capability-table words at their direct-map addresses.
pub struct CapMem;

impl PhysMem for CapMem {
    #[inline(always)]
    fn read_u64(&self, addr: u64) -> u64 {
        debug_assert!(addr.is_multiple_of(8) && addr >= DIRECT_MAP_BASE);
        // SAFETY: capability-table addresses are direct-map addresses of pool frames
        // `CapFrames` handed out (and of slots inside them), which stay mapped.
        unsafe { core::ptr::read_volatile(addr as *const u64) }
    }

    #[inline(always)]
    fn write_u64(&mut self, addr: u64, value: u64) {
        debug_assert!(addr.is_multiple_of(8) && addr >= DIRECT_MAP_BASE);
        // SAFETY: as for `read_u64`; the table code only writes frames its table owns.
        unsafe { core::ptr::write_volatile(addr as *mut u64, value) }
    }
}

/// The empty frames, level 0 (the leaf) first, by direct-map address: written once by
/// [`init`], before any table exists, and never again.
static EMPTY: [AtomicU64; EMPTY_LEVELS] = [const { AtomicU64::new(0) }; EMPTY_LEVELS];

impl TableMem for CapMem {
    #[inline(always)]
    fn empty(&self, level: u32) -> u64 {
        EMPTY[level as usize].load(Ordering::Relaxed)
    }
}

/// Makes the empty frames. Called once at boot, before the first table; `false` if the
/// pool has no three frames.
#[link_section = ".init.text"]
pub fn init() -> bool {
    let Some(empty) = build_empty(&mut CapMem, &mut CapFrames) else {
        return false;
    };
    for (slot, frame) in EMPTY.iter().zip(empty) {
        slot.store(frame, Ordering::Relaxed);
    }
    true
}

/// Frames for capability tables, named by their direct-map addresses: the kernel's
/// alone, so a frame a table gives back goes to the pool at once.
pub struct CapFrames;

impl FrameSource for CapFrames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        frames::alloc_zeroed(0, Use::CapTables).map(virt)
    }

    fn free(&mut self, frame: u64) {
        free(frame);
    }
}

/// Gives back the capability-table frame at direct-map address `frame`.
pub fn free(frame: u64) {
    debug_assert!(frame >= DIRECT_MAP_BASE);
    frames::free(frame - DIRECT_MAP_BASE, 0, Use::CapTables);
}
