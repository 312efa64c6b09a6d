//! Validation of the roottask image (multiboot module 0), an ELF64 x86_64 executable.
//!
//! The kernel maps the image IN PLACE: the frames holding the module become the
//! roottask's memory, so nothing is copied and nothing is zeroed. [`parse_root`] checks
//! everything that makes that safe and turns the program headers into page mappings.
//!
//! Invariants kept by a returned [`RootImage`]:
//! - every [`Segment`] maps whole 4 KiB pages of the image itself: its physical pages lie
//!   between `image_phys` and `image_phys + image.len()` rounded up to a page, because each
//!   loadable segment's file bytes are exactly its memory (`p_filesz == p_memsz`, so no
//!   `.bss` to zero) and its virtual and file offsets agree modulo the page size;
//! - every mapped page lies in `[4096, ROOT_UTCB_ADDR)`: page 0 stays unmapped and the
//!   UTCB and HIP pages above belong to the kernel;
//! - no two segments share a virtual page, so no page needs two sets of rights;
//! - the entry point lies inside an executable segment.
//!
//! The image is hostile input: every offset and size is overflow-checked and every fault
//! is returned as an [`ElfError`]; nothing here panics on any input.

use facet_abi::config::PAGE_SIZE;
use facet_abi::layout::ROOT_UTCB_ADDR;

/// Most loadable segments accepted.
pub const MAX_SEGMENTS: usize = 16;

const PAGE: u64 = PAGE_SIZE as u64;
const PAGE_MASK: u64 = PAGE - 1;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: u16 = 56;
const ELFMAG: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u8 = 1;
const ET_EXEC: u16 = 2;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

/// One mapping of image pages into the roottask's address space.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Page-aligned start of the mapping (`p_vaddr` rounded down to 4 KiB).
    pub vaddr: u64,
    /// Physical address of the first mapped page: `image_phys` + (`p_offset` rounded down
    /// to 4 KiB).
    pub phys: u64,
    /// Number of 4 KiB pages mapped (at least 1).
    pub pages: u64,
    /// `PF_W`: map writable.
    pub writable: bool,
    /// `PF_X`: map executable.
    pub executable: bool,
}

/// The validated roottask: its entry point and the mappings to create.
#[derive(Clone, Debug)]
pub struct RootImage {
    /// Virtual address to start at; inside an executable segment.
    pub entry: u64,
    /// Mappings in program-header order; only the first `count` are valid.
    pub segments: [Segment; MAX_SEGMENTS],
    /// Number of valid entries in `segments` (1 to [`MAX_SEGMENTS`]).
    pub count: usize,
}

impl RootImage {
    /// The mappings to create, in program-header order.
    pub fn segments(&self) -> &[Segment] {
        // The fields are public: clamp rather than trust the count.
        &self.segments[..self.count.min(MAX_SEGMENTS)]
    }
}

