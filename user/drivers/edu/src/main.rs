//! Facet's driver for QEMU's `edu` device, a program in a protection domain of its own
//! (started by the roottask from a module named `edu`; its role is in `docs/init.md`).
//!
//! What it is given: the device's configuration page, the first page of its registers,
//! two DMA pages (mapped here and, at `layout::DMA_DEVICE`, in its device page table),
//! and the semaphore of its MSI's GSI. The roottask has put the device into this
//! protection domain's IOMMU domain (`assign_pci`) before it starts: the device reaches
//! the two DMA pages and nothing else. The driver routes the MSI to its semaphore
//! (`assign_gsi`, which answers the remappable message when interrupts are remapped),
//! programs the device's MSI capability, and serves clients on one portal: factorials
//! and copies between its two DMA pages by the device's DMA (`facet_edu_core::protocol`),
//! one request at a time, each waiting for the device's interrupt.

#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

use facet_edu_core::dma;
use facet_edu_core::protocol::{self, answer, layout, Request};
use facet_edu_core::regs;
use facet_rt::entry::Stack;
use facet_rt::hypercall::{
    assign_gsi, call, create_ec, create_pt, create_sm, sm_down, sm_down_until,
};
use facet_rt::println;
use facet_rt::start_info::{parent, sel, StartInfo, MAIN_UTCB_ADDR};
use facet_rt::utcb::Utcb;
use facet_rt::window::{Window, MAPPABLE};

facet_rt::entry!(main);

/// The driver's objects.
const HANDLER_EC: u64 = sel::FREE;
const PORTAL: u64 = sel::FREE + 1;
const PARK: u64 = sel::FREE + 2;
/// The MSI's semaphore, as the roottask delivers it.
const MSI: u64 = sel::GSIS + layout::MSI_GSI;
/// The handler's UTCB.
const HANDLER_UTCB: u64 = 0x3000_0000;

const CONFIG: Window = Window::page(layout::CONFIG_VA);
const REGS: Window = Window::page(layout::REGS_VA);
const DMA: Window = Window::new(layout::DMA_VA, layout::DMA_PAGES * 4096);

static STACK: Stack = Stack::new();
facet_rt::portal_entry!(fn serve_entry on STACK => serve);

/// TSC ticks the device may take for one step (a second at the measured frequency).
static TIMEOUT: AtomicU64 = AtomicU64::new(0);

fn main(cpu: u64, info: u64) -> ! {
    let Some(info) = StartInfo::at(info) else {
        println!("edu: no start-info page");
        exit(1);
    };
    if info.console != 0 {
        facet_rt::console::use_service(cpu as u32);
        let _ = facet_rt::console::set_name("edu");
    }
    if let Err(why) = check_regions(info) {
        println!("edu: {why}");
        exit(1);
    }
    TIMEOUT.store(info.tsc_khz.max(1_000_000) * 1000, Ordering::Relaxed);
    if let Err(why) = bring_up(cpu as u32) {
        println!("edu: {why}");
        exit(1);
    }
    println!("edu: serving factorials and DMA copies on CPU {cpu}");
    // The main EC has nothing more to do: the handler serves the portal.
    let _ = create_sm(PARK, sel::PD, 0, 0);
    loop {
        let _ = sm_down(PARK);
    }
}

/// The regions the roottask gave, where this driver expects them.
fn check_regions(info: &StartInfo) -> Result<(), &'static str> {
    let want = [
        (layout::CONFIG, layout::CONFIG_VA, 4096),
        (layout::REGS, layout::REGS_VA, 4096),
        (layout::DMA, layout::DMA_VA, layout::DMA_PAGES * 4096),
    ];
    for (name, va, size) in want {
        let r = info.region(name).ok_or("a region is missing")?;
        if r.va != va || r.size < size || !MAPPABLE.contains(&va) {
            return Err("a region is not where the protocol puts it");
        }
    }
    Ok(())
}

/// The device checked and enabled, its MSI routed, the portal registered.
fn bring_up(cpu: u32) -> Result<(), &'static str> {
    if CONFIG.read::<u32>(0) != regs::ID {
        return Err("the configuration page is not the edu device's");
    }
    // Memory decoding and bus mastering (its DMA and its MSIs are writes by the device).
    CONFIG.write(0x04, CONFIG.read::<u32>(0x04) | 0x6);
    REGS.write(regs::LIVENESS, 0x1234_5678u32);
    if REGS.read::<u32>(regs::LIVENESS) != !0x1234_5678u32 {
        return Err("the device does not answer");
    }
    let (address, data) = assign_gsi(MSI, layout::CONFIG_VA, cpu, u64::MAX)
        .map_err(|_| "assign_gsi refused the MSI")?;
    let cap = facet_edu_core::msi::find(|o| CONFIG.read::<u32>(o)).ok_or("no MSI capability")?;
    for (at, v) in facet_edu_core::msi::program(cap, CONFIG.read(cap), address, data as u32) {
        CONFIG.write(at, v);
    }
    let sp = STACK.top() - 16;
    let evt = StartInfo::event_base(cpu);
    create_ec(HANDLER_EC, sel::PD, 0, cpu as u64, HANDLER_UTCB, sp, evt)
        .map_err(|_| "create_ec failed")?;
    create_pt(
        PORTAL,
        sel::PD,
        HANDLER_EC,
        0,
        facet_rt::entry::addr(serve_entry),
    )
    .map_err(|_| "create_pt failed")?;
    register()
}

