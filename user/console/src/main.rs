//! Facet's console service: it owns COM1 and the VGA text screen and serves the other
//! programs over portals, so that several programs and guests print and read without
//! fighting over the serial port (`docs/console.md`; the protocol, and what the roottask
//! gives the console, in `facet_rt::console_protocol`).
//!
//! This binary is the glue: it creates a handler EC per CPU it serves, the portals and
//! semaphores of every client slot, registers them with the roottask, routes COM1's
//! interrupt, and then its main EC becomes the input thread. What it does with the bytes
//! (lines, prefixes, focus, input rings, the screen) is `facet_console_core`.

#![no_std]
#![no_main]

mod handlers;
mod lock;
mod state;
mod uart;

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::status::Status;
use facet_rt::console_protocol::{
    self as proto, item, sel as csel, Layout, PORTAL_RIGHTS, REGISTER_CONSOLE, REGISTRATION_WORDS,
    SEMAPHORE_RIGHTS, SLOTS, VGA_REGION,
};
use facet_rt::cpu::rdtsc;
use facet_rt::hypercall::{
    assign_gsi, call, create_ec, create_pt, create_sm, pt_ctrl, sm_down, sm_down_until, sm_up,
};
use facet_rt::start_info::{parent, sel, StartInfo, MAIN_UTCB_ADDR, REGION_WRITABLE};
use facet_rt::utcb::Utcb;
use facet_rt::window::{Window, MAPPABLE};

use handlers::{input_entry, output_entry};
use state::STATE;

facet_rt::entry!(main);

/// The console's own objects, from the first free selector on.
const HANDLER_EC: u64 = sel::FREE; // + index of the served CPU
const NAP_SM: u64 = sel::FREE + 0x40;
const OUT_PT: u64 = sel::FREE + 0x100; // + 64 * slot + index of the served CPU
const IN_PT: u64 = sel::FREE + 0x400; // + slot
const IN_SM: u64 = sel::FREE + 0x410; // + slot

/// TSC ticks in a millisecond (0 until known: naps are then spins).
static TSC_PER_MS: AtomicU64 = AtomicU64::new(0);

/// Input is polled this often when COM1's interrupt cannot be had.
const POLL_MS: u64 = 10;
/// Bytes read from the UART per wake-up at most (a UART that always has data must not
/// keep the input thread from sleeping).
const MAX_DRAIN: usize = 4096;

fn main(cpu: u64, info: u64) -> ! {
    let Some(info) = StartInfo::at(info) else {
        facet_rt::println!("console: no start-info page");
        exit(1);
    };
    let cpu = cpu as u32;
    if create_sm(NAP_SM, sel::PD, 0, 0).is_ok() {
        TSC_PER_MS.store(info.tsc_khz, Ordering::Relaxed);
    }
    let vga = vga(info);
    if let Some(w) = vga {
        STATE.lock().set_vga(w);
    }
    let layout = proto::layout(info.cpu_mask, cpu);
    if let Err((what, status)) = create_objects(&layout, cpu) {
        // No handler runs yet: COM1 is still this EC's alone.
        facet_rt::println!("console: {what} failed ({status:?})");
        exit(1);
    }
    // COM1's interrupt to the main CPU, then the UART may raise it.
    let irq = assign_gsi(csel::COM1_GSI, 0, cpu, u64::MAX).is_ok();
    if irq {
        uart::enable_rx_interrupt();
    }
    STATE.lock().notice(format_args!(
        "console: {SLOTS} slots on CPUs {:#x}, COM1{}, input {}",
        layout.cpus(),
        if vga.is_some() { " and the screen" } else { "" },
        if irq { "by interrupt" } else { "polled" },
    ));
    match register(&layout) {
        Ok(()) => {}
        Err(status) => STATE
            .lock()
            .notice(format_args!("console: registration failed ({status:?})")),
    }
    input_loop(irq)
}

/// The VGA text buffer, if the roottask gave it (writable, a page, where windows may be).
fn vga(info: &StartInfo) -> Option<Window> {
    let r = info.region(VGA_REGION)?;
    let ok = r.flags & REGION_WRITABLE != 0
        && r.size >= 4096
        && r.va.is_multiple_of(4096)
        && MAPPABLE.contains(&r.va)
        && r.va
            .checked_add(4096)
            .is_some_and(|end| end <= MAPPABLE.end);
    ok.then(|| Window::new(r.va, 4096))
}

