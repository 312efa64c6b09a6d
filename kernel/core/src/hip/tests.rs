//! The HIP as the roottask reads it back (`HipReader`): every field from its fact, the
//! descriptors in their order, the overflow of the memory list, and a valid checksum.

use std::vec;
use std::vec::Vec;

use facet_abi::config::PAGE_SIZE;
use facet_abi::hip::{self, HipReader, IoapicDesc, MemDesc};

use super::*;

fn machine<'a>(
    cpus: &'a [Cpu],
    ioapics: &'a [IoapicDesc],
    regions: &'a [MemRegion],
    modules: &'a [Module],
) -> Machine<'a> {
    Machine {
        features: hip::FEAT_SVM,
        efi: false,
        cpus,
        per_package: 4,
        cores: 2,
        ioapics,
        tsc_khz: 3_000_000,
        bus_khz: 100_000,
        acpi: AcpiFacts {
            root_table: 0x7fe_1000,
            pm1a_cnt: Some(Gas {
                space_id: Gas::SYSTEM_IO,
                bit_width: 16,
                bit_offset: 0,
                access_size: 2,
                address: 0x604,
            }),
            pm1b_cnt: None,
            pci_bus_start: 0,
            mcfg_base: 0xb000_0000,
            mcfg_size: 0x1000_0000,
            dmar: 0x7fe_2000,
            hpet: 0xfed0_0000,
        },
        regions,
        modules,
        image: (0x20_0000, 0x40_0000),
        pool: (0x100_0000, 0x200_0000),
    }
}

fn region(addr: u64, len: u64, kind: u32) -> MemRegion {
    MemRegion { addr, len, kind }
}

#[test]
fn every_fact_lands_in_its_field() {
    let cpus = [
        Cpu {
            apic_id: 0,
            acpi_id: 1,
        },
        Cpu {
            apic_id: 1,
            acpi_id: 2,
        },
        Cpu {
            apic_id: 6,
            acpi_id: 7,
        },
    ];
    let ioapics = [IoapicDesc {
        id: 8,
        version: 0x20,
        gsi_base: 0,
        base: 0xfec0_0000,
    }];
    let regions = [
        region(0, 0x9_f000, 1),
        region(0x10_0000, 0x7ff_0000, 1),
        region(0xfffc_0000, 0x4_0000, 2),
    ];
    let modules = [Module {
        start: 0x80_0000,
        end: 0x80_5123,
        cmdline: 0x9_0000,
    }];
    let m = machine(&cpus, &ioapics, &regions, &modules);
    let mut page = vec![0xa5u8; PAGE_SIZE];
    assert!(fill(&mut page, &m));

    let r = HipReader::new(&page);
    assert!(r.is_valid());
    assert_eq!(
        r.u32(hip::off::API_FLG) & (hip::FEAT_SVM | hip::FEAT_UEFI | hip::FEAT_VMX),
        hip::FEAT_SVM
    );
    assert_eq!(r.u32(hip::off::FREQ_TSC), 3_000_000);
    assert_eq!(r.u32(hip::off::FREQ_BUS), 100_000);
    assert_eq!(r.u64(hip::off::XSDT_RSDT_TABLE), 0x7fe_1000);
    assert_eq!(r.u64(hip::off::MCFG_BASE), 0xb000_0000);
    assert_eq!(r.u64(hip::off::MCFG_SIZE), 0x1000_0000);
    assert_eq!(r.u64(hip::off::DMAR_TABLE), 0x7fe_2000);
    assert_eq!(r.u64(hip::off::HPET_BASE), 0xfed0_0000);
    // PM1a: space, width, offset, access size, then the address; PM1b absent (zero).
    assert_eq!(r.u32(hip::off::PM1A_CNT), u32::from_le_bytes([1, 16, 0, 2]));
    assert_eq!(r.u64(hip::off::PM1A_CNT + 4), 0x604);
    assert_eq!(
        (r.u32(hip::off::PM1B_CNT), r.u64(hip::off::PM1B_CNT + 4)),
        (0, 0)
    );

    // Four logical processors per package, two cores: APIC id 6 is package 1, core 1,
    // thread 0.
    for (i, c) in cpus.iter().enumerate() {
        let d = r.cpu(i);
        let p = topology::place(c.apic_id, 4, 2);
        assert_eq!(d.flags, 1);
        assert_eq!(
            (d.thread, d.core, d.package),
            (p.thread as u8, p.core as u8, p.package as u8)
        );
        assert_eq!(d.acpi_id as u32, c.acpi_id);
        assert_eq!(d.lapic[0], c.apic_id);
    }
    assert_eq!(
        (r.cpu(2).package, r.cpu(2).core, r.cpu(2).thread),
        (1, 1, 0)
    );
    assert_eq!(r.cpu(3).flags, 0, "no CPU 3");
    assert_eq!(r.ioapic(0), ioapics[0]);
    assert_eq!(r.ioapic(1), IoapicDesc::default());

    let mem: Vec<MemDesc> = (0..r.mem_count()).map(|i| r.mem(i)).collect();
    let want = [
        MemDesc {
            addr: 0,
            size: 0x9_f000,
            mem_type: 1,
            aux: 0,
        },
        MemDesc {
            addr: 0x10_0000,
            size: 0x7ff_0000,
            mem_type: 1,
            aux: 0,
        },
        MemDesc {
            addr: 0xfffc_0000,
            size: 0x4_0000,
            mem_type: 2,
            aux: 0,
        },
        MemDesc {
            addr: 0x80_0000,
            size: 0x5123,
            mem_type: hip::MEM_MB_MODULE,
            aux: 0x9_0000,
        },
        MemDesc {
            addr: 0x20_0000,
            size: 0x20_0000,
            mem_type: hip::MEM_HYPERVISOR,
            aux: 0,
        },
        MemDesc {
            addr: 0x100_0000,
            size: 0x100_0000,
            mem_type: hip::MEM_HYPERVISOR,
            aux: 0,
        },
    ];
    assert_eq!(mem, want);
}

