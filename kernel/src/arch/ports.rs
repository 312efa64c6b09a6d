//! The I/O permission bitmap of the running protection domain.
//!
//! Each Pd keeps its own bitmap (see `obj::pd`); each CPU's TSS holds a copy of the
//! Pd running there, loaded when the Pd is activated and kept in step when its port
//! capabilities change (`obj::spaces`). The bit and extent arithmetic is
//! `facet_kcore::iobitmap`'s; here are the TSS copies and who owns them.

use core::sync::atomic::{AtomicUsize, Ordering};

use facet_abi::config::NUM_CPU;
use facet_kcore::iobitmap;

use super::gdt::tables;

/// Allows (or denies) the `2^order` ports starting at `base` in the TSS of CPU `cpu`;
/// ports above 0xffff are ignored.
pub fn allow(cpu: u32, base: u64, order: u32, allow: bool) {
    let Some(t) = tables(cpu) else { return };
    // SAFETY: the CPU's tables live for good; the kernel lock keeps other kernel code
    // off them. The CPU may run user code that reads the bitmap meanwhile: it sees each
    // byte either before or after the change.
    let map = unsafe { &mut (*t).tss.iomap };
    // Ports beyond 0xffff are ignored; what this CPU's copy may now allow is recorded
    // (`facet_kcore::iobitmap`).
    let extent = iobitmap::set_range(map, base, order, allow);
    if extent != 0 {
        LOADED_EXTENT[cpu as usize % NUM_CPU].fetch_max(extent, Ordering::Relaxed);
    }
}

/// Bytes at the start of each CPU's TSS bitmap that may allow a port (the rest denies
/// everything).
static LOADED_EXTENT: [AtomicUsize; NUM_CPU] = [const { AtomicUsize::new(0) }; NUM_CPU];

/// The Pd whose bitmap a CPU's TSS holds (0: none) is its per-CPU `ports_owner`.
/// Switching back to it needs no copy; a Pd without any port switches the bitmap off
/// instead of copying over it.
pub fn owner(cpu: u32) -> u64 {
    super::percpu::ports_owner_of(cpu).map_or(0, |o| o.load(Ordering::Relaxed))
}

/// `iomap_base` when the bitmap is on: right after the TSS.
const BITMAP_ON: u16 = core::mem::size_of::<super::gdt::Tss>() as u16;
/// `iomap_base` beyond the TSS limit: no bitmap, every port denied.
const BITMAP_OFF: u16 = 0xffff;

/// Puts Pd `pd`'s bitmap into the TSS of CPU `cpu` (the executing one, or one the kernel
/// lock keeps out of the kernel while it runs `pd`). Only the first `extent` bytes of
/// `bitmap` may allow ports.
pub fn load_on(cpu: u32, pd: u64, bitmap: &[u8], extent: usize) {
    let Some(t) = tables(cpu) else {
        return;
    };
    // SAFETY: as for `allow`.
    let tss = unsafe { &mut (*t).tss };
    if extent == 0 {
        tss.tss.iomap_base = BITMAP_OFF;
        return;
    }
    if owner(cpu) != pd {
        copy_bitmap(cpu, &mut tss.iomap, pd, bitmap, extent);
    }
    tss.tss.iomap_base = BITMAP_ON;
}

/// Copies Pd `pd`'s bitmap into the TSS bitmap `iomap` of CPU `cpu`, which then holds
/// it (apart, so that switching the bitmap on and off stays short).
#[cold]
#[inline(never)]
fn copy_bitmap(cpu: u32, iomap: &mut [u8], pd: u64, bitmap: &[u8], extent: usize) {
    let c = cpu as usize % NUM_CPU;
    let loaded = LOADED_EXTENT[c].load(Ordering::Relaxed);
    let n = iobitmap::copy_len(extent, loaded, iomap.len().min(bitmap.len()));
    iomap[..n].copy_from_slice(&bitmap[..n]);
    LOADED_EXTENT[c].store(extent, Ordering::Relaxed);
    if let Some(owner) = super::percpu::ports_owner_of(cpu) {
        owner.store(pd, Ordering::Relaxed);
    }
}

/// Makes the executing CPU's TSS as Pd `pd`, whose bitmap may allow ports in its first
/// `extent` bytes, needs it, if that takes no copy: the bitmap off for a Pd without
/// ports, on for the Pd whose bitmap the TSS holds. Returns `false` if the bitmap must be
/// copied ([`load_on`]).
#[inline]
pub fn switch_for(pd: u64, extent: u16) -> bool {
    // One store whichever way it was: cheaper than finding out.
    let base = if extent == 0 {
        BITMAP_OFF
    } else if super::percpu::ports_owner() == pd {
        BITMAP_ON
    } else {
        return false;
    };
    set_local_base(base);
    true
}

/// Points the executing CPU's TSS at its bitmap or past its end.
#[inline]
fn set_local_base(base: u16) {
    // SAFETY: the executing CPU's tables live for good; the CPU reads the field only in
    // user mode, and kernel code writes it only holding the kernel lock (this CPU here,
    // another through `load_on` while this one is out of the kernel).
    unsafe { (*super::gdt::local_tables()).tss.tss.iomap_base = base };
}

/// Pd `pd` is going away: no TSS may keep its bitmap for a Pd that later gets its handle.
pub fn forget(pd: u64) {
    for cpu in 0..NUM_CPU as u32 {
        if let Some(owner) = super::percpu::ports_owner_of(cpu) {
            let _ = owner.compare_exchange(pd, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}