/// Hands the portal to the roottask, which gives it to the clients.
fn register() -> Result<(), &'static str> {
    let u = Utcb::at(MAIN_UTCB_ADDR);
    u.send(&[parent::REGISTER_SERVICE, layout::SERVICE]);
    let crd = facet_abi::crd::Crd::new(
        facet_abi::crd::Kind::Object,
        PORTAL,
        0,
        facet_abi::perm::PT_CALL,
    );
    u.set_typed(0, crd, facet_abi::hypercall::xfer::DELEGATE);
    u.set_items(2 | 1 << 16);
    call(sel::PARENT).map_err(|_| "the roottask's portal refused the registration")?;
    (u.untyped() > 0 && u.word(0) == 0)
        .then_some(())
        .ok_or("the roottask refused the registration")
}

/// A client's call.
extern "C" fn serve(_id: u64) -> ! {
    let u = Utcb::at(HANDLER_UTCB);
    // An interrupt of an earlier request that gave up waiting must not end this one's
    // wait: a deadline already past takes what is counted.
    while sm_down_until(MSI, 1).is_ok() {}
    match protocol::decode(u.untyped(), u.word(0), u.word(1)) {
        Ok(Request::Factorial(n)) => match factorial(n) {
            Some(v) => u.send(&[answer::OK, v as u64]),
            None => u.send(&[answer::DEVICE]),
        },
        Ok(Request::Copy { bytes }) => {
            if copy(u, bytes) {
                // The answer: status, count, then the words the copy holds (already in
                // place from word 2 on).
                u.set_word(0, answer::OK);
                u.set_word(1, bytes);
                u.set_items(2 + protocol::words(bytes));
            } else {
                u.send(&[answer::DEVICE]);
            }
        }
        Err(status) => u.send(&[status]),
    }
    facet_rt::hypercall::reply()
}

/// n! by the device, which interrupts when done.
fn factorial(n: u32) -> Option<u32> {
    REGS.write(regs::STATUS, regs::STATUS_IRQ);
    REGS.write(regs::FACTORIAL, n);
    wait_interrupt(regs::IRQ_FACTORIAL)?;
    Some(REGS.read(regs::FACTORIAL))
}

/// Copies `bytes` bytes of words 2.. of `u` into the first DMA page, by DMA into the
/// device's buffer and out into the second page, and back into words 2.. of `u`.
fn copy(u: Utcb, bytes: u64) -> bool {
    let words = protocol::words(bytes);
    for i in 0..words {
        DMA.write(i * 8, u.word(2 + i));
        // The second page is cleared, so that a copy that did not happen shows.
        DMA.write(4096 + i * 8, 0u64);
    }
    let legs = [
        dma::transfer(0, layout::DMA_DEVICE, bytes, false, true),
        dma::transfer(0, layout::DMA_DEVICE + 4096, bytes, true, true),
    ];
    for leg in legs {
        let Ok(t) = leg else { return false };
        REGS.write(regs::DMA_SRC, t.src);
        REGS.write(regs::DMA_DST, t.dst);
        REGS.write(regs::DMA_COUNT, t.count);
        REGS.write(regs::DMA_CMD, t.cmd);
        if wait_interrupt(regs::IRQ_DMA).is_none() {
            return false;
        }
    }
    for i in 0..words {
        u.set_word(2 + i, DMA.read(4096 + i * 8));
    }
    true
}

/// Waits for the device's MSI (at most a second) and acknowledges `cause`.
fn wait_interrupt(cause: u32) -> Option<()> {
    let deadline = facet_rt::cpu::rdtsc() + TIMEOUT.load(Ordering::Relaxed);
    let got = sm_down_until(MSI, deadline).is_ok();
    let raised: u32 = REGS.read(regs::IRQ_STATUS);
    REGS.write(regs::IRQ_ACK, raised);
    (got && raised & cause != 0).then_some(())
}

/// Tells the roottask the driver is done (it stops the driver), then waits.
fn exit(code: u64) -> ! {
    Utcb::at(MAIN_UTCB_ADDR).send(&[parent::EXIT, code]);
    let _ = call(sel::PARENT);
    loop {
        core::hint::spin_loop();
    }
}