/// Why the roottask image was rejected. `index` is the program header's index in the
/// table (counting headers that are not loaded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// The image is shorter than the 64-byte ELF header.
    TooShort {
        /// The image's length.
        len: usize,
    },
    /// The first four bytes are not 0x7f 'E' 'L' 'F'.
    BadMagic,
    /// `EI_CLASS` is not ELFCLASS64.
    NotElf64 {
        /// The class found.
        class: u8,
    },
    /// `EI_DATA` is not little-endian.
    NotLittleEndian {
        /// The encoding found.
        data: u8,
    },
    /// `EI_VERSION` is not 1.
    BadIdentVersion {
        /// The version found.
        version: u8,
    },
    /// `e_version` is not 1.
    BadVersion {
        /// The version found.
        version: u32,
    },
    /// `e_type` is not ET_EXEC (a relocatable, shared or core file).
    NotExecutable {
        /// The type found.
        e_type: u16,
    },
    /// `e_machine` is not EM_X86_64.
    WrongMachine {
        /// The machine found.
        machine: u16,
    },
    /// `e_phentsize` is not 56, the size of an ELF64 program header.
    BadPhentsize {
        /// The size found.
        size: u16,
    },
    /// The program header table does not lie inside the image.
    PhdrsOutside {
        /// `e_phoff`.
        phoff: u64,
        /// `e_phnum`.
        phnum: u16,
        /// The image's length.
        len: usize,
    },
    /// The image does not start on a page boundary, so it cannot be mapped in place.
    ImageMisaligned {
        /// Its physical address.
        phys: u64,
    },
    /// The image's physical range wraps past the end of the address space.
    ImageWraps {
        /// Its physical address.
        phys: u64,
        /// Its length.
        len: usize,
    },
    /// A loadable segment's file bytes do not lie inside the image.
    SegmentOutside {
        /// Program header index.
        index: usize,
        /// `p_offset`.
        offset: u64,
        /// `p_filesz`.
        filesz: u64,
        /// The image's length.
        len: usize,
    },
    /// A loadable segment's file size differs from its memory size; in-place mapping has
    /// nowhere to put the difference.
    SizeMismatch {
        /// Program header index.
        index: usize,
        /// `p_filesz`.
        filesz: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// A loadable segment's virtual address and file offset differ modulo the page size,
    /// so its file pages cannot be its memory pages.
    SegmentMisaligned {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_offset`.
        offset: u64,
    },
    /// A loadable segment reaches page 0, the kernel's pages at and above
    /// `ROOT_UTCB_ADDR`, or past the end of the address space.
    OutsideUserRange {
        /// Program header index.
        index: usize,
        /// `p_vaddr`.
        vaddr: u64,
        /// `p_memsz`.
        memsz: u64,
    },
    /// Two loadable segments share a virtual page.
    Overlap {
        /// Program header index of the later segment.
        index: usize,
        /// Program header index of the earlier segment it overlaps.
        other: usize,
    },
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
    /// No loadable segment with a non-zero memory size.
    NoLoadSegment,
    /// The entry point lies outside every executable segment.
    EntryNotExecutable {
        /// `e_entry`.
        entry: u64,
    },
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ElfError::TooShort { len } => {
                write!(f, "image of {len} bytes is shorter than the {EHDR_SIZE}-byte ELF header")
            }
            ElfError::BadMagic => f.write_str("not an ELF file (bad magic)"),
            ElfError::NotElf64 { class } => {
                write!(f, "ELF class {class} is not ELFCLASS64 ({ELFCLASS64})")
            }
            ElfError::NotLittleEndian { data } => {
                write!(f, "ELF data encoding {data} is not little-endian ({ELFDATA2LSB})")
            }
            ElfError::BadIdentVersion { version } => {
                write!(f, "ELF identification version {version} is not {EV_CURRENT}")
            }
            ElfError::BadVersion { version } => {
                write!(f, "ELF version {version} is not {EV_CURRENT}")
            }
            ElfError::NotExecutable { e_type } => {
                write!(f, "ELF type {e_type} is not an executable (ET_EXEC, {ET_EXEC})")
            }
            ElfError::WrongMachine { machine } => {
                write!(f, "ELF machine {machine} is not x86_64 ({EM_X86_64})")
            }
            ElfError::BadPhentsize { size } => {
                write!(f, "program header size {size} is not {PHDR_SIZE}")
            }
            ElfError::PhdrsOutside { phoff, phnum, len } => write!(
                f,
                "program header table at {phoff:#x} ({phnum} entries) does not fit in the {len:#x}-byte image"
            ),
            ElfError::ImageMisaligned { phys } => write!(
                f,
                "image at {phys:#x} is not page-aligned (segments are mapped in place)"
            ),
            ElfError::ImageWraps { phys, len } => write!(
                f,
                "image at {phys:#x} of {len:#x} bytes wraps past the end of the address space"
            ),
            ElfError::SegmentOutside { index, offset, filesz, len } => write!(
                f,
                "segment {index}: file bytes [{offset:#x}, +{filesz:#x}) lie outside the {len:#x}-byte image"
            ),
            ElfError::SizeMismatch { index, filesz, memsz } => write!(
                f,
                "segment {index}: file size {filesz:#x} differs from memory size {memsz:#x} (segments are mapped in place)"
            ),
            ElfError::SegmentMisaligned { index, vaddr, offset } => write!(
                f,
                "segment {index}: address {vaddr:#x} and file offset {offset:#x} differ modulo the page size"
            ),
            ElfError::OutsideUserRange { index, vaddr, memsz } => write!(
                f,
                "segment {index}: [{vaddr:#x}, +{memsz:#x}) is not inside [{PAGE:#x}, {ROOT_UTCB_ADDR:#x})"
            ),
            ElfError::Overlap { index, other } => {
                write!(f, "segment {index} shares a page with segment {other}")
            }
            ElfError::TooManySegments => {
                write!(f, "more than {MAX_SEGMENTS} loadable segments")
            }
            ElfError::NoLoadSegment => f.write_str("no loadable segment"),
            ElfError::EntryNotExecutable { entry } => {
                write!(f, "entry point {entry:#x} is not inside an executable segment")
            }
        }
    }
}

/// Copies `N` bytes at `at` out of `b`. Callers pass ranges they have bounds-checked; an
/// out-of-range request yields zeros rather than a panic.
fn bytes<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(s) = at.checked_add(N).and_then(|end| b.get(at..end)) {
        out.copy_from_slice(s);
    }
    out
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes(b, at))
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes(b, at))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes(b, at))
}

/// A loadable segment's exact virtual range, kept to check the entry point against the
/// bytes the image actually defines rather than the page-rounded mapping.
#[derive(Clone, Copy, Default)]
struct Span {
    index: usize,
    start: u64,
    end: u64,
    executable: bool,
}

/// Validates the roottask ELF `image`, which lies at physical address `image_phys`, and
/// returns its entry point and the page mappings that load it in place.
pub fn parse_root(image: &[u8], image_phys: u64) -> Result<RootImage, ElfError> {
    let len = image.len();
    let h: [u8; EHDR_SIZE] = match image.get(..EHDR_SIZE) {
        Some(_) => bytes(image, 0),
        None => return Err(ElfError::TooShort { len }),
    };
    if h[..4] != ELFMAG {
        return Err(ElfError::BadMagic);
    }
    if h[4] != ELFCLASS64 {
        return Err(ElfError::NotElf64 { class: h[4] });
    }
    if h[5] != ELFDATA2LSB {
        return Err(ElfError::NotLittleEndian { data: h[5] });
    }
    if h[6] != EV_CURRENT {
        return Err(ElfError::BadIdentVersion { version: h[6] });
    }
    let e_type = u16_at(&h, 16);
    if e_type != ET_EXEC {
        return Err(ElfError::NotExecutable { e_type });
    }
    let machine = u16_at(&h, 18);
    if machine != EM_X86_64 {
        return Err(ElfError::WrongMachine { machine });
    }
    let version = u32_at(&h, 20);
    if version != u32::from(EV_CURRENT) {
        return Err(ElfError::BadVersion { version });
    }
    let entry = u64_at(&h, 24);
    let phoff = u64_at(&h, 32);
    let phentsize = u16_at(&h, 54);
    let phnum = u16_at(&h, 56);
    if phentsize != PHDR_SIZE {
        return Err(ElfError::BadPhentsize { size: phentsize });
    }
    let table = usize::try_from(phoff)
        .ok()
        .and_then(|off| {
            let size = usize::from(phnum) * usize::from(PHDR_SIZE);
            off.checked_add(size).filter(|&end| end <= len).map(|_| off)
        })
        .ok_or(ElfError::PhdrsOutside { phoff, phnum, len })?;
    if image_phys & PAGE_MASK != 0 {
        return Err(ElfError::ImageMisaligned { phys: image_phys });
    }
    // The last mapped page may extend past the image's last byte: the whole rounded-up
    // range must exist.
    (len as u64)
        .checked_add(PAGE_MASK)
        .and_then(|l| image_phys.checked_add(l))
        .ok_or(ElfError::ImageWraps {
            phys: image_phys,
            len,
        })?;

    let mut out = RootImage {
        entry,
        segments: [Segment::default(); MAX_SEGMENTS],
        count: 0,
    };
    let mut spans = [Span::default(); MAX_SEGMENTS];
    for index in 0..usize::from(phnum) {
        // In range: the whole table was checked against the image above.
        let ph: [u8; PHDR_SIZE as usize] = bytes(image, table + index * usize::from(PHDR_SIZE));
        let p_type = u32_at(&ph, 0);
        let p_flags = u32_at(&ph, 4);
        let offset = u64_at(&ph, 8);
        let vaddr = u64_at(&ph, 16);
        let filesz = u64_at(&ph, 32);
        let memsz = u64_at(&ph, 40);
        // Other types (notes, GNU_STACK, ...) and empty loads map nothing.
        if p_type != PT_LOAD || memsz == 0 {
            continue;
        }
        if offset
            .checked_add(filesz)
            .is_none_or(|end| end > len as u64)
        {
            return Err(ElfError::SegmentOutside {
                index,
                offset,
                filesz,
                len,
            });
        }
        if filesz != memsz {
            return Err(ElfError::SizeMismatch {
                index,
                filesz,
                memsz,
            });
        }
        if vaddr & PAGE_MASK != offset & PAGE_MASK {
            return Err(ElfError::SegmentMisaligned {
                index,
                vaddr,
                offset,
            });
        }
        let outside = ElfError::OutsideUserRange {
            index,
            vaddr,
            memsz,
        };
        let end = vaddr.checked_add(memsz).ok_or(outside)?;
        let page_start = vaddr & !PAGE_MASK;
        let page_end = end.checked_add(PAGE_MASK).ok_or(outside)? & !PAGE_MASK;
        if page_start < PAGE || page_end > ROOT_UTCB_ADDR {
            return Err(outside);
        }
        let earlier = spans.get(..out.count).unwrap_or(&[]);
        if let Some(o) = earlier.iter().find(|o| {
            let (s, e) = (o.start & !PAGE_MASK, (o.end + PAGE_MASK) & !PAGE_MASK);
            page_start < e && s < page_end
        }) {
            return Err(ElfError::Overlap {
                index,
                other: o.index,
            });
        }
        let (Some(slot), Some(span)) = (out.segments.get_mut(out.count), spans.get_mut(out.count))
        else {
            return Err(ElfError::TooManySegments);
        };
        let executable = p_flags & PF_X != 0;
        *slot = Segment {
            vaddr: page_start,
            // No overflow: offset < len and image_phys + len was checked above.
            phys: image_phys + (offset & !PAGE_MASK),
            pages: (page_end - page_start) / PAGE,
            writable: p_flags & PF_W != 0,
            executable,
        };
        *span = Span {
            index,
            start: vaddr,
            end,
            executable,
        };
        out.count += 1;
    }
    if out.count == 0 {
        return Err(ElfError::NoLoadSegment);
    }
    let runs = spans
        .get(..out.count)
        .unwrap_or(&[])
        .iter()
        .any(|s| s.executable && s.start <= entry && entry < s.end);
    if !runs {
        return Err(ElfError::EntryNotExecutable { entry });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
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
                    runs |=
                        s.executable && (s.vaddr..s.vaddr + s.pages * PAGE).contains(&root.entry);
                }
                assert!(runs);
            }
        }
        assert!(ok > 0, "no mutation left the image valid");
    }
}
