//! RSDP validation and the BIOS-area scan.

use super::*;
use crate::acpi::rsdp::{find, read, Rsdp};

/// Where SeaBIOS puts the RSDP in the BIOS area.
const BIOS_RSDP: u64 = 0xf_5a30;
/// An EBDA at segment 0x9fc0, as on a 639 KiB machine.
const EBDA: u64 = 0x9_fc00;

fn low_with(addr: u64, r: &[u8]) -> Ram {
    let mut m = low_ram();
    m.put(addr, r);
    m
}

fn set_ebda(m: &mut Ram, segment: u16) {
    m.put(0x40e, &le16(segment));
}

#[test]
fn v1_at_hint() {
    let m = low_with(0x1_0000, &rsdp_v1(0x7fe_6000));
    assert_eq!(
        find(&m, Some(0x1_0000)),
        Ok(Rsdp {
            addr: 0x1_0000,
            revision: 0,
            oem_id: *b"BOCHS ",
            length: 20,
            rsdt: 0x7fe_6000,
            xsdt: None,
        })
    );
}

#[test]
fn v1_ignores_the_bytes_after_20() {
    // An ACPI 1.0 RSDP has no length or extended checksum: garbage there is fine.
    let mut r = rsdp_v1(0x7fe_6000);
    r.extend_from_slice(&[0xff; 16]);
    let m = low_with(0x1_0000, &r);
    assert_eq!(read(&m, 0x1_0000).map(|r| r.length), Ok(20));
}

#[test]
fn v2_at_hint() {
    let m = low_with(0x1_0000, &rsdp_v2(0x7fe_6000, 0x7fe_7000));
    let r = find(&m, Some(0x1_0000)).expect("valid");
    assert_eq!((r.revision, r.length), (2, 36));
    assert_eq!((r.rsdt, r.xsdt), (0x7fe_6000, Some(0x7fe_7000)));
}

#[test]
fn v2_with_zero_xsdt_has_none() {
    let m = low_with(0x1_0000, &rsdp_v2(0x7fe_6000, 0));
    assert_eq!(read(&m, 0x1_0000).map(|r| r.xsdt), Ok(None));
}

#[test]
fn v2_longer_length_is_checksummed_over_it() {
    let mut r = rsdp_v2(0, 0x7fe_7000);
    r.resize(64, 0);
    r[20..24].copy_from_slice(&le32(64));
    r[40] = 0x55; // inside the extended checksum only
    rsdp_fix(&mut r);
    let m = low_with(0x1_0000, &r);
    assert_eq!(read(&m, 0x1_0000).map(|r| r.length), Ok(64));
    let mut bad = m;
    bad.put(0x1_0000 + 63, &[1]);
    assert_eq!(
        read(&bad, 0x1_0000),
        Err(AcpiError::RsdpChecksum {
            addr: 0x1_0000,
            len: 64
        })
    );
}

#[test]
fn bad_signature() {
    let mut r = rsdp_v1(0x7fe_6000);
    r[0] = b'r';
    let m = low_with(0x1_0000, &r);
    assert_eq!(
        find(&m, Some(0x1_0000)),
        Err(AcpiError::RsdpSignature { addr: 0x1_0000 })
    );
}

#[test]
fn bad_checksum() {
    let mut r = rsdp_v1(0x7fe_6000);
    r[8] ^= 1;
    let m = low_with(0x1_0000, &r);
    assert_eq!(
        find(&m, Some(0x1_0000)),
        Err(AcpiError::RsdpChecksum {
            addr: 0x1_0000,
            len: 20
        })
    );
}

#[test]
fn bad_extended_checksum() {
    let mut r = rsdp_v2(0x7fe_6000, 0x7fe_7000);
    r[32] ^= 1;
    let m = low_with(0x1_0000, &r);
    assert_eq!(
        find(&m, Some(0x1_0000)),
        Err(AcpiError::RsdpChecksum {
            addr: 0x1_0000,
            len: 36
        })
    );
}

#[test]
fn absurd_lengths() {
    for length in [0, 20, 35, 4097, 0x10_0000, u32::MAX] {
        let mut r = rsdp_v2(0x7fe_6000, 0x7fe_7000);
        r[20..24].copy_from_slice(&le32(length));
        rsdp_fix(&mut r);
        let m = low_with(0x1_0000, &r);
        assert_eq!(
            find(&m, Some(0x1_0000)),
            Err(AcpiError::RsdpLength {
                addr: 0x1_0000,
                length
            }),
            "length {length}"
        );
    }
}

#[test]
fn length_past_memory_is_unreadable() {
    let mut r = rsdp_v2(0x7fe_6000, 0x7fe_7000);
    r[20..24].copy_from_slice(&le32(4096));
    rsdp_fix(&mut r);
    let at = 0x10_0000 - 64;
    let m = low_with(at, &r);
    assert_eq!(
        read(&m, at),
        Err(AcpiError::Unreadable {
            what: "RSDP",
            addr: at
        })
    );
}

