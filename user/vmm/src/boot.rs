//! Loading the guest: the kernel image and the initrd are checked before anything is
//! written ([`BootFailure`] names what is wrong with which), then the ACPI tables, the
//! kernel, the initrd, the command line and the zero page go into guest RAM.

use facet_rt::start_info::Region;
use facet_rt::window::MAPPABLE;
use facet_vmm_core::boot_params::{load_linux, BootError, CpuState};
use facet_vmm_core::bzimage::{BzImage, ImageError};
use facet_vmm_core::initrd::{self, InitrdError};
use facet_vmm_core::platform::{write_acpi_tables, PlatformError};

use crate::guest::GuestRam;

/// Why the guest cannot be loaded.
#[derive(Clone, Copy, Debug)]
pub enum BootFailure {
    Kernel(ImageError),
    Initrd(InitrdError),
    Platform(PlatformError),
    Boot(BootError),
}

impl core::fmt::Display for BootFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Kernel(e) => write!(f, "the kernel is refused: {e}"),
            Self::Initrd(e) => write!(f, "the initrd is refused: {e}"),
            Self::Platform(e) => write!(f, "{e}"),
            Self::Boot(e) => write!(f, "{e}"),
        }
    }
}

/// The bytes of a module region the roottask mapped read-only.
pub fn module_bytes(region: &Region) -> Option<&'static [u8]> {
    let fits = region.va >= MAPPABLE.start && region.size <= MAPPABLE.end - region.va;
    if !fits {
        return None;
    }
    // SAFETY: the roottask maps a module's region read-only for the program's whole
    // life and nobody writes it; the range lies in the mappable part of the address
    // space, where no Rust object of the VMM lives.
    Some(unsafe { core::slice::from_raw_parts(region.va as *const u8, region.size as usize) })
}

/// Loads `kernel` with `cmdline` and `initrd` (may be empty) into `ram` for `vcpus`
/// vCPUs; the bootstrap vCPU's state at the kernel's entry.
pub fn load(
    ram: &GuestRam,
    kernel: &[u8],
    initrd: &[u8],
    cmdline: &[u8],
    vcpus: u8,
) -> Result<CpuState, BootFailure> {
    let image = BzImage::parse(kernel).map_err(BootFailure::Kernel)?;
    if !initrd.is_empty() {
        initrd::check(initrd).map_err(BootFailure::Initrd)?;
    }
    // SAFETY: no vCPU exists yet, and nothing else refers to guest RAM while the slice
    // lives (until the end of this function).
    let mem = unsafe { ram.as_mut_slice() };
    let rsdp = write_acpi_tables(mem, vcpus).map_err(BootFailure::Platform)?;
    let loaded = load_linux(mem, &image, cmdline, initrd, Some(rsdp)).map_err(BootFailure::Boot)?;
    Ok(loaded.boot_cpu)
}
