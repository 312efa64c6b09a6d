//! Interrupt calls that must change nothing they should not:
//!
//! - `sm_ctrl down` on the semaphore of an I/O APIC pin nobody routed leaves the pin
//!   masked (its entry names vector 0, which would otherwise reach a CPU as a spurious
//!   exception): the RTC's periodic interrupt on GSI 8 stays away.
//! - `assign_gsi` checks everything before it changes anything: a chain named in a call
//!   that answers BAD_DEV is not made.

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::cpu::rdtsc;
use facet_rt::hypercall::{assign_gsi, create_sm, pd_ctrl_delegate, revoke, sm_down_until};
use facet_rt::io::{inb, outb};

use super::gsi_semaphore;
use crate::suite::fixture::IRQ_CHECKS;
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
const RTC_SM: u64 = IRQ_CHECKS.at(0);
const MSI_SM: u64 = IRQ_CHECKS.at(1);
const CHAIN: u64 = IRQ_CHECKS.at(2);
/// A GSI beyond the I/O APIC's pins: an MSI, whose device must be named.
const MSI_GSI: u64 = 120;

fn rtc(register: u8) -> u8 {
    outb(0x70, register);
    inb(0x71)
}

fn set_rtc(register: u8, v: u8) {
    outb(0x70, register);
    outb(0x71, v);
}

fn release(sel: u64) {
    let _ = revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None);
}

pub fn down_leaves_an_unrouted_pin_masked(_: &Env) -> TestResult {
    let ports = Crd::new(Kind::Pio, 0x70, 1, perm::PIO_A);
    ok(
        pd_ctrl_delegate(PD, PD, ports, FROM_KERNEL, ports).map(|_| ()),
        "RTC ports",
    )?;
    gsi_semaphore(8, RTC_SM)?;
    // The RTC raises its periodic interrupt (IRQ 8) 1024 times a second.
    let (a, b) = (rtc(0x0a), rtc(0x0b));
    set_rtc(0x0a, a & 0xf0 | 0x06);
    set_rtc(0x0b, b | 0x40);
    let _ = rtc(0x0c);
    // Nothing routed GSI 8: the down times out, and the pin stays masked while the
    // RTC keeps asserting it (a spurious interrupt would stop the roottask or the
    // kernel).
    let r = sm_down_until(RTC_SM, rdtsc() + 20_000_000);
    let start = rdtsc();
    while rdtsc().wrapping_sub(start) < 20_000_000 {
        let _ = rtc(0x0c);
        core::hint::spin_loop();
    }
    // Routed now: the interrupt arrives (so the RTC did raise it all along).
    let routed = assign_gsi(RTC_SM, 0, 0, u64::MAX).map(|_| ());
    let _ = rtc(0x0c);
    let arrived = sm_down_until(RTC_SM, rdtsc() + 2_000_000_000);
    set_rtc(0x0b, b & !0x40);
    let _ = rtc(0x0c);
    release(RTC_SM);
    ensure_eq!(r, Err(Status::Timeout));
    ok(routed, "assign_gsi")?;
    ok(arrived, "the routed RTC interrupt")?;
    Ok(())
}

pub fn a_refused_assign_gsi_changes_nothing(_: &Env) -> TestResult {
    gsi_semaphore(MSI_GSI, MSI_SM)?;
    ok(create_sm(CHAIN, PD, 0, 0), "semaphore to chain to")?;
    // No device named (nothing mapped at 0x1000): BAD_DEV, and no chain was made.
    let r = assign_gsi(MSI_SM, 0x1000, 0, CHAIN);
    // A chained interrupt semaphore's down returns at once; an unchained one waits.
    let down = sm_down_until(MSI_SM, 1);
    release(CHAIN);
    release(MSI_SM);
    ensure_eq!(r, Err(Status::BadDev));
    ensure!(
        down == Err(Status::Timeout),
        "the refused call chained the semaphore (down: {:?})",
        down
    );
    Ok(())
}
