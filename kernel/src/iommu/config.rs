//! PCI configuration space of segment 0 at boot, read through the kernel's scratch page
//! one function at a time (the region is far too large to map whole), for the device
//! map and the DMAR's device scopes. Only the bootstrap CPU runs then.

use facet_kcore::iommu::devices::ConfigSpace;

/// The memory-mapped configuration region (the MCFG's entry for segment 0).
pub struct BootConfig {
    /// Physical address of bus `first`'s configuration space.
    base: u64,
    first: u8,
    last: u8,
    /// The page mapped at the scratch page now (0: none).
    mapped: u64,
    va: u64,
}

impl BootConfig {
    /// The region of `size` bytes at `base` starting with bus `first` (`None` without
    /// one).
    pub fn new(base: u64, size: u64, first: u32) -> Option<BootConfig> {
        let buses = size >> 20;
        if base == 0 || buses == 0 || first > 255 {
            return None;
        }
        let last = (first as u64 + buses - 1).min(255) as u8;
        Some(BootConfig {
            base,
            first: first as u8,
            last,
            mapped: 0,
            va: 0,
        })
    }

    /// The buses the region covers.
    pub fn buses(&self) -> (u8, u8) {
        (self.first, self.last)
    }
}

impl ConfigSpace for BootConfig {
    #[link_section = ".init.text"]
    fn read32(&mut self, rid: u16, offset: u16) -> u32 {
        let bus = (rid >> 8) as u8;
        if bus < self.first || bus > self.last || offset >= 4096 || !offset.is_multiple_of(4) {
            return u32::MAX;
        }
        let page = self.base + (((bus - self.first) as u64) << 20) + (((rid & 0xff) as u64) << 12);
        if page != self.mapped {
            let Some(va) = crate::mem::kspace::map_scratch(page) else {
                return u32::MAX;
            };
            self.mapped = page;
            self.va = va;
        }
        // SAFETY: the scratch page maps this function's configuration page (uncached);
        // reading a configuration register has no side effects.
        unsafe { core::ptr::read_volatile((self.va + offset as u64) as *const u32) }
    }
}
