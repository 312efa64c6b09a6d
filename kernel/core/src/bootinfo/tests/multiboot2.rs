//! Multiboot2: every tag, and every way a tag list can be malformed.

use super::*;

#[test]
fn mb2_every_field_is_parsed() {
    let mut m = Mb2::new();
    let cmd = INFO + m.next() + 8;
    m.cmdline(b"/boot/facet serial novga");
    let m0 = INFO + m.next() + 16;
    m.module(0x200000, 0x2a0000, b"roottask arg");
    let m1 = INFO + m.next() + 16;
    m.module(0x2a0000, 0x2a0000, b"");
    m.meminfo(639, 0x1fc00);
    m.tag(21, &le32(0x200000)); // load base address: unknown here, skipped
    m.mmap(&[
        (0, 0x9fc00, 1),
        (0x9fc00, 0x400, 2),
        (0xe0000, 0, 2),
        (0x100000, 0x7ee0000, 1),
        (0x7fe0000, 0x20000, 3),
    ]);
    m.rsdp(false);
    let new = INFO + m.next() + 8;
    m.rsdp(true);
    m.tag(TAG_EFI64, &0x7fe8_0000u64.to_le_bytes());
    m.end();
    let bi = m.parse().expect("valid multiboot2 info");
    assert_eq!(bi.protocol, Protocol::Multiboot2);
    assert_eq!((bi.info_addr, bi.info_len), (INFO, m.bytes.len() as u64));
    assert_eq!(bi.cmdline, cmd);
    assert_eq!(
        bi.modules(),
        &[
            Module {
                start: 0x200000,
                end: 0x2a0000,
                cmdline: m0
            },
            Module {
                start: 0x2a0000,
                end: 0x2a0000,
                cmdline: m1
            },
        ]
    );
    assert_eq!(
        bi.regions(),
        &regions(&[
            (0, 0x9fc00, 1),
            (0x9fc00, 0x400, 2),
            (0x100000, 0x7ee0000, 1),
            (0x7fe0000, 0x20000, 3)
        ])[..]
    );
    assert_eq!(bi.usable_bytes(), 0x9fc00 + 0x7ee0000);
    assert_eq!(
        bi.rsdp,
        Some(Rsdp {
            addr: new,
            len: RSDP_V2_LEN,
            new: true
        })
    );
    assert!(bi.efi);
    assert_eq!((bi.dropped_regions, bi.dropped_modules), (0, 0));

    // The addresses really point at the strings.
    let r = {
        let mut r = ram();
        r.put(INFO, &m.bytes);
        r
    };
    let mut buf = [0u8; 64];
    assert_eq!(
        crate::phys::read_cstr(&r, bi.cmdline, &mut buf),
        Some(&b"/boot/facet serial novga"[..])
    );
    assert_eq!(
        crate::phys::read_cstr(&r, m0, &mut buf),
        Some(&b"roottask arg"[..])
    );
    assert_eq!(crate::phys::read_cstr(&r, m1, &mut buf), Some(&b""[..]));
}

#[test]
fn mb2_rsdp_new_wins_in_either_order_and_old_alone_is_kept() {
    let mut m = Mb2::new();
    m.mmap(&usable_map());
    let new = INFO + m.next() + 8;
    m.rsdp(true).rsdp(false).end();
    assert_eq!(
        m.parse().expect("valid").rsdp,
        Some(Rsdp {
            addr: new,
            len: RSDP_V2_LEN,
            new: true
        })
    );

    let mut m = Mb2::new();
    m.mmap(&usable_map());
    let old = INFO + m.next() + 8;
    m.rsdp(false).tag(TAG_EFI32, &le32(0x7fe8_0000)).end();
    let bi = m.parse().expect("valid");
    assert_eq!(
        bi.rsdp,
        Some(Rsdp {
            addr: old,
            len: RSDP_V1_LEN,
            new: false
        })
    );
    assert!(bi.efi);

    let bi = Mb2::new().mmap(&usable_map()).end().parse().expect("valid");
    assert_eq!(bi.rsdp, None);
    assert!(!bi.efi);
    assert_eq!(bi.cmdline, 0);
}

#[test]
fn mb2_larger_map_entries() {
    let bi = Mb2::new()
        .mmap_sized(40, &usable_map())
        .end()
        .parse()
        .expect("valid");
    assert_eq!(bi.regions(), &regions(&usable_map())[..]);
}

