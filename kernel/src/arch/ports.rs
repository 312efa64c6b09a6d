//! The I/O permission bitmap of the running protection domain.
//!
//! Only the roottask exists so far, so its ports live directly in the bootstrap CPU's
//! TSS bitmap. Per-PD bitmaps switched with the address space come with the capability
//! model.

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
