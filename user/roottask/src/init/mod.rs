//! The roottask as init: it starts the programs among its multiboot modules, each in a
//! protection domain of its own with what it needs and nothing else, and looks after
//! them (their start-up, their faults, their exit).
//!
//! The console service (module `console`) starts first: it gets COM1, its interrupt and
//! the VGA text buffer, and registers its client slots with the roottask. Every other
//! program module then starts in the order the bootloader listed them, with a console
//! slot; a `vmm` also gets its guest's memory (`mem=` MiB), the modules its `kernel=`
//! and `initrd=` name, and the CPUs its `cpus=` lists. Modules that are not ELF programs
//! are data (a guest's kernel, its initial RAM disk). `docs/init.md` describes it all.

mod handlers;
mod lock;
pub mod modules;
mod phys;
mod program;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::HipReader;
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_console_core::registration::Layout;
use facet_rt::console_protocol::sel as console_sel;
use facet_rt::hypercall::{create_sm, pd_ctrl_delegate, sm_down, sm_down_until, sm_up};
use facet_rt::println;
use facet_rt::start_info::{sel, REGION_GUEST, REGION_WRITABLE};
use facet_rt::utcb::Utcb;

use crate::args::Args;
use crate::world::World;
use crate::FROM_KERNEL;
use lock::SpinLock;
use modules::{Module, Modules};
use phys::Phys;
use program::Program;

/// Where a VMM finds its guest's memory, and the modules it was given.
pub const GUEST_RAM_VA: u64 = 0x100_0000_0000;
pub const MODULES_VA: u64 = 0x200_0000_0000;
/// Where the console sees the VGA text buffer.
const VGA_VA: u64 = 0x4000_0000;

/// Selectors the roottask uses for what it creates, from here up (far above the test
/// suite's and the kernel's).
pub struct Sels {
    next: u64,
}

impl Sels {
    fn new() -> Sels {
        Sels { next: 0x10_0000 }
    }

    /// `n` fresh selectors.
    pub fn take(&mut self, n: u64) -> u64 {
        let s = self.next;
        self.next += n;
        s
    }
}

/// What the roottask knows of a started program, for its handlers.
#[derive(Clone, Copy)]
struct Started {
    pd: u64,
    ec: u64,
    sc: u64,
    name: [u8; 16],
    vm: bool,
    running: bool,
}

static STARTED: SpinLock<[Option<Started>; handlers::MAX_PROGRAMS]> =
    SpinLock::new([None; handlers::MAX_PROGRAMS]);

/// The console's registration: where each client capability it sent landed (`None`: not
/// registered yet).
static CONSOLE: SpinLock<Option<Layout>> = SpinLock::new(None);
/// Upped when the console has registered, and when a program ends.
const EVENTS: u64 = 0x1f_0000;
/// VMs still running, and whether any ended with a failure.
static VMS: SpinLock<(u32, u32)> = SpinLock::new((0, 0));

/// The CPUs the HIP lists as online.
pub fn online_mask(hip: &HipReader) -> u64 {
    let mut mask = 0;
    for i in 0..facet_abi::config::NUM_CPU {
        if hip.cpu(i).flags & 1 != 0 {
            mask |= 1 << i;
        }
    }
    mask
}

/// The number of CPUs online.
pub fn cpus_online(hip: &HipReader) -> u32 {
    online_mask(hip).count_ones()
}

/// Starts every program and looks after them; never returns.
pub fn run(world: &World, args: &Args) -> ! {
    let hip = world.hip;
    let modules = Modules::read(&hip);
    let mut phys = Phys::take_from_kernel(&hip);
    let mut sels = Sels::new();
    let online = online_mask(&hip);
    handlers::init(online, &mut phys, &mut sels);
    let _ = create_sm(EVENTS, ROOT_SEL_PD, 0, 0);
    println!(
        "init: {} MiB to give, {} CPU(s)",
        phys.available() >> 20,
        online.count_ones()
    );
    let mut index = 0;
    if let Some(m) = modules.find("console") {
        match start_console(index, m, online, &mut phys, &mut sels) {
            Ok(()) => index += 1,
            Err(e) => println!("init: console: {e}"),
        }
    }
    let mut slot = 1;
    for m in modules.iter().filter(|m| m.name() != "console") {
        if facet_kcore::elf::parse_root(m.bytes(), m.phys).is_err() {
            continue;
        }
        match start_program(index, slot, m, &modules, online, &mut phys, &mut sels) {
            Ok(()) => {
                index += 1;
                slot += 1;
            }
            Err(e) => println!("init: {}: not started: {e}", m.name()),
        }
    }
    let exit_when_done = args.exit_when_done;
    loop {
        let _ = sm_down(EVENTS);
        let (running, failed) = *VMS.lock();
        if exit_when_done && running == 0 {
            println!("init: every VM has ended ({failed} failed)");
            facet_rt::io::debug_exit(if failed == 0 { 0 } else { 1 });
        }
    }
}

