//! Interrupts: a GSI routed to a semaphore wakes the EC waiting on it, chained
//! semaphores, message-signalled and pin interrupts of a PCI device (and its MSIs in
//! NMI mode), and interrupt calls that must leave things as they are.

mod checks;
mod msi;

use facet_abi::config::NUM_CPU;
use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{
    assign_gsi, create_sm, pd_ctrl_delegate, pool_stats, revoke, sm_down, sm_down_until,
};
use facet_rt::io::outb;

pub use checks::{a_refused_assign_gsi_changes_nothing, down_leaves_an_unrouted_pin_masked};
pub use msi::{
    edu_msi_reaches_its_semaphore, edu_pin_interrupt_reaches_its_semaphore, nmi_msis_are_events,
};

use super::caps::SM as ORDINARY_SM;
use super::fixture::IRQ;
use super::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// GSI 2's semaphore (the PIT's).
const GSI2: u64 = IRQ.at(0);

/// Takes the semaphore of GSI `gsi` from the kernel to selector `sel`; the answer.
pub(crate) fn gsi_semaphore(gsi: u64, sel: u64) -> Result<Crd, Fail> {
    let crd = Crd::new(Kind::Object, NUM_CPU as u64 + gsi, 0, perm::ALL);
    let window = Crd::new(Kind::Object, sel, 0, perm::ALL);
    pd_ctrl_delegate(PD, PD, crd, FROM_KERNEL, window)
        .map(|(got, _)| got)
        .map_err(|s| Fail::new(format_args!("GSI {}'s semaphore: {}", gsi, s.name())))
}

pub fn hip_lists_ioapic(e: &Env) -> TestResult {
    let io = e.hip().ioapic(0);
    ensure_eq!(io.base, 0xfec0_0000u32);
    ensure!(
        io.version & 0xff != 0,
        "I/O APIC version register reads {:#x}",
        io.version
    );
    ensure_eq!(e.hip().u32(off::SEL_GSI), 192u32);
    Ok(())
}

/// Needs `caps::semaphore_counts` first (an ordinary semaphore, to be refused).
pub fn pit_interrupt_wakes_semaphore(e: &Env) -> TestResult {
    // The PIT's ports and the interrupt semaphore of GSI 2 (the PC's IRQ 0), from the kernel.
    let pit = Crd::new(Kind::Pio, 0x40, 2, perm::PIO_A);
    pd_ctrl_delegate(PD, PD, pit, FROM_KERNEL, pit)
        .map_err(|s| Fail::new(format_args!("ports: {}", s.name())))?;
    let got = gsi_semaphore(2, GSI2)?;
    ensure_eq!(got, Crd::new(Kind::Object, GSI2, 0, perm::ALL));
    ensure!(
        assign_gsi(GSI2, 0, e.offline_cpu() as u32, u64::MAX) == Err(Status::BadCpu),
        "an offline CPU accepted"
    );
    ensure!(
        assign_gsi(ORDINARY_SM, 0, 0, u64::MAX) == Err(Status::BadCap),
        "ordinary semaphore accepted"
    );
    ensure!(
        assign_gsi(PD, 0, 0, u64::MAX) == Err(Status::BadCap),
        "PD capability accepted"
    );
    assign_gsi(GSI2, 0, 0, u64::MAX)
        .map_err(|s| Fail::new(format_args!("assign_gsi: {}", s.name())))?;
    pit_one_shot();
    // Blocks until the interrupt: the roottask is the only runnable EC, so the CPU idles.
    sm_down(GSI2).map_err(|s| Fail::new(format_args!("down: {}", s.name())))?;
    Ok(())
}

/// Chaining an interrupt semaphore: the interrupt signals the semaphore it is chained to,
/// a `down` on the interrupt semaphore itself only re-enables the interrupt, and
/// chaining to itself unchains. Runs after `pit_interrupt_wakes_semaphore`, which
/// delegated the PIT's ports and GSI 2's semaphore.
pub fn gsi_chaining(_: &Env) -> TestResult {
    const CHAIN: u64 = IRQ.at(1);
    const OTHER_GSI: u64 = IRQ.at(2);
    const EMPTY: u64 = IRQ.at(3);
    const CHAINED: u64 = IRQ.at(4);
    let (free_before, _) =
        pool_stats().map_err(|s| Fail::new(format_args!("stats: {}", s.name())))?;
    ok(create_sm(CHAIN, PD, 0, 0), "semaphore")?;
    // Bad chains: an empty selector, a PD, another interrupt semaphore.
    ensure_eq!(assign_gsi(GSI2, 0, 0, EMPTY), Err(Status::BadCap));
    ensure_eq!(assign_gsi(GSI2, 0, 0, PD), Err(Status::BadCap));
    gsi_semaphore(3, OTHER_GSI)?;
    let window = Crd::new(Kind::Object, OTHER_GSI, 0, perm::ALL);
    ensure_eq!(assign_gsi(GSI2, 0, 0, OTHER_GSI), Err(Status::BadCap));
    // A semaphore chained itself (here to the interrupt semaphore: the two would keep
    // each other alive).
    ok(
        create_sm(CHAINED, PD, 0, GSI2),
        "semaphore chained to the interrupt's",
    )?;
    ensure_eq!(assign_gsi(GSI2, 0, 0, CHAINED), Err(Status::BadCap));
    ok(
        revoke(Crd::new(Kind::Object, CHAINED, 0, perm::ALL), true, None),
        "revoke the chained semaphore",
    )?;
    ok(assign_gsi(GSI2, 0, 0, CHAIN).map(|_| ()), "chain")?;
    pit_one_shot();
    // The interrupt semaphore is chained: its down returns at once.
    ok(sm_down(GSI2), "down on the chained interrupt semaphore")?;
    // The interrupt arrives at the chained one.
    ok(sm_down(CHAIN), "down on the chained semaphore")?;
    // Unchained again: the interrupt semaphore counts the next interrupt itself.
    ok(assign_gsi(GSI2, 0, 0, GSI2).map(|_| ()), "unchain")?;
    pit_one_shot();
    ok(sm_down(GSI2), "down after unchaining")?;
    ensure_eq!(sm_down_until(CHAIN, 1), Err(Status::Timeout));
    // Nothing keeps the chained semaphore once its capability goes.
    ok(
        revoke(Crd::new(Kind::Object, CHAIN, 0, perm::ALL), true, None),
        "revoke",
    )?;
    ok(revoke(window, true, None), "revoke GSI 3")?;
    let (free_after, _) =
        pool_stats().map_err(|s| Fail::new(format_args!("stats: {}", s.name())))?;
    ensure_eq!(free_after, free_before);
    Ok(())
}

/// PIT channel 0, mode 0 (interrupt on terminal count), about 1 ms.
fn pit_one_shot() {
    outb(0x43, 0x30);
    outb(0x40, 0xa9);
    outb(0x40, 0x04);
}
