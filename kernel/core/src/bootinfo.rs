//! Multiboot boot information: what the boot loader tells the kernel about memory, the
//! kernel command line, the boot modules and (multiboot2 only) ACPI and EFI.
//!
//! Both protocols are parsed here: multiboot1 (EAX = [`MB1_MAGIC`], a fixed structure of
//! `u32` fields plus pointers to a memory map and a module list) and multiboot2
//! (EAX = [`MB2_MAGIC`], a size-prefixed list of tags). The result is a [`BootInfo`] of
//! fixed capacity that no longer refers to the loader's memory map or module list, so the
//! kernel may reuse that memory afterwards; strings (command lines) and the ACPI RSDP copy
//! stay where the loader put them and are referred to by physical address.
//!
//! Invariants kept:
//! - Everything the loader wrote is treated as hostile. Memory is read only through
//!   [`PhysRead`], every address computation is overflow-checked, every structure is
//!   checked against the size it claims and against its container (map entries inside the
//!   map, tags inside `total_size`), and every fault is returned as a [`BootError`] value;
//!   nothing here panics on any input.
//! - Nothing allocates: regions and modules are kept in fixed arrays. Entries beyond
//!   [`MAX_REGIONS`] / [`MAX_MODULES`] are counted in `dropped_*`, which is not an error.
//! - A returned [`BootInfo`] has at least one memory region, no zero-length region, no
//!   region whose end wraps past 2^64, and no module whose end lies below its start.

use crate::phys::PhysRead;

/// Memory-map entries kept; further ones are counted in [`BootInfo::dropped_regions`].
pub const MAX_REGIONS: usize = 64;
/// Boot modules kept; further ones are counted in [`BootInfo::dropped_modules`].
pub const MAX_MODULES: usize = 16;
/// EAX value from a multiboot1 loader.
pub const MB1_MAGIC: u32 = 0x2BAD_B002;
/// EAX value from a multiboot2 loader.
pub const MB2_MAGIC: u32 = 0x36D7_6289;
/// Largest multiboot2 info structure, multiboot1 memory map and multiboot1 module list
/// accepted, in bytes. Real ones are a few KiB; the bound keeps a corrupt size from
/// sending the parser through gigabytes of memory.
pub const MAX_INFO_SIZE: u32 = 1 << 20;

/// The multiboot1 info structure as of the 0.6.96 specification (up to the framebuffer
/// fields). Reported as the info's length so the kernel keeps it from its allocator.
const MB1_INFO_LEN: u64 = 116;
/// Multiboot1 `flags` bits naming which fields are valid.
const MB1_FLAG_MEMINFO: u32 = 1 << 0;
const MB1_FLAG_CMDLINE: u32 = 1 << 2;
const MB1_FLAG_MODS: u32 = 1 << 3;
const MB1_FLAG_MMAP: u32 = 1 << 6;
/// Smallest multiboot1 memory-map entry (`size` excludes the size field itself).
const MB1_MMAP_ENTRY_MIN: u32 = 20;
/// A multiboot1 module entry: mod_start, mod_end, string, reserved.
const MB1_MODULE_SIZE: u64 = 16;

/// Multiboot2 tag types handled here.
const TAG_END: u32 = 0;
const TAG_CMDLINE: u32 = 1;
const TAG_MODULE: u32 = 3;
const TAG_MEMINFO: u32 = 4;
const TAG_MMAP: u32 = 6;
const TAG_EFI32: u32 = 11;
const TAG_EFI64: u32 = 12;
const TAG_ACPI_OLD: u32 = 14;
const TAG_ACPI_NEW: u32 = 15;
/// Header of every multiboot2 tag (type, size) and of the info itself (total_size,
/// reserved).
const MB2_HEADER: u32 = 8;
/// An ACPI 1.0 RSDP is 20 bytes, an ACPI 2.0+ XSDP 36; a tag carrying less cannot hold
/// the structure it claims to copy.
const RSDP_V1_LEN: u32 = 20;
const RSDP_V2_LEN: u32 = 36;
/// Smallest multiboot2 memory-map entry: base, length, type, reserved.
const MB2_MMAP_ENTRY_MIN: u32 = 24;

/// E820 type of usable RAM.
const KIND_USABLE: u32 = 1;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// Which boot protocol delivered the information.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Multiboot 0.6.96 (GRUB `multiboot`, QEMU `-kernel`).
    Multiboot1,
    /// Multiboot 2 (GRUB `multiboot2`).
    Multiboot2,
}

/// One memory-map entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemRegion {
    /// Physical start address.
    pub addr: u64,
    /// Length in bytes; never 0 and `addr + len` never wraps in a parsed [`BootInfo`].
    pub len: u64,
    /// E820 type: 1 usable, 2 reserved, 3 ACPI reclaimable, 4 ACPI NVS, 5 bad; others are
    /// passed through unchanged and should be treated as reserved.
    pub kind: u32,
}

