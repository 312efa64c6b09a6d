//! The I/O permission bitmap of the running protection domain.
//!
//! Each Pd keeps its own bitmap (see `obj::pd`); each CPU's TSS holds a copy of the
//! Pd running there, loaded when the Pd is activated and kept in step when its port
//! capabilities change (`obj::spaces`). The bit and extent arithmetic is
//! `facet_kcore::iobitmap`'s; here are the TSS copies and who owns them.

use core::sync::atomic::{AtomicUsize, Ordering};

use facet_abi::config::NUM_CPU;
use facet_kcore::iobitmap;

use core::mem::offset_of;

use super::gdt::{tables, CpuTables, Tss, TssBlock};

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
    if extent == 0 {
        set_local_base!(BITMAP_OFF);
    } else if super::percpu::ports_owner() == pd {
        set_local_base!(BITMAP_ON);
    } else {
        return false;
    }
    true
}

/// The place of the executing CPU's TSS field for the bitmap relative to the per-CPU
/// block GS points at (the TSS comes first in the CPU's tables).
const LOCAL_BASE_AT: i64 =
    (offset_of!(CpuTables, tss) + offset_of!(TssBlock, tss) + offset_of!(Tss, iomap_base)) as i64
        - offset_of!(CpuTables, percpu) as i64;

/// Points the executing CPU's TSS at its bitmap or past its end (the constant given):
/// one store of an immediate, with no load of the tables' address.
macro_rules! set_local_base {
    ($base:expr) => {
        // SAFETY: GS holds the kernel's per-CPU base, which lies in the executing CPU's
        // tables, `LOCAL_BASE_AT` bytes after the field; the tables live for good. The
        // CPU reads the field only in user mode, and kernel code writes it only holding
        // the kernel lock (this CPU here, another through `load_on` while this one is
        // out of the kernel).
        unsafe {
            core::arch::asm!("mov word ptr gs:[{at}], {base}", at = const LOCAL_BASE_AT,
                             base = const $base, options(nostack, preserves_flags))
        }
    };
}
use set_local_base;

/// Pd `pd` is going away: no TSS may keep its bitmap for a Pd that later gets its handle.
pub fn forget(pd: u64) {
    for cpu in 0..NUM_CPU as u32 {
        if let Some(owner) = super::percpu::ports_owner_of(cpu) {
            let _ = owner.compare_exchange(pd, 0, Ordering::Relaxed, Ordering::Relaxed);
        }
    }
}
