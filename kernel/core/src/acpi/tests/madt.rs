//! MADT parsing.

use super::*;
use crate::acpi::madt::*;
use crate::acpi::Sig;

fn parse_at_spare(t: &[u8]) -> Result<Madt, AcpiError> {
    parse(&ram_with(SPARE, t), SPARE)
}

fn cpu(acpi_id: u32, apic_id: u32, enabled: bool, online_capable: bool, x2apic: bool) -> Cpu {
    Cpu {
        acpi_id,
        apic_id,
        enabled,
        online_capable,
        x2apic,
    }
}

#[test]
fn qemu_madt_is_parsed() {
    let m = parse_at_spare(&qemu_madt()).expect("valid");
    assert_eq!(m.lapic_addr, 0xfee0_0000);
    assert!(m.pcat_compat);
    assert_eq!(
        m.cpus(),
        [cpu(0, 0, true, false, false), cpu(1, 1, true, false, false)]
    );
    assert_eq!(
        m.ioapics(),
        [Ioapic {
            id: 0,
            addr: 0xfec0_0000,
            gsi_base: 0
        }]
    );
    let o: Vec<(u8, u8, u32, u16)> = m
        .overrides()
        .iter()
        .map(|o| (o.bus, o.irq, o.gsi, o.flags.0))
        .collect();
    assert_eq!(
        o,
        [
            (0, 0, 2, 0),
            (0, 5, 5, 0xd),
            (0, 9, 9, 0xd),
            (0, 10, 10, 0xd),
            (0, 11, 11, 0xd)
        ]
    );
    assert_eq!(m.overrides()[2].flags.polarity(), Polarity::ActiveHigh);
    assert_eq!(m.overrides()[2].flags.trigger(), Trigger::Level);
    assert_eq!(m.overrides()[0].flags.polarity(), Polarity::Conforms);
    assert_eq!(m.overrides()[0].flags.trigger(), Trigger::Conforms);
    assert_eq!(
        m.lapic_nmis(),
        [LapicNmi {
            acpi_id: ALL_PROCESSORS,
            flags: IntiFlags(0),
            lint: 1
        }]
    );
    assert!(m.nmi_sources().is_empty());
    assert_eq!(
        (
            m.ignored_cpus,
            m.dropped_cpus,
            m.dropped_ioapics,
            m.dropped_overrides,
            m.dropped_nmis
        ),
        (0, 0, 0, 0, 0)
    );
}

#[test]
fn isa_irq_routes() {
    let m = parse_at_spare(&qemu_madt()).expect("valid");
    let route = |gsi, active_low, level| IrqRoute {
        gsi,
        active_low,
        level,
    };
    // The PIT's IRQ 0 arrives at GSI 2, edge / high (conforms for ISA).
    assert_eq!(m.isa_irq(0), route(2, false, false));
    // The SCI: level, active high as QEMU says.
    assert_eq!(m.isa_irq(9), route(9, false, true));
    // No override: identity, ISA defaults.
    assert_eq!(m.isa_irq(4), route(4, false, false));
    assert_eq!(m.isa_irq(1), route(1, false, false));
    // Active low, level; and overrides for other buses do not count.
    let mut other_bus = iso(3, 30, 0);
    other_bus[2] = 1;
    let m =
        parse_at_spare(&madt_with(0xfee0_0000, 0, &[iso(9, 20, 0xf), other_bus])).expect("valid");
    assert_eq!(m.isa_irq(9), route(20, true, true));
    assert_eq!(m.isa_irq(3), route(3, false, false));
    assert!(!m.pcat_compat);
}

#[test]
fn inti_flags() {
    let p: Vec<Polarity> = (0..4).map(|v| IntiFlags(v).polarity()).collect();
    assert_eq!(
        p,
        [
            Polarity::Conforms,
            Polarity::ActiveHigh,
            Polarity::Reserved,
            Polarity::ActiveLow
        ]
    );
    let t: Vec<Trigger> = (0..4).map(|v| IntiFlags(v << 2).trigger()).collect();
    assert_eq!(
        t,
        [
            Trigger::Conforms,
            Trigger::Edge,
            Trigger::Reserved,
            Trigger::Level
        ]
    );
}

#[test]
fn x2apic_entries() {
    let t = madt_with(
        0xfee0_0000,
        0,
        &[
            lapic(0, 0, 1),
            x2apic(300, 0x1_0000, 1),
            x2apic(301, 0x1_0001, 2), // online capable: kept, not enabled
            x2apic(302, 0x1_0002, 0), // neither: ignored
            x2apic(303, u32::MAX, 1), // invalid ID: ignored
            x2apic(0, 0, 1),          // the same CPU as the local APIC entry: ignored
            {
                // x2APIC local NMI for all processors on LINT1, level / active low
                let mut e = std::vec![10, 12];
                e.extend_from_slice(&le16(0xf));
                e.extend_from_slice(&le32(u32::MAX));
                e.extend_from_slice(&[1, 0, 0, 0]);
                e
            },
        ],
    );
    let m = parse_at_spare(&t).expect("valid");
    assert_eq!(
        m.cpus(),
        [
            cpu(0, 0, true, false, false),
            cpu(300, 0x1_0000, true, false, true),
            cpu(301, 0x1_0001, false, true, true),
        ]
    );
    assert_eq!(m.ignored_cpus, 3);
    assert_eq!(
        m.lapic_nmis(),
        [LapicNmi {
            acpi_id: ALL_PROCESSORS,
            flags: IntiFlags(0xf),
            lint: 1
        }]
    );
}

