//! Loading Linux by the 64-bit boot protocol into guest memory: the kernel, the initrd,
//! the command line, the zero page (struct boot_params, `Documentation/arch/x86/
//! zero-page.rst`) and what the 64-bit entry needs (identity page tables, a GDT), and the
//! bootstrap vCPU's initial state.
//!
//! Guest memory is the slice the VMM maps at guest-physical 0..N. [`load_linux`] first
//! plans every address ([`BootPlan`]), so nothing is written for a boot that cannot
//! work; every write is bounds-checked against the slice. The zero page starts zeroed
//! (so `screen_info` says "no video" and the sentinel at 0x1ef is clear), takes the
//! image's setup header at 0x1f1, and gets the loader's fields: `type_of_loader` 0xff,
//! `cmd_line_ptr`, the ramdisk, the e820 map and `acpi_rsdp_addr`.

mod cpu_state;
mod plan;
#[cfg(test)]
mod tests;

pub use cpu_state::{
    boot_cpu_state, sipi_cpu_state, write_gdt, write_identity_page_tables, CpuState,
    DescriptorTable, Segment, BOOT_CS, BOOT_DS, PAT_RESET,
};
pub use plan::{e820_map, BootPlan, Region, E820_RAM, E820_RESERVED, MAX_RAM, MIN_RAM};

use crate::bzimage::{BzImage, SETUP_HEADER_OFFSET};

/// Zero-page offsets (zero-page.rst and the setup header in boot.rst).
mod offset {
    pub const ACPI_RSDP_ADDR: usize = 0x070;
    pub const EXT_RAMDISK_IMAGE: usize = 0x0c0;
    pub const EXT_RAMDISK_SIZE: usize = 0x0c4;
    pub const EXT_CMD_LINE_PTR: usize = 0x0c8;
    pub const E820_ENTRIES: usize = 0x1e8;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21c;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const E820_TABLE: usize = 0x2d0;
}

/// Size of the zero page.
pub const ZERO_PAGE_SIZE: usize = 4096;
/// `type_of_loader` for a loader without an assigned ID.
const LOADER_UNDEFINED: u8 = 0xff;

/// Why a kernel cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootError {
    /// Guest RAM is smaller than [`MIN_RAM`].
    RamTooSmall(u64),
    /// Guest RAM is larger than [`MAX_RAM`].
    RamTooLarge(u64),
    /// The command line is longer than the kernel's `cmdline_size` (or its room).
    CmdlineTooLong { len: u64, max: u64 },
    /// The command line contains a NUL, which would end it early.
    CmdlineHasNul,
    /// No aligned address in RAM leaves `init_size` bytes for the kernel.
    KernelDoesNotFit {
        load: u64,
        init_size: u64,
        ram_size: u64,
    },
    /// The initrd does not fit between the kernel's window and its upper limit.
    InitrdDoesNotFit { size: u64, below: u64, above: u64 },
    /// A write would reach past the end of guest memory (a plan for other RAM).
    OutsideGuestMemory { address: u64, len: u64 },
}

impl core::fmt::Display for BootError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::RamTooSmall(n) => write!(f, "boot: {n:#x} bytes of RAM are too few"),
            Self::RamTooLarge(n) => {
                write!(f, "boot: {n:#x} bytes of RAM reach into the 32-bit hole")
            }
            Self::CmdlineTooLong { len, max } => {
                write!(
                    f,
                    "boot: command line of {len} bytes, at most {max} allowed"
                )
            }
            Self::CmdlineHasNul => write!(f, "boot: command line contains a NUL byte"),
            Self::KernelDoesNotFit {
                load,
                init_size,
                ram_size,
            } => write!(
                f,
                "boot: kernel needs {init_size:#x} bytes from {load:#x}, RAM ends at {ram_size:#x}"
            ),
            Self::InitrdDoesNotFit { size, below, above } => write!(
                f,
                "boot: initrd of {size:#x} bytes does not fit between {above:#x} and {below:#x}"
            ),
            Self::OutsideGuestMemory { address, len } => {
                write!(
                    f,
                    "boot: {len:#x} bytes at {address:#x} are outside guest memory"
                )
            }
        }
    }
}