#[test]
fn unreadable_hint() {
    let m = low_ram();
    for addr in [0x10_0000, 0x10_0000 - 10, u64::MAX - 5] {
        assert_eq!(
            find(&m, Some(addr)),
            Err(AcpiError::Unreadable { what: "RSDP", addr })
        );
    }
}

#[test]
fn scan_finds_it_in_the_ebda() {
    let mut m = low_with(EBDA + 0x30, &rsdp_v2(0x7fe_6000, 0x7fe_7000));
    set_ebda(&mut m, (EBDA >> 4) as u16);
    assert_eq!(find(&m, None).map(|r| r.addr), Ok(EBDA + 0x30));
    // The last 16-byte slot of the first KiB is still searched.
    let mut m = low_with(EBDA + 0x3f0, &rsdp_v1(0x7fe_6000));
    set_ebda(&mut m, (EBDA >> 4) as u16);
    assert_eq!(find(&m, None).map(|r| r.addr), Ok(EBDA + 0x3f0));
}

#[test]
fn scan_finds_it_in_the_bios_area() {
    for addr in [0xe_0000, BIOS_RSDP, 0xf_fff0 - 16] {
        let mut m = low_with(addr, &rsdp_v1(0x7fe_6000));
        set_ebda(&mut m, (EBDA >> 4) as u16);
        assert_eq!(find(&m, None).map(|r| r.addr), Ok(addr), "{addr:#x}");
    }
}

#[test]
fn scan_prefers_the_ebda() {
    let mut m = low_with(BIOS_RSDP, &rsdp_v1(0x1111_0000));
    m.put(EBDA + 0x100, &rsdp_v1(0x2222_0000));
    set_ebda(&mut m, (EBDA >> 4) as u16);
    assert_eq!(find(&m, None).map(|r| r.rsdt), Ok(0x2222_0000));
}

#[test]
fn scan_finds_nothing_elsewhere() {
    // Outside both areas, past the EBDA's first KiB, or not on a 16-byte boundary.
    for addr in [
        0x8_0000,
        0x500,
        EBDA + 0x400,
        EBDA + 0x38,
        BIOS_RSDP + 8,
        0xd_fff0,
    ] {
        let mut m = low_with(addr, &rsdp_v2(0x7fe_6000, 0x7fe_7000));
        set_ebda(&mut m, (EBDA >> 4) as u16);
        assert_eq!(find(&m, None), Err(AcpiError::RsdpNotFound), "{addr:#x}");
    }
}

#[test]
fn scan_without_ebda_pointer_searches_the_bios_area() {
    // Segment 0 and segments pointing outside 0x400..0xa0000 are not followed.
    for seg in [0u16, 0x0020, 0xa000, 0xffff] {
        let mut m = low_with(BIOS_RSDP, &rsdp_v1(0x7fe_6000));
        let decoy = (u64::from(seg) << 4) + 0x10;
        if decoy + 20 <= 0xe_0000 {
            m.put(decoy, &rsdp_v1(0x1234_0000));
        }
        set_ebda(&mut m, seg);
        assert_eq!(find(&m, None).map(|r| r.addr), Ok(BIOS_RSDP), "{seg:#x}");
    }
}

#[test]
fn scan_passes_over_invalid_candidates() {
    let mut bad_sum = rsdp_v1(0x1111_0000);
    bad_sum[8] ^= 0xff;
    let mut bad_ext = rsdp_v2(0x2222_0000, 0x7fe_7000);
    bad_ext[32] ^= 0xff;
    let mut bad_len = rsdp_v2(0x3333_0000, 0x7fe_7000);
    bad_len[20..24].copy_from_slice(&le32(u32::MAX));
    rsdp_fix(&mut bad_len);
    let mut m = low_with(0xe_0000, &bad_sum);
    m.put(0xe_0040, &bad_ext);
    m.put(0xe_0080, &bad_len);
    m.put(0xe_00c0, &rsdp_v1(0x4444_0000));
    assert_eq!(find(&m, None).map(|r| r.rsdt), Ok(0x4444_0000));
}

#[test]
fn scan_of_unreadable_memory_finds_nothing() {
    // No low memory at all, or only part of it: nothing is found and nothing panics.
    assert_eq!(find(&acpi_ram(), None), Err(AcpiError::RsdpNotFound));
    let mut part = Ram::new(0xe_0000, 0x1_0000);
    part.put(0xe_0100, &rsdp_v1(0x7fe_6000));
    assert_eq!(find(&part, None).map(|r| r.addr), Ok(0xe_0100));
}