/// One boot module (module 0 is the roottask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Module {
    /// Physical address of the first byte.
    pub start: u64,
    /// Physical address one past the last byte; never below `start`.
    pub end: u64,
    /// Physical address of its NUL-terminated command line, 0 if none.
    pub cmdline: u64,
}

/// Where the loader's copy of the ACPI root pointer lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rsdp {
    /// Physical address of the RSDP copy inside the multiboot2 info.
    pub addr: u64,
    /// Bytes available at `addr` (the tag's payload).
    pub len: u32,
    /// From the "ACPI new" (XSDP, tag 15) tag rather than "ACPI old" (tag 14).
    pub new: bool,
}

/// The boot information, copied out of the loader's structures.
#[derive(Clone, Debug)]
pub struct BootInfo {
    /// The protocol the loader spoke.
    pub protocol: Protocol,
    /// Physical address of the info structure itself.
    pub info_addr: u64,
    /// Its length (multiboot1: the fixed 116-byte structure; multiboot2: `total_size`), so
    /// the kernel can keep it, and the strings and RSDP inside it, from the allocator.
    pub info_len: u64,
    /// Physical address of the kernel command line (0: none).
    pub cmdline: u64,
    /// Memory map; only the first `region_count` entries are valid.
    pub regions: [MemRegion; MAX_REGIONS],
    /// Number of valid entries in `regions`.
    pub region_count: usize,
    /// Boot modules in loader order; only the first `module_count` entries are valid.
    pub modules: [Module; MAX_MODULES],
    /// Number of valid entries in `modules`.
    pub module_count: usize,
    /// ACPI root pointer (multiboot2 only); the new (XSDP) tag wins if both are present.
    pub rsdp: Option<Rsdp>,
    /// Multiboot2 had an EFI system table tag (type 11 or 12).
    pub efi: bool,
    /// Memory-map entries beyond [`MAX_REGIONS`], counted but not kept.
    pub dropped_regions: usize,
    /// Modules beyond [`MAX_MODULES`], counted but not kept.
    pub dropped_modules: usize,
}

impl BootInfo {
    fn new(protocol: Protocol, info_addr: u64, info_len: u64) -> Self {
        BootInfo {
            protocol,
            info_addr,
            info_len,
            cmdline: 0,
            regions: [MemRegion::default(); MAX_REGIONS],
            region_count: 0,
            modules: [Module::default(); MAX_MODULES],
            module_count: 0,
            rsdp: None,
            efi: false,
            dropped_regions: 0,
            dropped_modules: 0,
        }
    }

    /// The memory-map entries kept, in loader order.
    pub fn regions(&self) -> &[MemRegion] {
        // The fields are public: clamp rather than trust the count.
        &self.regions[..self.region_count.min(MAX_REGIONS)]
    }

    /// The modules kept, in loader order.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.module_count.min(MAX_MODULES)]
    }

    /// Sum of the lengths of the usable (type 1) regions kept. Overlapping regions are
    /// counted twice; the sum saturates instead of wrapping.
    pub fn usable_bytes(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|r| r.kind == KIND_USABLE)
            .fold(0u64, |sum, r| sum.saturating_add(r.len))
    }

    /// Records a memory-map entry. Zero-length entries carry no memory and are skipped;
    /// one that wraps past 2^64 cannot describe real memory and means the map is corrupt.
    fn push_region(&mut self, addr: u64, len: u64, kind: u32) -> Result<(), BootError> {
        if len == 0 {
            return Ok(());
        }
        if addr.checked_add(len).is_none() {
            return Err(BootError::RegionOverflow { addr, len });
        }
        match self.regions.get_mut(self.region_count) {
            Some(slot) => {
                *slot = MemRegion { addr, len, kind };
                self.region_count += 1;
            }
            None => self.dropped_regions += 1,
        }
        Ok(())
    }

    /// Records module number `index` (counting dropped ones).
    fn push_module(
        &mut self,
        index: usize,
        start: u64,
        end: u64,
        cmdline: u64,
    ) -> Result<(), BootError> {
        if end < start {
            return Err(BootError::BadModule { index, start, end });
        }
        match self.modules.get_mut(self.module_count) {
            Some(slot) => {
                *slot = Module {
                    start,
                    end,
                    cmdline,
                };
                self.module_count += 1;
            }
            None => self.dropped_modules += 1,
        }
        Ok(())
    }

    /// Without a memory map, the basic memory information still tells how much
    /// conventional memory (from 0) and extended memory (from 1 MiB) there is.
    fn push_meminfo(&mut self, lower_kib: u32, upper_kib: u32) -> Result<(), BootError> {
        self.push_region(0, u64::from(lower_kib) * KIB, KIND_USABLE)?;
        self.push_region(MIB, u64::from(upper_kib) * KIB, KIND_USABLE)
    }

    /// True if no memory-map entry was seen at all (kept or dropped).
    fn no_regions(&self) -> bool {
        self.region_count == 0 && self.dropped_regions == 0
    }
}

