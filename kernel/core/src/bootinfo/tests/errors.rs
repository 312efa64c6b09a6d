//! Unknown magic numbers and the messages of every error.

use super::*;

#[test]
fn unknown_magic() {
    let r = ram();
    assert_eq!(
        parse(0x1BAD_B002, INFO, &r).unwrap_err(),
        BootError::UnknownMagic(0x1BAD_B002)
    );
    assert_eq!(parse(0, INFO, &r).unwrap_err(), BootError::UnknownMagic(0));
}

#[test]
fn error_messages() {
    let e = BootError::TagPastEnd {
        addr: 0x10000,
        offset: 0x58,
        size: 0x10,
        total_size: 0x50,
    };
    assert_eq!(
        e.to_string(),
        "multiboot2 info at 0x10000: tag at offset 0x58 (size 0x10) runs past total_size 0x50"
    );
    assert_eq!(
        BootError::UnknownMagic(0x1234).to_string(),
        "unknown boot loader magic 0x1234 (expected multiboot1 0x2badb002 or multiboot2 0x36d76289)"
    );
    assert_eq!(
        BootError::Unreadable {
            what: "multiboot1 info",
            addr: 0x9000
        }
        .to_string(),
        "multiboot1 info at 0x9000 is not readable"
    );
    assert_eq!(
        BootError::TotalSize {
            addr: 0x10000,
            total_size: 8
        }
        .to_string(),
        "multiboot2 info at 0x10000: total_size 0x8 is outside [0x10, 0x100000]"
    );
    // Every message is a single line.
    let all = [
        BootError::NoMemoryMap,
        BootError::Malformed("x"),
        BootError::Misaligned { addr: 4 },
        BootError::TagTooSmall {
            addr: 0,
            offset: 8,
            tag: 3,
            size: 12,
            min: 16,
        },
        BootError::MissingEndTag {
            addr: 0,
            total_size: 16,
        },
        BootError::Unterminated { what: "s", addr: 0 },
        BootError::MmapEntrySize {
            protocol: Protocol::Multiboot1,
            addr: 0,
            size: 1,
        },
        BootError::MmapEntrySize {
            protocol: Protocol::Multiboot2,
            addr: 0,
            size: 1,
        },
        BootError::MmapOverrun { addr: 0, end: 1 },
        BootError::TooLarge {
            what: "w",
            len: 1,
            max: 0,
        },
        BootError::BadModule {
            index: 0,
            start: 1,
            end: 0,
        },
        BootError::RegionOverflow {
            addr: 1,
            len: u64::MAX,
        },
    ];
    for e in all {
        let s = format!("{e}");
        assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
    }
}
