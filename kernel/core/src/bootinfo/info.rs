//! What a parse yields: the memory map, the modules, the command line and ACPI/EFI
//! hints, in fixed arrays that no longer refer to the loader's memory.

use super::error::BootError;
use super::{MAX_MODULES, MAX_REGIONS};

/// E820 type of usable RAM.
const KIND_USABLE: u32 = 1;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Which boot protocol delivered the information.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Multiboot 0.6.96 (GRUB `multiboot`, QEMU `-kernel`).
    Multiboot1,
    /// Multiboot 2 (GRUB `multiboot2`).
    Multiboot2,
}

/// One memory-map entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemRegion {
    /// Physical start address.
    pub addr: u64,
    /// Length in bytes; never 0 and `addr + len` never wraps in a parsed [`BootInfo`].
    pub len: u64,
    /// E820 type: 1 usable, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad; others are
    /// passed through unchanged and should be treated as reserved.
    pub kind: u32,
}

/// One boot module (module 0 is the roottask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// Physical address of the first byte.
    pub start: u64,
    /// Physical address one past the last byte; never below `start`.
    pub end: u64,
    /// Physical address of its NUL-terminated command line, 0 if none.
    pub cmdline: u64,
}

/// Where the loader's copy of the ACPI root pointer lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// Physical address of the RSDP copy inside the multiboot2 info.
    pub addr: u64,
    /// Bytes available at `addr` (the tag's payload).
    pub len: u32,
    /// From the "ACPI new" (XSDP, tag 15) tag rather than "ACPI old" (tag 14).
    pub new: bool,
}

/// The boot information, copied out of the loader's structures.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// The protocol the loader spoke.
    pub protocol: Protocol,
    /// Physical address of the info structure itself.
    pub info_addr: u64,
    /// Its length (multiboot1: the fixed 116-byte structure; multiboot2: `total_size`), so
    /// the kernel can keep it, and the strings and RSDP inside it, from the allocator.
    pub info_len: u64,
    /// Physical address of the kernel command line (0: none).
    pub cmdline: u64,
    /// Memory map; only the first `region_count` entries are valid.
    pub regions: [MemRegion; MAX_REGIONS],
    /// Number of valid entries in `regions`.
    pub region_count: usize,
    /// Boot modules in loader order; only the first `module_count` entries are valid.
    pub modules: [Module; MAX_MODULES],
    /// Number of valid entries in `modules`.
    pub module_count: usize,
    /// ACPI root pointer (multiboot2 only); the new (XSDP) tag wins if both are present.
    pub rsdp: Option<Rsdp>,
    /// Multiboot2 had an EFI system table tag (type 11 or 12).
    pub efi: bool,
    /// Memory-map entries beyond [`MAX_REGIONS`], counted but not kept.
    pub dropped_regions: usize,
    /// Modules beyond [`MAX_MODULES`], counted but not kept.
    pub dropped_modules: usize,
}

impl BootInfo {
    pub(super) fn new(protocol: Protocol, info_addr: u64, info_len: u64) -> Self {
        BootInfo {
            protocol,
            info_addr,
            info_len,
            cmdline: 0,
            regions: [MemRegion::default(); MAX_REGIONS],
            region_count: 0,
            modules: [Module::default(); MAX_MODULES],
            module_count: 0,
            rsdp: None,
            efi: false,
            dropped_regions: 0,
            dropped_modules: 0,
        }
    }

    /// The memory-map entries kept, in loader order.
    pub fn regions(&self) -> &[MemRegion] {
        // The fields are public: clamp rather than trust the count.
        &self.regions[..self.region_count.min(MAX_REGIONS)]
    }

    /// The modules kept, in loader order.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.module_count.min(MAX_MODULES)]
    }

    /// Sum of the lengths of the usable (type 1) regions kept. Overlapping regions are
    /// counted twice; the sum saturates instead of wrapping.
    pub fn usable_bytes(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|r| r.kind == KIND_USABLE)
            .fold(0u64, |sum, r| sum.saturating_add(r.len))
    }

    /// Records a memory-map entry. Zero-length entries carry no memory and are skipped;
    /// one that wraps past 2^64 cannot describe real memory and means the map is corrupt.
    pub(super) fn push_region(&mut self, addr: u64, len: u64, kind: u32) -> Result<(), BootError> {
        if len == 0 {
            return Ok(());
        }
        if addr.checked_add(len).is_none() {
            return Err(BootError::RegionOverflow { addr, len });
        }
        match self.regions.get_mut(self.region_count) {
            Some(slot) => {
                *slot = MemRegion { addr, len, kind };
                self.region_count += 1;
            }
            None => self.dropped_regions += 1,
        }
        Ok(())
    }

    /// Records module number `index` (counting dropped ones).
    pub(super) fn push_module(
        &mut self,
        index: usize,
        start: u64,
        end: u64,
        cmdline: u64,
    ) -> Result<(), BootError> {
        if end < start {
            return Err(BootError::BadModule { index, start, end });
        }
        match self.modules.get_mut(self.module_count) {
            Some(slot) => {
                *slot = Module {
                    start,
                    end,
                    cmdline,
                };
                self.module_count += 1;
            }
            None => self.dropped_modules += 1,
        }
        Ok(())
    }

    /// Without a memory map, the basic memory information still tells how much
    /// conventional memory (from 0) and extended memory (from 1 MiB) there is.
    pub(super) fn push_meminfo(&mut self, lower_kib: u32, upper_kib: u32) -> Result<(), BootError> {
        self.push_region(0, u64::from(lower_kib) * KIB, KIND_USABLE)?;
        self.push_region(MIB, u64::from(upper_kib) * KIB, KIND_USABLE)
    }

    /// True if no memory-map entry was seen at all (kept or dropped).
    pub(super) fn no_regions(&self) -> bool {
        self.region_count == 0 && self.dropped_regions == 0
    }
}