/// Why the boot information was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// EAX held neither [`MB1_MAGIC`] nor [`MB2_MAGIC`].
    UnknownMagic(u32),
    /// A structure (named by `what`) could not be read at `addr`, or its address wraps.
    Unreadable {
        /// The structure being read.
        what: &'static str,
        /// The physical address that failed.
        addr: u64,
    },
    /// Neither a memory map nor basic memory information with any memory in it.
    NoMemoryMap,
    /// A structural fault with no more specific variant (e.g. a duplicated tag).
    Malformed(&'static str),
    /// The multiboot2 info does not start on an 8-byte boundary.
    Misaligned {
        /// The info's physical address.
        addr: u64,
    },
    /// The multiboot2 `total_size` is below 16 or above [`MAX_INFO_SIZE`].
    TotalSize {
        /// The info's physical address.
        addr: u64,
        /// The size it claims.
        total_size: u32,
    },
    /// A multiboot2 tag is smaller than its header or than its type requires.
    TagTooSmall {
        /// The info's physical address.
        addr: u64,
        /// Offset of the tag inside the info.
        offset: u32,
        /// The tag's type.
        tag: u32,
        /// The size it claims.
        size: u32,
        /// The smallest size acceptable for its type.
        min: u32,
    },
    /// A multiboot2 tag extends past `total_size`.
    TagPastEnd {
        /// The info's physical address.
        addr: u64,
        /// Offset of the tag inside the info.
        offset: u32,
        /// The size it claims.
        size: u32,
        /// The info's `total_size`.
        total_size: u32,
    },
    /// The multiboot2 tags reach `total_size` without an end tag (type 0).
    MissingEndTag {
        /// The info's physical address.
        addr: u64,
        /// The info's `total_size`.
        total_size: u32,
    },
    /// A multiboot2 string has no NUL inside its tag.
    Unterminated {
        /// The string.
        what: &'static str,
        /// Its physical address.
        addr: u64,
    },
    /// A memory-map entry size is invalid: multiboot1 below 20; multiboot2 below 24 or not
    /// a multiple of 8.
    MmapEntrySize {
        /// Which protocol's rule was broken.
        protocol: Protocol,
        /// Physical address of the entry (multiboot1) or of the map tag (multiboot2).
        addr: u64,
        /// The entry size found.
        size: u32,
    },
    /// A memory-map entry runs past the end of the map.
    MmapOverrun {
        /// Physical address of the entry.
        addr: u64,
        /// Physical address of the end of the map.
        end: u64,
    },
    /// A multiboot1 memory map or module list is larger than [`MAX_INFO_SIZE`].
    TooLarge {
        /// The structure.
        what: &'static str,
        /// Its size in bytes.
        len: u64,
        /// The largest size accepted.
        max: u64,
    },
    /// A module ends below its start.
    BadModule {
        /// The module's number in loader order.
        index: usize,
        /// Its start address.
        start: u64,
        /// Its end address.
        end: u64,
    },
    /// A memory-map region wraps past the end of the 64-bit address space.
    RegionOverflow {
        /// Its start address.
        addr: u64,
        /// Its length.
        len: u64,
    },
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            BootError::UnknownMagic(m) => write!(
                f,
                "unknown boot loader magic {m:#x} (expected multiboot1 {MB1_MAGIC:#x} or multiboot2 {MB2_MAGIC:#x})"
            ),
            BootError::Unreadable { what, addr } => {
                write!(f, "{what} at {addr:#x} is not readable")
            }
            BootError::NoMemoryMap => {
                write!(f, "the boot loader gave neither a memory map nor basic memory information")
            }
            BootError::Malformed(why) => f.write_str(why),
            BootError::Misaligned { addr } => {
                write!(f, "multiboot2 info at {addr:#x} is not 8-byte aligned")
            }
            BootError::TotalSize { addr, total_size } => write!(
                f,
                "multiboot2 info at {addr:#x}: total_size {total_size:#x} is outside [{:#x}, {MAX_INFO_SIZE:#x}]",
                2 * MB2_HEADER
            ),
            BootError::TagTooSmall { addr, offset, tag, size, min } => write!(
                f,
                "multiboot2 info at {addr:#x}: tag type {tag} at offset {offset:#x} has size {size:#x}, less than {min:#x}"
            ),
            BootError::TagPastEnd { addr, offset, size, total_size } => write!(
                f,
                "multiboot2 info at {addr:#x}: tag at offset {offset:#x} (size {size:#x}) runs past total_size {total_size:#x}"
            ),
            BootError::MissingEndTag { addr, total_size } => write!(
                f,
                "multiboot2 info at {addr:#x}: no end tag within total_size {total_size:#x}"
            ),
            BootError::Unterminated { what, addr } => {
                write!(f, "{what} at {addr:#x} is not NUL-terminated inside its tag")
            }
            BootError::MmapEntrySize { protocol: Protocol::Multiboot1, addr, size } => write!(
                f,
                "multiboot1 memory map entry at {addr:#x} has size {size}, less than {MB1_MMAP_ENTRY_MIN}"
            ),
            BootError::MmapEntrySize { protocol: Protocol::Multiboot2, addr, size } => write!(
                f,
                "multiboot2 memory map tag at {addr:#x} has entry_size {size}, not a multiple of 8 of at least {MB2_MMAP_ENTRY_MIN}"
            ),
            BootError::MmapOverrun { addr, end } => write!(
                f,
                "memory map entry at {addr:#x} runs past the end of the map at {end:#x}"
            ),
            BootError::TooLarge { what, len, max } => {
                write!(f, "{what} is {len:#x} bytes, more than the {max:#x} accepted")
            }
            BootError::BadModule { index, start, end } => {
                write!(f, "module {index}: end {end:#x} lies below start {start:#x}")
            }
            BootError::RegionOverflow { addr, len } => write!(
                f,
                "memory map region at {addr:#x} with length {len:#x} wraps past the end of the address space"
            ),
        }
    }
}

