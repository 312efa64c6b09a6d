//! vCPUs on application processors: on every AP a vCPU (of the first VM) starts with
//! its VMM handler on the same CPU and stops at a HLT, whose exit the handler reports
//! from that CPU.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::mtd;
use facet_rt::cpu::cpuid;
use facet_rt::entry::Stack;
use facet_rt::hypercall::reply;

use super::vmm::{reasons, Exit, TestVm};
use crate::suite::fixture::{VM_SMP, VM_SMP_EVENTS, VM_SMP_UTCBS};
use crate::suite::{Env, Fail, TestResult};

const MAX_CPUS: usize = 16;
/// The `hlt` of the first VM's guest code.
const HLT_AT: u64 = 0x100f;

static HLT_APIC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

/// The handlers run at once, each on its CPU's stack (the portal id is the CPU).
static STACKS: [Stack; MAX_CPUS] = [const { Stack::new() }; MAX_CPUS];

facet_rt::portal_entry!(fn startup_entry on STACKS[id] => smp_startup);
facet_rt::portal_entry!(fn hlt_entry on STACKS[id] => smp_hlt);

/// The VM of CPU `c`.
const fn vm(c: u64) -> TestVm {
    TestVm::new(VM_SMP, VM_SMP_EVENTS, VM_SMP_UTCBS, c).on_cpu(c)
}

/// Start-up of vCPU `c`: real mode at the HLT.
extern "C" fn smp_startup(c: u64) -> ! {
    let h = vm(c).utcb();
    let m = h.real_mode(HLT_AT, 2);
    h.reply_with(m);
    reply()
}

/// The HLT exit of vCPU `c`: report the CPU the handler (and so the vCPU) runs on.
extern "C" fn smp_hlt(c: u64) -> ! {
    let apic = cpuid(1, 0).1 >> 24;
    HLT_APIC[c as usize % MAX_CPUS].store(apic as u64, Ordering::SeqCst);
    vm(c).finish()
}

/// Needs `vm::guest_runs_and_exits` first (the guest's code).
pub fn vcpus_on_every_cpu(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    let online = e.cpus(MAX_CPUS);
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, startup_entry),
        (r.hlt, mtd::RIP_LEN, hlt_entry),
    ];
    for c in 1..online {
        vm(c).create_vmm(&exits)?;
        vm(c).start()?;
    }
    for c in 1..online {
        vm(c).wait("a vCPU's HLT")?;
    }
    for c in 1..online {
        let seen = HLT_APIC[c as usize].load(Ordering::SeqCst);
        ensure_eq!(seen, e.hip().cpu(c as usize).lapic[0] as u64);
    }
    Ok(())
}