/// The handler ECs, and every slot's portals and semaphore.
fn create_objects(layout: &Layout, main_cpu: u32) -> Result<(), (&'static str, Status)> {
    let mut main_index = None;
    for (i, c) in layout.cpu_list().enumerate() {
        let sp = handlers::initial_sp(i).ok_or(("a handler stack", Status::BadPar))?;
        let utcb = handlers::utcb(i).addr();
        let evt = StartInfo::event_base(c);
        create_ec(HANDLER_EC + i as u64, sel::PD, 0, c as u64, utcb, sp, evt)
            .map_err(|s| ("create_ec", s))?;
        if c == main_cpu {
            main_index = Some(i);
        }
    }
    let main_index = main_index.ok_or(("a handler on the main CPU", Status::BadCpu))?;
    for s in 0..SLOTS as u64 {
        for i in 0..layout.cpu_count() as u64 {
            let pt = OUT_PT + 64 * s + i;
            create_pt(
                pt,
                sel::PD,
                HANDLER_EC + i,
                0,
                facet_rt::entry::addr(output_entry),
            )
            .map_err(|e| ("create_pt (output)", e))?;
            pt_ctrl(pt, s).map_err(|e| ("pt_ctrl", e))?;
        }
        let ec = HANDLER_EC + main_index as u64;
        create_pt(
            IN_PT + s,
            sel::PD,
            ec,
            0,
            facet_rt::entry::addr(input_entry),
        )
        .map_err(|e| ("create_pt (input)", e))?;
        pt_ctrl(IN_PT + s, s).map_err(|e| ("pt_ctrl", e))?;
        create_sm(IN_SM + s, sel::PD, 0, 0).map_err(|e| ("create_sm", e))?;
    }
    Ok(())
}

/// Sends every slot's capabilities to the roottask (`console_protocol`, registration).
fn register(layout: &Layout) -> Result<(), Status> {
    let u = Utcb::at(MAIN_UTCB_ADDR);
    u.send(&[REGISTER_CONSOLE, SLOTS as u64, layout.cpus()]);
    let put = |at: Option<usize>, sel: u64, rights: u8| {
        if let Some(at) = at {
            let (crd, meta) = item(sel, rights, at);
            u.set_typed(at, crd, meta);
        }
    };
    for s in 0..SLOTS {
        for (i, c) in layout.cpu_list().enumerate() {
            let pt = OUT_PT + 64 * s as u64 + i as u64;
            put(layout.output(s, c), pt, PORTAL_RIGHTS);
        }
        put(layout.input(s), IN_PT + s as u64, PORTAL_RIGHTS);
        put(layout.semaphore(s), IN_SM + s as u64, SEMAPHORE_RIGHTS);
    }
    u.set_items(REGISTRATION_WORDS as u64 | (layout.items() as u64) << 16);
    call(csel::PARENT)?;
    match u.untyped() > 0 && u.word(0) == 0 {
        true => Ok(()),
        false => Err(Status::Abort),
    }
}

/// The input thread: waits for COM1's interrupt (or polls), reads what came, and hands
/// it to the slot in focus, whose semaphore it then ups.
fn input_loop(mut irq: bool) -> ! {
    loop {
        if irq {
            irq = sm_down(csel::COM1_GSI).is_ok();
        } else {
            nap(POLL_MS);
        }
        let mut woken = 0u64;
        let mut read = 0;
        while read < MAX_DRAIN {
            let mut state = STATE.lock();
            let mut batch = 0;
            while batch < 64 {
                let Some(b) = uart::read() else { break };
                batch += 1;
                if let Some(slot) = state.key(b) {
                    woken |= 1 << slot;
                }
            }
            drop(state);
            read += batch;
            if batch < 64 {
                break;
            }
        }
        for s in (0..SLOTS).filter(|s| woken & 1 << s != 0) {
            let _ = sm_up(IN_SM + s as u64);
        }
    }
}

/// Sleeps for about `ms` milliseconds (the kernel checks deadlines every millisecond);
/// spins briefly if it cannot.
pub fn nap(ms: u64) {
    let per_ms = TSC_PER_MS.load(Ordering::Relaxed);
    if per_ms == 0 || sm_down_until(NAP_SM, rdtsc() + ms * per_ms) != Err(Status::Timeout) {
        for _ in 0..1000 {
            core::hint::spin_loop();
        }
    }
}

/// Tells the roottask the console is done (it stops the console), then waits.
fn exit(code: u64) -> ! {
    Utcb::at(MAIN_UTCB_ADDR).send(&[parent::EXIT, code]);
    let _ = call(csel::PARENT);
    loop {
        nap(1000);
    }
}