/// Parses the boot information at physical address `info_addr`, delivered with `magic`
/// in EAX, reading memory through `mem`.
pub fn parse(magic: u32, info_addr: u64, mem: &impl PhysRead) -> Result<BootInfo, BootError> {
    match magic {
        MB1_MAGIC => parse_mb1(info_addr, mem),
        MB2_MAGIC => parse_mb2(info_addr, mem),
        other => Err(BootError::UnknownMagic(other)),
    }
}

/// `base + off`, or `Unreadable` naming `what` if the sum wraps: a structure that wraps
/// around the address space cannot be read.
fn at(base: u64, off: u64, what: &'static str) -> Result<u64, BootError> {
    base.checked_add(off)
        .ok_or(BootError::Unreadable { what, addr: base })
}

/// Reads `N` bytes at `addr`.
fn read_array<const N: usize>(
    mem: &impl PhysRead,
    addr: u64,
    what: &'static str,
) -> Result<[u8; N], BootError> {
    let mut buf = [0u8; N];
    // The range must not wrap either; `PhysRead` implementations need not check that.
    if addr.checked_add(N as u64).is_none() || !mem.read(addr, &mut buf) {
        return Err(BootError::Unreadable { what, addr });
    }
    Ok(buf)
}

/// Reads a little-endian `u32` at `addr`.
fn read_u32(mem: &impl PhysRead, addr: u64, what: &'static str) -> Result<u32, BootError> {
    read_array(mem, addr, what).map(u32::from_le_bytes)
}

/// Reads a little-endian `u64` at `addr`.
fn read_u64(mem: &impl PhysRead, addr: u64, what: &'static str) -> Result<u64, BootError> {
    read_array(mem, addr, what).map(u64::from_le_bytes)
}

/// Checks that the `len` bytes at `addr` contain a NUL, so the string starting at `addr`
/// ends inside its container.
fn check_cstr(
    mem: &impl PhysRead,
    addr: u64,
    len: u64,
    what: &'static str,
) -> Result<(), BootError> {
    const CHUNK: u64 = 64;
    let mut buf = [0u8; CHUNK as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK) as usize;
        let chunk = &mut buf[..n];
        let p = at(addr, done, what)?;
        if p.checked_add(n as u64).is_none() || !mem.read(p, chunk) {
            return Err(BootError::Unreadable { what, addr: p });
        }
        if chunk.contains(&0) {
            return Ok(());
        }
        done += n as u64;
    }
    Err(BootError::Unterminated { what, addr })
}

