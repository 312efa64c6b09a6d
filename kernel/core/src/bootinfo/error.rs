//! Why boot information is rejected, with a one-line message for each reason.

use super::info::Protocol;
use super::multiboot1::MB1_MMAP_ENTRY_MIN;
use super::multiboot2::{MB2_HEADER, MB2_MMAP_ENTRY_MIN};
use super::{MAX_INFO_SIZE, MB1_MAGIC, MB2_MAGIC};

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
