//! Latencies: how long until an Ec of higher priority that an event makes ready runs its
//! first instruction, as user programs see it.
//!
//! - `latency_semaphore_up_to_woken_ec`: the roottask (priority 1) reads the TSC and ups
//!   a semaphore on which a thread of priority 2 waits; that thread reads the TSC as soon
//!   as its `down` returns.
//! - `latency_interrupt_to_handler_ec` (q35 with QEMU's `edu` device): the roottask reads
//!   the TSC and makes the device raise an MSI, which the kernel turns into an `up` of
//!   the GSI's semaphore, on which a thread of priority 2 waits.
//!
//! Each figure is the span from the first TSC reading to the second, the median of
//! [`SAMPLES`]. The roottask waits (spinning) until the thread has recorded its reading,
//! so a wake-up that only took effect at a later timer interrupt would show as such.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::EVENT_STARTUP;
use facet_abi::{mtd, perm};
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    assign_gsi, create_ec, create_pt, create_sc, create_sm, ec_flags, pd_ctrl_delegate, reply,
    sm_down, sm_up,
};
use facet_rt::println;
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::{begin, end, median, op, profiling, tsc, PD, PROFILE_RUNS};
use crate::args::Args;
use crate::world::{World, SCRATCH};

const SAMPLES: usize = 1000;
const SM_NAME: &str = "latency_semaphore_up_to_woken_ec";
const IRQ_NAME: &str = "latency_interrupt_to_handler_ec";
const WARM_UP: usize = 10;
/// Selectors: the semaphore the woken thread waits on, the start-up handler, its
/// portals' event base, the two threads and their SCs, the GSI's semaphore.
const LAT_SM: u64 = 720;
const STARTER: u64 = 721;
const SM_EC: u64 = 722;
const SM_SC: u64 = 723;
const IRQ_EC: u64 = 724;
const IRQ_SC: u64 = 725;
const IRQ_SM: u64 = 726;
const EVT: u64 = 0x1000;
const STARTER_UTCB: Utcb = Utcb::at(0x3007_0000);
const SM_UTCB: u64 = 0x3008_0000;
const IRQ_UTCB: u64 = 0x3009_0000;
/// The woken threads' priority, above the roottask's.
const HIGH: u8 = 2;
/// A GSI beyond the I/O APIC's pins: an MSI.
const MSI_GSI: u64 = 100;
/// The edu device's configuration page and registers, where the roottask maps them.
const CONFIG: Window = Window::new(SCRATCH + 0xa0_0000, 0x1000);
const REGS: Window = Window::new(SCRATCH + 0xa1_0000, 0x1000);

/// The TSC each thread read as its wait ended, and how many waits ended.
static WOKEN_AT: AtomicU64 = AtomicU64::new(0);
static WOKEN: AtomicU64 = AtomicU64::new(0);
/// Which thread the start-up handler starts next: 0 the semaphore's, 1 the interrupt's.
static STARTING: AtomicU64 = AtomicU64::new(0);

static STARTER_STACK: Stack = Stack::new();
static SM_STACK: Stack = Stack::new();
static IRQ_STACK: Stack = Stack::new();
static mut TIMES: [u64; SAMPLES] = [0; SAMPLES];

facet_rt::portal_entry!(fn startup_entry on STARTER_STACK => startup);

/// Start-up of either thread, on its own stack.
extern "C" fn startup(_id: u64) -> ! {
    let m = if STARTING.load(Ordering::SeqCst) == 0 {
        STARTER_UTCB.start_thread(woken, &SM_STACK)
    } else {
        STARTER_UTCB.start_thread(woken, &IRQ_STACK)
    };
    STARTER_UTCB.reply_with(m);
    reply()
}

/// Both threads: wait, read the TSC, record it; forever.
extern "C" fn woken(_: u64) -> ! {
    let sm = if STARTING.load(Ordering::SeqCst) == 0 {
        LAT_SM
    } else {
        IRQ_SM
    };
    loop {
        let _ = sm_down(sm);
        if profiling() {
            end();
        }
        let t = tsc();
        WOKEN_AT.store(t, Ordering::SeqCst);
        WOKEN.fetch_add(1, Ordering::SeqCst);
    }
}

/// Starts a thread of priority [`HIGH`] that waits on `sm` (`which`: 0 the semaphore's
/// thread, 1 the interrupt's).
fn start_thread(which: u64, ec: u64, utcb: u64, sc: u64) -> bool {
    STARTING.store(which, Ordering::SeqCst);
    if create_ec(ec, PD, ec_flags::GLOBAL, 0, utcb, 0, EVT).is_err() {
        return false;
    }
    // The thread runs at once (a higher priority) until it waits: it reads `STARTING`
    // before the next thread is made.
    create_sc(sc, PD, ec, HIGH, 1000).is_ok()
}

