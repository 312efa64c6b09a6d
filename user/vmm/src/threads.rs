//! The VMM's threads besides its main EC and the exit handlers: a timer thread per vCPU
//! and, with the console service, an input thread; and the start-up handlers that start
//! them.
//!
//! A global EC's first run is a start-up message to its event base + 30. The roottask's
//! exception portals for the VMM's ECs on a CPU leave that slot free; the VMM puts a
//! portal there into a start-up handler of its own on that CPU (a local EC), which
//! starts the thread the main EC is starting ([`start`] starts one at a time).

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::mtd;
use facet_abi::status::Status;
use facet_abi::utcb as off;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, ec_flags, pt_ctrl, reply, sm_down_until, sm_up,
};
use facet_rt::start_info::{sel, StartInfo};
use facet_rt::utcb::Utcb;

use crate::layout::{self, vcpu, MAX_CPUS, MAX_VCPUS, QUANTUM_US, STARTED_SM};
use crate::vm::{vm, NO_DEADLINE};

static STARTER_STACKS: [Stack; MAX_CPUS] = [const { Stack::new() }; MAX_CPUS];
static TIMER_STACKS: [Stack; MAX_VCPUS] = [const { Stack::new() }; MAX_VCPUS];
static INPUT_STACK: Stack = Stack::new();

/// What the start-up handler of starter `k` starts next: entry, stack top, argument.
struct Starting {
    entry: AtomicU64,
    stack_top: AtomicU64,
    arg: AtomicU64,
}

static STARTING: [Starting; MAX_CPUS] = [const {
    Starting {
        entry: AtomicU64::new(0),
        stack_top: AtomicU64::new(0),
        arg: AtomicU64::new(0),
    }
}; MAX_CPUS];

facet_rt::portal_entry!(fn starter_entry on STARTER_STACKS[id] => starter);

/// The start-up message of a thread on starter `k`'s CPU.
extern "C" fn starter(k: u64) -> ! {
    let k = (k as usize).min(MAX_CPUS - 1);
    let s = &STARTING[k];
    let u = layout::starter_utcb(k);
    // As if the thread's function had been called with its argument.
    u.put(off::RIP, s.entry.load(Ordering::Acquire));
    u.put(off::RSP, s.stack_top.load(Ordering::Acquire) - 8);
    u.put(off::RDI, s.arg.load(Ordering::Acquire));
    u.put(off::RSI, 0);
    u.put(off::RBP, 0);
    u.reply_with(mtd::RIP_LEN | mtd::RSP | mtd::GPR_BSD);
    reply()
}

/// Creates starter `k` on `cpu`: its EC and the start-up portal of that CPU's ECs.
pub fn create_starter(k: usize, cpu: u32) -> Result<(), Status> {
    let ec = layout::starter(k);
    let utcb = layout::starter_utcb(k).addr();
    create_ec(
        ec,
        sel::PD,
        0,
        cpu as u64,
        utcb,
        0,
        StartInfo::event_base(cpu),
    )?;
    let portal = layout::startup_portal(cpu);
    create_pt(portal, sel::PD, ec, 0, addr(starter_entry))?;
    pt_ctrl(portal, k as u64)
}

/// A thread to start.
pub struct Thread {
    /// The starter of its CPU.
    pub starter: usize,
    pub cpu: u32,
    pub ec: u64,
    pub sc: u64,
    pub utcb: Utcb,
    pub priority: u8,
}

/// Starts `t` running `f(arg)` on `stack`; returns once it runs.
pub fn start(
    t: &Thread,
    f: extern "C" fn(u64) -> !,
    stack: &'static Stack,
    arg: u64,
    tsc_khz: u64,
) -> Result<(), Status> {
    let s = STARTING.get(t.starter).ok_or(Status::BadPar)?;
    s.entry.store(f as usize as u64, Ordering::Release);
    s.stack_top.store(stack.top(), Ordering::Release);
    s.arg.store(arg, Ordering::Release);
    let event_base = StartInfo::event_base(t.cpu);
    create_ec(
        t.ec,
        sel::PD,
        ec_flags::GLOBAL,
        t.cpu as u64,
        t.utcb.addr(),
        0,
        event_base,
    )?;
    create_sc(t.sc, sel::PD, t.ec, t.priority, QUANTUM_US)?;
    // Each thread says it runs (within a second of emulated time).
    sm_down_until(STARTED_SM, facet_rt::cpu::rdtsc() + tsc_khz * 1000)
}

/// Starts vCPU `i`'s timer thread.
pub fn start_timer(i: usize, starter: usize, tsc_khz: u64) -> Result<(), Status> {
    let t = Thread {
        starter,
        cpu: vm().vcpus[i].cpu,
        ec: vcpu::timer_ec(i),
        sc: vcpu::timer_sc(i),
        utcb: layout::timer_utcb(i),
        priority: layout::TIMER_PRIORITY,
    };
    start(&t, timer_thread, &TIMER_STACKS[i], i as u64, tsc_khz)
}

/// Starts the input thread on `cpu` (the main EC's, whose console output portal also
/// answers reads).
pub fn start_input(starter: usize, cpu: u32, tsc_khz: u64) -> Result<(), Status> {
    let t = Thread {
        starter,
        cpu,
        ec: layout::INPUT_EC,
        sc: layout::INPUT_SC,
        utcb: layout::input_utcb(),
        priority: layout::INPUT_PRIORITY,
    };
    start(&t, input_thread, &INPUT_STACK, cpu as u64, tsc_khz)
}

/// vCPU `i`'s timer: waits for its deadline (or for an earlier one), then has the vCPU
/// look at its timers (a recall, or waking its HLT). It runs above its vCPU's priority,
/// so that the deadline is met while the vCPU computes, and takes no lock the vCPU
/// might hold.
extern "C" fn timer_thread(i: u64) -> ! {
    let _ = sm_up(STARTED_SM);
    let i = (i as usize).min(MAX_VCPUS - 1);
    let v = &vm().vcpus[i];
    // The deadline that has passed already (by generation): not waited for again.
    let mut fired = u64::MAX;
    loop {
        let generation = v.deadline_generation.load(Ordering::Acquire);
        let deadline = v.deadline.load(Ordering::Acquire);
        let wait = if deadline == NO_DEADLINE || generation == fired {
            0
        } else {
            deadline
        };
        match sm_down_until(vcpu::timer_sm(i), wait) {
            Ok(()) => {}
            Err(Status::Timeout) => {
                fired = generation;
                crate::ipi::kick(i, None);
            }
            // The VMM is being taken down.
            Err(_) => crate::stop::park(),
        }
    }
}

/// Takes the console's input for this VM to vCPU 0's UART; runs on `cpu`.
extern "C" fn input_thread(cpu: u64) -> ! {
    let _ = sm_up(STARTED_SM);
    let mut typed = [0u8; 64];
    loop {
        if !facet_rt::console::wait_input() {
            crate::stop::park()
        }
        let n = facet_rt::console::read_input_on(cpu as u32, layout::input_utcb(), &mut typed);
        crate::ipi::type_input(&typed[..n]);
    }
}
