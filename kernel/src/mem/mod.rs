//! Physical memory, the kernel pool and the kernel address space.

pub mod cap_mem;
pub mod direct_map;
pub mod frames;
pub mod image;
pub mod init;
pub mod kspace;
pub mod slots;
pub mod usage;

use crate::sync::SpinLock;

/// Unmaps the boot-only code (`.init.text`), `flush` dropping it from every TLB, and
/// gives its frames to the pool; the frames the pool gained. Resident code, called once
/// the boot-only code has run for the last time: nothing may return into it or call it
/// afterwards.
#[inline(never)]
pub fn release_boot_only(flush: impl FnOnce()) -> u64 {
    let s = image::init_text();
    if s.end <= s.start || !kspace::unmap_section(s, flush) {
        return 0;
    }
    let offset = image::KERNEL_OFFSET;
    frames::add_boot_only(s.start - offset, s.end - offset)
}

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
    // Claimed device pages never reach a Pd in the first place (`is_kernel_frame`), so a
    // frame a Pd maps is kernel memory only if it lies in the image or the pool.
    !in_kernel_ranges(phys) || phys == HIP_FRAME.load(core::sync::atomic::Ordering::Relaxed)
}

/// Whether a physical frame belongs to the kernel and must never reach user space: its
/// image and pool, and the registers of the devices it drives ([`claim_mmio`]).
pub fn is_kernel_frame(phys: u64) -> bool {
    in_kernel_ranges(phys) || CLAIMED.lock().contains(&(phys & !0xfff))
}

fn in_kernel_ranges(phys: u64) -> bool {
    KERNEL_RANGES
        .lock()
        .iter()
        .any(|&(s, e)| phys >= s && phys < e)
}

/// Pages of device registers the kernel drives (local APIC, I/O APICs, IOMMU units) and
/// the application processors' start-up page: no Pd may map them, not even the roottask
/// from the kernel, as the reference keeps them to itself. A Pd holding one could
/// reprogram interrupts, start CPUs, or, with the IOMMU's registers, undo DMA isolation.
static CLAIMED: SpinLock<ClaimedPages> = SpinLock::new(ClaimedPages::new());

/// A small set of page addresses (0 marks a free entry; page 0 is never claimed).
struct ClaimedPages([u64; 64]);

impl ClaimedPages {
    const fn new() -> ClaimedPages {
        ClaimedPages([0; 64])
    }

    fn contains(&self, page: &u64) -> bool {
        *page != 0 && self.0.contains(page)
    }
}

/// Keeps the page holding physical address `phys` from user space for good. Boot only,
/// as [`kspace::map_mmio`].
#[link_section = ".init.text"]
pub fn claim_mmio(phys: u64, what: &str) {
    let page = phys & !0xfff;
    let mut c = CLAIMED.lock();
    if page == 0 || c.contains(&page) {
        return;
    }
    match c.0.iter_mut().find(|p| **p == 0) {
        Some(free) => *free = page,
        None => crate::println!(
            "FACET WARNING: no room to keep the {what} page at {page:#x} from user space"
        ),
    }
}
