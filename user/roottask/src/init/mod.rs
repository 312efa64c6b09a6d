//! The roottask as init: it starts the programs among its multiboot modules, each in a
//! protection domain of its own with what it needs and nothing else, and looks after
//! them (their start-up, their faults, their exit).
//!
//! The console service (module `console`) starts first: it gets COM1, its interrupt and
//! the VGA text buffer, and registers its client slots with the roottask. Every other
//! program module then starts in the order the bootloader listed them, with a console
//! slot; a `vmm` also gets its guest's memory (`mem=` MiB), the modules its `kernel=`
//! and `initrd=` name, and the CPUs its `cpus=` lists; the `edu` driver gets QEMU's edu
//! device (configuration page, registers, DMA pages, MSI semaphore, the device in its
//! IOMMU domain) and registers its portal, which later programs get. Modules that are
//! not ELF programs are data (a guest's kernel, its initial RAM disk). [`Init`] is the
//! launcher; the test suite starts programs with it too. `docs/init.md` describes it
//! all.

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
use facet_rt::hypercall::{assign_pci, create_sm, pd_ctrl_delegate, sm_down, sm_down_until, sm_up};
use facet_rt::println;
use facet_rt::start_info::{sel, REGION_GUEST, REGION_WRITABLE};
use facet_rt::utcb::Utcb;

use crate::args::Args;
use crate::world::World;
use crate::FROM_KERNEL;
use lock::SpinLock;
use modules::{Module, Modules};
use phys::Phys;
use program::{Failure, Program};

/// Where a VMM finds its guest's memory, and the modules it was given.
pub const GUEST_RAM_VA: u64 = 0x100_0000_0000;
pub const MODULES_VA: u64 = 0x200_0000_0000;
/// Where the console sees the VGA text buffer.
const VGA_VA: u64 = 0x4000_0000;

/// Every selector the roottask uses as init: what it creates for programs (from the
/// start, far above the kernel's), the windows where programs' capabilities land
/// (`handlers::REGISTERED`), and its event semaphore at the end.
pub const SELS: core::ops::Range<u64> = 0x10_0000..EVENTS + 1;
pub use handlers::{STACKS as HANDLER_STACKS, UTCBS as HANDLER_UTCBS};
pub use modules::SCRATCH as MODULE_LINES;

/// Where physical address `phys` appears in the roottask (init's window on the memory
/// it gives programs).
pub const fn phys_window(phys: u64) -> u64 {
    phys::WINDOW + phys
}

/// Selectors the roottask uses for what it creates, from here up to the capabilities
/// programs send it.
pub struct Sels {
    next: u64,
}