fn start_console(
    index: usize,
    m: &Module,
    online: u64,
    phys: &mut Phys,
    sels: &mut Sels,
) -> Result<(), program::Failure> {
    let mut p = Program::create(index, m, 0, online, phys, sels)?;
    p.give_ports(0x3f8, 3)?;
    // COM1's interrupt (GSI 4), from the kernel.
    let gsi = Crd::new(
        Kind::Object,
        facet_abi::config::NUM_CPU as u64 + 4,
        0,
        perm::ALL,
    );
    let window = Crd::new(Kind::Object, sel::GSIS + 4, 0, perm::ALL);
    pd_ctrl_delegate(ROOT_SEL_PD, p.pd, gsi, FROM_KERNEL, window)
        .map_err(|_| "COM1's interrupt semaphore")?;
    p.give_device_memory("vga", 0xb8000, 1, VGA_VA)?;
    record(&p, None, false);
    p.start(sels)?;
    set_running(index, &p);
    // Its registration comes through the roottask's handler on CPU 0.
    let deadline = facet_rt::cpu::rdtsc() + 50_000_000_000;
    while CONSOLE.lock().is_none() {
        if sm_down_until(EVENTS, deadline).is_err() {
            return Err("it did not register");
        }
    }
    // Slot 0 is the roottask's own: from here on it prints through the service too.
    let layout = CONSOLE.lock().expect("registered");
    let base = handlers::REGISTERED;
    let own = |item: Option<usize>, at: u64, rights: u8| {
        if let Some(i) = item {
            let crd = Crd::new(Kind::Object, base + i as u64, 0, rights);
            let window = Crd::new(Kind::Object, at, 0, rights);
            let _ = pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, DELEGATE, window);
        }
    };
    for c in layout.cpu_list() {
        if let Some(at) = console_sel::console_out(c) {
            own(layout.output(0, c), at, perm::PT_CALL);
        }
    }
    own(layout.input(0), console_sel::CONSOLE_IN, perm::PT_CALL);
    own(
        layout.semaphore(0),
        console_sel::CONSOLE_IN_SM,
        perm::SM_DOWN,
    );
    if layout.output(0, 0).is_some() {
        facet_rt::console::use_service(0);
        let _ = facet_rt::console::set_name("init");
    }
    println!("init: console started");
    Ok(())
}

fn start_program(
    index: usize,
    slot: u64,
    m: &Module,
    modules: &Modules,
    online: u64,
    phys: &mut Phys,
    sels: &mut Sels,
) -> Result<(), program::Failure> {
    let mask = match m.arg("cpus") {
        Some(list) => cpu_list(list) & online,
        None => online,
    };
    if mask == 0 {
        return Err("no CPU it may use is online");
    }
    let cpu = mask.trailing_zeros();
    let mut p = Program::create(index, m, cpu, mask, phys, sels)?;
    if CONSOLE.lock().is_none() {
        // Without a console service, a program may print on COM1 itself (one at a time
        // makes sense: this is for bringing a program up).
        p.give_ports(0x3f8, 3)?;
    }
    give_console_slot(&mut p, slot)?;
    let vm = m.name() == "vmm";
    if vm {
        let mib = m
            .arg("mem")
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(128);
        p.give_ram(
            phys,
            "ram",
            GUEST_RAM_VA,
            mib << 20,
            REGION_WRITABLE | REGION_GUEST,
        )?;
        let mut at = MODULES_VA;
        for (key, region) in [("kernel", "kernel"), ("initrd", "initrd")] {
            if let Some(name) = m.arg(key) {
                let data = modules.find(name).ok_or("a module it names is missing")?;
                p.give_module(region, data, at)?;
                at += (data.size + 0x20_0000).next_multiple_of(0x20_0000);
            }
        }
    }
    record(&p, Some(m), vm);
    if vm {
        VMS.lock().0 += 1;
    }
    p.start(sels)?;
    set_running(index, &p);
    match m.arg("name") {
        Some(name) => println!("init: started {} ({name}) on CPU {cpu}", p.name()),
        None => println!("init: started {} on CPU {cpu}", p.name()),
    }
    Ok(())
}

/// Hands the program console slot `slot` (the output portals of the CPUs it may use,
/// the input portal and semaphore), if the console registered one.
fn give_console_slot(p: &mut Program, slot: u64) -> Result<(), program::Failure> {
    let Some(layout) = *CONSOLE.lock() else {
        return Ok(());
    };
    let slot = slot as usize;
    if slot >= layout.slots() {
        return Ok(());
    }
    let base = handlers::REGISTERED;
    let mask = p.cpu_mask;
    for c in layout.cpu_list().filter(|c| mask & 1 << c != 0) {
        if let (Some(i), Some(at)) = (layout.output(slot, c), console_sel::console_out(c)) {
            p.give_object(base + i as u64, at, perm::PT_CALL)?;
        }
    }
    if let (Some(i), Some(s)) = (layout.input(slot), layout.semaphore(slot)) {
        p.give_object(base + i as u64, console_sel::CONSOLE_IN, perm::PT_CALL)?;
        p.give_object(base + s as u64, console_sel::CONSOLE_IN_SM, perm::SM_DOWN)?;
    }
    p.info().console = 1;
    Ok(())
}

