//! Physical memory, the kernel pool and the kernel address space.

pub mod direct_map;
pub mod frames;
pub mod image;
pub mod init;
pub mod kspace;
pub mod slots;

use crate::sync::SpinLock;

/// Physical ranges the kernel owns: its image and its pool.
static KERNEL_RANGES: SpinLock<[(u64, u64); 2]> = SpinLock::new([(0, 0); 2]);

/// Records the kernel's own physical ranges (once, at boot).
pub fn set_kernel_ranges(image: (u64, u64), pool: (u64, u64)) {
    *KERNEL_RANGES.lock() = [image, pool];
}

/// Whether a physical frame belongs to the kernel and must never reach user space.
pub fn is_kernel_frame(phys: u64) -> bool {
    KERNEL_RANGES
        .lock()
        .iter()
        .any(|&(s, e)| phys >= s && phys < e)
}
