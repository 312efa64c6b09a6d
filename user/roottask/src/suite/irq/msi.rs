//! Message-signalled interrupts: QEMU's `edu` PCI device, found through the MCFG region,
//! raises interrupts as MSIs routed by `assign_gsi` to a GSI semaphore, which sees exactly
//! one `up` per raised interrupt. `assign_gsi` refuses an MSI for a device the caller has
//! not mapped.

use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{assign_gsi, assign_gsi_mode, assign_pci, sm_down, sm_down_until};

use facet_rt::window::Window;

use super::gsi_semaphore;
use crate::suite::fixture::{CMDLINE, MSI, MSI_PAGES};
use crate::suite::tools::map_from_kernel;
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// A GSI beyond the I/O APIC's pins: an MSI.
pub(crate) const MSI_GSI: u64 = 100;
/// Where the roottask receives its interrupt semaphore.
const SM: u64 = MSI.at(0);
/// Where the device's configuration page and its registers (BAR 0) are mapped.
pub(crate) const CONFIG: Window = MSI_PAGES.window().sub(0, 0x1000);
pub(crate) const REGS: Window = MSI_PAGES.window().sub(0x1_0000, 0x1000);
/// The edu device's ids and registers.
const EDU_ID: u32 = 0x11e8_1234;
pub(crate) const EDU_RAISE: u64 = 0x60;
pub(crate) const EDU_ACK: u64 = 0x64;
const INTERRUPTS: u32 = 1000;
/// The I/O APIC pins PCI INTx lines reach on q35 (PIRQ A..H), and where the roottask
/// receives their semaphores.
const PCI_GSIS: core::ops::Range<u64> = 16..24;
const PIN_SM: u64 = MSI.at(10);

pub(crate) fn map(phys: u64, at: Window, what: &str) -> TestResult {
    map_from_kernel(phys >> 12, 0, perm::MEM_R | perm::MEM_W, at, what)
}

fn cfg32(off: u64) -> u32 {
    CONFIG.read(off)
}

fn set_cfg32(off: u64, v: u32) {
    CONFIG.write(off, v)
}

fn reg_read(off: u64) -> u32 {
    REGS.read(off)
}

fn reg_write(off: u64, v: u32) {
    REGS.write(off, v)
}

/// Finds the edu device on the first bus of the MCFG region and maps its configuration
/// page at CONFIG; its physical address.
pub(crate) fn find_edu(e: &Env) -> Result<Option<u64>, Fail> {
    let base = e.hip().u64(off::MCFG_BASE);
    let size = e.hip().u64(off::MCFG_SIZE);
    for dev in 0..32u64 {
        let phys = base + (dev << 15);
        if (dev << 15) >= size {
            break;
        }
        map(phys, CONFIG, "configuration page")?;
        if cfg32(0) == EDU_ID {
            return Ok(Some(phys));
        }
    }
    Ok(None)
}

/// The offset of the MSI capability in the mapped configuration page.
pub(crate) fn msi_capability() -> Option<u64> {
    let mut at = (cfg32(0x34) & 0xfc) as u64;
    for _ in 0..48 {
        if at == 0 {
            return None;
        }
        let head = cfg32(at);
        if head & 0xff == 0x05 {
            return Some(at);
        }
        at = ((head >> 8) & 0xfc) as u64;
    }
    None
}

pub fn edu_msi_reaches_its_semaphore(e: &Env) -> TestResult {
    if !e.args.q35 {
        // Only QEMU's q35 machine has the MCFG region and the edu device.
        return Ok(());
    }
    let Some(_) = find_edu(e)? else {
        return Err(Fail::new(format_args!("no edu device on bus 0")));
    };
    // Memory decoding and bus mastering (an MSI is a memory write by the device).
    set_cfg32(0x04, cfg32(0x04) | 0x6);
    let bar0 = (cfg32(0x10) & !0xf) as u64;
    map(bar0, REGS, "edu registers")?;
    // The semaphore of the MSI GSI, from the kernel.
    gsi_semaphore(MSI_GSI, SM)?;
    // Bad input: no device mapped there, a page that is not configuration space, a CPU
    // that does not exist.
    ensure_eq!(assign_gsi(SM, 0x1000, 0, u64::MAX), Err(Status::BadDev));
    ensure_eq!(
        assign_gsi(SM, CMDLINE.addr(0), 0, u64::MAX),
        Err(Status::BadDev)
    );
    ensure_eq!(
        assign_gsi(SM, CONFIG.base(), 77, u64::MAX),
        Err(Status::BadCpu)
    );
    let (address, data) = ok(assign_gsi(SM, CONFIG.base(), 0, u64::MAX), "assign_gsi")?;
    // assign_pci as the reference answers without an IOMMU unit for the device: the
    // checks (a PD, a mapped configuration page), then BAD_DEV.
    ensure_eq!(assign_pci(SM, CONFIG.base(), 0), Err(Status::BadCap));
    ensure_eq!(assign_pci(PD, 0x1000, 0), Err(Status::BadDev));
    ensure_eq!(assign_pci(PD, CONFIG.base(), 0), Err(Status::BadDev));
    ensure_eq!(address & 0xfff0_0000, 0xfee0_0000u64);
    ensure_eq!(address >> 12 & 0xff, e.hip().cpu(0).lapic[0] as u64);
    // Program the device's MSI capability and enable it.
    let cap = msi_capability().ok_or_else(|| Fail::new(format_args!("edu has no MSI")))?;
    let control = cfg32(cap) >> 16;
    set_cfg32(cap + 4, address as u32);
    if control & (1 << 7) != 0 {
        set_cfg32(cap + 8, 0);
        set_cfg32(cap + 12, data as u32);
    } else {
        set_cfg32(cap + 8, data as u32);
    }
    set_cfg32(cap, cfg32(cap) | 1 << 16);
    for i in 0..INTERRUPTS {
        reg_write(EDU_RAISE, 1);
        sm_down(SM).map_err(|s| Fail::new(format_args!("interrupt {}: {}", i, s.name())))?;
        reg_write(EDU_ACK, 1);
    }
    // Exactly one `up` per interrupt: nothing is left over.
    ensure_eq!(sm_down_until(SM, 1), Err(Status::Timeout));
    set_cfg32(cap, cfg32(cap) & !(1 << 16));
    Ok(())
}

