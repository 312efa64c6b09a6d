//! Filling the Hypervisor Information Page for the roottask from what the kernel found
//! at boot.
//!
//! The layout is the reference's (`facet_abi::hip`, written with its `HipWriter`).
//! Memory descriptors list the firmware memory map, then the multiboot modules (with
//! the physical address of each command line), then the kernel's own memory as
//! HYPERVISOR entries: its image and its pool. The reference has one HYPERVISOR entry
//! because its pool sits inside its image; Facet's pool is separate and gets a second
//! entry, which a roottask that honours the type handles without change. A memory map
//! too long for the page is merged and trimmed (`crate::hipmem`), so that the modules
//! and the kernel's entries always fit. The kernel
//! gathers the facts ([`Machine`]) and this module only places them, so that every field
//! is checked on the host by reading the page back.

use facet_abi::hip::{self, CpuDesc, HipWriter, IoapicDesc, MemDesc};

use crate::acpi::Gas;
use crate::bootinfo::{MemRegion, Module};
use crate::topology;

/// What the ACPI tables tell the roottask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AcpiFacts {
    pub root_table: u64,
    pub pm1a_cnt: Option<Gas>,
    pub pm1b_cnt: Option<Gas>,
    pub pci_bus_start: u32,
    pub mcfg_base: u64,
    pub mcfg_size: u64,
    pub dmar: u64,
    pub hpet: u64,
}

/// A CPU the kernel brought up, by its number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cpu {
    pub apic_id: u32,
    pub acpi_id: u32,
}

/// What the kernel found at boot.
pub struct Machine<'a> {
    /// `hip::FEAT_*` besides UEFI (which comes from the boot information).
    pub features: u32,
    /// Booted from UEFI (multiboot2's EFI system-table tag).
    pub efi: bool,
    /// The CPUs that run, by CPU number.
    pub cpus: &'a [Cpu],
    /// Logical processors and cores per package (CPUID), to place each APIC id.
    pub per_package: u32,
    pub cores: u32,
    pub ioapics: &'a [IoapicDesc],
    pub tsc_khz: u64,
    pub bus_khz: u64,
    pub acpi: AcpiFacts,
    /// The firmware memory map and the boot modules.
    pub regions: &'a [MemRegion],
    pub modules: &'a [Module],
    /// The kernel's image and pool, physical `[start, end)`.
    pub image: (u64, u64),
    pub pool: (u64, u64),
}

/// Fills `page` with the HIP. Returns `false` if the memory descriptors did not all fit
/// (those that did are there), or if `page` is smaller than a page (nothing written).
pub fn fill(page: &mut [u8], m: &Machine) -> bool {
    let Some(mut w) = HipWriter::new(page) else {
        return false;
    };
    w.add_features(m.features | if m.efi { hip::FEAT_UEFI } else { 0 });

    for (i, cpu) in m.cpus.iter().enumerate() {
        let place = topology::place(cpu.apic_id, m.per_package, m.cores);
        let desc = CpuDesc {
            flags: 1,
            thread: place.thread as u8,
            core: place.core as u8,
            package: place.package as u8,
            acpi_id: cpu.acpi_id as u8,
            lapic: [cpu.apic_id, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        w.set_cpu(i, &desc);
    }
    for (i, io) in m.ioapics.iter().enumerate() {
        w.set_ioapic(i, io);
    }

    w.put_u32(hip::off::FREQ_TSC, m.tsc_khz.min(u32::MAX as u64) as u32);
    w.put_u32(hip::off::FREQ_BUS, m.bus_khz.min(u32::MAX as u64) as u32);
    let a = &m.acpi;
    w.put_u64(hip::off::XSDT_RSDT_TABLE, a.root_table);
    w.put_u32(hip::off::PCI_BUS_START, a.pci_bus_start);
    w.put_u64(hip::off::MCFG_BASE, a.mcfg_base);
    w.put_u64(hip::off::MCFG_SIZE, a.mcfg_size);
    w.put_u64(hip::off::DMAR_TABLE, a.dmar);
    w.put_u64(hip::off::HPET_BASE, a.hpet);
    for (at, gas) in [
        (hip::off::PM1A_CNT, a.pm1a_cnt),
        (hip::off::PM1B_CNT, a.pm1b_cnt),
    ] {
        if let Some(g) = gas {
            let head = [g.space_id, g.bit_width, g.bit_offset, g.access_size];
            w.put_u32(at, u32::from_le_bytes(head));
            w.put_u64(at + 4, g.address);
        }
    }

    // The modules and the kernel's two entries must be there; a map too long for the
    // rest is merged and trimmed (`crate::hipmem`).
    let room = hip::MAX_MEM_DESC.saturating_sub(m.modules.len() + 2);
    let mut map = [MemRegion::default(); hip::MAX_MEM_DESC];
    let fitted = crate::hipmem::fit(m.regions, room, &mut map);
    let mut fits = fitted.dropped == 0;
    for r in &map[..fitted.count] {
        fits &= w.push_mem(MemDesc {
            addr: r.addr,
            size: r.len,
            mem_type: r.kind,
            aux: 0,
        });
    }
    for md in m.modules {
        // The reference stores the command line's address in 32 bits; multiboot loaders
        // place it below 4 GiB.
        fits &= w.push_mem(MemDesc {
            addr: md.start,
            size: md.end - md.start,
            mem_type: hip::MEM_MB_MODULE,
            aux: md.cmdline as u32,
        });
    }
    for (start, end) in [m.image, m.pool] {
        fits &= w.push_mem(MemDesc {
            addr: start,
            size: end - start,
            mem_type: hip::MEM_HYPERVISOR,
            aux: 0,
        });
    }
    w.finish();
    fits
}

#[cfg(test)]
mod tests;
