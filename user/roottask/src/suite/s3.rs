//! ACPI S3 through `machine_ctrl` suspend. Everywhere: sleep types beyond three bits
//! are refused as the reference refuses them (BAD_PAR, nothing touched), with the FACS
//! waking vector in OUT2. With `s3` (QEMU's q35 with S3 enabled and an edu device; the
//! harness wakes the machine through QEMU's monitor): a thread spinning on every CPU, a
//! thread waiting on a semaphore with a deadline, the edu device's MSIs and a spinning
//! vCPU, all set up before the suspend, all going on after it.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    assign_gsi, create_ec, create_pt, create_sc, create_sm, ec_flags, pd_ctrl_delegate, pt_ctrl,
    reply, sm_down_until, suspend,
};
use facet_rt::utcb::Utcb;

use super::edu::{self, CONFIG, REGS};
use super::fixture::{S3, S3_EVENTS, S3_HANDLER_UTCBS, S3_WORKER_UTCBS, VMS, VM_EVENTS, VM_UTCBS};
use super::irq::gsi_semaphore;
use super::naps::tsc;

use super::vm::vmm::{write_guest_code, Exit, TestVm, GUEST_CODE};
use super::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
const CPUS: usize = facet_abi::config::NUM_CPU;
/// QEMU's `\_S3` package: SLP_TYPa 1, SLP_TYPb 1 (q35 has no PM1b block).
const S3_TYPES: (u8, u8) = (1, 1);

const fn handler(c: u64) -> u64 {
    S3.at(c)
}
const fn worker(c: u64) -> u64 {
    S3.at(64 + c)
}
const fn worker_sc(c: u64) -> u64 {
    S3.at(128 + c)
}
const TIMED_SM: u64 = S3.at(192);
const WAITER: u64 = S3.at(193);
const WAITER_SC: u64 = S3.at(194);
const MSI_SM: u64 = S3.at(195);
/// Nobody signals it: the test naps on it, so that threads on its CPU run meanwhile.
const NAP_SM: u64 = S3.at(196);
/// The edu device's MSI: a GSI beyond the I/O APIC's pins, and its registers.
const MSI_GSI: u64 = 100;
const EDU_RAISE: u64 = facet_edu_core::regs::IRQ_RAISE;
const EDU_ACK: u64 = facet_edu_core::regs::IRQ_ACK;
/// The waiting thread's place among the event bases and worker UTCBs.
const WAITER_SLOT: u64 = 64;
/// The spinning guest: `inc word [0x1100]; jmp 0x1060` at guest-physical 0x1060.
const GUEST_AT: u64 = 0x1060;
const GUEST_COUNTER: u64 = 0x1100;

static COUNTS: [AtomicU64; CPUS] = [const { AtomicU64::new(0) }; CPUS];
static HANDLER_STACKS: [Stack; CPUS] = [const { Stack::new() }; CPUS];
static WORKER_STACKS: [Stack; CPUS] = [const { Stack::new() }; CPUS];
static WAITER_HANDLER_STACK: Stack = Stack::new();
static WAITER_STACK: Stack = Stack::new();
static VM_STACK: Stack = Stack::new();
/// The waiting thread's deadline, its status (u64::MAX while it waits) and when it
/// stopped waiting.
static DEADLINE: AtomicU64 = AtomicU64::new(0);
static WAITED: AtomicU64 = AtomicU64::new(u64::MAX);
static WAITED_AT: AtomicU64 = AtomicU64::new(0);

facet_rt::portal_entry!(fn startup_entry on HANDLER_STACKS[id] => worker_startup);
facet_rt::portal_entry!(fn waiter_startup_entry on WAITER_HANDLER_STACK => waiter_startup);
facet_rt::portal_entry!(fn vm_startup_entry on VM_STACK => vm_startup);

fn handler_utcb(c: u64) -> Utcb {
    S3_HANDLER_UTCBS.utcb(c)
}

extern "C" fn worker_startup(c: u64) -> ! {
    let h = handler_utcb(c);
    let m = h.start_thread(spin, &WORKER_STACKS[c as usize % CPUS]);
    h.put(u::RDI, c);
    h.reply_with(m | mtd::GPR_BSD);
    reply()
}

extern "C" fn spin(c: u64) -> ! {
    loop {
        COUNTS[c as usize % CPUS].fetch_add(1, Ordering::SeqCst);
    }
}

extern "C" fn waiter_startup(_: u64) -> ! {
    let h = handler_utcb(0);
    h.reply_with(h.start_thread(wait, &WAITER_STACK));
    reply()
}

extern "C" fn wait(_: u64) -> ! {
    let status = match sm_down_until(TIMED_SM, DEADLINE.load(Ordering::SeqCst)) {
        Ok(()) => Status::Success,
        Err(s) => s,
    };
    WAITED_AT.store(tsc(), Ordering::SeqCst);
    WAITED.store(status as u64, Ordering::SeqCst);
    loop {
        let _ = sm_down_until(TIMED_SM, 0);
        let _ = facet_rt::hypercall::sm_down(TIMED_SM);
    }
}

