//! Multiboot1: every field, and every way a structure can be malformed.

use super::*;

#[test]
fn mb1_every_field_is_parsed() {
    let mut b = Vec::new();
    mb1_entry(&mut b, 20, 0, 0x9fc00, 1);
    mb1_entry(&mut b, 20, 0x9fc00, 0x400, 2);
    mb1_entry(&mut b, 20, 0xf0000, 0, 2); // zero length: skipped
    mb1_entry(&mut b, 28, 0x100000, 0x7ee0000, 1); // larger entry: extra bytes skipped
    mb1_entry(&mut b, 20, 0x7fe0000, 0x20000, 3);
    mb1_entry(&mut b, 20, 0xfffc0000, 0x40000, 4);
    let mut m = Mb1::new();
    m.meminfo(639, 130_000)
        .cmdline(STRINGS, b"/boot/facet serial")
        .modules(&[
            (0x200000, 0x212345, STRINGS as u32 + 0x100),
            (0x213000, 0x213000, 0),
        ])
        .mmap_raw(&b);
    let bi = m.parse().expect("valid multiboot1 info");
    assert_eq!(bi.protocol, Protocol::Multiboot1);
    assert_eq!((bi.info_addr, bi.info_len), (INFO, 116));
    assert_eq!(bi.cmdline, STRINGS);
    assert_eq!(
        bi.regions(),
        &regions(&[
            (0, 0x9fc00, 1),
            (0x9fc00, 0x400, 2),
            (0x100000, 0x7ee0000, 1),
            (0x7fe0000, 0x20000, 3),
            (0xfffc0000, 0x40000, 4),
        ])[..]
    );
    assert_eq!(
        bi.modules(),
        &[
            Module {
                start: 0x200000,
                end: 0x212345,
                cmdline: STRINGS + 0x100
            },
            Module {
                start: 0x213000,
                end: 0x213000,
                cmdline: 0
            },
        ]
    );
    assert_eq!(bi.usable_bytes(), 0x9fc00 + 0x7ee0000);
    assert_eq!(bi.rsdp, None);
    assert!(!bi.efi);
    assert_eq!((bi.dropped_regions, bi.dropped_modules), (0, 0));
}

#[test]
fn mb1_without_cmdline_or_modules() {
    let bi = Mb1::new().mmap(&usable_map()).parse().expect("valid");
    assert_eq!(bi.cmdline, 0);
    assert!(bi.modules().is_empty());
    assert_eq!(bi.regions(), &regions(&usable_map())[..]);
}

#[test]
fn mb1_meminfo_fallback_without_map() {
    let bi = Mb1::new().meminfo(639, 64 * 1024).parse().expect("valid");
    assert_eq!(
        bi.regions(),
        &regions(&[(0, 639 * 1024, 1), (0x100000, 64 * 1024 * 1024, 1)])[..]
    );
    assert_eq!(bi.usable_bytes(), 639 * 1024 + 64 * 1024 * 1024);
}

#[test]
fn mb1_empty_map_falls_back_to_meminfo() {
    let bi = Mb1::new()
        .meminfo(0, 1024)
        .mmap(&[])
        .parse()
        .expect("valid");
    // mem_lower 0 gives no region; mem_upper gives one.
    assert_eq!(bi.regions(), &regions(&[(0x100000, 0x100000, 1)])[..]);
}

#[test]
fn mb1_map_is_preferred_over_meminfo() {
    let bi = Mb1::new()
        .meminfo(639, 1)
        .mmap(&usable_map())
        .parse()
        .expect("valid");
    assert_eq!(bi.regions(), &regions(&usable_map())[..]);
}

#[test]
fn mb1_no_memory_information() {
    assert_eq!(Mb1::new().parse().unwrap_err(), BootError::NoMemoryMap);
    assert_eq!(
        Mb1::new().meminfo(0, 0).parse().unwrap_err(),
        BootError::NoMemoryMap
    );
    let zero = [(0x1000, 0, 1)];
    assert_eq!(
        Mb1::new().mmap(&zero).parse().unwrap_err(),
        BootError::NoMemoryMap
    );
}

#[test]
fn mb1_map_entry_too_small() {
    let mut b = Vec::new();
    mb1_entry(&mut b, 20, 0, 0x9fc00, 1);
    mb1_entry(&mut b, 16, 0x100000, 0x100000, 1);
    let err = Mb1::new().mmap_raw(&b).parse().unwrap_err();
    assert_eq!(
        err,
        BootError::MmapEntrySize {
            protocol: Protocol::Multiboot1,
            addr: MMAP + 24,
            size: 16
        }
    );
}

