//! From the RSDP to every table, as the kernel does at boot, on QEMU-like machines.

use super::*;
use crate::acpi::{dmar, fadt, hpet, madt, mcfg, rsdp, sdt};

/// SeaBIOS's place for the RSDP.
const BIOS_RSDP: u64 = 0xf_5a30;

/// A q35 guest with an IOMMU: RSDP revision 2 in the BIOS area, XSDT and RSDT.
fn q35() -> Machine {
    let mut m = Machine::new();
    m.put(DSDT, &dsdt());
    m.put(FACP, &qemu_fadt_v5(DSDT));
    m.put(APIC, &qemu_madt());
    m.put(HPET, &qemu_hpet());
    m.put(MCFG, &qemu_mcfg());
    m.put(DMAR, &qemu_dmar());
    let list = [FACP, APIC, HPET, MCFG, DMAR];
    m.put(RSDT, &rsdt(&list.map(|a| a as u32)));
    m.put(XSDT, &xsdt(&list));
    m.put(BIOS_RSDP, &rsdp_v2(RSDT as u32, XSDT));
    m
}

/// A pc guest: RSDP revision 0, RSDT only, ACPI 1.0 FADT, no MCFG or DMAR.
fn pc() -> Machine {
    let mut m = Machine::new();
    m.put(DSDT, &dsdt());
    m.put(FACP, &qemu_fadt_v1(DSDT as u32));
    m.put(APIC, &qemu_madt());
    m.put(HPET, &qemu_hpet());
    m.put(RSDT, &rsdt(&[FACP as u32, APIC as u32, HPET as u32]));
    m.put(BIOS_RSDP, &rsdp_v1(RSDT as u32));
    m
}

#[test]
fn q35_boot_flow() {
    let m = q35();
    let r = rsdp::find(&m, None).expect("RSDP");
    assert_eq!((r.addr, r.revision), (BIOS_RSDP, 2));
    // The multiboot2 copy (here: the same bytes elsewhere) gives the same result.
    let mut copy = q35();
    copy.put(0x9000, &rsdp_v2(RSDT as u32, XSDT));
    assert_eq!(
        rsdp::find(&copy, Some(0x9000)).map(|c| (c.rsdt, c.xsdt)),
        Ok((r.rsdt, r.xsdt))
    );
    let t = sdt::Tables::new(&m, &r).expect("root");
    assert_eq!((t.root_addr(), t.is_xsdt()), (XSDT, true));

    let f = fadt::parse(&m, t.find(&m, b"FACP").expect("FADT")).expect("FADT");
    let dsdt = sdt::Header::read_expect(&m, f.dsdt.expect("DSDT"), b"DSDT").expect("DSDT");
    assert_eq!(dsdt.addr, DSDT);
    assert_eq!(
        f.reset.map(|r| (r.reg.address, r.value)),
        Some((0xcf9, 0x0f))
    );

    let a = madt::parse(&m, t.find(&m, madt::SIGNATURE).expect("MADT")).expect("MADT");
    assert_eq!((a.cpus().len(), a.ioapics().len()), (2, 1));
    // The SCI as the interrupt controller sees it.
    let sci = a.isa_irq(f.sci_int as u8);
    assert_eq!((sci.gsi, sci.level), (9, true));

    let c = mcfg::parse(&m, t.find(&m, mcfg::SIGNATURE).expect("MCFG")).expect("MCFG");
    assert_eq!(c.entries()[0].base, 0xb000_0000);
    let h = hpet::parse(&m, t.find(&m, hpet::SIGNATURE).expect("HPET")).expect("HPET");
    assert_eq!(h.base, 0xfed0_0000);
    let d = dmar::parse(&m, t.find(&m, dmar::SIGNATURE).expect("DMAR")).expect("DMAR");
    assert_eq!(d.drhds()[0].base, 0xfed9_0000);
}

#[test]
fn pc_boot_flow() {
    let m = pc();
    let r = rsdp::find(&m, None).expect("RSDP");
    assert_eq!((r.revision, r.xsdt), (0, None));
    let t = sdt::Tables::new(&m, &r).expect("root");
    assert_eq!((t.root_addr(), t.is_xsdt()), (RSDT, false));
    let f = fadt::parse(&m, t.find(&m, fadt::SIGNATURE).expect("FADT")).expect("FADT");
    assert_eq!((f.revision, f.length, f.reset), (1, 116, None));
    assert_eq!(f.pm1a_cnt.map(|g| g.address), Some(0x604));
    assert!(madt::parse(&m, t.find(&m, madt::SIGNATURE).expect("MADT")).is_ok());
    assert_eq!(t.find(&m, mcfg::SIGNATURE), None);
    assert_eq!(t.find(&m, dmar::SIGNATURE), None);
}

#[test]
fn broken_table_does_not_hide_the_others() {
    // A DMAR with a bad checksum is skipped by `find`; the rest is still found.
    let mut m = q35();
    m.put(DMAR + 50, &[0x42]);
    let r = rsdp::find(&m, None).expect("RSDP");
    let t = sdt::Tables::new(&m, &r).expect("root");
    assert_eq!(t.find(&m, dmar::SIGNATURE), None);
    assert_eq!(t.find(&m, madt::SIGNATURE), Some(APIC));
    // Parsing it directly reports why.
    assert!(matches!(
        dmar::parse(&m, DMAR),
        Err(AcpiError::TableChecksum { .. })
    ));
}
