//! HPET table parsing.

use super::*;
use crate::acpi::hpet::*;
use crate::acpi::Sig;

fn parse_at_spare(t: &[u8]) -> Result<Hpet, AcpiError> {
    parse(&ram_with(SPARE, t), SPARE)
}

#[test]
fn qemu_hpet_is_parsed() {
    assert_eq!(
        parse_at_spare(&qemu_hpet()),
        Ok(Hpet {
            base: 0xfed0_0000,
            block_id: 0x8086_a201,
            number: 0,
            min_tick: 0
        })
    );
}

#[test]
fn fields_at_their_offsets() {
    let mut t = qemu_hpet();
    at(&mut t, 44, &le64(0x1_fed0_0400));
    at(&mut t, 52, &[3]);
    at(&mut t, 53, &le16(0x80));
    seal(&mut t);
    let h = parse_at_spare(&t).expect("valid");
    assert_eq!((h.base, h.number, h.min_tick), (0x1_fed0_0400, 3, 0x80));
}

#[test]
fn base_not_in_memory_space() {
    let mut t = qemu_hpet();
    t[40] = 1;
    fix(&mut t);
    assert_eq!(
        parse_at_spare(&t),
        Err(AcpiError::BadTable {
            sig: Sig(*b"HPET"),
            addr: SPARE,
            why: "HPET registers are not in system memory"
        })
    );
}

#[test]
fn base_zero_or_misaligned() {
    for base in [0u64, 0xfed0_0008] {
        let mut t = qemu_hpet();
        at(&mut t, 44, &le64(base));
        seal(&mut t);
        assert!(
            matches!(parse_at_spare(&t), Err(AcpiError::BadTable { .. })),
            "{base:#x}"
        );
    }
}

#[test]
fn too_short() {
    let mut t = qemu_hpet();
    t.truncate(52);
    seal(&mut t);
    assert_eq!(
        parse_at_spare(&t),
        Err(AcpiError::TooShort {
            sig: Sig(*b"HPET"),
            addr: SPARE,
            length: 52,
            min: 56
        })
    );
}
