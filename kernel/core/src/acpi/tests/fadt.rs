//! FADT parsing, across the table's revisions.

use super::*;
use crate::acpi::fadt::*;
use crate::acpi::{Gas, Sig};

fn parse_at_spare(t: &[u8]) -> Result<Fadt, AcpiError> {
    parse(&ram_with(SPARE, t), SPARE)
}

fn io(width: u8, access: u8, port: u64) -> Gas {
    Gas {
        space_id: 1,
        bit_width: width,
        bit_offset: 0,
        access_size: access,
        address: port,
    }
}

#[test]
fn revision_1_short_table() {
    let f = parse_at_spare(&qemu_fadt_v1(DSDT as u32)).expect("valid");
    assert_eq!(
        f,
        Fadt {
            revision: 1,
            length: 116,
            facs: None,
            dsdt: Some(DSDT),
            sci_int: 9,
            smi_cmd: 0xb2,
            acpi_enable: 0xf1,
            acpi_disable: 0xf0,
            pm1a_cnt: Some(io(16, 2, 0x604)),
            pm1b_cnt: None,
            pm1a_evt: Some(io(32, 3, 0x600)),
            pm1b_evt: None,
            iapc_boot_arch: 0,
            flags: 0x80a5,
            reset: None,
        }
    );
}

#[test]
fn revision_1_never_reads_past_116() {
    // Flags claim a reset register, and bytes after the table look like one: neither the
    // reset register nor the X_ fields may be read from outside the table.
    let mut t = qemu_fadt_v1(DSDT as u32);
    t[112..116].copy_from_slice(&le32(0x80a5 | FLAG_RESET_REG_SUP));
    fix(&mut t);
    let mut m = ram_with(SPARE, &t);
    let mut after = std::vec![0x11u8; 200];
    after[..12].copy_from_slice(&gas(1, 8, 0, 0, 0xcf9));
    m.put(SPARE + 116, &after);
    let f = parse(&m, SPARE).expect("valid");
    assert_eq!(f.reset, None);
    assert_eq!(f.dsdt, Some(DSDT));
    assert_eq!(f.pm1a_cnt, Some(io(16, 2, 0x604)));
}

#[test]
fn revision_5_with_x_fields() {
    let f = parse_at_spare(&qemu_fadt_v5(DSDT)).expect("valid");
    assert_eq!(
        f,
        Fadt {
            revision: 5,
            length: 268,
            facs: Some(FACS),
            dsdt: Some(DSDT),
            sci_int: 9,
            smi_cmd: 0xb2,
            acpi_enable: 2,
            acpi_disable: 3,
            pm1a_cnt: Some(io(16, 2, 0x604)),
            pm1b_cnt: None,
            pm1a_evt: Some(io(32, 0, 0x600)),
            pm1b_evt: None,
            iapc_boot_arch: BOOT_8042,
            flags: 0x84a5,
            reset: Some(Reset {
                reg: io(8, 0, 0xcf9),
                value: 0x0f
            }),
        }
    );
}

#[test]
fn x_fields_win_over_legacy_ones() {
    let mut t = qemu_fadt_v5(DSDT);
    at(&mut t, 140, &le64(0x1_2345_6000)); // X_DSDT
    at(&mut t, 172, &gas(0, 16, 0, 2, 0xfe00_0004)); // X_PM1a_CNT_BLK in memory
    at(&mut t, 184, &gas(1, 16, 0, 2, 0x704)); // X_PM1b_CNT_BLK
    at(&mut t, 68, &le32(0x804)); // PM1b_CNT_BLK: ignored, X_ is set
    seal(&mut t);
    let f = parse_at_spare(&t).expect("valid");
    assert_eq!(f.dsdt, Some(0x1_2345_6000));
    assert_eq!(
        f.pm1a_cnt,
        Some(Gas {
            space_id: 0,
            bit_width: 16,
            bit_offset: 0,
            access_size: 2,
            address: 0xfe00_0004
        })
    );
    assert_eq!(f.pm1b_cnt, Some(io(16, 2, 0x704)));
}

