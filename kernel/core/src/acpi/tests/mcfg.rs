//! MCFG parsing.

use super::*;
use crate::acpi::mcfg::*;
use crate::acpi::Sig;

fn parse_at_spare(t: &[u8]) -> Result<Mcfg, AcpiError> {
    parse(&ram_with(SPARE, t), SPARE)
}

#[test]
fn qemu_q35_window() {
    let m = parse_at_spare(&qemu_mcfg()).expect("valid");
    assert_eq!(
        m.entries(),
        [McfgEntry {
            base: 0xb000_0000,
            segment: 0,
            start_bus: 0,
            end_bus: 255
        }]
    );
    assert_eq!(m.dropped, 0);
    let e = m.entries()[0];
    assert_eq!(e.window(), (0xb000_0000, 0xc000_0000));
    assert_eq!(e.config_addr(0, 0, 0), Some(0xb000_0000));
    assert_eq!(e.config_addr(0, 0x1f, 3), Some(0xb00f_b000));
    assert_eq!(e.config_addr(255, 31, 7), Some(0xbfff_f000));
    assert_eq!(e.config_addr(1, 32, 0), None);
    assert_eq!(e.config_addr(1, 0, 8), None);
}

#[test]
fn base_is_that_of_bus_0() {
    let m = parse_at_spare(&mcfg_with(&[(0xe000_0000, 1, 0x10, 0x1f)])).expect("valid");
    let e = m.entries()[0];
    assert_eq!(e.segment, 1);
    assert_eq!(e.window(), (0xe100_0000, 0xe200_0000));
    assert_eq!(e.config_addr(0x10, 0, 0), Some(0xe100_0000));
    assert_eq!(e.config_addr(0x0f, 0, 0), None);
    assert_eq!(e.config_addr(0x20, 0, 0), None);
}

#[test]
fn no_entries() {
    let m = parse_at_spare(&mcfg_with(&[])).expect("valid");
    assert!(m.entries().is_empty());
}

#[test]
fn more_than_capacity_is_counted() {
    let e: Vec<(u64, u16, u8, u8)> = (0..10u16)
        .map(|i| (0x1_0000_0000 * u64::from(i + 1), i, 0, 255))
        .collect();
    let m = parse_at_spare(&mcfg_with(&e)).expect("valid");
    assert_eq!((m.entries().len(), m.dropped), (MAX_ENTRIES, 2));
    assert_eq!(m.entries()[7].segment, 7);
}

#[test]
fn partial_trailing_entry() {
    let mut t = qemu_mcfg();
    t.extend_from_slice(&[0; 15]);
    seal(&mut t);
    assert_eq!(
        parse_at_spare(&t),
        Err(AcpiError::EntryPastEnd {
            sig: Sig(*b"MCFG"),
            addr: SPARE,
            offset: 60,
            length: 75
        })
    );
}

#[test]
fn end_bus_below_start_bus() {
    let t = mcfg_with(&[(0xb000_0000, 0, 0, 255), (0xc000_0000, 1, 5, 4)]);
    assert_eq!(
        parse_at_spare(&t),
        Err(AcpiError::BadEntry {
            sig: Sig(*b"MCFG"),
            addr: SPARE,
            offset: 60,
            why: "end bus lies below start bus"
        })
    );
}

#[test]
fn window_wrapping_the_address_space() {
    let t = mcfg_with(&[(u64::MAX - 0xf_ffff, 0, 0, 0)]);
    assert!(matches!(
        parse_at_spare(&t),
        Err(AcpiError::BadEntry { offset: 44, .. })
    ));
    // A window ending a MiB below 2^64 is fine (one ending at 2^64 has no end address).
    let m = parse_at_spare(&mcfg_with(&[(u64::MAX - 0x1f_ffff, 0, 0, 0)])).expect("valid");
    assert_eq!(m.entries()[0].window().1, u64::MAX - 0xf_ffff);
}

#[test]
fn too_short() {
    let mut t = header(b"MCFG", 1, 40);
    seal(&mut t);
    assert!(matches!(
        parse_at_spare(&t),
        Err(AcpiError::TooShort { min: 44, .. })
    ));
}
