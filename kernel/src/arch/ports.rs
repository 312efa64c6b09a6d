//! The I/O permission bitmap of the running protection domain.
//!
//! Each Pd keeps its own bitmap (see `obj::pd`); each CPU's TSS holds a copy of the
//! Pd running there, loaded when the Pd is activated and kept in step when its port
//! capabilities change.

use core::sync::atomic::{AtomicUsize, Ordering};

use facet_abi::config::NUM_CPU;

use super::gdt::tables;

/// Allows (or denies) the `2^order` ports starting at `base` in the TSS of CPU `cpu`;
/// ports above 0xffff are ignored.
pub fn allow(cpu: u32, base: u64, order: u32, allow: bool) {
    let count = 1u64.checked_shl(order).unwrap_or(u64::MAX);
    let Some(t) = tables(cpu) else { return };
    // SAFETY: the CPU's tables live for good; the kernel lock keeps other kernel code
    // off them. The CPU may run user code that reads the bitmap meanwhile: it sees each
    // byte either before or after the change.
    let map = unsafe { &mut (*t).tss.iomap };
    let end = base.saturating_add(count).min(0x1_0000);
    if allow && end > base {
        let slot = &LOADED_EXTENT[cpu as usize % NUM_CPU];
        slot.fetch_max(((end - 1) / 8 + 1) as usize, Ordering::Relaxed);
    }
    for port in base..end {
        let (byte, bit) = ((port / 8) as usize, port % 8);
        if allow {
            map[byte] &= !(1 << bit);
        } else {
            map[byte] |= 1 << bit;
        }
    }
}

/// Bytes at the start of each CPU's TSS bitmap that may allow a port (the rest denies
/// everything).
static LOADED_EXTENT: [AtomicUsize; NUM_CPU] = [const { AtomicUsize::new(0) }; NUM_CPU];

/// Loads a Pd's bitmap into the executing CPU's TSS (when another Pd starts running).
/// Only the first `extent` bytes of `bitmap` may allow ports, and only as many bytes as
/// either Pd may allow are copied: a switch between Pds with few or no ports costs
/// little.
pub fn load(bitmap: &[u8], extent: usize) {
    let cpu = super::syscall::cpu_id() as usize % NUM_CPU;
    let Some(t) = tables(cpu as u32) else {
        return;
    };
    // SAFETY: as for `allow`; this CPU is in the kernel.
    let map = unsafe { &mut (*t).tss.iomap };
    let n = extent
        .max(LOADED_EXTENT[cpu].load(Ordering::Relaxed))
        .min(map.len())
        .min(bitmap.len());
    map[..n].copy_from_slice(&bitmap[..n]);
    LOADED_EXTENT[cpu].store(extent, Ordering::Relaxed);
}