#[test]
fn disabled_and_invalid_local_apics() {
    let t = madt_with(
        0xfee0_0000,
        0,
        &[
            lapic(0, 0, 1),
            lapic(1, 1, 0),
            lapic(2, 0xff, 1),
            lapic(3, 3, 2),
            lapic(4, 3, 1),
        ],
    );
    let m = parse_at_spare(&t).expect("valid");
    assert_eq!(
        m.cpus(),
        [cpu(0, 0, true, false, false), cpu(3, 3, false, true, false)]
    );
    assert_eq!(m.ignored_cpus, 3);
}

#[test]
fn lapic_address_override() {
    let mut ovr = std::vec![5, 12, 0, 0];
    ovr.extend_from_slice(&le64(0x1_fee0_0000));
    let m = parse_at_spare(&madt_with(0xfee0_0000, 1, &[lapic(0, 0, 1), ovr])).expect("valid");
    assert_eq!(m.lapic_addr, 0x1_fee0_0000);
}

#[test]
fn nmi_sources_and_lapic_nmis() {
    let mut src = std::vec![3, 8];
    src.extend_from_slice(&le16(0xd));
    src.extend_from_slice(&le32(23));
    let t = madt_with(0xfee0_0000, 0, &[src, lapic_nmi(1, 5, 0)]);
    let m = parse_at_spare(&t).expect("valid");
    assert_eq!(
        m.nmi_sources(),
        [NmiSource {
            flags: IntiFlags(0xd),
            gsi: 23
        }]
    );
    assert_eq!(
        m.lapic_nmis(),
        [LapicNmi {
            acpi_id: 1,
            flags: IntiFlags(5),
            lint: 0
        }]
    );
}

#[test]
fn unknown_and_longer_entries_are_skipped_by_length() {
    let mut long_lapic = lapic(0, 0, 1);
    long_lapic[1] = 10;
    long_lapic.extend_from_slice(&[0xee, 0xee]);
    let mut gicc = std::vec![0xbu8; 80];
    gicc[1] = 80;
    let t = madt_with(
        0xfee0_0000,
        0,
        &[
            long_lapic,
            std::vec![0x7f, 2],
            gicc,
            std::vec![0x80, 3, 0xff],
            lapic(1, 1, 1),
        ],
    );
    let m = parse_at_spare(&t).expect("valid");
    assert_eq!(m.cpus().len(), 2);
}

#[test]
fn no_entries() {
    let m = parse_at_spare(&madt_with(0xfee0_0000, 1, &[])).expect("valid");
    assert!(m.cpus().is_empty() && m.ioapics().is_empty() && m.overrides().is_empty());
}

#[test]
fn entry_length_zero_or_one() {
    for len in [0u8, 1] {
        let t = madt_with(
            0xfee0_0000,
            0,
            &[lapic(0, 0, 1), std::vec![0x7f, len, 0, 0]],
        );
        assert_eq!(
            parse_at_spare(&t).map(|_| ()),
            Err(AcpiError::EntryTooShort {
                sig: Sig(*b"APIC"),
                addr: SPARE,
                offset: 52,
                kind: 0x7f,
                length: u32::from(len),
                min: 2
            })
        );
    }
}

#[test]
fn entry_shorter_than_its_type() {
    for (kind, min) in [
        (0u8, 8u32),
        (1, 12),
        (2, 10),
        (3, 8),
        (4, 6),
        (5, 12),
        (9, 16),
        (10, 12),
    ] {
        let mut e = std::vec![0u8; min as usize - 1];
        e[0] = kind;
        e[1] = min as u8 - 1;
        let t = madt_with(0xfee0_0000, 0, &[e]);
        assert_eq!(
            parse_at_spare(&t).map(|_| ()),
            Err(AcpiError::EntryTooShort {
                sig: Sig(*b"APIC"),
                addr: SPARE,
                offset: 44,
                kind: u16::from(kind),
                length: min - 1,
                min
            }),
            "type {kind}"
        );
    }
}

