//! The IOMMU (q35 with intel-iommu; the kernel's `iommu` turns it on): a device reaches
//! memory only through the domain `assign_pci` gave it, as the device page table of that
//! protection domain says at every moment (revocation and moves included), its MSIs go
//! only where their remapped entries say, and faults are recorded with requester and
//! reason. Then the edu driver in a protection domain of its own, serving clients in
//! others, and its death taking its device's access with it.
//!
//! The roottask drives QEMU's edu device directly for the mechanisms (its registers are
//! mapped here; the domains are children's), reading the faults through Facet's
//! `machine_ctrl` statistics. Without the IOMMU (tier `tcg-q35`) the tests check the
//! answers the reference gives without a unit and that the driver is not started.

mod dma;
mod driver;
mod interrupts;

pub use dma::{
    a_device_moves_between_domains, assign_pci_answers_as_the_reference,
    dma_before_assign_pci_faults, dma_round_trip_through_the_domain,
    dma_to_an_unmapped_address_faults, revoked_device_pages_fault,
};
pub use driver::{edu_driver_serves_clients, killing_the_driver_stops_its_dma};
pub use interrupts::forged_msis_are_blocked;

use facet_abi::args::IommuFaultsOut;
use facet_abi::hip::{off, FEAT_IOMMU};
use facet_rt::hypercall::iommu_faults;

use super::{ok, Env, Fail, TestResult};

/// Whether the HIP reports DMA remapping.
fn on(e: &Env) -> bool {
    e.hip().u32(off::API_FLG) & FEAT_IOMMU != 0
}

/// The fault statistics now.
fn faults() -> Result<IommuFaultsOut, Fail> {
    ok(iommu_faults(), "the IOMMU's fault statistics")
}

/// Waits (a second at most) until a fault is recorded after the `before`th; the last.
/// The unit reports a fault with an interrupt, which reaches the boot CPU (where the
/// roottask runs) as soon as it runs user code again.
fn fault_after(e: &Env, before: u64) -> Result<IommuFaultsOut, Fail> {
    let deadline = facet_rt::cpu::rdtsc() + 1000 * e.per_ms();
    loop {
        let f = faults()?;
        if f.count > before {
            return Ok(f);
        }
        if facet_rt::cpu::rdtsc() > deadline {
            return Err(Fail::new(format_args!("no fault was recorded")));
        }
        core::hint::spin_loop();
    }
}

/// Checks the last fault: its requester, reason, kind (DMA write, DMA read, interrupt)
/// and address or interrupt index.
fn expect_fault(
    f: IommuFaultsOut,
    source: u16,
    reasons: &[u8],
    kind: Kind,
    info: u64,
) -> TestResult {
    ensure_eq!(f.source(), source);
    ensure!(
        reasons.contains(&f.reason()),
        "fault reason {:#x}, expected one of {:x?}",
        f.reason(),
        reasons
    );
    ensure_eq!(f.interrupt(), kind == Kind::Interrupt);
    if kind != Kind::Interrupt {
        ensure_eq!(f.write(), kind == Kind::Write);
    }
    ensure_eq!(f.info, info);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Write,
    Read,
    Interrupt,
}

/// The HIP says what the kernel was told (`iommu` on a machine with a unit), and the
/// fault statistics answer.
pub fn hip_reports_remapping(e: &Env) -> TestResult {
    ensure_eq!(on(e), e.args.iommu);
    let f = faults()?;
    if !on(e) {
        ensure_eq!(f.count, 0u64);
        ensure_eq!(f.last, 0u64);
    }
    Ok(())
}