/// A loaded kernel: where everything went and how the bootstrap vCPU starts.
#[derive(Clone, Copy, Debug)]
pub struct LoadedKernel {
    pub plan: BootPlan,
    pub boot_cpu: CpuState,
}

/// Loads `image` with `cmdline` (without NUL) and `initrd` (may be empty) into `mem`
/// (guest-physical 0..mem.len()), with the ACPI RSDP at `acpi_rsdp` if there is one.
pub fn load_linux(
    mem: &mut [u8],
    image: &BzImage,
    cmdline: &[u8],
    initrd: &[u8],
    acpi_rsdp: Option<u64>,
) -> Result<LoadedKernel, BootError> {
    if cmdline.contains(&0) {
        return Err(BootError::CmdlineHasNul);
    }
    let plan = BootPlan::new(image, mem.len() as u64, cmdline.len(), initrd.len() as u64)?;
    write(mem, plan.kernel.start, image.kernel())?;
    if let Some(region) = plan.initrd {
        write(mem, region.start, initrd)?;
    }
    write(mem, plan.cmdline.start, cmdline)?;
    write(mem, plan.cmdline.start + cmdline.len() as u64, &[0])?;
    let zero_page = zero_page(image, &plan, acpi_rsdp);
    write(mem, plan.zero_page, &zero_page)?;
    write_gdt(mem, plan.gdt)?;
    write_identity_page_tables(mem, plan.page_tables)?;
    Ok(LoadedKernel {
        plan,
        boot_cpu: boot_cpu_state(plan.entry(), plan.zero_page, plan.gdt, plan.page_tables),
    })
}

/// The zero page for `plan`.
pub fn zero_page(image: &BzImage, plan: &BootPlan, acpi_rsdp: Option<u64>) -> [u8; ZERO_PAGE_SIZE] {
    let mut page = [0u8; ZERO_PAGE_SIZE];
    let header = image.setup_header();
    page[SETUP_HEADER_OFFSET..SETUP_HEADER_OFFSET + header.len()].copy_from_slice(header);
    page[offset::TYPE_OF_LOADER] = LOADER_UNDEFINED;
    let (low, high) = split(plan.cmdline.start);
    put32(&mut page, offset::CMD_LINE_PTR, low);
    put32(&mut page, offset::EXT_CMD_LINE_PTR, high);
    if let Some(initrd) = plan.initrd {
        let (low, high) = split(initrd.start);
        put32(&mut page, offset::RAMDISK_IMAGE, low);
        put32(&mut page, offset::EXT_RAMDISK_IMAGE, high);
        let (low, high) = split(initrd.size);
        put32(&mut page, offset::RAMDISK_SIZE, low);
        put32(&mut page, offset::EXT_RAMDISK_SIZE, high);
    }
    // Read since Linux 4.20 whatever the protocol version (the 2.14 header field of the
    // same name was withdrawn); older kernels find the RSDP by scanning the BIOS area,
    // where the platform tables put it too.
    if let Some(rsdp) = acpi_rsdp {
        page[offset::ACPI_RSDP_ADDR..offset::ACPI_RSDP_ADDR + 8]
            .copy_from_slice(&rsdp.to_le_bytes());
    }
    let map = e820_map(plan.ram_size);
    page[offset::E820_ENTRIES] = map.len() as u8;
    for (i, (addr, size, kind)) in map.iter().enumerate() {
        let at = offset::E820_TABLE + i * 20;
        page[at..at + 8].copy_from_slice(&addr.to_le_bytes());
        page[at + 8..at + 16].copy_from_slice(&size.to_le_bytes());
        put32(&mut page, at + 16, *kind);
    }
    page
}

fn split(value: u64) -> (u32, u32) {
    (value as u32, (value >> 32) as u32)
}

fn put32(page: &mut [u8], at: usize, value: u32) {
    page[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Copies `bytes` to guest-physical `address`, or fails if they would not fit.
fn write(mem: &mut [u8], address: u64, bytes: &[u8]) -> Result<(), BootError> {
    let outside = BootError::OutsideGuestMemory {
        address,
        len: bytes.len() as u64,
    };
    let start = usize::try_from(address).map_err(|_| outside)?;
    let end = start.checked_add(bytes.len()).ok_or(outside)?;
    mem.get_mut(start..end)
        .ok_or(outside)?
        .copy_from_slice(bytes);
    Ok(())
}