/// Times `event` (which makes the waiting thread ready) up to the thread's first
/// instruction; `after` runs once the thread has run (an acknowledgement).
fn measure(args: &Args, name: &str, event: impl Fn(), after: impl Fn()) {
    if args.skips(name) {
        return;
    }
    let sample = || {
        let before = WOKEN.load(Ordering::SeqCst);
        let t0 = tsc();
        if profiling() {
            begin();
        }
        event();
        while WOKEN.load(Ordering::SeqCst) == before {
            core::hint::spin_loop();
        }
        after();
        WOKEN_AT.load(Ordering::SeqCst).wrapping_sub(t0)
    };
    if profiling() {
        op(name);
        for _ in 0..PROFILE_RUNS {
            sample();
        }
        return;
    }
    for _ in 0..WARM_UP {
        sample();
    }
    // SAFETY: the benchmarks run one after another on the roottask's main thread; no
    // other reference to the sample buffer exists.
    let times = unsafe { &mut *core::ptr::addr_of_mut!(TIMES) };
    for t in times.iter_mut() {
        *t = sample();
    }
    let m = median(times);
    println!("bench {name}: {m} ticks per operation (median of {SAMPLES})");
}

pub fn run(world: &World, args: &Args) {
    if args.skips(SM_NAME) && args.skips(IRQ_NAME) {
        return;
    }
    let starter = create_ec(STARTER, PD, 0, 0, STARTER_UTCB.addr(), 0, 0)
        .and_then(|_| {
            create_pt(
                EVT + EVENT_STARTUP,
                PD,
                STARTER,
                (mtd::RIP_LEN | mtd::RSP) as u64,
                addr(startup_entry),
            )
        })
        .is_ok();
    if !starter {
        println!("bench: no start-up handler for the latency threads");
        return;
    }
    if create_sm(LAT_SM, PD, 0, 0).is_ok() && start_thread(0, SM_EC, SM_UTCB, SM_SC) {
        measure(
            args,
            SM_NAME,
            || {
                let _ = sm_up(LAT_SM);
            },
            || {},
        );
    }
    if edu_msi(world) && start_thread(1, IRQ_EC, IRQ_UTCB, IRQ_SC) {
        measure(
            args,
            IRQ_NAME,
            || REGS.write::<u32>(facet_edu_core::regs::IRQ_RAISE, 1),
            || REGS.write::<u32>(facet_edu_core::regs::IRQ_ACK, 1),
        );
    }
}

/// Finds QEMU's `edu` device on the first bus of the MCFG region, maps it and routes its
/// MSI to the semaphore of [`MSI_GSI`] at [`IRQ_SM`]. `false` without the device.
fn edu_msi(world: &World) -> bool {
    let hip = &world.hip;
    let (base, size) = (hip.u64(off::MCFG_BASE), hip.u64(off::MCFG_SIZE));
    let map = |phys: u64, at: Window| {
        let rw = perm::MEM_R | perm::MEM_W;
        let from = Crd::new(Kind::Memory, phys >> 12, 0, rw);
        let to = Crd::new(Kind::Memory, at.page_number(), 0, rw);
        pd_ctrl_delegate(PD, PD, from, crate::FROM_KERNEL, to).is_ok()
    };
    let cfg = |at: u64| CONFIG.read::<u32>(at);
    let found = (0..32u64)
        .take_while(|dev| dev << 15 < size)
        .any(|dev| map(base + (dev << 15), CONFIG) && cfg(0) == facet_edu_core::regs::ID);
    if !found {
        return false;
    }
    // Memory decoding and bus mastering (an MSI is the device's write).
    CONFIG.write::<u32>(0x04, cfg(0x04) | 0x6);
    if !map((cfg(0x10) & !0xf) as u64, REGS) {
        return false;
    }
    let gsi = Crd::new(
        Kind::Object,
        facet_abi::config::NUM_CPU as u64 + MSI_GSI,
        0,
        perm::ALL,
    );
    let window = Crd::new(Kind::Object, IRQ_SM, 0, perm::ALL);
    if pd_ctrl_delegate(PD, PD, gsi, crate::FROM_KERNEL, window).is_err() {
        return false;
    }
    let Ok((address, data)) = assign_gsi(IRQ_SM, CONFIG.base(), 0, u64::MAX) else {
        return false;
    };
    let Some(cap) = facet_edu_core::msi::find(cfg) else {
        return false;
    };
    for (at, v) in facet_edu_core::msi::program(cap, cfg(cap), address, data as u32) {
        CONFIG.write::<u32>(at, v);
    }
    true
}
