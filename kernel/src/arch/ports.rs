//! The I/O permission bitmap of the running protection domain.
//!
//! Each Pd keeps its own bitmap (see `obj::pd`); the CPU's TSS holds a copy of the
//! running Pd's, loaded when the Pd is activated and kept in step when its port
//! capabilities change.

use super::gdt::BSP_TABLES;

/// Allows (or denies) the `2^order` ports starting at `base`; ports above 0xffff are
/// ignored.
pub fn allow(base: u64, order: u32, allow: bool) {
    let count = 1u64.checked_shl(order).unwrap_or(u64::MAX);
    // SAFETY: only the bootstrap CPU runs, and it does not run user code while the
    // kernel changes the bitmap; the TSS block is static.
    let map = unsafe { &mut (*core::ptr::addr_of_mut!(BSP_TABLES)).tss.iomap };
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

/// Loads a whole bitmap (when another Pd starts running).
pub fn load(bitmap: &[u8]) {
    // SAFETY: as for `allow`.
    let map = unsafe { &mut (*core::ptr::addr_of_mut!(BSP_TABLES)).tss.iomap };
    let n = map.len().min(bitmap.len());
    map[..n].copy_from_slice(&bitmap[..n]);
}