/// Records a program before it starts, under its `name=` argument if it has one (a VM's
/// name), else its module's name.
fn record(p: &Program, m: Option<&Module>, vm: bool) {
    let label = m.and_then(|m| m.arg("name")).unwrap_or(p.name());
    let mut name = [0u8; 16];
    let n = label.len().min(16);
    name[..n].copy_from_slice(&label.as_bytes()[..n]);
    if let Some(s) = STARTED.lock().get_mut(p.index) {
        *s = Some(Started {
            pd: p.pd,
            ec: 0,
            sc: 0,
            name,
            vm,
            // It may run (and exit or fault) as soon as `Program::start` made its SC,
            // before `set_running`: that must count.
            running: true,
        });
    }
}

fn set_running(index: usize, p: &Program) {
    let ended = match STARTED.lock().get_mut(index) {
        Some(Some(s)) => {
            s.ec = p.ec;
            s.sc = p.sc;
            !s.running
        }
        _ => false,
    };
    // It ended while it was being started: `stop` could not name its EC and SC yet.
    if ended {
        for sel in [p.sc, p.ec] {
            let _ =
                facet_rt::hypercall::revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None);
        }
    }
}

/// Which CPUs a `cpus=` list names (`0,2,3`).
fn cpu_list(list: &str) -> u64 {
    list.split(',')
        .filter_map(|c| c.parse::<u32>().ok())
        .filter(|&c| c < 64)
        .fold(0, |m, c| m | 1 << c)
}

/// The console registered its slots (called by the handler on CPU 0, whose delegate
/// window received the capabilities). Returns the answer word.
fn console_registered(program: usize, h: Utcb) -> u64 {
    let is_console = STARTED
        .lock()
        .get(program)
        .copied()
        .flatten()
        .is_some_and(|s| name_of(&s) == "console");
    if !is_console {
        return 1;
    }
    let typed = (h.items() >> 16 & 0xffff) as usize;
    let Some(layout) = Layout::of_message(h.word(1), h.word(2), typed) else {
        return 1;
    };
    *CONSOLE.lock() = Some(layout);
    let _ = sm_up(EVENTS);
    0
}

/// Program `program` is done (it said so with `parent::EXIT`).
fn program_exited(program: usize, code: u64, on: Speaker) {
    let Some(s) = stop(program) else { return };
    on.say(format_args!("init: {} exited with {code}\n", name_of(&s)));
    if s.vm {
        let mut v = VMS.lock();
        v.0 = v.0.saturating_sub(1);
        if code != 0 {
            v.1 += 1;
        }
    }
    let _ = sm_up(EVENTS);
}

/// An EC of program `program` faulted: the program is stopped.
fn program_faulted(program: usize, vector: u64, rip: u64, error: u64, cr2: u64, on: Speaker) {
    let Some(s) = stop(program) else { return };
    on.say(format_args!(
        "init: {} stopped: exception {vector} at rip {rip:#x} (error {error:#x}, address {cr2:#x})\n",
        name_of(&s)
    ));
    if s.vm {
        let mut v = VMS.lock();
        v.0 = v.0.saturating_sub(1);
        v.1 += 1;
    }
    let _ = sm_up(EVENTS);
}

/// Stops program `program` if it runs; what the roottask knew of it.
fn stop(program: usize) -> Option<Started> {
    let s = {
        let mut all = STARTED.lock();
        let entry = all.get_mut(program)?.as_mut()?;
        if !entry.running {
            return None;
        }
        entry.running = false;
        *entry
    };
    let everything = Crd::new(Kind::Object, 0, 26, perm::ALL);
    let _ = facet_rt::hypercall::revoke(everything, true, Some(s.pd));
    for sel in [s.sc, s.ec, s.pd] {
        if sel != 0 {
            let _ =
                facet_rt::hypercall::revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None);
        }
    }
    Some(s)
}

fn name_of(s: &Started) -> &str {
    let n = s.name.iter().position(|&b| b == 0).unwrap_or(16);
    core::str::from_utf8(&s.name[..n]).unwrap_or("?")
}

/// Where a handler of the roottask prints: through the console's output portal of its
/// own CPU (a portal's handler must be on the caller's CPU), from its own UTCB; straight
/// to COM1 before the console runs.
#[derive(Clone, Copy)]
pub struct Speaker {
    pub cpu: u32,
    pub utcb: Utcb,
}

impl Speaker {
    fn say(self, args: core::fmt::Arguments) {
        if CONSOLE.lock().is_none() {
            facet_rt::print!("{args}");
            return;
        }
        let mut line = Line::default();
        let _ = core::fmt::Write::write_fmt(&mut line, args);
        let _ = facet_rt::console::write_on(self.cpu, self.utcb, &line.bytes[..line.len]);
    }
}

/// A line formatted without a heap (longer ones are cut).
struct Line {
    bytes: [u8; 256],
    len: usize,
}

impl Default for Line {
    fn default() -> Line {
        Line {
            bytes: [0; 256],
            len: 0,
        }
    }
}

impl core::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
