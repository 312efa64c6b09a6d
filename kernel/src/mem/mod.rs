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

/// The HIP's frame: kernel memory the roottask may hand on (read-only, as the reference's
/// HIP is), unlike UTCBs and virtual-APIC pages, which go back to the pool.
static HIP_FRAME: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Records the HIP's frame (see [`delegable_user_frame`]).
pub fn set_hip_frame(phys: u64) {
    HIP_FRAME.store(phys, core::sync::atomic::Ordering::Relaxed);
}

/// Whether a frame mapped in a Pd may be delegated on: not kernel memory (a UTCB or a
/// virtual-APIC page, freed when its Ec goes, would stay mapped in the receiver), except
/// the HIP, which lives for good. The reference marks such mappings not delegable.
pub fn delegable_user_frame(phys: u64) -> bool {
    !is_kernel_frame(phys) || phys == HIP_FRAME.load(core::sync::atomic::Ordering::Relaxed)
}

/// Whether a physical frame belongs to the kernel and must never reach user space.
pub fn is_kernel_frame(phys: u64) -> bool {
    KERNEL_RANGES
        .lock()
        .iter()
        .any(|&(s, e)| phys >= s && phys < e)
}
