//! The FACS and the sleep-register arithmetic.

use super::*;
use crate::acpi::facs::*;

fn qemu_facs() -> Vec<u8> {
    let mut t = std::vec![0u8; 64];
    at(&mut t, 0, b"FACS");
    at(&mut t, 4, &le32(64));
    at(&mut t, 12, &le32(0x9a000));
    at(&mut t, 32, &[1]);
    t
}

#[test]
fn qemu_facs_reads() {
    let f = read(&ram_with(FACS, &qemu_facs()), FACS).expect("valid");
    assert_eq!(
        f,
        Facs {
            addr: FACS,
            length: 64,
            version: 1,
            waking_vector: 0x9a000
        }
    );
}

#[test]
fn bad_facs_are_refused() {
    let mut t = qemu_facs();
    t[0] = b'X';
    assert!(matches!(
        read(&ram_with(FACS, &t), FACS),
        Err(AcpiError::Signature { .. })
    ));
    let mut t = qemu_facs();
    at(&mut t, 4, &le32(63));
    assert!(matches!(
        read(&ram_with(FACS, &t), FACS),
        Err(AcpiError::TableLength { length: 63, .. })
    ));
    // Past readable memory, or wrapping.
    let ram = ram_with(FACS, &qemu_facs());
    assert!(matches!(
        read(&ram, ACPI_BASE + ACPI_SIZE as u64 - 32),
        Err(AcpiError::Unreadable { .. })
    ));
    assert!(matches!(
        read(&ram, u64::MAX - 10),
        Err(AcpiError::Unreadable { .. })
    ));
}

#[test]
fn the_fadt_names_the_facs() {
    let f = crate::acpi::fadt::parse(&ram_with(SPARE, &qemu_fadt_v5(DSDT)), SPARE).unwrap();
    assert_eq!(f.facs, Some(FACS));
    // X_FIRMWARE_CTRL wins when set.
    let mut t = qemu_fadt_v5(DSDT);
    at(&mut t, 132, &le64(0x1_0000_0000));
    fix(&mut t);
    let f = crate::acpi::fadt::parse(&ram_with(SPARE, &t), SPARE).unwrap();
    assert_eq!(f.facs, Some(0x1_0000_0000));
}

#[test]
fn sleep_types_are_three_bits_as_in_the_reference() {
    assert!(valid_sleep_types(0, 0));
    assert!(valid_sleep_types(1, 7));
    assert!(valid_sleep_types(7, 0));
    assert!(!valid_sleep_types(8, 0));
    assert!(!valid_sleep_types(0, 8));
    assert!(!valid_sleep_types(0xff, 0xff));
    assert!(!valid_sleep_types(0x10, 1));
}

#[test]
fn sleep_control_keeps_the_other_bits() {
    // SCI_EN (bit 0) kept, an old SLP_TYP replaced, SLP_EN set.
    assert_eq!(sleep_control(0x0001, 1), 0x0001 | 1 << 10 | 1 << 13);
    assert_eq!(sleep_control(0x1c01, 5), 0x0001 | 5 << 10 | 1 << 13);
    assert_eq!(sleep_control(0xffff, 0), !(7u16 << 10));
    // A type beyond three bits cannot leak into other bits.
    assert_eq!(sleep_control(0, 0xff), 7 << 10 | 1 << 13);
}