impl Sels {
    fn new() -> Sels {
        Sels { next: SELS.start }
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

/// The console's registration: how its client capabilities are laid out, and the
/// selector where the first landed (`None`: not registered yet).
static CONSOLE: SpinLock<Option<(Layout, u64)>> = SpinLock::new(None);
/// The edu driver's registered portal (where it landed in the roottask), and its DMA
/// pages' physical address.
static EDU: SpinLock<(Option<u64>, u64)> = SpinLock::new((None, 0));
/// Upped when a service has registered, and when a program ends.
const EVENTS: u64 = 0x1f_0000;
/// Where the roottask looks at configuration pages while it looks for a device.
pub const PROBE: u64 = 0x3b00_0000;
/// How long a service may take to register, in TSC ticks.
const REGISTRATION_TICKS: u64 = 50_000_000_000;
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

/// The launcher: the programs' memory, the roottask's selectors for what it makes for
/// them, and the handlers that answer their events.
pub struct Init {
    modules: Modules,
    phys: Phys,
    sels: Sels,
    online: u64,
    /// The next program's index and console slot.
    index: usize,
    slot: u64,
}

impl Init {
    /// The system's init: programs get every usable range of memory.
    pub fn new(world: &World) -> Init {
        Init::with(world, Phys::take_from_kernel(&world.hip))
    }

    /// A launcher for the test suite: programs get memory from `[start, end)` only,
    /// which the suite's tests leave alone.
    pub fn for_tests(world: &World, start: u64, end: u64) -> Init {
        Init::with(world, Phys::take_range(&world.hip, start, end))
    }

    fn with(world: &World, mut phys: Phys) -> Init {
        let hip = world.hip;
        let mut sels = Sels::new();
        let online = online_mask(&hip);
        handlers::init(online, &mut phys, &mut sels);
        let _ = create_sm(EVENTS, ROOT_SEL_PD, 0, 0);
        Init {
            modules: Modules::read(&hip),
            phys,
            sels,
            online,
            index: 0,
            slot: 1,
        }
    }

    /// The module called `name`.
    pub fn module(&self, name: &str) -> Option<Module> {
        self.modules.find(name).copied()
    }

    /// Starts the program of module `m` in the role its name gives it; its index.
    pub fn start(&mut self, m: &Module) -> Result<usize, Failure> {
        let index = self.index;
        match m.name() {
            "console" => start_console(index, m, self.online, &mut self.phys, &mut self.sels)?,
            "edu" => self.start_edu(index, m)?,
            _ => {
                start_program(
                    index,
                    self.slot,
                    m,
                    &self.modules,
                    self.online,
                    &mut self.phys,
                    &mut self.sels,
                )?;
                self.slot += 1;
            }
        }
        self.index += 1;
        Ok(index)
    }

    /// The edu driver: its device, DMA pages and interrupt; the device put into its
    /// domain; waits until it has registered its portal.
    fn start_edu(&mut self, index: usize, m: &Module) -> Result<(), Failure> {
        use facet_edu_core::protocol::layout;
        let hip = facet_rt::hip::at(facet_abi::layout::ROOT_HIP_ADDR);
        if hip.u32(facet_abi::hip::off::API_FLG) & facet_abi::hip::FEAT_IOMMU == 0 {
            return Err("its device's DMA needs the IOMMU (`iommu` on the kernel's command line)");
        }
        let dev = find_edu(&hip).ok_or("no edu device")?;
        let cpu = self.online.trailing_zeros();
        let mut p = Program::create(index, m, cpu, self.online, &mut self.phys, &mut self.sels)?;
        if CONSOLE.lock().is_none() {
            p.give_ports(0x3f8, 3)?;
        }
        give_console_slot(&mut p, self.slot)?;
        self.slot += 1;
        p.give_device_memory(layout::CONFIG, dev.config, 1, layout::CONFIG_VA)?;
        p.give_device_memory(layout::REGS, dev.regs, 1, layout::REGS_VA)?;
        let dma = p.give_dma(
            &mut self.phys,
            layout::DMA,
            1,
            layout::DMA_VA,
            layout::DMA_DEVICE,
        )?;
        let gsi = Crd::new(
            Kind::Object,
            facet_abi::config::NUM_CPU as u64 + layout::MSI_GSI,
            0,
            perm::ALL,
        );
        let at = Crd::new(Kind::Object, sel::GSIS + layout::MSI_GSI, 0, perm::ALL);
        pd_ctrl_delegate(ROOT_SEL_PD, p.pd, gsi, FROM_KERNEL, at)
            .map_err(|_| "its MSI's semaphore")?;
        // The device into the driver's domain: from here on it reaches the DMA pages and
        // nothing else. The configuration page the driver maps names the device; the
        // hint is the device's own requester id.
        assign_pci(p.pd, layout::CONFIG_VA, dev.rid as u64).map_err(|_| "assign_pci refused")?;
        record(&p, None, false);
        *EDU.lock() = (None, dma);
        p.start(&mut self.sels)?;
        set_running(index, &p);
        let deadline = facet_rt::cpu::rdtsc() + REGISTRATION_TICKS;
        while EDU.lock().0.is_none() {
            if sm_down_until(EVENTS, deadline).is_err() {
                return Err("it did not register");
            }
        }
        println!("init: started edu on CPU {cpu}");
        Ok(())
    }
}

/// Starts every program and looks after them; never returns.
pub fn run(world: &World, args: &Args) -> ! {
    let mut init = Init::new(world);
    println!(
        "init: {} MiB to give, {} CPU(s)",
        init.phys.available() >> 20,
        init.online.count_ones()
    );
    if let Some(m) = init.module("console") {
        if let Err(e) = init.start(&m) {
            println!("init: console: {e}");
        }
    }
    let programs: [Option<Module>; modules::MAX_MODULES] = {
        let mut list = [None; modules::MAX_MODULES];
        for (slot, m) in list
            .iter_mut()
            .zip(init.modules.iter().filter(|m| m.name() != "console"))
        {
            *slot = Some(*m);
        }
        list
    };
    for m in programs.iter().flatten() {
        if facet_kcore::elf::parse_root(m.bytes(), m.phys).is_err() {
            continue;
        }
        if let Err(e) = init.start(m) {
            println!("init: {}: not started: {e}", m.name());
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

/// The edu device of segment 0: its configuration page, the first page of BAR 0 (its
/// registers) and its requester id.
struct EduDevice {
    config: u64,
    regs: u64,
    rid: u16,
}

/// Finds the edu device by looking at function 0 of every device the MCFG region
/// covers, each mapped read-only at [`PROBE`].
fn find_edu(hip: &HipReader) -> Option<EduDevice> {
    use facet_abi::hip::off;
    let base = hip.u64(off::MCFG_BASE);
    let size = hip.u64(off::MCFG_SIZE);
    let first_bus = hip.u32(off::PCI_BUS_START) as u64;
    let probe = facet_rt::window::Window::page(PROBE);
    for n in 0..(size >> 15).min(256 * 32) {
        let phys = base + (n << 15);
        let crd = Crd::new(Kind::Memory, phys >> 12, 0, perm::MEM_R);
        let window = Crd::new(Kind::Memory, PROBE >> 12, 0, perm::MEM_R);
        if pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, window).is_err() {
            return None;
        }
        if probe.read::<u32>(0) != facet_edu_core::regs::ID {
            continue;
        }
        let bar = probe.read::<u32>(0x10);
        // A memory BAR, below 4 GiB unless 64-bit.
        let high = if bar & 0x6 == 0x4 {
            probe.read::<u32>(0x14) as u64
        } else {
            0
        };
        let regs = high << 32 | (bar & !0xf) as u64;
        if bar & 1 != 0 || regs == 0 {
            return None;
        }
        return Some(EduDevice {
            config: phys,
            regs,
            rid: (first_bus << 8) as u16 + (n << 3) as u16,
        });
    }
    None
}

fn start_console(
    index: usize,
    m: &Module,
    online: u64,
    phys: &mut Phys,
    sels: &mut Sels,
) -> Result<(), Failure> {
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
    let deadline = facet_rt::cpu::rdtsc() + REGISTRATION_TICKS;
    while CONSOLE.lock().is_none() {
        if sm_down_until(EVENTS, deadline).is_err() {
            return Err("it did not register");
        }
    }
    // Slot 0 is the roottask's own: from here on it prints through the service too.
    let Some((layout, base)) = *CONSOLE.lock() else {
        return Err("it did not register");
    };
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
) -> Result<(), Failure> {
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
    give_services(&p)?;
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

/// Hands the program the portals of the services that registered (the edu driver's).
fn give_services(p: &Program) -> Result<(), Failure> {
    if let Some(portal) = EDU.lock().0 {
        use facet_edu_core::protocol::layout::CLIENT_PORTAL;
        p.give_object(portal, CLIENT_PORTAL, perm::PT_CALL)?;
    }
    Ok(())
}

/// Hands the program console slot `slot` (the output portals of the CPUs it may use,
/// the input portal and semaphore), if the console registered one.
fn give_console_slot(p: &mut Program, slot: u64) -> Result<(), Failure> {
    let Some((layout, base)) = *CONSOLE.lock() else {
        return Ok(());
    };
    let slot = slot as usize;
    if slot >= layout.slots() {
        return Ok(());
    }
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

/// The console registered its slots (called by the handler whose delegate window at
/// `window` received the capabilities). Returns the answer word.
fn console_registered(program: usize, h: Utcb, window: u64) -> u64 {
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
    *CONSOLE.lock() = Some((layout, window));
    let _ = sm_up(EVENTS);
    0
}

/// A service registered its portal (as typed item 0, which landed at `window`). Returns
/// the answer word: 0 if the roottask took it.
fn service_registered(program: usize, h: Utcb, window: u64) -> u64 {
    use facet_edu_core::protocol::layout::SERVICE;
    let is_edu = STARTED
        .lock()
        .get(program)
        .copied()
        .flatten()
        .is_some_and(|s| name_of(&s) == "edu");
    let typed = h.items() >> 16 & 0xffff;
    if !is_edu || h.word(1) != SERVICE || typed != 1 {
        return 1;
    }
    EDU.lock().0 = Some(window);
    let _ = sm_up(EVENTS);
    0
}

/// The edu driver's portal as the roottask holds it, once registered.
pub fn edu_portal() -> Option<u64> {
    EDU.lock().0
}

/// The physical address of the edu driver's two DMA pages (0 before it started).
pub fn edu_dma() -> u64 {
    EDU.lock().1
}

/// Stops program `index` (its capabilities revoked, its PD gone with them); whether it
/// ran.
pub fn stop_program(index: usize) -> bool {
    stop(index).is_some()
}

/// Program `program` is done (it said so with `parent::EXIT`).
///
/// The handler that runs this runs on the time of the program's EC that sent the
/// message, whose scheduling context goes with the program: everything else (the line,
/// the count, the main loop's wake-up) is done first, and taking the program down last
/// (see [`claim`]).
fn program_exited(program: usize, code: u64, on: Speaker) {
    let Some(s) = claim(program) else { return };
    on.say(format_args!("init: {} exited with {code}\n", name_of(&s)));
    count_end(&s, code != 0);
    take_down(&s);
}

/// An EC of program `program` faulted: the program is stopped (in the order of
/// [`program_exited`], for the same reason: the fault's handler runs on the faulting
/// EC's time).
fn program_faulted(program: usize, vector: u64, rip: u64, error: u64, cr2: u64, on: Speaker) {
    let Some(s) = claim(program) else { return };
    on.say(format_args!(
        "init: {} stopped: exception {vector} at rip {rip:#x} (error {error:#x}, address {cr2:#x})\n",
        name_of(&s)
    ));
    count_end(&s, true);
    take_down(&s);
}

/// A VM's end for the main loop's count, which it is woken to look at.
fn count_end(s: &Started, failed: bool) {
    if s.vm {
        let mut v = VMS.lock();
        v.0 = v.0.saturating_sub(1);
        if failed {
            v.1 += 1;
        }
    }
    let _ = sm_up(EVENTS);
}

/// Stops program `program` if it runs; what the roottask knew of it.
fn stop(program: usize) -> Option<Started> {
    let s = claim(program)?;
    take_down(&s);
    Some(s)
}

/// Marks program `program` as stopped if it runs; what the roottask knew of it. Nothing
/// is taken down yet ([`take_down`]).
///
/// A handler that stops a program because of a message from one of its ECs runs on that
/// EC's scheduling context, which goes with the program: once it is gone, the handler
/// runs only until the kernel next looks at the CPU's queue. A handler that then still
/// had a line to print would stop inside the console service with the console's lock
/// held, and every other program's output would wait for good (seen as a hang of the
/// `linux` tier). So the handlers claim, print, count and wake the main loop first, and
/// take the program down last.
fn claim(program: usize) -> Option<Started> {
    let s = {
        let mut all = STARTED.lock();
        let entry = all.get_mut(program)?.as_mut()?;
        if !entry.running {
            return None;
        }
        entry.running = false;
        *entry
    };
    if name_of(&s) == "edu" {
        // Its portal goes with it (the roottask's copy derives from the driver's).
        EDU.lock().0 = None;
    }
    Some(s)
}

/// Takes program `s` down: its capabilities, and with them its PD, ECs and SCs.
fn take_down(s: &Started) {
    let everything = Crd::new(Kind::Object, 0, 26, perm::ALL);
    let _ = facet_rt::hypercall::revoke(everything, true, Some(s.pd));
    for sel in [s.sc, s.ec, s.pd] {
        if sel != 0 {
            let _ =
                facet_rt::hypercall::revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None);
        }
    }
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
