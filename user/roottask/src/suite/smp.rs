//! Execution contexts on every application processor: a global EC per CPU starts (its
//! start-up handler is a local EC on the same CPU), reports the CPU it runs on, is woken
//! by a semaphore `up` from the bootstrap CPU, is recalled while it spins, and faults on
//! a page it keeps reading as soon as the roottask revokes the page: the TLB shootdown
//! leaves no CPU with a stale translation.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{EVENT_RECALL, EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::entry::{addr, Entry, Stack};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, ec_recall, pt_ctrl, reply, revoke,
    sm_down, sm_up,
};
use facet_rt::utcb::Utcb;

use super::fixture::{
    SMP, SMP_EVENTS, SMP_HANDLER_UTCBS, SMP_SHARED, SMP_SHARED_RAM, SMP_WORKER_UTCBS,
};
use super::naps::tsc;
use super::tools::map_from_kernel;
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// CPUs the test uses at most (application processors 1..MAX_CPUS): every CPU the HIP
/// can describe.
const MAX_CPUS: usize = facet_abi::config::NUM_CPU;
/// Per CPU `c`: handler EC, worker EC, its SC, its wake-up semaphore.
const fn handler(c: u64) -> u64 {
    SMP.at(c)
}
const fn worker(c: u64) -> u64 {
    SMP.at(100 + c)
}
const fn worker_sc(c: u64) -> u64 {
    SMP.at(200 + c)
}
const fn sm_wake(c: u64) -> u64 {
    SMP.at(300 + c)
}
/// Everyone reports here.
const SM_REPORT: u64 = SMP.at(400);
/// Handlers that stay with a faulted worker park here.
const SM_PARK: u64 = SMP.at(401);
const EVENT_PF: u64 = 14;
/// The page every worker reads until it is revoked.
const SHARED: u64 = SMP_SHARED.addr(0);

static PHASE: AtomicU64 = AtomicU64::new(0);
static SEEN_APIC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];
static WOKEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static READS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static RECALLED_RIP: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static FAULT_ADDR: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static READS_AT_FAULT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Each CPU's handler and worker run at once with the others': a stack each (the
/// handlers' chosen by portal id, which is the CPU).
static HANDLER_STACKS: [Stack; MAX_CPUS] = [const { Stack::new() }; MAX_CPUS];
static WORKER_STACKS: [Stack; MAX_CPUS] = [const { Stack::new() }; MAX_CPUS];

facet_rt::portal_entry!(fn startup_entry on HANDLER_STACKS[id] => smp_startup);
facet_rt::portal_entry!(fn recall_entry on HANDLER_STACKS[id] => smp_recall);
facet_rt::portal_entry!(fn pf_entry on HANDLER_STACKS[id] => smp_pf);

/// Handler `c`'s UTCB.
fn utcb(c: u64) -> Utcb {
    SMP_HANDLER_UTCBS.utcb(c)
}

/// Start-up of worker `c`: its function, its stack, its CPU number in RDI.
extern "C" fn smp_startup(c: u64) -> ! {
    let h = utcb(c);
    let m = h.start_thread(smp_worker, &WORKER_STACKS[c as usize % MAX_CPUS]);
    h.put(u::RDI, c);
    h.reply_with(m | mtd::GPR_BSD);
    reply()
}

/// Recall of worker `c`: where it was; it goes on.
extern "C" fn smp_recall(c: u64) -> ! {
    RECALLED_RIP[c as usize].store(utcb(c).get(u::RIP), Ordering::SeqCst);
    utcb(c).reply_with(0);
    let _ = sm_up(SM_REPORT);
    reply()
}

/// Page fault of worker `c` (the shared page is gone): record and keep it stopped.
extern "C" fn smp_pf(c: u64) -> ! {
    FAULT_ADDR[c as usize].store(utcb(c).get(u::QUAL + 8), Ordering::SeqCst);
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
    let _ = sm_down(sm_wake(c));
    WOKEN[i].store(1, Ordering::SeqCst);
    let _ = sm_up(SM_REPORT);
    while PHASE.load(Ordering::SeqCst) == 0 {
        core::hint::spin_loop();
    }
    loop {
        // Mapped until the roottask revokes it; a read after that faults, which is the
        // point.
        let _: u64 = SMP_SHARED.window().read(0);
        READS[i].fetch_add(1, Ordering::SeqCst);
    }
}

fn wait_reports(n: usize, what: &str) -> TestResult {
    for _ in 0..n {
        ok(sm_down(SM_REPORT), what)?;
    }
    Ok(())
}

/// Sets up CPU `c`'s handler, portals and worker.
fn start_worker(c: u64) -> TestResult {
    let evt = SMP_EVENTS.base(c);
    ok(
        create_ec(handler(c), PD, 0, c, utcb(c).addr(), 0, 0),
        "handler EC",
    )?;
    let portals: [(u64, u32, Entry); 3] = [
        (EVENT_STARTUP, mtd::RIP_LEN | mtd::RSP, startup_entry),
        (EVENT_RECALL, mtd::RIP_LEN, recall_entry),
        (EVENT_PF, mtd::RIP_LEN | mtd::QUAL, pf_entry),
    ];
    for (event, m, f) in portals {
        ok(
            create_pt(evt + event, PD, handler(c), m as u64, addr(f)),
            "portal",
        )?;
        ok(pt_ctrl(evt + event, c), "portal id")?;
    }
    ok(create_sm(sm_wake(c), PD, 0, 0), "wake-up sm")?;
    let utcb = SMP_WORKER_UTCBS.addr(c);
    ok(
        create_ec(worker(c), PD, ec_flags::GLOBAL, c, utcb, 0, evt),
        "worker EC",
    )?;
    ok(create_sc(worker_sc(c), PD, worker(c), 1, 1000), "worker SC")
}

pub fn every_cpu_runs_ecs(e: &Env) -> TestResult {
    let aps = 1..e.cpus(MAX_CPUS);
    let n = aps.clone().count();
    // The page the workers read.
    let rw = perm::MEM_R | perm::MEM_W;
    let shared = SMP_SHARED.window();
    map_from_kernel(SMP_SHARED_RAM.page(0), 0, rw, shared, "shared page")?;
    ok(create_sm(SM_REPORT, PD, 0, 0), "report sm")?;
    ok(create_sm(SM_PARK, PD, 0, 0), "parking sm")?;
    for c in aps.clone() {
        start_worker(c)?;
    }
    // Each worker runs on its own CPU.
    wait_reports(n, "workers starting")?;
    for c in aps.clone() {
        let seen = SEEN_APIC[c as usize].load(Ordering::SeqCst);
        ensure_eq!(seen, e.hip().cpu(c as usize).lapic[0] as u64);
    }
    // Woken from this CPU.
    for c in aps.clone() {
        ok(sm_up(sm_wake(c)), "wake up")?;
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
        ok(ec_recall(worker(c)), "recall")?;
    }
    wait_reports(n, "recalls")?;
    let worker_code = facet_rt::entry::thread_addr(smp_worker);
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
    let at = Crd::new(Kind::Memory, shared.page_number(), 0, rw);
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
