//! Parsing a Linux bzImage by the x86 boot protocol (`Documentation/arch/x86/boot.rst`).
//!
//! A bzImage is the real-mode setup code (`setup_sects + 1` sectors of 512 bytes, the
//! setup header at 0x1f1 among them) followed by the protected-mode kernel, which a
//! loader copies to its load address and, with the 64-bit boot protocol, enters at
//! offset 0x200. [`BzImage::parse`] checks everything a loader relies on before any of
//! it is used: a [`BzImage`] only exists for an image whose header is complete, whose
//! kernel lies inside the file, which has a 64-bit entry point, and whose sizes and
//! alignment are sane. Every malformed input is a distinct [`ImageError`].
//!
//! The minimum protocol version is 2.12: that is where `xloadflags` (and with it
//! `XLF_KERNEL_64`, the flag that says the 64-bit entry exists) appeared; the 64-bit
//! boot protocol is meaningless without it. 2.12 also implies the fields this loader
//! reads: `cmdline_size` (2.06), `kernel_alignment` and `relocatable_kernel` (2.05),
//! `pref_address` and `init_size` (2.10).

#[cfg(test)]
pub(crate) mod tests;

/// Offset of the setup header in the image (and in the zero page).
pub const SETUP_HEADER_OFFSET: usize = 0x1f1;
/// The setup header ends at 0x202 plus the byte at 0x201 (the jump's displacement); it
/// must fit below the zero page's next field (`edd_mbr_sig_buffer` at 0x290).
pub const SETUP_HEADER_LIMIT: usize = 0x290;
/// The 64-bit entry point's offset from the start of the protected-mode kernel.
pub const ENTRY_64_OFFSET: u64 = 0x200;
/// Protocol 2.12, the first with `xloadflags`.
pub const MIN_PROTOCOL: u16 = 0x020c;

const SECTOR: usize = 512;
/// End of the last field of a protocol 2.12 header (`handover_offset`).
const HEADER_2_12_END: usize = 0x268;
const BOOT_FLAG: usize = 0x1fe;
const HEADER_MAGIC: usize = 0x202;
const VERSION: usize = 0x206;
const SETUP_SECTS: usize = 0x1f1;
const SYSSIZE: usize = 0x1f4;
const LOADFLAGS: usize = 0x211;
const INITRD_ADDR_MAX: usize = 0x22c;
const KERNEL_ALIGNMENT: usize = 0x230;
const RELOCATABLE_KERNEL: usize = 0x234;
const XLOADFLAGS: usize = 0x236;
const CMDLINE_SIZE: usize = 0x238;
const PREF_ADDRESS: usize = 0x258;
const INIT_SIZE: usize = 0x260;

/// `loadflags` bit 0: the protected-mode code is loaded at 0x100000 (a bzImage).
const LOADED_HIGH: u8 = 1;
/// `xloadflags` bit 0: the kernel has the 64-bit entry point at +0x200.
const XLF_KERNEL_64: u16 = 1;
/// `xloadflags` bit 1: kernel, boot_params, command line and ramdisk may lie above 4 GiB.
const XLF_CAN_BE_LOADED_ABOVE_4G: u16 = 1 << 1;

