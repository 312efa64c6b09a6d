//! The edu driver (module `edu`) in a protection domain of its own, started by the
//! roottask's init code as the system's init would start it: clients in two other
//! protection domains (the roottask itself, and a child that calls the driver for the
//! roottask) get factorials and DMA copies; bad requests get their statuses. Then the
//! driver is killed (its capabilities revoked, as init stops a program): its portal is
//! gone, and the device no longer reaches the pages it had.

use core::arch::global_asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use facet_abi::crd::{Crd, Kind as CrdKind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_edu_core::factorial;
use facet_edu_core::protocol::{answer, layout, MAX_COPY, OP_COPY, OP_FACTORIAL};
use facet_rt::hypercall::{call, pd_ctrl_delegate};
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::{expect_fault, fault_after, faults, on, Kind};
use crate::init::{self, Init};
use crate::suite::child::Child;
use crate::suite::edu::{self, transfer};
use crate::suite::fixture::{EDU_CLIENT, EDU_CLIENT_UTCB, INIT_RAM};
use crate::suite::{ok, Env, Fail, TestResult};

/// The driver's index among the programs init started (`usize::MAX`: none).
static DRIVER: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The child client, and where it finds the driver's portal (in the child).
const CLIENT: Child = Child::new(EDU_CLIENT, EDU_CLIENT_UTCB);
const CLIENT_PORTAL: u64 = 0x40;

global_asm!(
    r#"
    .section .text.edu_client, "ax"
    .balign 4096
    .global __edu_client
    // A portal handler in the child: calls the driver's portal with the words it was
    // called with (they are in its UTCB), then replies with the driver's answer.
__edu_client:
    mov rdi, {portal} << 8
    syscall
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#,
    portal = const CLIENT_PORTAL,
);

extern "C" {
    fn __edu_client();
}

/// Calls the driver's portal `portal` with `words`; the answer's words (up to 8 of
/// them) and how many came.
fn ask(portal: u64, words: &[u64]) -> Result<([u64; 8], u64), Fail> {
    let u = Utcb::ROOT;
    u.send(words);
    ok(call(portal), "a call to the driver")?;
    let mut out = [0u64; 8];
    for (i, w) in out.iter_mut().enumerate().take(u.untyped().min(8) as usize) {
        *w = u.word(i as u64);
    }
    Ok((out, u.untyped()))
}

pub fn edu_driver_serves_clients(e: &Env) -> TestResult {
    if !e.args.q35 {
        return Ok(());
    }
    let mut init = Init::for_tests(e.world, INIT_RAM.start(), INIT_RAM.end());
    let m = init
        .module("edu")
        .ok_or_else(|| Fail::new(format_args!("no edu module")))?;
    let started = init.start(&m);
    if !on(e) {
        // Without the IOMMU the device's DMA would reach all of memory: not started.
        ensure!(started.is_err(), "the edu driver started without the IOMMU");
        return Ok(());
    }
    let index = started.map_err(|why| Fail::new(format_args!("edu: {why}")))?;
    DRIVER.store(index, Ordering::Relaxed);
    let portal = init::edu_portal().ok_or_else(|| Fail::new(format_args!("no portal")))?;
    let before = faults()?.count;
    // The roottask as a client.
    for n in [0u64, 1, 5, 10, 12, 13, 20] {
        let (w, _) = ask(portal, &[OP_FACTORIAL, n])?;
        ensure_eq!((w[0], w[1]), (answer::OK, factorial(n as u32) as u64));
    }
    // A copy of the most one call carries, through the device's DMA.
    let u = Utcb::ROOT;
    let words = MAX_COPY / 8;
    u.send(&[OP_COPY, MAX_COPY]);
    for i in 0..words {
        u.set_word(2 + i, 0xc0de_0000_0000 | i);
    }
    u.set_items(2 + words);
    ok(call(portal), "a copy")?;
    ensure_eq!(
        (u.word(0), u.word(1), u.untyped()),
        (answer::OK, MAX_COPY, 2 + words)
    );
    for i in 0..words {
        ensure_eq!(u.word(2 + i), 0xc0de_0000_0000 | i);
    }
    // Odd lengths: the bytes past the end come back as zeros.
    let (w, n) = ask(portal, &[OP_COPY, 3, 0x11_2233_4455])?;
    ensure_eq!((w[0], w[1], w[2], n), (answer::OK, 3, 0x33_4455, 3));
    // Bad requests.
    ensure_eq!(ask(portal, &[OP_COPY, 0])?.0[0], answer::BAD_LEN);
    ensure_eq!(ask(portal, &[OP_COPY, 16, 1])?.0[0], answer::BAD_LEN);
    ensure_eq!(ask(portal, &[OP_FACTORIAL, 1 << 40])?.0[0], answer::BAD_LEN);
    ensure_eq!(ask(portal, &[99, 0])?.0[0], answer::BAD_OP);
    ensure_eq!(ask(portal, &[])?.0[0], answer::BAD_OP);
    // A client in another protection domain.
    CLIENT
        .create(__edu_client)
        .map_err(|_| Fail::new(format_args!("the client child")))?;
    let crd = Crd::new(CrdKind::Object, portal, 0, perm::PT_CALL);
    let at = Crd::new(CrdKind::Object, CLIENT_PORTAL, 0, perm::PT_CALL);
    ok(
        pd_ctrl_delegate(ROOT_SEL_PD, CLIENT.pd(), crd, DELEGATE, at),
        "the portal into the child",
    )?;
    let pt = ok(CLIENT.prepare(0, __edu_client), "the client's handler")?;
    u.send(&[OP_FACTORIAL, 11]);
    ok(call(pt), "the client")?;
    ensure_eq!((u.word(0), u.word(1)), (answer::OK, factorial(11) as u64));
    CLIENT.revoke(1)?;
    // Nothing faulted meanwhile.
    ensure_eq!(faults()?.count, before);
    Ok(())
}

/// Killing the driver (init revokes its capabilities; its protection domain goes with
/// the last) takes its portal and its device's access to its pages: a DMA to where its
/// second page was faults (no context entry) and leaves the page as it was.
pub fn killing_the_driver_stops_its_dma(e: &Env) -> TestResult {
    let index = DRIVER.load(Ordering::Relaxed);
    if !e.args.q35 || !on(e) || index == usize::MAX {
        return Ok(());
    }
    let portal = init::edu_portal().ok_or_else(|| Fail::new(format_args!("no portal")))?;
    ensure!(init::stop_program(index), "the driver was not running");
    ensure_eq!(call(portal), Err(Status::BadCap));
    // The driver's second DMA page, as the roottask sees all of its programs' memory.
    let page = Window::new(init::phys_window(init::edu_dma() + 4096), 4096);
    for i in 0..512 {
        page.write(i * 8, 0x4b1d_0000 + i);
    }
    let d = edu::require(e)?;
    edu::enable()?;
    let before = faults()?.count;
    edu::dma(e, transfer(0, layout::DMA_DEVICE + 4096, 4096, true)?)?;
    let f = fault_after(e, before)?;
    ensure!(
        (0..512).all(|i| page.read::<u64>(i * 8) == 0x4b1d_0000 + i),
        "the dead driver's device wrote its page"
    );
    expect_fault(f, d.rid, &[0x2], Kind::Write, layout::DMA_DEVICE + 4096)
}
