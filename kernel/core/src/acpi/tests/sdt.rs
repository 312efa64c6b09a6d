//! Table headers and the RSDT/XSDT walk.

use super::*;
use crate::acpi::rsdp::Rsdp;
use crate::acpi::sdt::{Header, Tables, MAX_TABLE_LEN};
use crate::acpi::Sig;

fn rsdp(rsdt: u64, xsdt: Option<u64>) -> Rsdp {
    Rsdp {
        addr: 0xf_5a30,
        revision: if xsdt.is_some() { 2 } else { 0 },
        oem_id: *b"BOCHS ",
        length: if xsdt.is_some() { 36 } else { 20 },
        rsdt: rsdt as u32,
        xsdt,
    }
}

/// The ACPI area with QEMU's tables and both root tables listing them.
fn qemu_ram() -> Ram {
    let mut m = acpi_ram();
    m.put(DSDT, &dsdt());
    m.put(FACP, &qemu_fadt_v5(DSDT));
    m.put(APIC, &qemu_madt());
    m.put(HPET, &qemu_hpet());
    m.put(MCFG, &qemu_mcfg());
    m.put(DMAR, &qemu_dmar());
    let list = [FACP, APIC, HPET, MCFG, DMAR];
    m.put(RSDT, &rsdt(&list.map(|a| a as u32)));
    m.put(XSDT, &xsdt(&list));
    m
}

#[test]
fn header_fields() {
    let m = qemu_ram();
    let h = Header::read(&m, APIC).expect("valid");
    assert_eq!(h.addr, APIC);
    assert_eq!(&h.signature, b"APIC");
    assert_eq!(h.length as usize, qemu_madt().len());
    assert_eq!(h.revision, 3);
    assert_eq!(&h.oem_id, b"BOCHS ");
    assert_eq!(&h.oem_table_id, b"BXPCAPIC");
    assert_eq!((h.oem_revision, h.creator_revision), (1, 1));
    assert_eq!(&h.creator_id, b"BXPC");
    assert_eq!(Header::read_expect(&m, APIC, b"APIC"), Ok(h));
    assert_eq!(
        Header::read_expect(&m, APIC, b"FACP"),
        Err(AcpiError::Signature {
            addr: APIC,
            expected: Sig(*b"FACP"),
            found: Sig(*b"APIC")
        })
    );
}

#[test]
fn rsdt_walk() {
    let m = qemu_ram();
    let t = Tables::new(&m, &rsdp(RSDT, None)).expect("valid");
    assert_eq!((t.root_addr(), t.is_xsdt(), t.count()), (RSDT, false, 5));
    let all: Vec<u64> = t.entries(&m).collect();
    assert_eq!(all, [FACP, APIC, HPET, MCFG, DMAR]);
    assert_eq!(t.entry(&m, 5), None);
    assert_eq!(t.find(&m, b"APIC"), Some(APIC));
    assert_eq!(t.find(&m, b"FACP"), Some(FACP));
    assert_eq!(t.find(&m, b"DMAR"), Some(DMAR));
    assert_eq!(t.find(&m, b"SRAT"), None);
    // The DSDT is reached through the FADT, not the root table.
    assert_eq!(t.find(&m, b"DSDT"), None);
}

#[test]
fn xsdt_is_preferred() {
    let m = qemu_ram();
    let t = Tables::new(&m, &rsdp(RSDT, Some(XSDT))).expect("valid");
    assert_eq!((t.root_addr(), t.is_xsdt(), t.count()), (XSDT, true, 5));
    assert_eq!(t.find(&m, b"MCFG"), Some(MCFG));
    assert_eq!(t.find(&m, b"HPET"), Some(HPET));
}

#[test]
fn xsdt_entries_above_4g() {
    let mut m = qemu_ram();
    m.put(XSDT, &xsdt(&[0x1_0000_0000 | APIC, APIC]));
    let t = Tables::new(&m, &rsdp(0, Some(XSDT))).expect("valid");
    assert_eq!(t.entry(&m, 0), Some(0x1_0000_0000 | APIC));
    // The unreadable first entry is skipped.
    assert_eq!(t.find(&m, b"APIC"), Some(APIC));
}

#[test]
fn invalid_xsdt_falls_back_to_the_rsdt() {
    let mut m = qemu_ram();
    m.put(XSDT + 40, &[0x77]); // breaks the XSDT's checksum
    let t = Tables::new(&m, &rsdp(RSDT, Some(XSDT))).expect("valid RSDT");
    assert_eq!((t.root_addr(), t.is_xsdt()), (RSDT, false));
    // An XSDT address that is not an XSDT at all: same.
    let t = Tables::new(&m, &rsdp(RSDT, Some(APIC))).expect("valid RSDT");
    assert_eq!(t.root_addr(), RSDT);
}