/// Parses a multiboot1 info structure (magic already checked).
fn parse_mb1(info_addr: u64, mem: &impl PhysRead) -> Result<BootInfo, BootError> {
    const INFO: &str = "multiboot1 info";
    const MODS: &str = "multiboot1 module list";
    const MMAP: &str = "multiboot1 memory map";
    // The kernel reserves [info_addr, info_addr + 116): that range must exist.
    at(info_addr, MB1_INFO_LEN, INFO)?;
    let field = |off: u64| read_u32(mem, at(info_addr, off, INFO)?, INFO);

    let flags = field(0)?;
    let mut bi = BootInfo::new(Protocol::Multiboot1, info_addr, MB1_INFO_LEN);

    if flags & MB1_FLAG_CMDLINE != 0 {
        // A pointer to loader memory, read later with a bounded reader; 0 means none.
        bi.cmdline = u64::from(field(16)?);
    }

    if flags & MB1_FLAG_MODS != 0 {
        let count = field(20)?;
        let list = u64::from(field(24)?);
        let len = u64::from(count) * MB1_MODULE_SIZE;
        if len > u64::from(MAX_INFO_SIZE) {
            return Err(BootError::TooLarge {
                what: MODS,
                len,
                max: u64::from(MAX_INFO_SIZE),
            });
        }
        for index in 0..count as usize {
            // No overflow: list < 2^32 and the offset is below MAX_INFO_SIZE.
            let e = list + index as u64 * MB1_MODULE_SIZE;
            let start = read_u32(mem, e, MODS)?;
            let end = read_u32(mem, e + 4, MODS)?;
            let string = read_u32(mem, e + 8, MODS)?;
            bi.push_module(index, start.into(), end.into(), string.into())?;
        }
    }

    if flags & MB1_FLAG_MMAP != 0 {
        let len = field(44)?;
        let map = u64::from(field(48)?);
        if len > MAX_INFO_SIZE {
            return Err(BootError::TooLarge {
                what: MMAP,
                len: len.into(),
                max: u64::from(MAX_INFO_SIZE),
            });
        }
        // No overflow anywhere below: map < 2^32, len <= 2^20, size < 2^32.
        let end = map + u64::from(len);
        let mut p = map;
        while p < end {
            // The size field itself must lie inside the map, then the entry it sizes.
            if end - p < 4 {
                return Err(BootError::MmapOverrun { addr: p, end });
            }
            let size = read_u32(mem, p, MMAP)?;
            if size < MB1_MMAP_ENTRY_MIN {
                return Err(BootError::MmapEntrySize {
                    protocol: Protocol::Multiboot1,
                    addr: p,
                    size,
                });
            }
            let next = p + 4 + u64::from(size);
            if next > end {
                return Err(BootError::MmapOverrun { addr: p, end });
            }
            let base = read_u64(mem, p + 4, MMAP)?;
            let length = read_u64(mem, p + 12, MMAP)?;
            let kind = read_u32(mem, p + 20, MMAP)?;
            bi.push_region(base, length, kind)?;
            p = next;
        }
    }

    // An empty (or all zero-length) map is no map: fall back to the basic information.
    if bi.no_regions() && flags & MB1_FLAG_MEMINFO != 0 {
        bi.push_meminfo(field(4)?, field(8)?)?;
    }
    if bi.no_regions() {
        return Err(BootError::NoMemoryMap);
    }
    Ok(bi)
}

