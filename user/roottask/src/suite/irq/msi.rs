//! Message-signalled interrupts: QEMU's `edu` PCI device, found through the MCFG region,
//! raises interrupts as MSIs routed by `assign_gsi` to a GSI semaphore, which sees exactly
//! one `up` per raised interrupt, through the IOMMU's remapped entries when the kernel
//! remaps interrupts (`iommu`) and directly otherwise. `assign_gsi` refuses an MSI for a
//! device the caller has not mapped.

use facet_abi::hip::{off, FEAT_IOMMU};
use facet_abi::status::Status;
use facet_rt::hypercall::{assign_gsi, assign_gsi_mode, sm_down, sm_down_until};

use super::gsi_semaphore;
use crate::suite::edu::{self, cfg32, reg_read, reg_write, set_cfg32, CONFIG};
use crate::suite::fixture::{CMDLINE, MSI};
use crate::suite::{ok, Env, Fail, TestResult};

/// A GSI beyond the I/O APIC's pins: an MSI.
const MSI_GSI: u64 = 100;
/// Where the roottask receives its interrupt semaphore.
const SM: u64 = MSI.at(0);
const EDU_RAISE: u64 = facet_edu_core::regs::IRQ_RAISE;
const EDU_ACK: u64 = facet_edu_core::regs::IRQ_ACK;
const INTERRUPTS: u32 = 1000;
/// The I/O APIC pins PCI INTx lines reach on q35 (PIRQ A..H), and where the roottask
/// receives their semaphores.
const PCI_GSIS: core::ops::Range<u64> = 16..24;
const PIN_SM: u64 = MSI.at(10);

/// Whether the kernel remaps interrupts (the HIP reports the IOMMU: with it, every
/// interrupt goes through the remapping table).
fn remapped(e: &Env) -> bool {
    e.hip().u32(off::API_FLG) & FEAT_IOMMU != 0
}

pub fn edu_msi_reaches_its_semaphore(e: &Env) -> TestResult {
    if !e.args.q35 {
        // Only QEMU's q35 machine has the MCFG region and the edu device.
        return Ok(());
    }
    edu::require(e)?;
    edu::enable()?;
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
    if remapped(e) {
        // The remappable format naming the GSI's entry, as the reference's: interrupt
        // format and sub-handle valid, the sub-handle (the entry) in the data.
        ensure_eq!(address, 0xfee0_0018u64);
        ensure_eq!(data, MSI_GSI);
    } else {
        ensure_eq!(address & 0xfff0_0000, 0xfee0_0000u64);
        ensure_eq!(address >> 12 & 0xff, e.hip().cpu(0).lapic[0] as u64);
        ensure_eq!(data, 0x30 + MSI_GSI);
    }
    edu::program_msi(address, data as u32)?;
    for i in 0..INTERRUPTS {
        reg_write(EDU_RAISE, 1);
        sm_down(SM).map_err(|s| Fail::new(format_args!("interrupt {}: {}", i, s.name())))?;
        reg_write(EDU_ACK, 1);
    }
    // Exactly one `up` per interrupt: nothing is left over.
    ensure_eq!(sm_down_until(SM, 1), Err(Status::Timeout));
    edu::disable_msi();
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
    edu::require(e)?;
    edu::enable()?;
    // INTx enabled (command bit 10 clear).
    set_cfg32(0x04, cfg32(0x04) & !(1 << 10));
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
///
/// The message is in the compatibility format (the local APIC's address): what a device
/// sends that was never given a remapped entry. With interrupt remapping a unit blocks
/// it (GSTS.CFIS is clear); QEMU's unit lets it through, so the NMIs arrive under QEMU
/// either way (`docs/iommu.md`).
pub fn nmi_msis_are_events(e: &Env) -> TestResult {
    const NMIS: u32 = 500;
    const EDU_FACTORIAL: u64 = facet_edu_core::regs::FACTORIAL;
    const EDU_STATUS: u64 = facet_edu_core::regs::STATUS;
    if !e.args.q35 {
        return Ok(());
    }
    edu::require(e)?;
    edu::enable()?;
    ok(assign_gsi(SM, CONFIG.base(), 0, u64::MAX), "assign_gsi")?;
    // Delivery mode 100b: NMI, to the boot CPU's local APIC.
    let address = 0xfee0_0000 | (e.hip().cpu(0).lapic[0] as u64 & 0xff) << 12;
    let nmi = (0x30 + MSI_GSI as u32) | 0x400;
    edu::program_msi(address, nmi)?;
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
    edu::disable_msi();
    // Nothing was counted as an interrupt of the GSI.
    ensure_eq!(sm_down_until(SM, 1), Err(Status::Timeout));
    // The kernel reports NMIs, and what its rate limiter left out, from a timer
    // interrupt, up to a second after they came: waiting that long lets the reports out
    // before this test's line, instead of into the middle of a later one on the serial
    // port the roottask shares with the kernel.
    let quiet = facet_rt::cpu::rdtsc() + 1200 * e.per_ms();
    while sm_down_until(SM, quiet).is_ok() {}
    Ok(())
}