#[test]
fn mb1_truncated_map() {
    let mut b = Vec::new();
    mb1_entry(&mut b, 20, 0, 0x9fc00, 1);
    mb1_entry(&mut b, 20, 0x100000, 0x100000, 1);
    let mut m = Mb1::new();
    m.mmap_raw(&b);
    // mmap_length cuts the second entry short.
    m.field(44, 24 + 10);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::MmapOverrun {
            addr: MMAP + 24,
            end: MMAP + 34
        }
    );
    // Not even room for the size field.
    m.field(44, 24 + 2);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::MmapOverrun {
            addr: MMAP + 24,
            end: MMAP + 26
        }
    );
}

#[test]
fn mb1_map_entry_larger_than_map() {
    let mut b = Vec::new();
    mb1_entry(&mut b, 20, 0, 0x9fc00, 1);
    b[..4].copy_from_slice(&le32(u32::MAX));
    let err = Mb1::new().mmap_raw(&b).parse().unwrap_err();
    assert_eq!(
        err,
        BootError::MmapOverrun {
            addr: MMAP,
            end: MMAP + 24
        }
    );
}

#[test]
fn mb1_map_too_large() {
    let mut m = Mb1::new();
    m.mmap(&usable_map());
    m.field(44, MAX_INFO_SIZE + 4);
    assert!(
        matches!(m.parse().unwrap_err(), BootError::TooLarge { len, .. } if len == u64::from(MAX_INFO_SIZE) + 4)
    );
}

#[test]
fn mb1_map_outside_memory() {
    let mut m = Mb1::new();
    m.mmap(&usable_map());
    m.field(48, 0x100_0000);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::Unreadable {
            what: "multiboot1 memory map",
            addr: 0x100_0000
        }
    );
}

#[test]
fn mb1_region_wrapping_address_space() {
    let err = Mb1::new()
        .mmap(&[(u64::MAX - 0xfff, 0x2000, 2)])
        .parse()
        .unwrap_err();
    assert_eq!(
        err,
        BootError::RegionOverflow {
            addr: u64::MAX - 0xfff,
            len: 0x2000
        }
    );
}

#[test]
fn mb1_module_end_below_start() {
    let err = Mb1::new()
        .mmap(&usable_map())
        .modules(&[(0x200000, 0x201000, 0), (0x300000, 0x2fffff, 0)])
        .parse()
        .unwrap_err();
    assert_eq!(
        err,
        BootError::BadModule {
            index: 1,
            start: 0x300000,
            end: 0x2fffff
        }
    );
}

#[test]
fn mb1_module_list_outside_memory_or_too_large() {
    let mut m = Mb1::new();
    m.mmap(&usable_map()).modules(&[(0x200000, 0x201000, 0)]);
    m.field(24, 0x80_0000);
    assert_eq!(
        m.parse().unwrap_err(),
        BootError::Unreadable {
            what: "multiboot1 module list",
            addr: 0x80_0000
        }
    );
    m.field(20, u32::MAX);
    assert!(matches!(
        m.parse().unwrap_err(),
        BootError::TooLarge {
            what: "multiboot1 module list",
            ..
        }
    ));
}

#[test]
fn mb1_capacity_overflow_is_counted() {
    let entries: Vec<_> = (0..MAX_REGIONS as u64 + 6)
        .map(|i| (i * 0x10000, 0x8000, 1))
        .collect();
    let mods: Vec<_> = (0..MAX_MODULES as u32 + 4)
        .map(|i| (i * 0x1000, i * 0x1000 + 1, 0))
        .collect();
    let bi = Mb1::new()
        .mmap(&entries)
        .modules(&mods)
        .parse()
        .expect("valid");
    assert_eq!((bi.region_count, bi.dropped_regions), (MAX_REGIONS, 6));
    assert_eq!((bi.module_count, bi.dropped_modules), (MAX_MODULES, 4));
    assert_eq!(
        bi.regions()[MAX_REGIONS - 1].addr,
        (MAX_REGIONS as u64 - 1) * 0x10000
    );
    assert_eq!(
        bi.modules()[MAX_MODULES - 1].start,
        (MAX_MODULES as u64 - 1) * 0x1000
    );
    assert_eq!(bi.usable_bytes(), MAX_REGIONS as u64 * 0x8000);
}

#[test]
fn mb1_info_outside_memory() {
    let r = ram();
    assert_eq!(
        parse(MB1_MAGIC, 0x1000, &r).unwrap_err(),
        BootError::Unreadable {
            what: "multiboot1 info",
            addr: 0x1000
        }
    );
    // The 116-byte structure would wrap around the address space.
    assert!(matches!(
        parse(MB1_MAGIC, u64::MAX - 8, &r),
        Err(BootError::Unreadable { .. })
    ));
    // Starts inside RAM but its fields run off the end.
    let end = RAM_BASE + RAM_SIZE as u64;
    assert!(matches!(
        parse(MB1_MAGIC, end - 2, &r),
        Err(BootError::Unreadable { .. })
    ));
}
