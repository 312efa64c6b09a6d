//! Building the Hypervisor Information Page for the roottask.
//!
//! The layout is the reference's (see `facet_abi::hip`). Memory descriptors list the
//! firmware memory map, then the multiboot modules (with the physical address of each
//! command line), then the kernel's own memory as HYPERVISOR entries: its image and its
//! pool. The reference has one HYPERVISOR entry because its pool sits inside its image;
//! Facet's pool is separate and gets a second entry, which a roottask that honours the
//! type handles without change. A memory map too long for the page is merged and trimmed
//! (`facet_kcore::hipmem`), so that the modules and the kernel's entries always fit.

use facet_abi::hip::{self, CpuDesc, HipWriter, IoapicDesc, MemDesc};
use facet_kcore::bootinfo::BootInfo;

use crate::mem::init::Plan;

/// Fills `page` with the HIP.
pub fn build(page: &mut [u8], info: &BootInfo, plan: &Plan, image: (u64, u64)) {
    let Some(mut w) = HipWriter::new(page) else {
        return;
    };
    let mut flags = crate::hip_features();
    if info.efi {
        flags |= hip::FEAT_UEFI;
    }
    w.add_features(flags);

    let (per_package, cores) = crate::arch::cpu::package_counts();
    for cpu in 0..crate::smp::count() {
        let apic_id = crate::smp::apic_id(cpu);
        let place = facet_kcore::topology::place(apic_id, per_package, cores);
        let desc = CpuDesc {
            flags: 1,
            thread: place.thread as u8,
            core: place.core as u8,
            package: place.package as u8,
            acpi_id: crate::acpi::acpi_id(apic_id) as u8,
            lapic: [apic_id, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        };
        w.set_cpu(cpu as usize, &desc);
    }

    let (ioapics, count) = crate::arch::ioapic::list();
    for (i, io) in ioapics[..count].iter().enumerate() {
        w.set_ioapic(
            i,
            &IoapicDesc {
                id: io.id,
                version: io.version,
                gsi_base: io.gsi_base,
                base: io.phys,
            },
        );
    }

    let (tsc_khz, bus_khz) = crate::arch::lapic::frequencies();
    w.put_u32(hip::off::FREQ_TSC, tsc_khz.min(u32::MAX as u64) as u32);
    w.put_u32(hip::off::FREQ_BUS, bus_khz.min(u32::MAX as u64) as u32);
    let facts = crate::acpi::facts();
    w.put_u64(hip::off::XSDT_RSDT_TABLE, facts.root_table);
    w.put_u32(hip::off::PCI_BUS_START, facts.pci_bus_start);
    w.put_u64(hip::off::MCFG_BASE, facts.mcfg_base);
    w.put_u64(hip::off::MCFG_SIZE, facts.mcfg_size);
    w.put_u64(hip::off::DMAR_TABLE, facts.dmar);
    w.put_u64(hip::off::HPET_BASE, facts.hpet);
    for (at, gas) in [
        (hip::off::PM1A_CNT, facts.pm1a_cnt),
        (hip::off::PM1B_CNT, facts.pm1b_cnt),
    ] {
        if let Some(g) = gas {
            w.put_u32(
                at,
                u32::from_le_bytes([g.space_id, g.bit_width, g.bit_offset, g.access_size]),
            );
            w.put_u64(at + 4, g.address);
        }
    }

    // The modules and the kernel's two entries must be there; the map gets the rest.
    let room = hip::MAX_MEM_DESC.saturating_sub(info.modules().len() + 2);
    let mut map = [facet_kcore::bootinfo::MemRegion::default(); hip::MAX_MEM_DESC];
    let fitted = facet_kcore::hipmem::fit(info.regions(), room, &mut map);
    if fitted.dropped > 0 {
        crate::println!(
            "FACET WARNING: the HIP has room for {} memory map entries; {} were left out (reserved kinds and the smallest first)",
            room,
            fitted.dropped
        );
    }
    let mut full = false;
    for r in &map[..fitted.count] {
        full |= !w.push_mem(MemDesc {
            addr: r.addr,
            size: r.len,
            mem_type: r.kind,
            aux: 0,
        });
    }
    for m in info.modules() {
        // The reference stores the command line's address in 32 bits; multiboot loaders
        // place it below 4 GiB.
        full |= !w.push_mem(MemDesc {
            addr: m.start,
            size: m.end - m.start,
            mem_type: hip::MEM_MB_MODULE,
            aux: m.cmdline as u32,
        });
    }
    full |= !w.push_mem(MemDesc {
        addr: image.0,
        size: image.1 - image.0,
        mem_type: hip::MEM_HYPERVISOR,
        aux: 0,
    });
    full |= !w.push_mem(MemDesc {
        addr: plan.pool.start,
        size: plan.pool.end - plan.pool.start,
        mem_type: hip::MEM_HYPERVISOR,
        aux: 0,
    });
    if full {
        crate::println!(
            "FACET WARNING: the HIP has room for {} memory descriptors; some were left out",
            hip::MAX_MEM_DESC
        );
    }
    w.finish();
}