/// The spinning vCPU's VM (the thirteenth of the VM range), on the last CPU.
fn spin_vm(cpus: u64) -> TestVm {
    TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 12).on_cpu(cpus - 1)
}

extern "C" fn vm_startup(c: u64) -> ! {
    let h = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 12).on_cpu(c).utcb();
    let m = h.real_mode(GUEST_AT, 2);
    h.reply_with(m);
    reply()
}

/// Waits up to `secs` seconds for `done`, napping a millisecond at a time.
fn within(e: &Env, secs: u64, what: &str, done: impl Fn() -> bool) -> TestResult {
    let end = tsc() + e.per_ms() * 1000 * secs;
    while !done() {
        ensure!(tsc() < end, "{} within {} s", what, secs);
        let _ = sm_down_until(NAP_SM, tsc() + e.per_ms());
    }
    Ok(())
}

/// Bad sleep types are refused before anything is touched, with OUT2 the waking vector.
pub fn bad_sleep_types(_: &Env) -> TestResult {
    let (status, vector) = suspend(8, 0);
    ensure_eq!(status, Status::BadPar);
    ensure_eq!(vector >> 62, 0u64);
    for (a, b) in [(0, 8), (0xff, 0xff), (1, 0x10), (0x80, 1)] {
        ensure_eq!(suspend(a, b), (Status::BadPar, vector));
    }
    Ok(())
}

/// A 32-bit register of bus 0's device `dev` (function 0) through the legacy
/// configuration ports 0xcf8/0xcfc.
fn legacy_config(dev: u32, off: u32, value: Option<u32>) -> u32 {
    facet_rt::io::outl(0xcf8, 0x8000_0000 | dev << 11 | off);
    match value {
        Some(v) => {
            facet_rt::io::outl(0xcfc, v);
            v
        }
        None => facet_rt::io::inl(0xcfc),
    }
}

/// q35's PCIEXBAR (host bridge 00:00.0, 0x60 and 0x64): where the MCFG window lies and
/// that it is on. UEFI firmware writes the chipset's registers back when the machine
/// wakes (its S3 boot script); QEMU's PC BIOS does not, so the driver here does, before
/// it reaches its device through the window again.
const PCIEXBAR: u32 = 0x60;

/// Raises `n` edu interrupts, each of which must reach the MSI semaphore.
fn edu_interrupts(e: &Env, n: u32, when: &str) -> TestResult {
    for i in 0..n {
        REGS.write::<u32>(EDU_RAISE, 1);
        let got = sm_down_until(MSI_SM, tsc() + e.per_ms() * 2000);
        REGS.write::<u32>(EDU_ACK, 1);
        got.map_err(|s| Fail::new(format_args!("{when}: edu interrupt {i}: {}", s.name())))?;
    }
    Ok(())
}

