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
mod tests;
