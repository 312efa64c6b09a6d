//! Host tests: images built byte by byte, every way a header or segment can be wrong,
//! the error messages, and random mutations that must never panic.

use super::*;
use std::format;
use std::string::ToString;
use std::vec::Vec;

const PHYS: u64 = 0x0080_0000;
const PT_NOTE: u32 = 4;
const PT_GNU_STACK: u32 = 0x6474_e551;
const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

/// A program header as the test writes it.
#[derive(Clone, Copy)]
struct Ph {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
}

fn load(flags: u32, offset: u64, vaddr: u64, size: u64) -> Ph {
    Ph {
        ty: PT_LOAD,
        flags,
        offset,
        vaddr,
        filesz: size,
        memsz: size,
    }
}

/// Builds an ELF64 executable: header, program headers at 64, zero-filled up to
/// `len` (at least covering the headers), with recognisable bytes in each segment.
fn build(entry: u64, phdrs: &[Ph], len: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&ELFMAG);
    b.extend_from_slice(&[ELFCLASS64, ELFDATA2LSB, EV_CURRENT, 0]); // + OS ABI
    b.extend_from_slice(&[0; 8]); // ABI version, padding
    b.extend_from_slice(&ET_EXEC.to_le_bytes());
    b.extend_from_slice(&EM_X86_64.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes()); // e_version
    b.extend_from_slice(&entry.to_le_bytes());
    b.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    b.extend_from_slice(&0u64.to_le_bytes()); // e_shoff: no sections
    b.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    b.extend_from_slice(&64u16.to_le_bytes()); // e_ehsize
    b.extend_from_slice(&PHDR_SIZE.to_le_bytes());
    b.extend_from_slice(&(phdrs.len() as u16).to_le_bytes());
    b.extend_from_slice(&64u16.to_le_bytes()); // e_shentsize
    b.extend_from_slice(&0u16.to_le_bytes()); // e_shnum
    b.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx
    assert_eq!(b.len(), EHDR_SIZE);
    for p in phdrs {
        b.extend_from_slice(&p.ty.to_le_bytes());
        b.extend_from_slice(&p.flags.to_le_bytes());
        b.extend_from_slice(&p.offset.to_le_bytes());
        b.extend_from_slice(&p.vaddr.to_le_bytes());
        b.extend_from_slice(&p.vaddr.to_le_bytes()); // p_paddr
        b.extend_from_slice(&p.filesz.to_le_bytes());
        b.extend_from_slice(&p.memsz.to_le_bytes());
        b.extend_from_slice(&PAGE.to_le_bytes()); // p_align
    }
    if b.len() < len {
        b.resize(len, 0);
    }
    for (i, p) in phdrs.iter().enumerate() {
        let end = p.offset.checked_add(p.filesz);
        if p.ty == PT_LOAD && p.offset >= 0x1000 && end.is_some_and(|e| e <= b.len() as u64) {
            b[p.offset as usize..(p.offset + p.filesz) as usize].fill(0xc0 | i as u8);
        }
    }
    b
}

const TEXT: u64 = 0x40_1000;
const ENTRY: u64 = TEXT + 0x10;

/// text R+X (two pages), rodata R, data R+W starting mid-page, plus headers that are
/// not mapped.
fn phdrs() -> Vec<Ph> {
    std::vec![
        load(R | X, 0x1000, TEXT, 0x1234),
        load(R, 0x3000, 0x40_3000, 0x100),
        Ph {
            ty: PT_NOTE,
            flags: R,
            offset: 0x3100,
            vaddr: 0x40_3100,
            filesz: 0x20,
            memsz: 0x20
        },
        load(R | W, 0x4010, 0x40_4010, 0x20),
        Ph {
            ty: PT_GNU_STACK,
            flags: R | W,
            offset: 0,
            vaddr: 0,
            filesz: 0,
            memsz: 0
        },
        // An empty load with nonsense fields maps nothing and is ignored.
        Ph {
            ty: PT_LOAD,
            flags: R,
            offset: u64::MAX,
            vaddr: 0,
            filesz: 5,
            memsz: 0
        },
    ]
}

const LEN: usize = 0x4030;

fn valid() -> Vec<u8> {
    build(ENTRY, &phdrs(), LEN)
}

fn with(f: impl FnOnce(&mut Vec<Ph>)) -> Vec<u8> {
    let mut p = phdrs();
    f(&mut p);
    build(ENTRY, &p, LEN)
}

