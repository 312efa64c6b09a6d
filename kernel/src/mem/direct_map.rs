//! The direct map: all physical memory the memory map describes, mapped read-write and
//! no-execute at [`DIRECT_MAP_BASE`].
//!
//! During boot the 32-bit entry maps the first 4 GiB there with 2 MiB pages; the kernel
//! address space built by [`super::kspace`] replaces that with exactly the memory-map
//! ranges. Everything the kernel reads or writes by physical address goes through here.

use facet_kcore::phys::{PhysMem, PhysRead};

/// Start of the direct map (PML4 slot 256).
pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
/// What the boot page tables map (and so what is reachable before the switch).
pub const BOOT_MAPPED_LIMIT: u64 = 1 << 32;

/// The virtual address of physical address `phys`.
pub const fn virt(phys: u64) -> u64 {
    DIRECT_MAP_BASE + phys
}

/// Physical memory through the direct map, limited to what is mapped.
pub struct DirectMap {
    /// Highest mapped physical address plus one.
    pub limit: u64,
}

impl PhysRead for DirectMap {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > self.limit {
            return false;
        }
        // SAFETY: the range lies below `limit`, which the direct map covers; boot-time
        // readers only read RAM and firmware tables, never device registers.
        unsafe {
            core::ptr::copy_nonoverlapping(virt(addr) as *const u8, buf.as_mut_ptr(), buf.len())
        }
        true
    }
}

impl PhysMem for DirectMap {
    fn read_u64(&self, addr: u64) -> u64 {
        debug_assert!(addr.is_multiple_of(8) && addr < self.limit);
        // SAFETY: page-table words live in kernel-pool frames, which the direct map covers.
        unsafe { core::ptr::read_volatile(virt(addr) as *const u64) }
    }

    fn write_u64(&mut self, addr: u64, value: u64) {
        debug_assert!(addr.is_multiple_of(8) && addr < self.limit);
        // SAFETY: as for `read_u64`; the page-table code only writes table frames it owns.
        unsafe { core::ptr::write_volatile(virt(addr) as *mut u64, value) }
    }
}

/// Zeroes one 4 KiB frame.
///
/// # Safety
/// 1. The frame must be mapped by the direct map and owned by the caller.
pub unsafe fn zero_frame(phys: u64) {
    // SAFETY: the caller owns the mapped frame (point 1).
    unsafe { core::ptr::write_bytes(virt(phys) as *mut u8, 0, 4096) }
}
