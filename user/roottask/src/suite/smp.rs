//! Execution contexts on every application processor: a global EC per CPU starts (its
//! start-up handler is a local EC on the same CPU), reports the CPU it runs on, is woken
//! by a semaphore `up` from the bootstrap CPU, is recalled while it spins, and faults on
//! a page it keeps reading as soon as the roottask revokes the page: the TLB shootdown
//! leaves no CPU with a stale translation.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, ec_recall, pd_ctrl_delegate, pt_ctrl,
    reply, revoke, sm_down, sm_up,
};

use super::naps::tsc;
use super::vmm::Utcb;
use super::{ok, Fail, TestResult};
use crate::world::{World, SCRATCH};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// CPUs the test uses at most (application processors 1..MAX_CPUS).
const MAX_CPUS: usize = 16;
/// Selectors per CPU `c`: handler EC, worker EC, its SC, its wake-up semaphore.
const HANDLER: u64 = 1100;
const WORKER: u64 = 1200;
const WORKER_SC: u64 = 1300;
const SM_WAKE: u64 = 1400;
/// Everyone reports here.
const SM_REPORT: u64 = 1500;
/// Handlers that stay with a faulted worker park here.
const SM_PARK: u64 = 1501;
/// Event bases: 32 selectors per CPU.
const EVT: u64 = 12288;
const EVENT_PF: u64 = 14;
const EVENT_STARTUP: u64 = 30;
const EVENT_RECALL: u64 = 31;
/// UTCBs: handlers', then workers'.
const HANDLER_UTCB: u64 = 0x3002_0000;
const WORKER_UTCB: u64 = 0x3003_0000;
/// The page every worker reads until it is revoked.
const SHARED: u64 = SCRATCH + 0x70_0000;
const SHARED_PHYS: u64 = 0x0102_0000;

static PHASE: AtomicU64 = AtomicU64::new(0);
static SEEN_APIC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];
static WOKEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static READS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static RECALLED_RIP: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static FAULT_ADDR: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static READS_AT_FAULT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

global_asm!(
    r#"
    .section .bss.smp_stacks, "aw", @nobits
    .balign 16
__smp_handler_stacks:
    .skip 0x4000 * 16
__smp_worker_stacks:
    .skip 0x4000 * 16
    .global __smp_worker_stacks

    .section .text.smp_entries, "ax"
    .global __smp_startup
    .global __smp_recall
    .global __smp_pf
    // The portal id (in rdi) is the CPU: each handler gets its own stack.
__smp_startup:
    lea rsp, [rip + __smp_handler_stacks]
    mov rax, rdi
    inc rax
    shl rax, 14
    add rsp, rax
    call {startup}
    ud2
__smp_recall:
    lea rsp, [rip + __smp_handler_stacks]
    mov rax, rdi
    inc rax
    shl rax, 14
    add rsp, rax
    call {recall}
    ud2
__smp_pf:
    lea rsp, [rip + __smp_handler_stacks]
    mov rax, rdi
    inc rax
    shl rax, 14
    add rsp, rax
    call {pf}
    ud2
"#,
    startup = sym smp_startup,
    recall = sym smp_recall,
    pf = sym smp_pf,
);

extern "C" {
    static __smp_worker_stacks: u8;
    fn __smp_startup();
    fn __smp_recall();
    fn __smp_pf();
}

fn utcb_put(c: u64, at: usize, v: u64) {
    Utcb(HANDLER_UTCB + c * 0x1000).put(at, v)
}

fn utcb_get(c: u64, at: usize) -> u64 {
    Utcb(HANDLER_UTCB + c * 0x1000).get(at)
}

/// Start-up of worker `c`: its function, its stack, its CPU number in RDI.
extern "C" fn smp_startup(c: u64) -> ! {
    let stacks = core::ptr::addr_of!(__smp_worker_stacks) as u64;
    utcb_put(c, u::RIP, smp_worker as *const () as u64);
    utcb_put(c, u::RSP, stacks + (c + 1) * 0x4000 - 8);
    utcb_put(c, u::RDI, c);
    utcb_put(c, u::MTD, (mtd::RIP_LEN | mtd::RSP | mtd::GPR_BSD) as u64);
    reply()
}

/// Recall of worker `c`: where it was; it goes on.
extern "C" fn smp_recall(c: u64) -> ! {
    RECALLED_RIP[c as usize].store(utcb_get(c, u::RIP), Ordering::SeqCst);
    utcb_put(c, u::MTD, 0);
    let _ = sm_up(SM_REPORT);
    reply()
}

