//! The roottask's handlers for the programs it started: one local EC per CPU answers
//! their start-up messages, reports and stops a program whose EC faults, and takes what a
//! program tells the roottask through its `PARENT` portal (a service's registration, a
//! program's exit).
//!
//! Every portal carries an id that says which CPU's handler serves it, which program it
//! belongs to and which event it is ([`portal_id`]); each CPU's handler runs on a stack
//! of its own, which its entry finds from the CPU in the id.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{create_ec, reply};
use facet_rt::start_info::{parent, START_INFO_ADDR};
use facet_rt::utcb::Utcb;

use super::phys::{give, Phys};
use super::Sels;

/// What a portal is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An exception of the vector.
    Exception(u8),
    /// The main EC's start-up message.
    Startup,
    /// A message to the roottask (`start_info::parent`).
    Parent,
}

const EVENT_STARTUP: u64 = 30;
const EVENT_PARENT: u64 = 0x40;

/// Programs at most.
pub const MAX_PROGRAMS: usize = 16;

/// Where each CPU's handler has its UTCB and its stack (64 KiB each) in the roottask.
pub const UTCBS: u64 = 0x3e00_0000;
pub const STACKS: u64 = 0x3c00_0000;
const STACK_BYTES: u64 = 0x1_0000;
/// Where the capabilities programs send the roottask land: each handler's delegate
/// window is a block of 2^`WINDOW_ORDER` selectors from here on, and moves to a fresh
/// block after every message through `PARENT` (so that one registration never lands on
/// another's). CPU 0's handler starts at the first block.
pub const REGISTERED: u64 = 0x18_0000;
const WINDOW_ORDER: u8 = 10;
/// Where the blocks end (the roottask's event semaphore follows).
const REGISTERED_END: u64 = 0x1f_0000;
/// The next free block.
static NEXT_WINDOW: AtomicU64 = AtomicU64::new(REGISTERED);
/// Each CPU's handler's window now.
static WINDOW: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];

global_asm!(
    r#"
    .section .text.init_handler, "ax"
    .global __init_handler
    // RDI: the portal id; its bits 29:24 name the CPU, whose stack is used.
__init_handler:
    mov rax, rdi
    shr rax, 24
    and rax, 0x3f
    inc rax
    imul rax, rax, {stack_bytes}
    mov rsp, {stacks}
    add rsp, rax
    call {handler}
    ud2
"#,
    stack_bytes = const STACK_BYTES,
    stacks = const STACKS,
    handler = sym on_event,
);

extern "C" {
    fn __init_handler();
}

/// The handler EC of each CPU (its selector in the roottask; 0: none).
static HANDLER_EC: [AtomicU64; 64] = [const { AtomicU64::new(0) }; 64];
/// Each program's entry point and main CPU, for its start-up reply.
static ENTRY: [AtomicU64; MAX_PROGRAMS] = [const { AtomicU64::new(0) }; MAX_PROGRAMS];
static MAIN_CPU: [AtomicU64; MAX_PROGRAMS] = [const { AtomicU64::new(0) }; MAX_PROGRAMS];

/// Creates a handler EC, its UTCB and its stack on every CPU in `mask`.
pub fn init(mask: u64, phys: &mut Phys, sels: &mut Sels) {
    for cpu in (0..64u32).filter(|c| mask & 1 << c != 0) {
        // Its stack, from the pool.
        let stack = STACKS + cpu as u64 * STACK_BYTES;
        let mut ok = true;
        for i in 0..STACK_BYTES / 4096 {
            ok &= phys.alloc(0).is_some_and(|p| {
                give(
                    ROOT_SEL_PD,
                    p,
                    0,
                    stack + i * 4096,
                    perm::MEM_R | perm::MEM_W,
                )
            });
        }
        let ec = sels.take(1);
        let utcb = UTCBS + cpu as u64 * 4096;
        if !ok || create_ec(ec, ROOT_SEL_PD, 0, cpu as u64, utcb, 0, 0).is_err() {
            facet_rt::println!("init: no handler on CPU {cpu}");
            continue;
        }
        move_window(cpu as u64);
        if let Some(h) = HANDLER_EC.get(cpu as usize) {
            h.store(ec, Ordering::Release);
        }
    }
}

