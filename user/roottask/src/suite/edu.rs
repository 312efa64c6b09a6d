//! QEMU's `edu` device (q35 tiers) for the tests of interrupts and of the IOMMU: found
//! through the MCFG region, its configuration page and registers mapped in the roottask,
//! its MSI programmed, DMA transfers started and waited for.

use facet_abi::hip::off;
use facet_abi::perm;
use facet_edu_core::dma::Transfer;
use facet_edu_core::regs;
use facet_rt::window::Window;

use super::fixture::MSI_PAGES;
use super::tools::map_from_kernel;
use super::{Env, Fail, TestResult};

/// Where the device's configuration page and its registers (BAR 0) are mapped.
pub const CONFIG: Window = MSI_PAGES.window().sub(0, 0x1000);
pub const REGS: Window = MSI_PAGES.window().sub(0x1_0000, 0x1000);

/// The device, found.
#[derive(Clone, Copy)]
pub struct Edu {
    /// Its requester id.
    pub rid: u16,
}

pub fn map(phys: u64, at: Window, what: &str) -> TestResult {
    map_from_kernel(phys >> 12, 0, perm::MEM_R | perm::MEM_W, at, what)
}

pub fn cfg32(off: u64) -> u32 {
    CONFIG.read(off)
}

pub fn set_cfg32(off: u64, v: u32) {
    CONFIG.write(off, v)
}

pub fn reg_read(off: u64) -> u32 {
    REGS.read(off)
}

pub fn reg_write(off: u64, v: u32) {
    REGS.write(off, v)
}

/// Finds the device on the first bus of the MCFG region and maps its configuration page
/// at [`CONFIG`]; `None` if the bus has none.
pub fn find(e: &Env) -> Result<Option<Edu>, Fail> {
    let base = e.hip().u64(off::MCFG_BASE);
    let size = e.hip().u64(off::MCFG_SIZE);
    let bus = e.hip().u32(off::PCI_BUS_START) as u16;
    for dev in 0..32u64 {
        if (dev << 15) >= size {
            break;
        }
        map(base + (dev << 15), CONFIG, "configuration page")?;
        if cfg32(0) == regs::ID {
            return Ok(Some(Edu {
                rid: bus << 8 | (dev as u16) << 3,
            }));
        }
    }
    Ok(None)
}

/// [`find`], failing the test without the device.
pub fn require(e: &Env) -> Result<Edu, Fail> {
    find(e)?.ok_or_else(|| Fail::new(format_args!("no edu device on bus 0")))
}

/// Maps the device's registers at [`REGS`] and turns memory decoding and bus mastering
/// on (an MSI and a DMA transfer are the device's writes).
pub fn enable() -> TestResult {
    set_cfg32(0x04, cfg32(0x04) | 0x6);
    map((cfg32(0x10) & !0xf) as u64, REGS, "edu registers")
}

/// Programs the MSI capability with `address` and `data` and enables it.
pub fn program_msi(address: u64, data: u32) -> TestResult {
    let cap = facet_edu_core::msi::find(cfg32)
        .ok_or_else(|| Fail::new(format_args!("edu has no MSI capability")))?;
    for (at, v) in facet_edu_core::msi::program(cap, cfg32(cap), address, data) {
        set_cfg32(at, v);
    }
    Ok(())
}

/// Disables the MSI (the device then interrupts through its INTx pin).
pub fn disable_msi() {
    if let Some(cap) = facet_edu_core::msi::find(cfg32) {
        set_cfg32(cap, cfg32(cap) & !(1 << 16));
    }
}

/// Runs a DMA transfer and waits (a few seconds at most) until the device is done.
pub fn dma(e: &Env, t: Transfer) -> TestResult {
    REGS.write(regs::DMA_SRC, t.src);
    REGS.write(regs::DMA_DST, t.dst);
    REGS.write(regs::DMA_COUNT, t.count);
    REGS.write(regs::DMA_CMD, t.cmd);
    let deadline = facet_rt::cpu::rdtsc() + 5000 * e.per_ms();
    while REGS.read::<u64>(regs::DMA_CMD) & regs::CMD_START != 0 {
        if facet_rt::cpu::rdtsc() > deadline {
            return Err(Fail::new(format_args!("a DMA transfer never finished")));
        }
        core::hint::spin_loop();
    }
    Ok(())
}

/// A transfer the device takes, failing the test for one it would not.
pub fn transfer(at: u64, ram: u64, len: u64, to_ram: bool) -> Result<Transfer, Fail> {
    facet_edu_core::dma::transfer(at, ram, len, to_ram, false)
        .map_err(|r| Fail::new(format_args!("a transfer the device refuses: {:?}", r)))
}
