//! The I/O permission bitmap of the running protection domain.
//!
//! Each Pd keeps its own bitmap (see `obj::pd`); each CPU's TSS holds a copy of the
//! Pd running there, loaded when the Pd is activated and kept in step when its port
//! capabilities change.

use super::gdt::tables;

/// Allows (or denies) the `2^order` ports starting at `base`; ports above 0xffff are
/// ignored.
/// on CPU `cpu`.
pub fn allow(cpu: u32, base: u64, order: u32, allow: bool) {
    let count = 1u64.checked_shl(order).unwrap_or(u64::MAX);
    let Some(t) = tables(cpu) else { return };
    // SAFETY: the CPU's tables live for good; the kernel lock keeps other kernel code
    // off them. The CPU may run user code that reads the bitmap meanwhile: it sees each
    // byte either before or after the change.
    let map = unsafe { &mut (*t).tss.iomap };
    let end = base.saturating_add(count).min(0x1_0000);
    for port in base..end {
        let (byte, bit) = ((port / 8) as usize, port % 8);
        if allow {
            map[byte] &= !(1 << bit);
        } else {
            map[byte] |= 1 << bit;
        }
    }
}

/// Loads a whole bitmap into the executing CPU's TSS (when another Pd starts running).
pub fn load(bitmap: &[u8]) {
    let Some(t) = tables(super::syscall::cpu_id() as u32) else {
        return;
    };
    // SAFETY: as for `allow`; this CPU is in the kernel.
    let map = unsafe { &mut (*t).tss.iomap };
    let n = map.len().min(bitmap.len());
    map[..n].copy_from_slice(&bitmap[..n]);
}