/// Why an image is not a bootable bzImage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The file ends before the setup header does (`needed` bytes).
    TooShortForHeader { needed: usize, actual: usize },
    /// The word at 0x1fe is not 0xaa55.
    BadBootFlag(u16),
    /// No "HdrS" at 0x202: not a bzImage (or a pre-2.00 zImage).
    BadHeaderMagic(u32),
    /// The boot protocol is older than [`MIN_PROTOCOL`].
    ProtocolTooOld(u16),
    /// The jump at 0x200 says the header ends at `end`, past the zero page's header area.
    HeaderTooLong { end: usize },
    /// The jump at 0x200 says the header ends at `end`, before the 2.12 fields do.
    HeaderTooShort { end: usize },
    /// `loadflags` lacks LOADED_HIGH: a zImage, which loads below 1 MiB.
    NotLoadedHigh,
    /// `xloadflags` lacks XLF_KERNEL_64: a 32-bit-only kernel.
    No64BitEntry,
    /// The setup code (`setup_sects + 1` sectors) is longer than the file.
    SetupBeyondFile { setup_bytes: usize, file: usize },
    /// `syssize` is zero: there is no protected-mode kernel.
    EmptyKernel,
    /// The protected-mode kernel `syssize` announces runs past the end of the file.
    KernelTruncated { end: u64, file: usize },
    /// `kernel_alignment` is not a power of two of at least 4 KiB.
    BadKernelAlignment(u32),
    /// A non-relocatable kernel's fixed load address is not page-aligned.
    UnalignedLoadAddress(u64),
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::TooShortForHeader { needed, actual } => write!(
                f,
                "bzImage: file of {actual} bytes ends before its setup header ({needed} bytes)"
            ),
            Self::BadBootFlag(v) => write!(f, "bzImage: boot flag is {v:#06x}, not 0xaa55"),
            Self::BadHeaderMagic(v) => write!(f, "bzImage: no \"HdrS\" magic ({v:#010x})"),
            Self::ProtocolTooOld(v) => {
                write!(f, "bzImage: boot protocol {v:#06x} is older than 2.12")
            }
            Self::HeaderTooLong { end } => {
                write!(f, "bzImage: setup header would end at {end:#x}, past 0x290")
            }
            Self::HeaderTooShort { end } => {
                write!(
                    f,
                    "bzImage: setup header ends at {end:#x}, before 0x268 (2.12)"
                )
            }
            Self::NotLoadedHigh => write!(f, "bzImage: a zImage (LOADED_HIGH clear)"),
            Self::No64BitEntry => write!(f, "bzImage: a 32-bit-only kernel (no XLF_KERNEL_64)"),
            Self::SetupBeyondFile { setup_bytes, file } => write!(
                f,
                "bzImage: setup code of {setup_bytes} bytes is longer than the file ({file})"
            ),
            Self::EmptyKernel => write!(f, "bzImage: syssize is 0"),
            Self::KernelTruncated { end, file } => write!(
                f,
                "bzImage: the kernel ends at byte {end} but the file has {file}"
            ),
            Self::BadKernelAlignment(v) => {
                write!(
                    f,
                    "bzImage: kernel_alignment {v:#x} is not a power of two >= 4 KiB"
                )
            }
            Self::UnalignedLoadAddress(v) => {
                write!(f, "bzImage: fixed load address {v:#x} is not page-aligned")
            }
        }
    }
}

/// A bzImage whose header passed every check; it borrows the file.
#[derive(Clone, Copy)]
pub struct BzImage<'a> {
    file: &'a [u8],
    header_end: usize,
    kernel_offset: usize,
    kernel_size: usize,
    /// Protocol version, e.g. 0x020f for 2.15.
    pub protocol: u16,
    /// Alignment the kernel's load address needs (a power of two).
    pub kernel_alignment: u64,
    /// Whether the kernel may be loaded at any suitably aligned address.
    pub relocatable: bool,
    /// Where the kernel prefers to be (and, if not relocatable, must be) loaded.
    pub pref_address: u64,
    /// Bytes from the load address the kernel needs before it reads the memory map
    /// (at least the file's kernel size).
    pub init_size: u64,
    /// Longest command line the kernel takes, without the terminating NUL.
    pub cmdline_size: u32,
    /// Highest address the initrd may occupy (inclusive).
    pub initrd_addr_max: u32,
    /// Whether the ramdisk (and the rest) may lie above 4 GiB.
    pub loadable_above_4g: bool,
}

