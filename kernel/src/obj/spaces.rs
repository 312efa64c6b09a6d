//! The bridge between the capability spaces of `facet_kcore::capspace` and the kernel's
//! objects: which table a space id names, reference counting, and the I/O bitmaps that
//! follow a PD's port capabilities.
//!
//! Space ids: a PD's object space is `handle * 2`, its port space `handle * 2 + 1`
//! (handles count 128-byte slots of the pool, which lies below 4 GiB: below 2^25, so the
//! ids stay below 2^26, `capspace::SPACE_LIMIT`). Port capabilities all carry [`PORT_OBJ`] as their object, which is
//! never a handle (no object lies in the first page).

use facet_kcore::capspace::{Cap, Spaces, Table};
use facet_kcore::phys::FrameSource;

use super::pd::Pd;
use super::{cap_added, cap_dropped, with, Handle, HANDLE_UNIT};
use crate::arch::ports;
use crate::mem::cap_mem::{CapFrames, CapMem};
use crate::mem::direct_map::virt;

/// The object value of every port capability.
pub const PORT_OBJ: u64 = 1;

/// The object space id of PD `pd`.
pub fn obj_space(pd: Handle) -> u32 {
    // A Pd's slot number (its handle, a physical address, in slots) and which space:
    // the pool lies below 4 GiB, so slot numbers are below 2^25 and space ids below
    // `capspace::SPACE_LIMIT`.
    let slot = pd / HANDLE_UNIT;
    debug_assert!(slot < 1 << 25);
    (slot << 1) as u32
}

/// The port space id of PD `pd`.
pub fn pio_space(pd: Handle) -> u32 {
    obj_space(pd) | 1
}

/// The Pd whose space is `space`.
fn pd_of(space: u32) -> Handle {
    (space >> 1) as u64 * HANDLE_UNIT
}

/// The kernel's view of all capability spaces.
pub struct KernelSpaces;

impl Spaces for KernelSpaces {
    fn table(&self, space: u32) -> Option<Table> {
        let pd = pd_of(space);
        with::<Pd, _>(pd, |p| if space & 1 == 0 { p.obj } else { p.pio })
    }

    fn changed(&mut self, space: u32, index: u64, cap: Option<Cap>) {
        if space & 1 == 1 {
            let pd = pd_of(space);
            // The access right (bit 0, the one right the reference's documentation
            // defines for ports) opens the port. The reference's bitmap opens it for any
            // right; Facet checks the right, as an authority check.
            let allowed = cap.is_some_and(|c| c.perms & facet_abi::perm::PIO_A != 0);
            let Some((bitmap, extent)) = with::<Pd, _>(pd, |p| {
                p.set_port(index, allowed);
                (p.iobitmap, p.io_extent as usize)
            }) else {
                return;
            };
            // SAFETY: the bitmap is two frames owned by the Pd and direct-mapped.
            let map = unsafe { core::slice::from_raw_parts(virt(bitmap) as *const u8, 8192) };
            ports_changed(pd, index, allowed, map, extent);
        }
    }

    fn added(&mut self, obj: u64) {
        if obj != PORT_OBJ {
            cap_added(obj);
        }
    }

    fn dropped(&mut self, obj: u64) {
        if obj != PORT_OBJ {
            cap_dropped(obj);
        }
    }

    fn free_frame(&mut self, frame: u64) {
        CapFrames.free(frame);
    }
}

/// Pd `pd`'s port `port` changed: every CPU whose TSS holds its bitmap (running it or
/// keeping it for its return) follows at once.
fn ports_changed(pd: u64, port: u64, allowed: bool, bitmap: &[u8], extent: usize) {
    for cpu in crate::smp::cpus_in(crate::smp::all_online()) {
        if ports::owner(cpu) == pd {
            ports::allow(cpu, port, 0, allowed);
        }
        if super::pd::current_on(cpu) == pd {
            // Its first port switches the bitmap on.
            ports::load_on(cpu, pd, bitmap, extent);
        }
    }
}

/// Everything the capability-space operations need, bundled (tables addressed by their
/// direct-map addresses: `mem::cap_mem`).
pub fn tools() -> (KernelSpaces, CapMem, CapFrames) {
    (KernelSpaces, CapMem, CapFrames)
}