/// Parses a multiboot2 info structure (magic already checked).
fn parse_mb2(info_addr: u64, mem: &impl PhysRead) -> Result<BootInfo, BootError> {
    const INFO: &str = "multiboot2 info";
    const TAG: &str = "multiboot2 tag";
    const MMAP: &str = "multiboot2 memory map";
    if !info_addr.is_multiple_of(8) {
        return Err(BootError::Misaligned { addr: info_addr });
    }
    let total = read_u32(mem, info_addr, INFO)?;
    if !(2 * MB2_HEADER..=MAX_INFO_SIZE).contains(&total) {
        return Err(BootError::TotalSize {
            addr: info_addr,
            total_size: total,
        });
    }
    at(info_addr, total.into(), INFO)?;
    let mut bi = BootInfo::new(Protocol::Multiboot2, info_addr, total.into());

    let mut seen = 0u32; // bit per tag type, to reject duplicates of single-use tags
    let mut meminfo = None;
    let mut rsdp_old = None;
    let mut rsdp_new = None;
    let mut module_index = 0usize;
    // Offsets stay below total + 8 <= 2^20 + 8: no u32 overflow anywhere in the walk.
    let mut off = MB2_HEADER;
    loop {
        if total.saturating_sub(off) < MB2_HEADER {
            return Err(BootError::MissingEndTag {
                addr: info_addr,
                total_size: total,
            });
        }
        let tag = info_addr + u64::from(off); // below info_addr + total, checked above
        let ty = read_u32(mem, tag, TAG)?;
        let size = read_u32(mem, tag + 4, TAG)?;
        let too_small = |min: u32| BootError::TagTooSmall {
            addr: info_addr,
            offset: off,
            tag: ty,
            size,
            min,
        };
        if size < MB2_HEADER {
            return Err(too_small(MB2_HEADER));
        }
        if size > total - off {
            return Err(BootError::TagPastEnd {
                addr: info_addr,
                offset: off,
                size,
                total_size: total,
            });
        }
        let min = match ty {
            TAG_MODULE | TAG_MEMINFO | TAG_MMAP => 16,
            TAG_ACPI_OLD => MB2_HEADER + RSDP_V1_LEN,
            TAG_ACPI_NEW => MB2_HEADER + RSDP_V2_LEN,
            _ => MB2_HEADER,
        };
        if size < min {
            return Err(too_small(min));
        }
        if matches!(
            ty,
            TAG_CMDLINE | TAG_MEMINFO | TAG_MMAP | TAG_ACPI_OLD | TAG_ACPI_NEW
        ) {
            if seen & (1 << ty) != 0 {
                return Err(BootError::Malformed(match ty {
                    TAG_CMDLINE => "multiboot2 info has two command line tags",
                    TAG_MEMINFO => "multiboot2 info has two basic memory information tags",
                    TAG_MMAP => "multiboot2 info has two memory map tags",
                    TAG_ACPI_OLD => "multiboot2 info has two ACPI old RSDP tags",
                    _ => "multiboot2 info has two ACPI new RSDP tags",
                }));
            }
            seen |= 1 << ty;
        }
        let body = u64::from(size);
        match ty {
            TAG_END => break,
            TAG_CMDLINE => {
                check_cstr(mem, tag + 8, body - 8, "multiboot2 command line")?;
                bi.cmdline = tag + 8;
            }
            TAG_MODULE => {
                let start = read_u32(mem, tag + 8, TAG)?;
                let end = read_u32(mem, tag + 12, TAG)?;
                check_cstr(mem, tag + 16, body - 16, "multiboot2 module command line")?;
                bi.push_module(module_index, start.into(), end.into(), tag + 16)?;
                module_index += 1;
            }
            TAG_MEMINFO => {
                meminfo = Some((read_u32(mem, tag + 8, TAG)?, read_u32(mem, tag + 12, TAG)?));
            }
            TAG_MMAP => {
                let entry = read_u32(mem, tag + 8, TAG)?;
                if entry < MB2_MMAP_ENTRY_MIN || !entry.is_multiple_of(8) {
                    return Err(BootError::MmapEntrySize {
                        protocol: Protocol::Multiboot2,
                        addr: tag,
                        size: entry,
                    });
                }
                let entry = u64::from(entry);
                let tag_end = tag + body;
                let mut p = tag + 16;
                while p < tag_end {
                    if tag_end - p < entry {
                        return Err(BootError::MmapOverrun {
                            addr: p,
                            end: tag_end,
                        });
                    }
                    let base = read_u64(mem, p, MMAP)?;
                    let length = read_u64(mem, p + 8, MMAP)?;
                    let kind = read_u32(mem, p + 16, MMAP)?;
                    bi.push_region(base, length, kind)?;
                    p += entry;
                }
            }
            TAG_EFI32 | TAG_EFI64 => bi.efi = true,
            TAG_ACPI_OLD | TAG_ACPI_NEW => {
                let new = ty == TAG_ACPI_NEW;
                let rsdp = Some(Rsdp {
                    addr: tag + 8,
                    len: size - 8,
                    new,
                });
                if new {
                    rsdp_new = rsdp;
                } else {
                    rsdp_old = rsdp;
                }
            }
            // Tags this kernel does not use (framebuffer, ELF sections, APM, ...).
            _ => {}
        }
        // Tags start on 8-byte boundaries; the padding is not part of `size`.
        off += size.next_multiple_of(8);
    }
    // The XSDP also gives the XSDT address, which ACPI 2.0+ prefers over the RSDT.
    bi.rsdp = rsdp_new.or(rsdp_old);

    if bi.no_regions() {
        if let Some((lower, upper)) = meminfo {
            bi.push_meminfo(lower, upper)?;
        }
    }
    if bi.no_regions() {
        return Err(BootError::NoMemoryMap);
    }
    Ok(bi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phys::fake::Ram;
    use std::format;
    use std::string::ToString;
    use std::vec::Vec;

    /// Simulated RAM: [RAM_BASE, RAM_BASE + RAM_SIZE).
    const RAM_BASE: u64 = 0x10000;
    const RAM_SIZE: usize = 0x20000;
    const INFO: u64 = 0x10000;
    const MMAP: u64 = 0x11000;
    const MODS: u64 = 0x12000;
    const STRINGS: u64 = 0x13000;

    fn ram() -> Ram {
        Ram::new(RAM_BASE, RAM_SIZE)
    }

    fn le32(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    // ---- multiboot1 builders ----

    /// A multiboot1 info structure under construction: fields are written into `ram`.
    struct Mb1 {
        ram: Ram,
        flags: u32,
    }

    impl Mb1 {
        fn new() -> Self {
            Mb1 {
                ram: ram(),
                flags: 0,
            }
        }
        fn field(&mut self, off: u64, v: u32) {
            self.ram.put(INFO + off, &le32(v));
        }
        fn meminfo(&mut self, lower: u32, upper: u32) -> &mut Self {
            self.flags |= MB1_FLAG_MEMINFO;
            self.field(4, lower);
            self.field(8, upper);
            self
        }
        fn cmdline(&mut self, addr: u64, s: &[u8]) -> &mut Self {
            self.flags |= MB1_FLAG_CMDLINE;
            self.ram.put(addr, s);
            self.ram.put(addr + s.len() as u64, &[0]);
            self.field(16, addr as u32);
            self
        }
        /// Module list at MODS: (start, end, string address).
        fn modules(&mut self, mods: &[(u32, u32, u32)]) -> &mut Self {
            self.flags |= MB1_FLAG_MODS;
            for (i, &(s, e, c)) in mods.iter().enumerate() {
                let a = MODS + 16 * i as u64;
                self.ram.put(a, &le32(s));
                self.ram.put(a + 4, &le32(e));
                self.ram.put(a + 8, &le32(c));
                self.ram.put(a + 12, &le32(0));
            }
            self.field(20, mods.len() as u32);
            self.field(24, MODS as u32);
            self
        }
        /// Memory map at MMAP from raw entry bytes; `mmap_length` is their total length.
        fn mmap_raw(&mut self, bytes: &[u8]) -> &mut Self {
            self.flags |= MB1_FLAG_MMAP;
            self.ram.put(MMAP, bytes);
            self.field(44, bytes.len() as u32);
            self.field(48, MMAP as u32);
            self
        }
        fn mmap(&mut self, entries: &[(u64, u64, u32)]) -> &mut Self {
            let mut b = Vec::new();
            for &(base, len, kind) in entries {
                mb1_entry(&mut b, 20, base, len, kind);
            }
            self.mmap_raw(&b)
        }
        fn parse(&mut self) -> Result<BootInfo, BootError> {
            self.field(0, self.flags);
            parse(MB1_MAGIC, INFO, &self.ram)
        }
    }

    /// Appends a multiboot1 map entry whose `size` field is `size` (padding with zeros).
    fn mb1_entry(b: &mut Vec<u8>, size: u32, base: u64, len: u64, kind: u32) {
        b.extend_from_slice(&le32(size));
        let mut body = Vec::new();
        body.extend_from_slice(&base.to_le_bytes());
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(&le32(kind));
        body.resize(size as usize, 0);
        b.extend_from_slice(&body);
    }

    // ---- multiboot2 builder ----

    /// A multiboot2 info structure built as bytes, then placed at `INFO`.
    struct Mb2 {
        bytes: Vec<u8>,
    }

    impl Mb2 {
        fn new() -> Self {
            Mb2 {
                bytes: std::vec![0; 8],
            }
        }
        /// Appends a tag of type `ty` whose size field is `8 + payload.len()`.
        fn tag(&mut self, ty: u32, payload: &[u8]) -> &mut Self {
            self.tag_sized(ty, 8 + payload.len() as u32, payload)
        }
        /// Appends a tag with an explicit size field (for hostile cases), padded to 8.
        fn tag_sized(&mut self, ty: u32, size: u32, payload: &[u8]) -> &mut Self {
            self.bytes.extend_from_slice(&le32(ty));
            self.bytes.extend_from_slice(&le32(size));
            self.bytes.extend_from_slice(payload);
            while !self.bytes.len().is_multiple_of(8) {
                self.bytes.push(0);
            }
            self
        }
        /// Offset the next tag will have; its physical address is INFO + this.
        fn next(&self) -> u64 {
            self.bytes.len() as u64
        }
        fn cmdline(&mut self, s: &[u8]) -> &mut Self {
            let mut p = s.to_vec();
            p.push(0);
            self.tag(TAG_CMDLINE, &p)
        }
        fn module(&mut self, start: u32, end: u32, s: &[u8]) -> &mut Self {
            let mut p = Vec::new();
            p.extend_from_slice(&le32(start));
            p.extend_from_slice(&le32(end));
            p.extend_from_slice(s);
            p.push(0);
            self.tag(TAG_MODULE, &p)
        }
        fn meminfo(&mut self, lower: u32, upper: u32) -> &mut Self {
            let mut p = Vec::new();
            p.extend_from_slice(&le32(lower));
            p.extend_from_slice(&le32(upper));
            self.tag(TAG_MEMINFO, &p)
        }
        fn mmap_sized(&mut self, entry_size: u32, entries: &[(u64, u64, u32)]) -> &mut Self {
            let mut p = Vec::new();
            p.extend_from_slice(&le32(entry_size));
            p.extend_from_slice(&le32(0));
            for &(base, len, kind) in entries {
                let mut e = Vec::new();
                e.extend_from_slice(&base.to_le_bytes());
                e.extend_from_slice(&len.to_le_bytes());
                e.extend_from_slice(&le32(kind));
                e.resize(entry_size as usize, 0);
                p.extend_from_slice(&e);
            }
            self.tag(TAG_MMAP, &p)
        }
        fn mmap(&mut self, entries: &[(u64, u64, u32)]) -> &mut Self {
            self.mmap_sized(24, entries)
        }
        fn rsdp(&mut self, new: bool) -> &mut Self {
            let len = if new { RSDP_V2_LEN } else { RSDP_V1_LEN };
            let mut p = b"RSD PTR ".to_vec();
            p.resize(len as usize, if new { 2 } else { 0 });
            self.tag(if new { TAG_ACPI_NEW } else { TAG_ACPI_OLD }, &p)
        }
        /// Appends the end tag and sets total_size.
        fn end(&mut self) -> &mut Self {
            self.tag(TAG_END, &[]);
            self.set_total(self.bytes.len() as u32)
        }
        fn set_total(&mut self, total: u32) -> &mut Self {
            self.bytes[..4].copy_from_slice(&le32(total));
            self
        }
        fn parse_at(&self, addr: u64) -> Result<BootInfo, BootError> {
            let mut r = ram();
            r.put(addr, &self.bytes);
            parse(MB2_MAGIC, addr, &r)
        }
        fn parse(&self) -> Result<BootInfo, BootError> {
            self.parse_at(INFO)
        }
    }

    fn usable_map() -> [(u64, u64, u32); 3] {
        [
            (0, 0x9fc00, 1),
            (0x9fc00, 0x400, 2),
            (0x100000, 0x7ee0000, 1),
        ]
    }

    fn regions(entries: &[(u64, u64, u32)]) -> Vec<MemRegion> {
        entries
            .iter()
            .map(|&(addr, len, kind)| MemRegion { addr, len, kind })
            .collect()
    }

    // ---- multiboot1 ----

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

    // ---- multiboot2 ----

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

    // ---- robustness ----

    use crate::testrng::Rng;

    /// Test-only extras on the shared generator.
    trait Sizes {
        fn size(&mut self) -> u32;
        fn addr(&mut self) -> u32;
    }

    impl Sizes for Rng {
        /// Mostly small values, sometimes anything: sizes and counts near the limits.
        fn size(&mut self) -> u32 {
            match self.below(4) {
                0 => self.next() as u32,
                1 => self.below(64) as u32,
                _ => self.below(0x200) as u32,
            }
        }
        /// An address inside the fake RAM most of the time.
        fn addr(&mut self) -> u32 {
            match self.below(8) {
                0 => self.next() as u32,
                _ => (RAM_BASE + self.below(RAM_SIZE as u64)) as u32,
            }
        }
    }

    /// Checks what a successful parse promises.
    fn check_invariants(bi: &BootInfo) {
        assert!(bi.region_count <= MAX_REGIONS && bi.module_count <= MAX_MODULES);
        assert!(!bi.regions().is_empty());
        for r in bi.regions() {
            assert!(r.len != 0 && r.addr.checked_add(r.len).is_some());
        }
        for m in bi.modules() {
            assert!(m.end >= m.start);
        }
        let _ = bi.usable_bytes();
    }

    #[test]
    fn random_mb1_never_panics() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut ok = 0;
        for _ in 0..3000 {
            let mut r = ram();
            rng.fill(&mut r.bytes[..0x4000]);
            // Point the pointers into RAM often enough to reach the inner loops.
            if rng.below(2) == 0 {
                let flags = rng.next() as u32 | MB1_FLAG_MMAP;
                r.put(INFO, &le32(flags));
                r.put(INFO + 20, &le32(rng.size()));
                r.put(INFO + 24, &le32(rng.addr()));
                r.put(INFO + 44, &le32(rng.size()));
                r.put(INFO + 48, &le32(rng.addr()));
                // Plausible map entries at the start of the map.
                for i in 0..rng.below(6) {
                    let mut e = Vec::new();
                    mb1_entry(
                        &mut e,
                        20 + rng.below(3) as u32 * 4,
                        rng.next() >> rng.below(64),
                        rng.next() >> rng.below(64),
                        rng.next() as u32 % 6,
                    );
                    r.put(MMAP + i * 28, &e);
                }
                r.put(INFO + 48, &le32(MMAP as u32));
            }
            let at = match rng.below(4) {
                0 => rng.next(),
                _ => INFO,
            };
            if let Ok(bi) = parse(MB1_MAGIC, at, &r) {
                check_invariants(&bi);
                ok += 1;
            }
        }
        assert!(ok > 0, "the generator never produced a valid info");
    }

    #[test]
    fn random_mb2_never_panics() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut ok = 0;
        for _ in 0..3000 {
            let mut r = ram();
            rng.fill(&mut r.bytes[..0x2000]);
            if rng.below(4) != 0 {
                // Mostly plausible tags with random fields, to get past the header checks.
                let mut m = Mb2::new();
                for _ in 0..rng.below(10) {
                    let ty = match rng.below(3) {
                        0 => rng.next() as u32,
                        _ => [1, 3, 4, 6, 11, 12, 14, 15, 21][rng.below(9) as usize],
                    };
                    let mut payload = std::vec![0u8; rng.size().min(0x400) as usize];
                    rng.fill(&mut payload);
                    if ty == TAG_MMAP && payload.len() >= 8 && rng.below(2) == 0 {
                        payload[..4].copy_from_slice(&le32(24));
                    }
                    if rng.below(8) == 0 {
                        m.tag_sized(ty, rng.size(), &payload);
                    } else {
                        m.tag(ty, &payload);
                    }
                }
                if rng.below(4) != 0 {
                    m.end();
                }
                if rng.below(8) == 0 {
                    m.set_total(rng.size());
                }
                if m.bytes.len() <= 0x8000 {
                    r.put(INFO, &m.bytes);
                }
            }
            let at = match rng.below(8) {
                0 => rng.next(),
                1 => INFO + rng.below(16),
                _ => INFO,
            };
            if let Ok(bi) = parse(MB2_MAGIC, at, &r) {
                check_invariants(&bi);
                ok += 1;
            }
        }
        assert!(ok > 0, "the generator never produced a valid info");
    }
}
