//! Where everything goes in guest-physical memory, decided before anything is written.
//!
//! Low memory (below the EBDA at 0x9fc00) holds what only the first instructions need:
//! the GDT, the identity page tables, a boot stack, the zero page and the command line.
//! The kernel itself goes to its preferred address (16 MiB for Debian's kernels) or, if
//! that does not fit, to the lowest aligned address above 1 MiB; `init_size` bytes from
//! there stay free for decompression. The initrd goes as high as RAM and the kernel's
//! `initrd_addr_max` allow, page-aligned, above the kernel's `init_size` window. Every
//! address is computed with checked arithmetic: a hostile header that makes them
//! overflow is an error, never a wrap.

use super::BootError;
use crate::bzimage::BzImage;

/// The boot GDT (one page).
pub const GDT: u64 = 0x1000;
/// PML4, then one PDPT, then four page directories of 2 MiB pages: 0x2000..0x8000.
pub const PAGE_TABLES: u64 = 0x2000;
/// Bytes the page tables take.
pub const PAGE_TABLES_SIZE: u64 = 6 * 0x1000;
/// The boot stack's top (its page is 0x8000..0x9000).
pub const STACK_TOP: u64 = 0x9000;
/// The zero page (struct boot_params).
pub const ZERO_PAGE: u64 = 0x9000;
/// The command line, NUL-terminated, up to [`CMDLINE_END`].
pub const CMDLINE: u64 = 0xa000;
/// End of the command line's room.
pub const CMDLINE_END: u64 = 0x2_0000;
/// Start of the EBDA and BIOS area, reserved up to 1 MiB (platform tables live there).
pub const LOW_RAM_END: u64 = 0x9_fc00;
/// Start of high RAM.
pub const HIGH_RAM_START: u64 = 0x10_0000;
/// RAM ends below 3 GiB, so that the identity map of the first 4 GiB covers all of it
/// and the top of the 32-bit space (the local APIC page at 0xfee00000) stays a hole.
pub const MAX_RAM: u64 = 0xc000_0000;
/// Smallest RAM that holds the low-memory structures and a kernel at 1 MiB.
pub const MIN_RAM: u64 = 0x20_0000;

const PAGE: u64 = 0x1000;

/// A range of guest-physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    pub start: u64,
    pub size: u64,
}

impl Region {
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

/// The placement of one boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// Guest RAM size (guest-physical 0..ram_size).
    pub ram_size: u64,
    /// The protected-mode kernel's load address and its `init_size` window.
    pub kernel: Region,
    /// The initrd, if there is one.
    pub initrd: Option<Region>,
    /// The command line (its bytes and the NUL).
    pub cmdline: Region,
    pub zero_page: u64,
    pub gdt: u64,
    pub page_tables: u64,
    pub stack_top: u64,
}

impl BootPlan {
    /// Places a boot of `image` with a command line of `cmdline_len` bytes (without its
    /// NUL) and an initrd of `initrd_len` bytes (0: none) into `ram_size` bytes of RAM.
    pub fn new(
        image: &BzImage,
        ram_size: u64,
        cmdline_len: usize,
        initrd_len: u64,
    ) -> Result<Self, BootError> {
        if ram_size < MIN_RAM {
            return Err(BootError::RamTooSmall(ram_size));
        }
        if ram_size > MAX_RAM {
            return Err(BootError::RamTooLarge(ram_size));
        }
        let cmdline_len = cmdline_len as u64;
        if cmdline_len > image.cmdline_size as u64 {
            return Err(BootError::CmdlineTooLong {
                len: cmdline_len,
                max: image.cmdline_size as u64,
            });
        }
        if cmdline_len + 1 > CMDLINE_END - CMDLINE {
            return Err(BootError::CmdlineTooLong {
                len: cmdline_len,
                max: CMDLINE_END - CMDLINE - 1,
            });
        }
        let kernel = place_kernel(image, ram_size)?;
        let initrd = match initrd_len {
            0 => None,
            len => Some(place_initrd(image, ram_size, kernel.end(), len)?),
        };
        Ok(BootPlan {
            ram_size,
            kernel,
            initrd,
            cmdline: Region {
                start: CMDLINE,
                size: cmdline_len + 1,
            },
            zero_page: ZERO_PAGE,
            gdt: GDT,
            page_tables: PAGE_TABLES,
            stack_top: STACK_TOP,
        })
    }

    /// The 64-bit entry point.
    pub fn entry(&self) -> u64 {
        self.kernel.start + crate::bzimage::ENTRY_64_OFFSET
    }
}

/// The kernel's window: at its preferred address if that is in RAM (aligned up, if it is
/// relocatable), else at the first aligned address from 1 MiB; a non-relocatable kernel
/// gets its fixed address or nothing.
fn place_kernel(image: &BzImage, ram_size: u64) -> Result<Region, BootError> {
    let fits = |start: u64| {
        start
            .checked_add(image.init_size)
            .filter(|&end| start >= HIGH_RAM_START && end <= ram_size)
            .map(|_| Region {
                start,
                size: image.init_size,
            })
    };
    let placed = if image.relocatable {
        let preferred = align_up(image.pref_address, image.kernel_alignment);
        let lowest = align_up(HIGH_RAM_START, image.kernel_alignment);
        preferred.and_then(fits).or_else(|| lowest.and_then(fits))
    } else {
        fits(image.pref_address)
    };
    placed.ok_or(BootError::KernelDoesNotFit {
        load: image.pref_address,
        init_size: image.init_size,
        ram_size,
    })
}

/// The initrd: page-aligned, as high as RAM and `initrd_addr_max` (unless the kernel may
/// have it above 4 GiB) allow, and above the kernel's window.
fn place_initrd(
    image: &BzImage,
    ram_size: u64,
    kernel_end: u64,
    len: u64,
) -> Result<Region, BootError> {
    let limit = if image.loadable_above_4g {
        ram_size
    } else {
        ram_size.min(image.initrd_addr_max as u64 + 1)
    };
    limit
        .checked_sub(len)
        .map(|start| start & !(PAGE - 1))
        .filter(|&start| start >= kernel_end)
        .map(|start| Region { start, size: len })
        .ok_or(BootError::InitrdDoesNotFit {
            size: len,
            below: limit,
            above: kernel_end,
        })
}

fn align_up(value: u64, alignment: u64) -> Option<u64> {
    value
        .checked_add(alignment - 1)
        .map(|v| v & !(alignment - 1))
}

/// The e820 type of usable RAM.
pub const E820_RAM: u32 = 1;
/// The e820 type of reserved memory.
pub const E820_RESERVED: u32 = 2;

/// The guest's memory map: low RAM, the EBDA/BIOS area (where the ACPI tables are)
/// reserved, high RAM. RAM is exactly what the VMM maps; nothing else exists.
pub fn e820_map(ram_size: u64) -> [(u64, u64, u32); 3] {
    [
        (0, LOW_RAM_END, E820_RAM),
        (LOW_RAM_END, HIGH_RAM_START - LOW_RAM_END, E820_RESERVED),
        (
            HIGH_RAM_START,
            ram_size.saturating_sub(HIGH_RAM_START),
            E820_RAM,
        ),
    ]
}