#[test]
fn invalid_xsdt_without_rsdt_is_its_error() {
    let mut m = qemu_ram();
    m.put(XSDT + 40, &[0x77]);
    assert!(matches!(
        Tables::new(&m, &rsdp(0, Some(XSDT))),
        Err(AcpiError::TableChecksum { addr: XSDT, .. })
    ));
    // With an invalid RSDT too, the XSDT's error is reported.
    m.put(RSDT + 40, &[0x77]);
    assert!(matches!(
        Tables::new(&m, &rsdp(RSDT, Some(XSDT))),
        Err(AcpiError::TableChecksum { addr: XSDT, .. })
    ));
}

#[test]
fn no_root_table() {
    assert_eq!(
        Tables::new(&qemu_ram(), &rsdp(0, None)),
        Err(AcpiError::NoRootTable { addr: 0xf_5a30 })
    );
}

#[test]
fn root_with_the_wrong_signature() {
    assert_eq!(
        Tables::new(&qemu_ram(), &rsdp(APIC, None)),
        Err(AcpiError::Signature {
            addr: APIC,
            expected: Sig(*b"RSDT"),
            found: Sig(*b"APIC")
        })
    );
}

#[test]
fn root_outside_memory() {
    assert_eq!(
        Tables::new(&qemu_ram(), &rsdp(0x1000, None)),
        Err(AcpiError::Unreadable {
            what: "ACPI table header",
            addr: 0x1000
        })
    );
}

#[test]
fn entries_outside_memory_or_zero_are_skipped() {
    // Decision: a root entry that is 0, unreadable, or leads to an invalid table is not
    // an error; `find` moves on to the next entry.
    let mut m = qemu_ram();
    m.put(
        RSDT,
        &rsdt(&[0, 0x1000, 0xffff_fff0, (ACPI_BASE as u32) - 8, APIC as u32]),
    );
    let t = Tables::new(&m, &rsdp(RSDT, None)).expect("valid");
    assert_eq!(t.count(), 5);
    assert_eq!(t.entries(&m).count(), 5);
    assert_eq!(t.find(&m, b"APIC"), Some(APIC));
    assert_eq!(t.find(&m, b"FACP"), None);
}

#[test]
fn trailing_bytes_after_the_last_entry_are_ignored() {
    let mut m = qemu_ram();
    let mut r = rsdt(&[APIC as u32]);
    r.extend_from_slice(&[1, 2, 3]);
    seal(&mut r);
    m.put(RSDT, &r);
    let t = Tables::new(&m, &rsdp(RSDT, None)).expect("valid");
    assert_eq!(t.count(), 1);
    let mut x = xsdt(&[APIC]);
    x.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
    seal(&mut x);
    m.put(XSDT, &x);
    let t = Tables::new(&m, &rsdp(0, Some(XSDT))).expect("valid");
    assert_eq!(t.count(), 1);
    assert_eq!(t.find(&m, b"APIC"), Some(APIC));
}

#[test]
fn empty_root_table() {
    let mut m = qemu_ram();
    m.put(RSDT, &rsdt(&[]));
    let t = Tables::new(&m, &rsdp(RSDT, None)).expect("valid");
    assert_eq!(t.count(), 0);
    assert_eq!(t.find(&m, b"APIC"), None);
}

#[test]
fn table_length_below_header() {
    for len in [0u32, 1, 35] {
        let mut t = qemu_madt();
        t[4..8].copy_from_slice(&le32(len));
        fix(&mut t);
        let m = ram_with(SPARE, &t);
        assert_eq!(
            Header::read(&m, SPARE),
            Err(AcpiError::TableLength {
                sig: Sig(*b"APIC"),
                addr: SPARE,
                length: len
            })
        );
    }
}

#[test]
fn table_length_above_limit() {
    for len in [MAX_TABLE_LEN + 1, u32::MAX] {
        let mut t = qemu_madt();
        t[4..8].copy_from_slice(&le32(len));
        fix(&mut t);
        let m = ram_with(SPARE, &t);
        assert_eq!(
            Header::read(&m, SPARE),
            Err(AcpiError::TableLength {
                sig: Sig(*b"APIC"),
                addr: SPARE,
                length: len
            })
        );
    }
}

#[test]
fn table_past_memory() {
    let mut t = qemu_madt();
    t.resize(0x100, 0);
    seal(&mut t);
    let addr = ACPI_BASE + ACPI_SIZE as u64 - 0x80;
    let m = ram_with(addr, &t[..0x80]);
    assert_eq!(
        Header::read(&m, addr),
        Err(AcpiError::TableUnreadable {
            sig: Sig(*b"APIC"),
            addr,
            length: 0x100
        })
    );
}