/// Page fault of worker `c` (the shared page is gone): record and keep it stopped.
extern "C" fn smp_pf(c: u64) -> ! {
    FAULT_ADDR[c as usize].store(utcb_get(c, u::QUAL + 8), Ordering::SeqCst);
    READS_AT_FAULT[c as usize].store(READS[c as usize].load(Ordering::SeqCst), Ordering::SeqCst);
    let _ = sm_up(SM_REPORT);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

/// Worker `c`: report the CPU, wait to be woken, then read the shared page forever.
extern "C" fn smp_worker(c: u64) -> ! {
    let i = c as usize;
    // CPUID leaf 1, EBX 31:24: the initial local APIC id.
    let apic = core::arch::x86_64::__cpuid(1).ebx >> 24;
    SEEN_APIC[i].store(apic as u64, Ordering::SeqCst);
    let _ = sm_up(SM_REPORT);
    let _ = sm_down(SM_WAKE + c);
    WOKEN[i].store(1, Ordering::SeqCst);
    let _ = sm_up(SM_REPORT);
    while PHASE.load(Ordering::SeqCst) == 0 {
        core::hint::spin_loop();
    }
    loop {
        // SAFETY: the shared page is mapped readable until the roottask revokes it;
        // reading it after that faults, which is the point.
        let _ = unsafe { (SHARED as *const u64).read_volatile() };
        READS[i].fetch_add(1, Ordering::SeqCst);
    }
}

fn entry(f: unsafe extern "C" fn()) -> u64 {
    f as *const () as u64
}

fn wait_reports(n: usize, what: &str) -> TestResult {
    for _ in 0..n {
        ok(sm_down(SM_REPORT), what)?;
    }
    Ok(())
}

/// Sets up CPU `c`'s handler, portals and worker.
fn start_worker(c: u64) -> TestResult {
    let evt = EVT + c * 32;
    ok(
        create_ec(HANDLER + c, PD, 0, c, HANDLER_UTCB + c * 0x1000, 0, 0),
        "handler EC",
    )?;
    for (event, m, f) in [
        (
            EVENT_STARTUP,
            mtd::RIP_LEN | mtd::RSP,
            __smp_startup as unsafe extern "C" fn(),
        ),
        (EVENT_RECALL, mtd::RIP_LEN, __smp_recall),
        (EVENT_PF, mtd::RIP_LEN | mtd::QUAL, __smp_pf),
    ] {
        ok(
            create_pt(evt + event, PD, HANDLER + c, m as u64, entry(f)),
            "portal",
        )?;
        ok(pt_ctrl(evt + event, c), "portal id")?;
    }
    ok(create_sm(SM_WAKE + c, PD, 0, 0), "wake-up sm")?;
    ok(
        create_ec(
            WORKER + c,
            PD,
            ec_flags::GLOBAL,
            c,
            WORKER_UTCB + c * 0x1000,
            0,
            evt,
        ),
        "worker EC",
    )?;
    ok(
        create_sc(WORKER_SC + c, PD, WORKER + c, 1, 1000),
        "worker SC",
    )?;
    Ok(())
}

pub fn every_cpu_runs_ecs(w: &World) -> TestResult {
    let online = (0..facet_abi::config::NUM_CPU)
        .take_while(|&i| w.hip.cpu(i).flags & 1 != 0)
        .count()
        .min(MAX_CPUS);
    let aps = 1..online as u64;
    let n = aps.clone().count();
    // The page the workers read.
    let ram = Crd::new(
        Kind::Memory,
        SHARED_PHYS >> 12,
        0,
        perm::MEM_R | perm::MEM_W,
    );
    let at = Crd::new(Kind::Memory, SHARED >> 12, 0, perm::MEM_R | perm::MEM_W);
    ok(
        pd_ctrl_delegate(PD, PD, ram, FROM_KERNEL, at),
        "shared page",
    )?;
    ok(create_sm(SM_REPORT, PD, 0, 0), "report sm")?;
    ok(create_sm(SM_PARK, PD, 0, 0), "parking sm")?;
    for c in aps.clone() {
        start_worker(c)?;
    }
    // Each worker runs on its own CPU.
    wait_reports(n, "workers starting")?;
    for c in aps.clone() {
        let seen = SEEN_APIC[c as usize].load(Ordering::SeqCst);
        ensure_eq!(seen, w.hip.cpu(c as usize).lapic[0] as u64);
    }
    // Woken from this CPU.
    for c in aps.clone() {
        ok(sm_up(SM_WAKE + c), "wake up")?;
    }
    wait_reports(n, "workers waking")?;
    for c in aps.clone() {
        ensure_eq!(WOKEN[c as usize].load(Ordering::SeqCst), 1u64);
    }
    // All of them reading the shared page, each on its CPU, while this one goes on.
    PHASE.store(1, Ordering::SeqCst);
    let reading = |c: u64| READS[c as usize].load(Ordering::SeqCst);
    let start = tsc();
    while aps.clone().any(|c| reading(c) == 0) {
        ensure!(
            tsc().wrapping_sub(start) < 20_000_000_000,
            "a worker never started reading"
        );
        core::hint::spin_loop();
    }
    // Recalled where they spin, and going on afterwards.
    for c in aps.clone() {
        ok(ec_recall(WORKER + c), "recall")?;
    }
    wait_reports(n, "recalls")?;
    let worker_code = smp_worker as *const () as u64;
    for c in aps.clone() {
        let rip = RECALLED_RIP[c as usize].load(Ordering::SeqCst);
        ensure!(
            (worker_code..worker_code + 0x200).contains(&rip),
            "CPU {} recalled at {:#x}",
            c,
            rip
        );
        let before = reading(c);
        let start = tsc();
        while reading(c) == before {
            ensure!(
                tsc().wrapping_sub(start) < 20_000_000_000,
                "worker {} stopped after its recall",
                c
            );
            core::hint::spin_loop();
        }
    }
    // The page goes; no CPU reads it afterwards: each faults at its next read.
    ok(revoke(at, true, None), "revoke the shared page")?;
    let after: [u64; MAX_CPUS] = core::array::from_fn(|i| READS[i].load(Ordering::SeqCst));
    wait_reports(n, "page faults")?;
    for c in aps {
        let i = c as usize;
        ensure_eq!(FAULT_ADDR[i].load(Ordering::SeqCst), SHARED);
        // A read that had begun before the revoke returned may still count.
        let at_fault = READS_AT_FAULT[i].load(Ordering::SeqCst);
        ensure!(
            at_fault <= after[i] + 1,
            "CPU {} read the revoked page {} more times",
            c,
            at_fault - after[i]
        );
    }
    Ok(())
}