/// Gives CPU `cpu`'s handler a fresh delegate window (none once the blocks are used up).
fn move_window(cpu: u64) {
    let Some(w) = WINDOW.get(cpu as usize) else {
        return;
    };
    let base = NEXT_WINDOW.fetch_add(1 << WINDOW_ORDER, Ordering::AcqRel);
    let crd = if base + (1 << WINDOW_ORDER) <= REGISTERED_END {
        Crd::new(Kind::Object, base, WINDOW_ORDER, perm::ALL)
    } else {
        Crd::NULL
    };
    w.store(base, Ordering::Release);
    Utcb::at(UTCBS + cpu * 4096).set_delegate_window(crd);
}

/// The portal id of `event` of program `program`, served on `cpu`.
pub fn portal_id(cpu: u32, program: usize, event: Event) -> u64 {
    let code = match event {
        Event::Exception(v) => v as u64,
        Event::Startup => EVENT_STARTUP,
        Event::Parent => EVENT_PARENT,
    };
    (cpu as u64 & 0x3f) << 24 | (program as u64 & 0xff) << 8 | code
}

/// The handler EC, entry and MTD of a portal for `event` on `cpu`.
pub fn portal_target(cpu: u32, event: Event) -> Option<(u64, u64, u64)> {
    let ec = HANDLER_EC.get(cpu as usize)?.load(Ordering::Acquire);
    let m = match event {
        Event::Exception(_) => mtd::RIP_LEN | mtd::RSP | mtd::QUAL,
        Event::Startup | Event::Parent => 0,
    };
    (ec != 0).then_some((ec, __init_handler as *const () as u64, m as u64))
}

/// Records where program `index` starts.
pub fn set_entry(index: usize, entry: u64, cpu: u32) {
    if index < MAX_PROGRAMS {
        ENTRY[index].store(entry, Ordering::Release);
        MAIN_CPU[index].store(cpu as u64, Ordering::Release);
    }
}

/// Every event of every program comes here.
extern "C" fn on_event(id: u64) -> ! {
    let cpu = (id >> 24) & 0x3f;
    let program = ((id >> 8) & 0xff) as usize;
    let code = id & 0xff;
    let h = Utcb::at(UTCBS + cpu * 4096);
    match code {
        EVENT_STARTUP => {
            let entry = ENTRY.get(program).map_or(0, |e| e.load(Ordering::Acquire));
            let main_cpu = MAIN_CPU
                .get(program)
                .map_or(0, |c| c.load(Ordering::Acquire));
            // As the kernel starts the roottask: RSP and RSI at the start-info page, RDI
            // the CPU.
            h.put(u::RIP, entry);
            h.put(u::RSP, START_INFO_ADDR);
            h.put(u::RDI, main_cpu);
            h.put(u::RSI, START_INFO_ADDR);
            h.put(u::RBP, 0);
            h.reply_with(mtd::RIP_LEN | mtd::RSP | mtd::GPR_BSD);
        }
        EVENT_PARENT => {
            let (op, arg) = (h.word(0), h.word(1));
            // Where this message's capabilities landed; the next lands elsewhere.
            let window = WINDOW[cpu as usize].load(Ordering::Acquire);
            let words = match op {
                parent::REGISTER_CONSOLE => super::console_registered(program, h, window),
                parent::REGISTER_SERVICE => super::service_registered(program, h, window),
                parent::EXIT => {
                    let on = super::Speaker {
                        cpu: cpu as u32,
                        utcb: h,
                    };
                    super::program_exited(program, arg, on);
                    0
                }
                _ => 1,
            };
            if h.items() >> 16 != 0 {
                move_window(cpu);
            }
            h.send(&[words]);
        }
        vector => {
            let (rip, error, cr2) = (h.get(u::RIP), h.get(u::QUAL), h.get(u::QUAL + 8));
            let on = super::Speaker {
                cpu: cpu as u32,
                utcb: h,
            };
            super::program_faulted(program, vector, rip, error, cr2, on);
            // The faulting EC goes with the program: its next attempt finds no portal.
            h.reply_with(0);
        }
    }
    reply()
}