#[test]
fn uefi_and_clamped_frequencies() {
    let cpus = [Cpu::default()];
    let mut m = machine(&cpus, &[], &[], &[]);
    m.efi = true;
    m.tsc_khz = u64::MAX;
    m.bus_khz = 1 << 33;
    let mut page = vec![0u8; PAGE_SIZE];
    assert!(fill(&mut page, &m));
    let r = HipReader::new(&page);
    assert!(r.is_valid());
    assert_ne!(r.u32(hip::off::API_FLG) & hip::FEAT_UEFI, 0);
    assert_eq!(r.u32(hip::off::FREQ_TSC), u32::MAX);
    assert_eq!(r.u32(hip::off::FREQ_BUS), u32::MAX);
    // Only the kernel's own two entries.
    assert_eq!(r.mem_count(), 2);
}

#[test]
fn a_full_memory_list_says_so_and_keeps_what_fits() {
    // As many map entries as the HIP has descriptors, none touching another: the
    // kernel's two entries are kept, the map makes room (the first of equals first).
    let regions: Vec<MemRegion> = (0..hip::MAX_MEM_DESC as u64)
        .map(|i| region(i << 20, 4096, 1))
        .collect();
    let cpus = [Cpu::default()];
    let m = machine(&cpus, &[], &regions, &[]);
    let mut page = vec![0u8; PAGE_SIZE];
    assert!(!fill(&mut page, &m), "two map entries were left out");
    let r = HipReader::new(&page);
    assert!(r.is_valid());
    assert_eq!(r.mem_count(), hip::MAX_MEM_DESC);
    assert_eq!(r.mem(0).addr, 2 << 20);
    assert_eq!(r.mem(hip::MAX_MEM_DESC - 2).mem_type, hip::MEM_HYPERVISOR);
    assert_eq!(r.mem(hip::MAX_MEM_DESC - 2).addr, 0x20_0000);
    assert_eq!(r.mem(hip::MAX_MEM_DESC - 1).mem_type, hip::MEM_HYPERVISOR);

    // Reserved entries go before usable ones.
    let mut mixed = regions.clone();
    mixed[7].kind = 2;
    mixed[9].kind = 4;
    let m = machine(&cpus, &[], &mixed, &[]);
    assert!(!fill(&mut page, &m));
    let r = HipReader::new(&page);
    assert!((0..r.mem_count())
        .all(|i| r.mem(i).mem_type == 1 || r.mem(i).mem_type == hip::MEM_HYPERVISOR));

    // Room for all: nothing left out.
    let m = machine(&cpus, &[], &regions[2..], &[]);
    assert!(fill(&mut page, &m));
}

#[test]
fn a_short_buffer_is_left_alone() {
    let cpus = [Cpu::default()];
    let m = machine(&cpus, &[], &[], &[]);
    let mut short = vec![7u8; PAGE_SIZE - 1];
    assert!(!fill(&mut short, &m));
    assert!(short.iter().all(|&b| b == 7));
}
