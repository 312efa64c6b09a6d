//! Interrupt remapping: a device can only raise the interrupt it was given, on the CPU
//! it was given. The edu device gets GSI 100 (its entry names the device), another
//! function (the host bridge, 00:00.0) GSI 101 on another CPU; then the device sends
//! remappable messages naming 101's entry (with a sub-handle, and as a handle), an entry
//! nobody routed, and one beyond the table (its own data with the NMI delivery mode's
//! bits): each is blocked with its fault recorded and no semaphore sees an `up`. Its own
//! message still arrives, once.

use facet_abi::crd::{Crd, Kind as CrdKind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_edu_core::regs;
use facet_rt::hypercall::{assign_gsi, pd_ctrl_delegate, sm_down_until};
use facet_rt::window::Window;

use super::{expect_fault, fault_after, faults, on, Kind};
use crate::suite::edu::{self, reg_write, CONFIG};
use crate::suite::fixture::{IOMMU, IOMMU_PAGES};
use crate::suite::tools::revoke_all;
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

/// The semaphores of GSIs 100 (the device's) and 101 (the host bridge's).
const OWN: u64 = IOMMU.at(2);
const OTHER: u64 = IOMMU.at(3);
/// Where the host bridge's configuration page is mapped.
const BRIDGE: Window = IOMMU_PAGES.window().sub(0x3000, 4096);

fn semaphore(gsi: u64, sel: u64) -> TestResult {
    let crd = Crd::new(
        CrdKind::Object,
        facet_abi::config::NUM_CPU as u64 + gsi,
        0,
        perm::ALL,
    );
    let at = Crd::new(CrdKind::Object, sel, 0, perm::ALL);
    ok(
        pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, at).map(|_| ()),
        "a GSI's semaphore",
    )
}

/// Raises the device's interrupt with the message `(address, data)`; whether either
/// semaphore saw it within 200 ms (the message is sent as the raise is written; what
/// arrives later still fails the checks at the test's end).
fn raise(e: &Env, address: u64, data: u32) -> Result<bool, Fail> {
    edu::program_msi(address, data)?;
    reg_write(regs::IRQ_RAISE, 1);
    reg_write(regs::IRQ_ACK, 1);
    let soon = facet_rt::cpu::rdtsc() + 200 * e.per_ms();
    let own = sm_down_until(OWN, soon).is_ok();
    let other = sm_down_until(OTHER, 1).is_ok();
    Ok(own || other)
}

pub fn forged_msis_are_blocked(e: &Env) -> TestResult {
    if !e.args.q35 || !on(e) {
        return Ok(());
    }
    let d = edu::require(e)?;
    edu::enable()?;
    semaphore(100, OWN)?;
    semaphore(101, OTHER)?;
    let (address, data) = ok(assign_gsi(OWN, CONFIG.base(), 0, u64::MAX), "assign_gsi")?;
    ensure_eq!((address, data), (0xfee0_0018u64, 100u64));
    // The host bridge's MSI entry, on the last CPU.
    let bridge = e.hip().u64(off::MCFG_BASE);
    edu::map(bridge, BRIDGE, "the host bridge's configuration page")?;
    let cpu = (e.cpus(64) - 1) as u32;
    let (_, other) = ok(
        assign_gsi(OTHER, BRIDGE.base(), cpu, u64::MAX),
        "assign_gsi",
    )?;
    ensure_eq!(other, 101u64);
    // The device's own message arrives (and only once).
    ensure!(
        raise(e, address, data as u32)?,
        "the device's own MSI did not arrive"
    );
    let forged: [(u64, u32, u8, u64); 4] = [
        // Another requester's entry, by sub-handle and by handle.
        (address, 101, 0x26, 101),
        (0xfee0_0010 | 101 << 5, 0, 0x26, 101),
        // An entry nobody routed.
        (address, 150, 0x22, 150),
        // The NMI delivery mode's bits in a remappable message: an entry beyond the
        // table.
        (address, 0x464, 0x21, 0x464),
    ];
    for (a, dt, reason, index) in forged {
        let before = faults()?.count;
        ensure!(
            !raise(e, a, dt)?,
            "a forged message ({:#x}, {:#x}) was delivered",
            a,
            dt
        );
        let f = fault_after(e, before)?;
        expect_fault(f, d.rid, &[reason], Kind::Interrupt, index)?;
    }
    // Its own entry still works.
    ensure!(
        raise(e, address, data as u32)?,
        "the device's own MSI did not arrive"
    );
    edu::disable_msi();
    ensure_eq!(sm_down_until(OWN, 1), Err(Status::Timeout));
    ensure_eq!(sm_down_until(OTHER, 1), Err(Status::Timeout));
    revoke_all([OWN, OTHER])
}