#[test]
fn zero_x_fields_fall_back_to_legacy_ones() {
    let mut t = qemu_fadt_v5(DSDT);
    at(&mut t, 140, &le64(0));
    at(&mut t, 172, &gas(1, 16, 0, 2, 0));
    at(&mut t, 68, &le32(0x804));
    at(&mut t, 89, &[4]); // PM1_CNT_LEN 4: 32 bits, dword access
    seal(&mut t);
    let f = parse_at_spare(&t).expect("valid");
    assert_eq!(f.dsdt, Some(DSDT));
    assert_eq!(f.pm1a_cnt, Some(io(32, 3, 0x604)));
    assert_eq!(f.pm1b_cnt, Some(io(32, 3, 0x804)));
}

#[test]
fn odd_pm1_cnt_len() {
    for (len, width, access) in [
        (0u8, 0u8, 0u8),
        (1, 8, 1),
        (3, 24, 0),
        (8, 64, 4),
        (255, 255, 0),
    ] {
        let mut t = qemu_fadt_v1(DSDT as u32);
        at(&mut t, 89, &[len]);
        seal(&mut t);
        let f = parse_at_spare(&t).expect("valid");
        assert_eq!(f.pm1a_cnt, Some(io(width, access, 0x604)), "len {len}");
    }
}

#[test]
fn lengths_between_revisions() {
    // 148 bytes: X_DSDT inside, X_PM1a_CNT_BLK not.
    let mut t = qemu_fadt_v5(0x1_0000_0000);
    t.truncate(148);
    at(&mut t, 64, &le32(0x904));
    seal(&mut t);
    let f = parse_at_spare(&t).expect("valid");
    assert_eq!(f.dsdt, Some(0x1_0000_0000));
    assert_eq!(f.pm1a_cnt, Some(io(16, 2, 0x904)));
    assert!(f.reset.is_some());
    // 183 bytes: X_PM1a_CNT_BLK one byte short of inside.
    let mut t = qemu_fadt_v5(DSDT);
    t.truncate(183);
    at(&mut t, 64, &le32(0x904));
    seal(&mut t);
    assert_eq!(
        parse_at_spare(&t).expect("valid").pm1a_cnt,
        Some(io(16, 2, 0x904))
    );
    // 128 bytes: the reset register's GAS fits but its value does not.
    let mut t = qemu_fadt_v5(DSDT);
    t.truncate(128);
    seal(&mut t);
    let f = parse_at_spare(&t).expect("valid");
    assert_eq!(f.reset, None);
    assert_eq!(f.dsdt, Some(DSDT));
    // 129 bytes: it does.
    let mut t = qemu_fadt_v5(DSDT);
    t.truncate(129);
    seal(&mut t);
    assert!(parse_at_spare(&t).expect("valid").reset.is_some());
}

#[test]
fn reset_register_needs_the_flag_and_an_address() {
    let mut t = qemu_fadt_v5(DSDT);
    at(&mut t, 112, &le32(0x80a5));
    seal(&mut t);
    assert_eq!(parse_at_spare(&t).expect("valid").reset, None);
    let mut t = qemu_fadt_v5(DSDT);
    at(&mut t, 116, &gas(1, 8, 0, 0, 0));
    seal(&mut t);
    assert_eq!(parse_at_spare(&t).expect("valid").reset, None);
}

#[test]
fn hardware_reduced() {
    let mut t = header(b"FACP", 6, 276);
    at(&mut t, 112, &le32(FLAG_HW_REDUCED_ACPI));
    seal(&mut t);
    let f = parse_at_spare(&t).expect("valid");
    assert_eq!((f.pm1a_cnt, f.pm1b_cnt, f.dsdt), (None, None, None));
    assert_eq!(f.flags, FLAG_HW_REDUCED_ACPI);
}

#[test]
fn shorter_than_the_acpi_1_fields() {
    for len in [36usize, 90, 115] {
        let mut t = qemu_fadt_v1(DSDT as u32);
        t.truncate(len);
        seal(&mut t);
        assert_eq!(
            parse_at_spare(&t),
            Err(AcpiError::TooShort {
                sig: Sig(*b"FACP"),
                addr: SPARE,
                length: len as u32,
                min: 116
            })
        );
    }
}

#[test]
fn wrong_signature() {
    assert!(matches!(
        parse_at_spare(&qemu_madt()),
        Err(AcpiError::Signature { .. })
    ));
}