#[test]
fn mb2_meminfo_fallback_and_no_memory_information() {
    let bi = Mb2::new().meminfo(639, 2048).end().parse().expect("valid");
    assert_eq!(
        bi.regions(),
        &regions(&[(0, 639 * 1024, 1), (0x100000, 2048 * 1024, 1)])[..]
    );
    // An empty map falls back too.
    let bi = Mb2::new()
        .mmap(&[])
        .meminfo(0, 4)
        .end()
        .parse()
        .expect("valid");
    assert_eq!(bi.regions(), &regions(&[(0x100000, 4096, 1)])[..]);

    assert_eq!(
        Mb2::new().cmdline(b"x").end().parse().unwrap_err(),
        BootError::NoMemoryMap
    );
    assert_eq!(
        Mb2::new().mmap(&[]).end().parse().unwrap_err(),
        BootError::NoMemoryMap
    );
}

#[test]
fn mb2_capacity_overflow_is_counted() {
    let entries: Vec<_> = (0..MAX_REGIONS as u64 + 3)
        .map(|i| (i * 0x10000, 0x8000, 1))
        .collect();
    let mut m = Mb2::new();
    m.mmap(&entries);
    for i in 0..MAX_MODULES as u32 + 5 {
        m.module(i * 0x1000, i * 0x1000 + 0x800, b"m");
    }
    let bi = m.end().parse().expect("valid");
    assert_eq!((bi.region_count, bi.dropped_regions), (MAX_REGIONS, 3));
    assert_eq!((bi.module_count, bi.dropped_modules), (MAX_MODULES, 5));
}

#[test]
fn mb2_misaligned_info() {
    let m = {
        let mut m = Mb2::new();
        m.mmap(&usable_map()).end();
        m
    };
    assert_eq!(
        m.parse_at(INFO + 4).unwrap_err(),
        BootError::Misaligned { addr: INFO + 4 }
    );
    assert!(m.parse_at(INFO + 8).is_ok());
}

#[test]
fn mb2_total_size_bounds() {
    let mut m = Mb2::new();
    m.mmap(&usable_map()).end();
    m.set_total(8);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::TotalSize {
            addr: INFO,
            total_size: 8
        }
    );
    m.set_total(0);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::TotalSize {
            addr: INFO,
            total_size: 0
        }
    );
    m.set_total(2 << 20);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::TotalSize {
            addr: INFO,
            total_size: 2 << 20
        }
    );
    m.set_total(u32::MAX);
    assert!(matches!(
        m.parse().unwrap_err(),
        BootError::TotalSize { .. }
    ));
}

#[test]
fn mb2_tag_smaller_than_header() {
    let mut m = Mb2::new();
    m.mmap(&usable_map()).tag_sized(21, 4, &[0; 8]).end();
    assert!(matches!(
        m.parse().unwrap_err(),
        BootError::TagTooSmall {
            tag: 21,
            size: 4,
            min: 8,
            ..
        }
    ));
    // size 0 would loop forever if accepted.
    let mut m = Mb2::new();
    m.tag_sized(21, 0, &[0; 8]).end();
    assert!(matches!(
        m.parse().unwrap_err(),
        BootError::TagTooSmall { size: 0, .. }
    ));
}

#[test]
fn mb2_tags_too_small_for_their_type() {
    for (ty, min) in [
        (TAG_MODULE, 16),
        (TAG_MEMINFO, 16),
        (TAG_MMAP, 16),
        (TAG_ACPI_OLD, 28),
        (TAG_ACPI_NEW, 44),
    ] {
        let mut m = Mb2::new();
        m.mmap(&usable_map());
        let off = m.next() as u32;
        m.tag(ty, &[0; 4]).end();
        assert_eq!(
            m.parse().unwrap_err(),
            BootError::TagTooSmall {
                addr: INFO,
                offset: off,
                tag: ty,
                size: 12,
                min
            },
            "tag type {ty}"
        );
    }
}

#[test]
fn mb2_tag_past_total_size() {
    let mut m = Mb2::new();
    m.mmap(&usable_map());
    let off = m.next() as u32;
    m.cmdline(b"abc").end();
    // Cut total_size in the middle of the command-line tag.
    m.set_total(off + 8);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::TagPastEnd {
            addr: INFO,
            offset: off,
            size: 12,
            total_size: off + 8
        }
    );
    // A tag claiming far more than the info holds.
    let mut m = Mb2::new();
    m.tag_sized(21, 0x1000, &[0; 8]).end();
    assert!(matches!(
        m.parse().unwrap_err(),
        BootError::TagPastEnd { size: 0x1000, .. }
    ));
}

#[test]
fn mb2_missing_end_tag() {
    let mut m = Mb2::new();
    m.mmap(&usable_map());
    let total = m.bytes.len() as u32;
    m.set_total(total);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::MissingEndTag {
            addr: INFO,
            total_size: total
        }
    );
    // Room for less than a tag header after the last tag.
    m.set_total(total + 4);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::MissingEndTag {
            addr: INFO,
            total_size: total + 4
        }
    );
    // A zero-filled first tag is a tag of size 0, not an end tag.
    assert!(matches!(
        Mb2::new().set_total(16).parse().unwrap_err(),
        BootError::TagTooSmall { size: 0, .. }
    ));
}