/// The same device with MSIs off interrupts through its INTx pin, a level-triggered,
/// active-low I/O APIC input. Which of the PCI pins it reaches depends on the slot: the
/// first interrupt finds it. The kernel masks the pin at each interrupt and unmasks it at
/// the next `down`, so the driver acknowledges the device before it waits again.
pub fn edu_pin_interrupt_reaches_its_semaphore(e: &Env) -> TestResult {
    if !e.args.q35 {
        return Ok(());
    }
    let Some(_) = find_edu(e)? else {
        return Err(Fail::new(format_args!("no edu device on bus 0")));
    };
    let bar0 = (cfg32(0x10) & !0xf) as u64;
    map(bar0, REGS, "edu registers")?;
    // Memory decoding, bus mastering, INTx enabled (command bit 10 clear).
    set_cfg32(0x04, (cfg32(0x04) | 0x6) & !(1 << 10));
    for g in PCI_GSIS {
        let sel = PIN_SM + g - PCI_GSIS.start;
        gsi_semaphore(g, sel)?;
        ok(assign_gsi_mode(sel, 0, true, true, u64::MAX), "assign_gsi")?;
    }
    // One interrupt, acknowledged; exactly one pin saw it.
    reg_write(EDU_RAISE, 1);
    reg_write(EDU_ACK, 1);
    let mut hit = None;
    for g in PCI_GSIS {
        let sel = PIN_SM + g - PCI_GSIS.start;
        if sm_down_until(sel, 1).is_ok() {
            ensure!(hit.is_none(), "two pins saw one interrupt");
            hit = Some(sel);
        }
    }
    let sm = hit.ok_or_else(|| Fail::new(format_args!("no PCI pin saw the interrupt")))?;
    for i in 0..INTERRUPTS {
        reg_write(EDU_RAISE, 1);
        reg_write(EDU_ACK, 1);
        sm_down(sm).map_err(|s| Fail::new(format_args!("interrupt {}: {}", i, s.name())))?;
    }
    ensure_eq!(sm_down_until(sm, 1), Err(Status::Timeout));
    Ok(())
}

/// A device that sends its MSIs in NMI delivery mode (which nothing stops without
/// interrupt remapping) cannot stop the machine: an NMI is an event the kernel counts and
/// reports, wherever it lands (in user mode, or in the kernel: in its entry and exit
/// paths, with the user's GS base still loaded, while the roottask makes hypercalls as
/// fast as it can). The edu device finishes a factorial on a thread of its own and
/// interrupts at a moment the CPU does not choose. No NMI reaches the GSI's semaphore.
pub fn nmi_msis_are_events(e: &Env) -> TestResult {
    const NMIS: u32 = 500;
    const EDU_FACTORIAL: u64 = 0x08;
    const EDU_STATUS: u64 = 0x20;
    if !e.args.q35 {
        return Ok(());
    }
    let Some(_) = find_edu(e)? else {
        return Err(Fail::new(format_args!("no edu device on bus 0")));
    };
    set_cfg32(0x04, cfg32(0x04) | 0x6);
    let bar0 = (cfg32(0x10) & !0xf) as u64;
    map(bar0, REGS, "edu registers")?;
    let (address, data) = ok(assign_gsi(SM, CONFIG.base(), 0, u64::MAX), "assign_gsi")?;
    let cap = msi_capability().ok_or_else(|| Fail::new(format_args!("edu has no MSI")))?;
    let control = cfg32(cap) >> 16;
    // Delivery mode 100b: NMI.
    let nmi = (data as u32 & !0x700) | 0x400;
    set_cfg32(cap + 4, address as u32);
    if control & (1 << 7) != 0 {
        set_cfg32(cap + 8, 0);
        set_cfg32(cap + 12, nmi);
    } else {
        set_cfg32(cap + 8, nmi);
    }
    set_cfg32(cap, cfg32(cap) | 1 << 16);
    for i in 0..NMIS {
        reg_write(EDU_STATUS, 0x80);
        reg_write(EDU_FACTORIAL, 5 + i % 8);
        // Hypercalls while the device computes: each `down` times out at once.
        let mut spins = 0u32;
        while reg_read(EDU_STATUS) & 1 != 0 {
            let _ = sm_down_until(SM, 1);
            spins += 1;
            ensure!(spins < 10_000_000, "factorial {} never finished", i);
        }
        reg_write(EDU_ACK, 1);
    }
    set_cfg32(cap, cfg32(cap) & !(1 << 16));
    // Nothing was counted as an interrupt of the GSI.
    ensure_eq!(sm_down_until(SM, 1), Err(Status::Timeout));
    Ok(())
}