fn err(image: &[u8]) -> ElfError {
    parse_root(image, PHYS).expect_err("image must be rejected")
}

#[test]
fn valid_image_maps_three_segments_in_place() {
    let img = valid();
    let root = parse_root(&img, PHYS).expect("valid image");
    assert_eq!(root.entry, ENTRY);
    assert_eq!(
        root.segments(),
        &[
            Segment {
                vaddr: TEXT,
                phys: PHYS + 0x1000,
                pages: 2,
                writable: false,
                executable: true
            },
            Segment {
                vaddr: 0x40_3000,
                phys: PHYS + 0x3000,
                pages: 1,
                writable: false,
                executable: false
            },
            Segment {
                vaddr: 0x40_4000,
                phys: PHYS + 0x4000,
                pages: 1,
                writable: true,
                executable: false
            },
        ]
    );
    // The mapped pages hold the segments' bytes at the right offsets.
    let data = root.segments()[2];
    let at = (data.phys - PHYS) as usize + 0x10;
    assert_eq!(img[at], 0xc3);
}

#[test]
fn segments_at_the_edges_of_the_user_range() {
    let top = ROOT_UTCB_ADDR - 0x2000;
    let img = build(
        PAGE,
        &[
            load(R | X, 0x1000, PAGE, 0x1000),
            load(R | W, 0x2000, top, 0x2000),
        ],
        0x4000,
    );
    let root = parse_root(&img, 0).expect("valid");
    assert_eq!(root.segments()[0].vaddr, PAGE);
    assert_eq!(
        root.segments()[1],
        Segment {
            vaddr: top,
            phys: 0x2000,
            pages: 2,
            writable: true,
            executable: false
        }
    );
}

#[test]
fn too_short() {
    let img = valid();
    assert_eq!(err(&img[..63]), ElfError::TooShort { len: 63 });
    assert_eq!(err(&[]), ElfError::TooShort { len: 0 });
}

#[test]
fn bad_magic() {
    let mut img = valid();
    img[1] = b'e';
    assert_eq!(err(&img), ElfError::BadMagic);
}

#[test]
fn not_elf64() {
    let mut img = valid();
    img[4] = 1;
    assert_eq!(err(&img), ElfError::NotElf64 { class: 1 });
}

#[test]
fn big_endian() {
    let mut img = valid();
    img[5] = 2;
    assert_eq!(err(&img), ElfError::NotLittleEndian { data: 2 });
}

#[test]
fn bad_ident_version() {
    let mut img = valid();
    img[6] = 0;
    assert_eq!(err(&img), ElfError::BadIdentVersion { version: 0 });
}

#[test]
fn bad_version() {
    let mut img = valid();
    img[20..24].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(err(&img), ElfError::BadVersion { version: 2 });
}

#[test]
fn not_executable() {
    let mut img = valid();
    img[16..18].copy_from_slice(&3u16.to_le_bytes()); // ET_DYN
    assert_eq!(err(&img), ElfError::NotExecutable { e_type: 3 });
}

#[test]
fn wrong_machine() {
    let mut img = valid();
    img[18..20].copy_from_slice(&3u16.to_le_bytes()); // EM_386
    assert_eq!(err(&img), ElfError::WrongMachine { machine: 3 });
}

#[test]
fn bad_phentsize() {
    let mut img = valid();
    img[54..56].copy_from_slice(&32u16.to_le_bytes());
    assert_eq!(err(&img), ElfError::BadPhentsize { size: 32 });
}

#[test]
fn program_headers_outside_image() {
    let mut img = valid();
    let n = phdrs().len() as u16;
    img[32..40].copy_from_slice(&(LEN as u64 - 8).to_le_bytes());
    assert_eq!(
        err(&img),
        ElfError::PhdrsOutside {
            phoff: LEN as u64 - 8,
            phnum: n,
            len: LEN
        }
    );
    img[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        err(&img),
        ElfError::PhdrsOutside {
            phoff: u64::MAX,
            phnum: n,
            len: LEN
        }
    );
    img[32..40].copy_from_slice(&64u64.to_le_bytes());
    img[56..58].copy_from_slice(&u16::MAX.to_le_bytes());
    assert_eq!(
        err(&img),
        ElfError::PhdrsOutside {
            phoff: 64,
            phnum: u16::MAX,
            len: LEN
        }
    );
    // Headers truncated by a short image.
    assert!(matches!(
        err(&valid()[..100]),
        ElfError::PhdrsOutside { .. }
    ));
}