impl<'a> BzImage<'a> {
    /// Checks `file` as a bzImage with a 64-bit entry point.
    pub fn parse(file: &'a [u8]) -> Result<Self, ImageError> {
        // A 2.12 header reaches 0x268 (its last field, handover_offset); the jump byte
        // says where this image's header really ends, checked below.
        if file.len() < HEADER_2_12_END {
            return Err(ImageError::TooShortForHeader {
                needed: HEADER_2_12_END,
                actual: file.len(),
            });
        }
        let boot_flag = read_u16(file, BOOT_FLAG);
        if boot_flag != 0xaa55 {
            return Err(ImageError::BadBootFlag(boot_flag));
        }
        let magic = read_u32(file, HEADER_MAGIC);
        if magic != u32::from_le_bytes(*b"HdrS") {
            return Err(ImageError::BadHeaderMagic(magic));
        }
        let protocol = read_u16(file, VERSION);
        if protocol < MIN_PROTOCOL {
            return Err(ImageError::ProtocolTooOld(protocol));
        }
        let header_end = 0x202 + file[0x201] as usize;
        if header_end > SETUP_HEADER_LIMIT {
            return Err(ImageError::HeaderTooLong { end: header_end });
        }
        if header_end < HEADER_2_12_END {
            return Err(ImageError::HeaderTooShort { end: header_end });
        }
        if file[LOADFLAGS] & LOADED_HIGH == 0 {
            return Err(ImageError::NotLoadedHigh);
        }
        let xloadflags = read_u16(file, XLOADFLAGS);
        if xloadflags & XLF_KERNEL_64 == 0 {
            return Err(ImageError::No64BitEntry);
        }
        let setup_sects = match file[SETUP_SECTS] {
            0 => 4,
            n => n as usize,
        };
        // At least two sectors (1024 bytes), so a file that holds the setup code also
        // holds the whole header (which ends by 0x290).
        let kernel_offset = (setup_sects + 1) * SECTOR;
        if kernel_offset > file.len() {
            return Err(ImageError::SetupBeyondFile {
                setup_bytes: kernel_offset,
                file: file.len(),
            });
        }
        // syssize counts 16-byte paragraphs; what follows them (a signature, padding)
        // is not part of the kernel.
        let kernel_size = read_u32(file, SYSSIZE) as u64 * 16;
        if kernel_size == 0 {
            return Err(ImageError::EmptyKernel);
        }
        let kernel_end = kernel_offset as u64 + kernel_size;
        if kernel_end > file.len() as u64 {
            return Err(ImageError::KernelTruncated {
                end: kernel_end,
                file: file.len(),
            });
        }
        let alignment = read_u32(file, KERNEL_ALIGNMENT);
        if !alignment.is_power_of_two() || alignment < 0x1000 {
            return Err(ImageError::BadKernelAlignment(alignment));
        }
        let relocatable = file[RELOCATABLE_KERNEL] != 0;
        let pref_address = read_u64(file, PREF_ADDRESS);
        if !relocatable && !pref_address.is_multiple_of(0x1000) {
            return Err(ImageError::UnalignedLoadAddress(pref_address));
        }
        Ok(BzImage {
            file,
            header_end,
            kernel_offset,
            kernel_size: kernel_size as usize,
            protocol,
            kernel_alignment: alignment as u64,
            relocatable,
            pref_address,
            init_size: (read_u32(file, INIT_SIZE) as u64).max(kernel_size),
            cmdline_size: read_u32(file, CMDLINE_SIZE),
            initrd_addr_max: read_u32(file, INITRD_ADDR_MAX),
            loadable_above_4g: xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G != 0,
        })
    }

    /// The setup header's bytes (from 0x1f1 to its end), which go into the zero page
    /// at the same offset.
    pub fn setup_header(&self) -> &'a [u8] {
        &self.file[SETUP_HEADER_OFFSET..self.header_end]
    }

    /// The protected-mode kernel: what the loader copies to the load address.
    pub fn kernel(&self) -> &'a [u8] {
        &self.file[self.kernel_offset..self.kernel_offset + self.kernel_size]
    }

    /// Where the protected-mode kernel starts in the file.
    pub fn kernel_offset(&self) -> usize {
        self.kernel_offset
    }
}

impl core::fmt::Debug for BzImage<'_> {
    // Without the file's bytes: a kernel is megabytes long.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BzImage")
            .field("file_len", &self.file.len())
            .field("kernel_offset", &self.kernel_offset)
            .field("kernel_size", &self.kernel_size)
            .field("protocol", &self.protocol)
            .field("kernel_alignment", &self.kernel_alignment)
            .field("relocatable", &self.relocatable)
            .field("pref_address", &self.pref_address)
            .field("init_size", &self.init_size)
            .field("cmdline_size", &self.cmdline_size)
            .field("initrd_addr_max", &self.initrd_addr_max)
            .field("loadable_above_4g", &self.loadable_above_4g)
            .finish()
    }
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_u64(b: &[u8], at: usize) -> u64 {
    read_u32(b, at) as u64 | (read_u32(b, at + 4) as u64) << 32
}