#[test]
fn mb2_map_entry_size_invalid() {
    for size in [0, 16, 20, 28] {
        let mut m = Mb2::new();
        let tag = INFO + m.next();
        let mut p = Vec::new();
        p.extend_from_slice(&le32(size));
        p.extend_from_slice(&le32(0));
        p.extend_from_slice(&[0; 48]);
        m.tag(TAG_MMAP, &p).end();
        assert_eq!(
            m.parse().unwrap_err(),
            BootError::MmapEntrySize {
                protocol: Protocol::Multiboot2,
                addr: tag,
                size
            },
            "entry_size {size}"
        );
    }
}

#[test]
fn mb2_truncated_map() {
    let mut m = Mb2::new();
    let tag = INFO + m.next();
    let mut p = Vec::new();
    p.extend_from_slice(&le32(24));
    p.extend_from_slice(&le32(0));
    p.extend_from_slice(&[0; 24 + 16]); // one entry and two thirds of another
    p[8 + 8] = 1; // first entry: length 1
    m.tag(TAG_MMAP, &p).end();
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::MmapOverrun {
            addr: tag + 16 + 24,
            end: tag + 16 + 24 + 16
        }
    );
}

#[test]
fn mb2_module_end_below_start() {
    let err = Mb2::new()
        .mmap(&usable_map())
        .module(0x200000, 0x201000, b"a")
        .module(0x300000, 0x200000, b"b")
        .end()
        .parse()
        .unwrap_err();
    assert_eq!(
        err,
        BootError::BadModule {
            index: 1,
            start: 0x300000,
            end: 0x200000
        }
    );
}

#[test]
fn mb2_strings_must_end_inside_their_tag() {
    let mut m = Mb2::new();
    let tag = INFO + m.next();
    m.tag(TAG_CMDLINE, b"no terminator")
        .mmap(&usable_map())
        .end();
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::Unterminated {
            what: "multiboot2 command line",
            addr: tag + 8
        }
    );
    let mut m = Mb2::new();
    let tag = INFO + m.next();
    let mut p = Vec::new();
    p.extend_from_slice(&le32(0x200000));
    p.extend_from_slice(&le32(0x201000));
    m.tag(TAG_MODULE, &p).mmap(&usable_map()).end(); // size 16: no string at all
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::Unterminated {
            what: "multiboot2 module command line",
            addr: tag + 16
        }
    );
    // A long string that spans several read chunks is fine.
    let long = [b'x'; 300];
    let bi = Mb2::new()
        .cmdline(&long)
        .mmap(&usable_map())
        .end()
        .parse()
        .expect("valid");
    assert_eq!(bi.cmdline, INFO + 16);
}

#[test]
fn mb2_duplicate_tags() {
    let err = Mb2::new()
        .mmap(&usable_map())
        .mmap(&usable_map())
        .end()
        .parse()
        .unwrap_err();
    assert_eq!(
        err,
        BootError::Malformed("multiboot2 info has two memory map tags")
    );
    let err = Mb2::new()
        .mmap(&usable_map())
        .cmdline(b"a")
        .cmdline(b"b")
        .end()
        .parse()
        .unwrap_err();
    assert!(matches!(err, BootError::Malformed(_)));
}

#[test]
fn mb2_region_wrapping_address_space() {
    let err = Mb2::new()
        .mmap(&[(1 << 63, 1 << 63, 1)])
        .end()
        .parse()
        .unwrap_err();
    assert_eq!(
        err,
        BootError::RegionOverflow {
            addr: 1 << 63,
            len: 1 << 63
        }
    );
}

#[test]
fn mb2_info_outside_memory() {
    let r = ram();
    assert_eq!(
        parse(MB2_MAGIC, 0x8000, &r).unwrap_err(),
        BootError::Unreadable {
            what: "multiboot2 info",
            addr: 0x8000
        }
    );
    assert!(matches!(
        parse(MB2_MAGIC, !7, &r),
        Err(BootError::Unreadable { .. })
    ));
    // The header is in RAM but total_size reaches past its end.
    let mut m = Mb2::new();
    m.mmap(&usable_map()).end();
    let total = m.bytes.len() as u64;
    let at = (RAM_BASE + RAM_SIZE as u64 - total / 2) & !7;
    let mut r = ram();
    r.put(at, &m.bytes[..(RAM_BASE + RAM_SIZE as u64 - at) as usize]);
    assert!(matches!(
        parse(MB2_MAGIC, at, &r),
        Err(BootError::Unreadable { .. })
    ));
}