#[test]
fn image_misaligned() {
    assert_eq!(
        parse_root(&valid(), PHYS + 0x10).unwrap_err(),
        ElfError::ImageMisaligned { phys: PHYS + 0x10 }
    );
}

#[test]
fn image_wraps() {
    let phys = !PAGE_MASK;
    assert_eq!(
        parse_root(&valid(), phys).unwrap_err(),
        ElfError::ImageWraps { phys, len: LEN }
    );
}

#[test]
fn segment_outside_image() {
    let img = with(|p| p[3].filesz = 0x21);
    // memsz differs too, but the bounds are checked first.
    assert_eq!(
        err(&img),
        ElfError::SegmentOutside {
            index: 3,
            offset: 0x4010,
            filesz: 0x21,
            len: LEN
        }
    );
    let img = with(|p| {
        p[1].offset = u64::MAX - 0xff;
        p[1].vaddr = 0x40_3f00;
    });
    assert!(matches!(
        err(&img),
        ElfError::SegmentOutside { index: 1, .. }
    ));
}

#[test]
fn file_size_differs_from_memory_size() {
    let img = with(|p| p[3].memsz = 0x2000); // a .bss
    assert_eq!(
        err(&img),
        ElfError::SizeMismatch {
            index: 3,
            filesz: 0x20,
            memsz: 0x2000
        }
    );
    assert_eq!(
        err(&img).to_string(),
        "segment 3: file size 0x20 differs from memory size 0x2000 (segments are mapped in place)"
    );
}

#[test]
fn vaddr_and_offset_disagree() {
    let img = with(|p| p[1].vaddr = 0x40_3008);
    assert_eq!(
        err(&img),
        ElfError::SegmentMisaligned {
            index: 1,
            vaddr: 0x40_3008,
            offset: 0x3000
        }
    );
}

#[test]
fn segment_in_page_zero() {
    let img = with(|p| p[0].vaddr = 0);
    assert_eq!(
        err(&img),
        ElfError::OutsideUserRange {
            index: 0,
            vaddr: 0,
            memsz: 0x1234
        }
    );
}

#[test]
fn segment_reaches_kernel_pages() {
    // Ends one byte into the UTCB page.
    let vaddr = ROOT_UTCB_ADDR - 0x1000;
    let img = with(|p| {
        p[1].vaddr = vaddr;
        p[1].offset = 0x3000;
        p[1].filesz = 0x1001;
        p[1].memsz = 0x1001;
    });
    assert_eq!(
        err(&img),
        ElfError::OutsideUserRange {
            index: 1,
            vaddr,
            memsz: 0x1001
        }
    );
    // Beyond user space altogether, and wrapping past 2^64.
    let img = with(|p| p[1].vaddr = 0xffff_ffff_8000_0000);
    assert!(matches!(
        err(&img),
        ElfError::OutsideUserRange { index: 1, .. }
    ));
    let img = with(|p| p[1].vaddr = !PAGE_MASK);
    assert!(matches!(
        err(&img),
        ElfError::OutsideUserRange { index: 1, .. }
    ));
}

#[test]
fn segments_sharing_a_page() {
    // rodata moved into text's last page.
    let img = with(|p| p[1].vaddr = TEXT + 0x1000);
    assert_eq!(err(&img), ElfError::Overlap { index: 1, other: 0 });
    // data starting inside rodata's page, after rodata's bytes.
    let img = with(|p| p[3].vaddr = 0x40_3010);
    assert_eq!(err(&img), ElfError::Overlap { index: 3, other: 1 });
}

#[test]
fn too_many_segments() {
    // Distinct virtual pages may map the same file page.
    let many: Vec<_> = (0..MAX_SEGMENTS as u64 + 1)
        .map(|i| load(R | X, 0, 0x10_0000 + i * 0x2000, 0x100))
        .collect();
    let img = build(0x10_0000, &many, 0x2000);
    assert_eq!(err(&img), ElfError::TooManySegments);
    let img = build(0x10_0000, &many[..MAX_SEGMENTS], 0x2000);
    assert_eq!(
        parse_root(&img, PHYS).expect("exactly the maximum").count,
        MAX_SEGMENTS
    );
}

