//! Interrupts: a GSI routed to a semaphore wakes the EC waiting on it.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{assign_gsi, pd_ctrl_delegate, sm_down};
use facet_rt::io::outb;

use super::{Fail, TestResult};
use crate::world::World;
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;

pub fn hip_lists_ioapic(w: &World) -> TestResult {
    let io = w.hip.ioapic(0);
    ensure_eq!(io.base, 0xfec0_0000u32);
    ensure!(
        io.version & 0xff != 0,
        "I/O APIC version register reads {:#x}",
        io.version
    );
    ensure_eq!(w.hip.u32(off::SEL_GSI), 192u32);
    Ok(())
}

pub fn pit_interrupt_wakes_semaphore() -> TestResult {
    // The PIT's ports and the interrupt semaphore of GSI 2 (the PC's IRQ 0), from the kernel.
    let pit = Crd::new(Kind::Pio, 0x40, 2, perm::PIO_A);
    pd_ctrl_delegate(PD, PD, pit, FROM_KERNEL, pit)
        .map_err(|s| Fail::new(format_args!("ports: {}", s.name())))?;
    let gsi_sel = facet_abi::config::NUM_CPU as u64 + 2;
    let crd = Crd::new(Kind::Object, gsi_sel, 0, perm::ALL);
    let window = Crd::new(Kind::Object, 800, 0, perm::ALL);
    let (got, _) = pd_ctrl_delegate(PD, PD, crd, FROM_KERNEL, window)
        .map_err(|s| Fail::new(format_args!("semaphore: {}", s.name())))?;
    ensure_eq!(got, window);
    ensure!(
        assign_gsi(800, 0, 5, u64::MAX) == Err(Status::BadCpu),
        "CPU 5 accepted"
    );
    ensure!(
        assign_gsi(100, 0, 0, u64::MAX) == Err(Status::BadCap),
        "ordinary semaphore accepted"
    );
    ensure!(
        assign_gsi(PD, 0, 0, u64::MAX) == Err(Status::BadCap),
        "PD capability accepted"
    );
    assign_gsi(800, 0, 0, u64::MAX)
        .map_err(|s| Fail::new(format_args!("assign_gsi: {}", s.name())))?;
    // Channel 0, mode 0 (interrupt on terminal count), about 1 ms.
    outb(0x43, 0x30);
    outb(0x40, 0xa9);
    outb(0x40, 0x04);
    // Blocks until the interrupt: the roottask is the only runnable EC, so the CPU idles.
    sm_down(800).map_err(|s| Fail::new(format_args!("down: {}", s.name())))?;
    Ok(())
}