pub fn suspend_and_resume(e: &Env) -> TestResult {
    if !e.args.s3 {
        return Ok(());
    }
    let cpus = e.cpus(CPUS);
    let vector = suspend(8, 0).1;
    ok(create_sm(NAP_SM, PD, 0, 0), "nap semaphore")?;

    // A thread spinning on every CPU.
    for c in 0..cpus {
        let evt = S3_EVENTS.base(c);
        ok(
            create_ec(handler(c), PD, 0, c, handler_utcb(c).addr(), 0, 0),
            "handler",
        )?;
        ok(
            create_pt(
                evt + EVENT_STARTUP,
                PD,
                handler(c),
                (mtd::RIP_LEN | mtd::RSP) as u64,
                addr(startup_entry),
            ),
            "start-up portal",
        )?;
        ok(pt_ctrl(evt + EVENT_STARTUP, c), "portal id")?;
        let utcb = S3_WORKER_UTCBS.addr(c);
        ok(
            create_ec(worker(c), PD, ec_flags::GLOBAL, c, utcb, 0, evt),
            "worker",
        )?;
        ok(create_sc(worker_sc(c), PD, worker(c), 1, 1000), "worker SC")?;
    }
    let all_count = |after: &[u64; CPUS]| {
        (0..cpus as usize).all(|c| COUNTS[c].load(Ordering::SeqCst) > after[c])
    };
    within(e, 20, "a thread running on every CPU", || {
        all_count(&[0; CPUS])
    })?;

    // The legacy configuration ports, for the host bridge.
    let ports = Crd::new(Kind::Pio, 0xcf8, 3, perm::PIO_A);
    ok(
        pd_ctrl_delegate(PD, PD, ports, FROM_KERNEL, ports).map(|_| ()),
        "ports 0xcf8..0xcff",
    )?;
    let pciexbar = (
        legacy_config(0, PCIEXBAR, None),
        legacy_config(0, PCIEXBAR + 4, None),
    );
    ensure!(pciexbar.0 & 1 != 0, "PCIEXBAR {:#x} is off", pciexbar.0);

    // The edu device's MSIs.
    edu::require(e)?;
    edu::enable()?;
    gsi_semaphore(MSI_GSI, MSI_SM)?;
    let (address, data) = ok(assign_gsi(MSI_SM, CONFIG.base(), 0, u64::MAX), "assign_gsi")?;
    let program_msi = || edu::program_msi(address, data as u32);
    program_msi()?;
    edu_interrupts(e, 20, "before")?;
    let (command, bar) = (CONFIG.read::<u32>(0x04), CONFIG.read::<u32>(0x10));

    // A vCPU spinning in its guest, counting.
    let vm = e.vmx().map(|_| spin_vm(cpus));
    if let Some(vm) = vm {
        // The first VM's memory (mapped again if the VM tests left it out).
        super::vm::first_vm_memory()?;
        write_guest_code(GUEST_AT, &[0xff, 0x06, 0x00, 0x11, 0xeb, 0xfa]);
        GUEST_CODE.write::<u16>(GUEST_COUNTER & 0xfff, 0);
        let exits: [Exit; 1] = [(VM_EVENT_STARTUP, 0, vm_startup_entry)];
        vm.create_vmm(&exits)?;
        vm.start()?;
        within(e, 20, "the guest counting", || {
            GUEST_CODE.read::<u16>(GUEST_COUNTER & 0xfff) != 0
        })?;
    }

    // A thread waiting with a deadline 1.5 s ahead.
    DEADLINE.store(tsc() + e.per_ms() * 1500, Ordering::SeqCst);
    ok(create_sm(TIMED_SM, PD, 0, 0), "timed semaphore")?;
    let evt = S3_EVENTS.base(WAITER_SLOT);
    ok(
        create_pt(
            evt + EVENT_STARTUP,
            PD,
            handler(0),
            (mtd::RIP_LEN | mtd::RSP) as u64,
            addr(waiter_startup_entry),
        ),
        "waiter's start-up portal",
    )?;
    let utcb = S3_WORKER_UTCBS.addr(WAITER_SLOT);
    ok(
        create_ec(WAITER, PD, ec_flags::GLOBAL, 0, utcb, 0, evt),
        "waiter",
    )?;
    ok(create_sc(WAITER_SC, PD, WAITER, 1, 1000), "waiter SC")?;
    let _ = sm_down_until(NAP_SM, tsc() + e.per_ms() * 100);
    ensure!(
        WAITED.load(Ordering::SeqCst) == u64::MAX,
        "the wait ended before the suspend"
    );

    // Sleep.
    let before = tsc();
    let (status, got) = suspend(S3_TYPES.0, S3_TYPES.1);
    let after = tsc();
    ensure_eq!(status, Status::Success);
    ensure_eq!(got, vector);
    facet_rt::println!(
        "roottask: back from S3 after {} ms (TSC)",
        after.wrapping_sub(before) / e.per_ms().max(1)
    );

    // The timed wait ends, after its deadline and after the suspend began.
    within(e, 10, "the timed wait ending", || {
        WAITED.load(Ordering::SeqCst) != u64::MAX
    })?;
    ensure_eq!(WAITED.load(Ordering::SeqCst), Status::Timeout as u64);
    let at = WAITED_AT.load(Ordering::SeqCst);
    ensure!(
        at >= DEADLINE.load(Ordering::SeqCst) && at > before,
        "wait ended at {:#x}, deadline {:#x}, suspend at {:#x}",
        at,
        DEADLINE.load(Ordering::SeqCst),
        before
    );
    // Every CPU's thread runs on.
    let seen: [u64; CPUS] = core::array::from_fn(|c| COUNTS[c].load(Ordering::SeqCst));
    within(
        e,
        20,
        "a thread running on every CPU after the resume",
        || all_count(&seen),
    )?;
    // The vCPU runs on.
    if vm.is_some() {
        let g = GUEST_CODE.read::<u16>(GUEST_COUNTER & 0xfff);
        within(e, 20, "the guest counting after the resume", || {
            GUEST_CODE.read::<u16>(GUEST_COUNTER & 0xfff) != g
        })?;
    }
    // The device lost its configuration in S3, as devices do: its driver restores it
    // (as an operating system's does); the kernel's MSI routing is still there.
    legacy_config(0, PCIEXBAR + 4, Some(pciexbar.1));
    legacy_config(0, PCIEXBAR, Some(pciexbar.0));
    ensure_eq!(CONFIG.read::<u32>(0), facet_edu_core::regs::ID);
    CONFIG.write::<u32>(0x10, bar);
    CONFIG.write::<u32>(0x04, command);
    program_msi()?;
    edu_interrupts(e, 20, "after")?;
    // And the kernel answers as before.
    ensure_eq!(suspend(8, 0), (Status::BadPar, vector));
    Ok(())
}