#[test]
fn no_load_segment() {
    let img = with(|p| p.retain(|p| p.ty != PT_LOAD || p.memsz == 0));
    assert_eq!(err(&img), ElfError::NoLoadSegment);
    assert_eq!(err(&build(ENTRY, &[], 64)), ElfError::NoLoadSegment);
}

#[test]
fn entry_not_executable() {
    let rodata = 0x40_3010;
    assert_eq!(
        err(&build(rodata, &phdrs(), LEN)),
        ElfError::EntryNotExecutable { entry: rodata }
    );
    // In text's last mapped page but past its bytes.
    let past = TEXT + 0x1234;
    assert_eq!(
        err(&build(past, &phdrs(), LEN)),
        ElfError::EntryNotExecutable { entry: past }
    );
    assert_eq!(
        err(&build(0, &phdrs(), LEN)),
        ElfError::EntryNotExecutable { entry: 0 }
    );
}

#[test]
fn error_messages_are_single_lines() {
    let all = [
        ElfError::TooShort { len: 1 },
        ElfError::BadMagic,
        ElfError::NotElf64 { class: 1 },
        ElfError::NotLittleEndian { data: 2 },
        ElfError::BadIdentVersion { version: 0 },
        ElfError::BadVersion { version: 0 },
        ElfError::NotExecutable { e_type: 3 },
        ElfError::WrongMachine { machine: 3 },
        ElfError::BadPhentsize { size: 0 },
        ElfError::PhdrsOutside {
            phoff: 1,
            phnum: 2,
            len: 3,
        },
        ElfError::ImageMisaligned { phys: 1 },
        ElfError::ImageWraps { phys: 1, len: 2 },
        ElfError::SegmentOutside {
            index: 0,
            offset: 1,
            filesz: 2,
            len: 3,
        },
        ElfError::SizeMismatch {
            index: 0,
            filesz: 1,
            memsz: 2,
        },
        ElfError::SegmentMisaligned {
            index: 0,
            vaddr: 1,
            offset: 2,
        },
        ElfError::OutsideUserRange {
            index: 0,
            vaddr: 1,
            memsz: 2,
        },
        ElfError::Overlap { index: 1, other: 0 },
        ElfError::TooManySegments,
        ElfError::NoLoadSegment,
        ElfError::EntryNotExecutable { entry: 0 },
    ];
    for (i, e) in all.iter().enumerate() {
        let s = format!("{e}");
        assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
        for other in &all[..i] {
            assert_ne!(s, other.to_string(), "two errors print alike");
        }
    }
    assert_eq!(
        ElfError::OutsideUserRange {
            index: 2,
            vaddr: 0,
            memsz: 0x10
        }
        .to_string(),
        "segment 2: [0x0, +0x10) is not inside [0x1000, 0x7fffffffd000)"
    );
}

use crate::testrng::Rng;

#[test]
fn random_mutations_never_panic() {
    let base = valid();
    let mut rng = Rng(0x853c_49e6_748f_ea9b);
    let mut ok = 0;
    for _ in 0..20_000 {
        let mut img = base.clone();
        for _ in 0..1 + rng.below(6) {
            // Mostly the headers, where the structure is.
            let limit = if rng.below(4) == 0 {
                img.len()
            } else {
                64 + 56 * 6
            };
            let at = rng.below(limit as u64) as usize;
            img[at] = match rng.below(4) {
                0 => 0,
                1 => 0xff,
                _ => rng.next() as u8,
            };
        }
        if rng.below(8) == 0 {
            img.truncate(rng.below(img.len() as u64 + 1) as usize);
        }
        let phys = match rng.below(8) {
            0 => rng.next(),
            1 => rng.next() & !PAGE_MASK,
            _ => PHYS,
        };
        if let Ok(root) = parse_root(&img, phys) {
            ok += 1;
            let page_end = (img.len() as u64).next_multiple_of(PAGE);
            assert!((1..=MAX_SEGMENTS).contains(&root.count));
            let mut runs = false;
            for s in root.segments() {
                assert!(s.pages > 0 && s.vaddr >= PAGE);
                assert!(s.vaddr + s.pages * PAGE <= ROOT_UTCB_ADDR);
                assert!(s.phys >= phys && s.phys - phys + s.pages * PAGE <= page_end);
                runs |= s.executable && (s.vaddr..s.vaddr + s.pages * PAGE).contains(&root.entry);
            }
            assert!(runs);
        }
    }
    assert!(ok > 0, "no mutation left the image valid");
}