#[test]
fn entry_past_the_end() {
    // The I/O APIC entry claims 12 bytes but the table ends 4 bytes into it.
    let mut t = madt_with(0xfee0_0000, 0, &[lapic(0, 0, 1), ioapic(0, 0xfec0_0000, 0)]);
    t.truncate(t.len() - 8);
    seal(&mut t);
    let e = parse_at_spare(&t).map(|_| ()).expect_err("past end");
    assert_eq!(
        e,
        AcpiError::EntryPastEnd {
            sig: Sig(*b"APIC"),
            addr: SPARE,
            offset: 52,
            length: 56
        }
    );
    assert_eq!(
        std::format!("{e}"),
        "APIC table at 0x7fe8000: entry at offset 0x34 runs past the table end (length 0x38)"
    );
    // A lone byte where the next entry's header would be.
    let mut t = madt_with(0xfee0_0000, 0, &[lapic(0, 0, 1)]);
    t.push(0);
    seal(&mut t);
    assert!(matches!(
        parse_at_spare(&t),
        Err(AcpiError::EntryPastEnd { offset: 52, .. })
    ));
    // Length 255 on the last entry.
    let t = madt_with(0xfee0_0000, 0, &[std::vec![0x7f, 255, 0, 0]]);
    assert!(matches!(
        parse_at_spare(&t),
        Err(AcpiError::EntryPastEnd { offset: 44, .. })
    ));
}

#[test]
fn too_short_for_fixed_fields() {
    let mut t = header(b"APIC", 3, 40);
    seal(&mut t);
    assert_eq!(
        parse_at_spare(&t).map(|_| ()),
        Err(AcpiError::TooShort {
            sig: Sig(*b"APIC"),
            addr: SPARE,
            length: 40,
            min: 44
        })
    );
}

#[test]
fn wrong_signature_and_bad_checksum() {
    let m = ram_with(SPARE, &qemu_hpet());
    assert!(matches!(parse(&m, SPARE), Err(AcpiError::Signature { .. })));
    let mut t = qemu_madt();
    t[44] ^= 0x10;
    assert!(matches!(
        parse_at_spare(&t),
        Err(AcpiError::TableChecksum { .. })
    ));
}

#[test]
fn more_than_capacity_is_counted() {
    // Capacities come from the interface limits; the test assumes 40 < MAX_CPUS < 250.
    let mut e = Vec::new();
    let cpus = MAX_CPUS as u32 + 6;
    for i in 0..cpus {
        if i < 40 {
            e.push(lapic(i as u8, i as u8, 1));
        } else {
            e.push(x2apic(i, 1000 + i, 1));
        }
    }
    let ioapics = MAX_IOAPICS as u8 + 2;
    for i in 0..ioapics {
        e.push(ioapic(
            i,
            0xfec0_0000 + u32::from(i) * 0x1000,
            u32::from(i) * 24,
        ));
    }
    for i in 0..20u8 {
        e.push(iso(i, u32::from(i), 0));
    }
    for i in 0..MAX_LAPIC_NMIS as u8 + 6 {
        e.push(lapic_nmi(i, 0, 1));
    }
    let mut src = std::vec![3, 8, 0, 0];
    src.extend_from_slice(&le32(1));
    for _ in 0..6 {
        e.push(src.clone());
    }
    let m = parse_at_spare(&madt_with(0xfee0_0000, 1, &e)).expect("valid");
    assert_eq!((m.cpus().len(), m.dropped_cpus), (MAX_CPUS, 6));
    let last = MAX_CPUS as u32 - 1;
    assert_eq!(
        m.cpus()[last as usize],
        cpu(last, 1000 + last, true, false, true)
    );
    assert_eq!((m.ioapics().len(), m.dropped_ioapics), (MAX_IOAPICS, 2));
    assert_eq!(
        m.ioapics()[MAX_IOAPICS - 1].gsi_base,
        (MAX_IOAPICS as u32 - 1) * 24
    );
    assert_eq!(
        (m.overrides().len(), m.dropped_overrides),
        (MAX_OVERRIDES, 4)
    );
    assert_eq!(m.lapic_nmis().len(), MAX_LAPIC_NMIS);
    assert_eq!(m.nmi_sources().len(), MAX_NMI_SOURCES);
    assert_eq!(m.dropped_nmis, 6 + 2);
    // A duplicate beyond capacity is still a duplicate, not a drop.
    let mut e: Vec<Vec<u8>> = (0..MAX_CPUS as u8).map(|i| lapic(i, i, 1)).collect();
    e.push(lapic(250, 5, 1));
    let m = parse_at_spare(&madt_with(0xfee0_0000, 1, &e)).expect("valid");
    assert_eq!((m.ignored_cpus, m.dropped_cpus), (1, 0));
}

#[test]
fn accessors_clamp_public_counts() {
    let mut m = parse_at_spare(&qemu_madt()).expect("valid");
    m.cpu_count = usize::MAX;
    m.ioapic_count = 1000;
    assert_eq!(m.cpus().len(), MAX_CPUS);
    assert_eq!(m.ioapics().len(), MAX_IOAPICS);
}