#[test]
fn table_wrapping_the_address_space() {
    let base = u64::MAX - 0xfff;
    let mut m = Ram::new(base, 0x1000);
    let mut t = header(b"APIC", 1, 36);
    t[4..8].copy_from_slice(&le32(0x2000));
    fix(&mut t);
    let addr = u64::MAX - 0x7f;
    m.put(addr, &t);
    assert_eq!(
        Header::read(&m, addr),
        Err(AcpiError::TableUnreadable {
            sig: Sig(*b"APIC"),
            addr,
            length: 0x2000
        })
    );
    // A header that itself would wrap cannot be read.
    assert!(matches!(
        Header::read(&m, u64::MAX - 10),
        Err(AcpiError::Unreadable { .. })
    ));
}

#[test]
fn table_checksum_wrong() {
    let mut m = qemu_ram();
    m.put(APIC + 50, &[0xaa]);
    let e = Header::read(&m, APIC).expect_err("bad checksum");
    assert!(matches!(
        e,
        AcpiError::TableChecksum {
            sig: Sig(b),
            addr: APIC,
            ..
        } if &b == b"APIC"
    ));
    // `find` skips it: none left ...
    let t = Tables::new(&m, &rsdp(RSDT, None)).expect("valid");
    assert_eq!(t.find(&m, b"APIC"), None);
    // ... or the next valid one with that signature.
    m.put(SPARE, &qemu_madt());
    m.put(RSDT, &rsdt(&[APIC as u32, SPARE as u32]));
    let t = Tables::new(&m, &rsdp(RSDT, None)).expect("valid");
    assert_eq!(t.find(&m, b"APIC"), Some(SPARE));
}

#[test]
fn find_nth_for_repeated_signatures() {
    let mut m = qemu_ram();
    let ssdt = table(b"SSDT", 1, &[1, 2, 3]);
    let mut broken = ssdt.clone();
    broken[38] ^= 1;
    m.put(SPARE, &ssdt);
    m.put(SPARE + 0x100, &broken);
    m.put(SPARE + 0x200, &ssdt);
    m.put(
        RSDT,
        &rsdt(&[
            SPARE as u32,
            APIC as u32,
            (SPARE + 0x100) as u32,
            (SPARE + 0x200) as u32,
        ]),
    );
    let t = Tables::new(&m, &rsdp(RSDT, None)).expect("valid");
    assert_eq!(t.find_nth(&m, b"SSDT", 0), Some(SPARE));
    assert_eq!(t.find_nth(&m, b"SSDT", 1), Some(SPARE + 0x200));
    assert_eq!(t.find_nth(&m, b"SSDT", 2), None);
}

#[test]
fn messages() {
    let e = AcpiError::EntryPastEnd {
        sig: Sig(*b"APIC"),
        addr: 0x7fe1000,
        offset: 0x64,
        length: 0x6c,
    };
    assert_eq!(
        std::format!("{e}"),
        "APIC table at 0x7fe1000: entry at offset 0x64 runs past the table end (length 0x6c)"
    );
    let e = AcpiError::TableChecksum {
        sig: Sig([b'A', 0, b'\n', 0xff]),
        addr: 0x1000,
        length: 0x24,
        sum: 3,
    };
    assert_eq!(
        std::format!("{e}"),
        "A\\x00\\x0a\\xff table at 0x1000: its 0x24 bytes sum to 0x03, not 0"
    );
    let sig = Sig(*b"DMAR");
    let all = [
        AcpiError::Unreadable {
            what: "RSDP",
            addr: 1,
        },
        AcpiError::RsdpNotFound,
        AcpiError::RsdpSignature { addr: 1 },
        AcpiError::RsdpChecksum { addr: 1, len: 20 },
        AcpiError::RsdpLength { addr: 1, length: 0 },
        AcpiError::NoRootTable { addr: 1 },
        AcpiError::Signature {
            addr: 1,
            expected: sig,
            found: sig,
        },
        AcpiError::TableLength {
            sig,
            addr: 1,
            length: 0,
        },
        AcpiError::TableUnreadable {
            sig,
            addr: 1,
            length: 0,
        },
        AcpiError::TooShort {
            sig,
            addr: 1,
            length: 0,
            min: 44,
        },
        AcpiError::FieldPastEnd {
            sig,
            addr: 1,
            offset: 0,
            size: 4,
            length: 0,
        },
        AcpiError::EntryTooShort {
            sig,
            addr: 1,
            offset: 0,
            kind: 0,
            length: 0,
            min: 2,
        },
        AcpiError::BadEntry {
            sig,
            addr: 1,
            offset: 0,
            why: "why",
        },
        AcpiError::BadTable {
            sig,
            addr: 1,
            why: "why",
        },
        AcpiError::ScopeLength {
            addr: 1,
            offset: 0,
            length: 0,
        },
        AcpiError::ScopePastEnd {
            addr: 1,
            offset: 0,
            end: 0,
        },
    ];
    for e in all {
        check_display(&e);
    }
    assert_eq!(std::format!("{:?}", Sig(*b"HPET")), "Sig(\"HPET\")");
}
