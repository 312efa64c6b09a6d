//! RDMSR and WRMSR exits, by `facet_vmm_core::msr::classify`: the local APIC model,
//! the vCPU state the kernel switches (carried in the exit message), the TSC, kvmclock
//! and the MSR store; everything else is #GP.

use facet_abi::{mtd, utcb as off};
use facet_vmm_core::event::{exception, GP};
use facet_vmm_core::lapic::MsrEffect;
use facet_vmm_core::msr::{
    check_state_write, classify, guest_record, guest_view, MsrHandling, StateMsr,
};

use crate::exits::{Handler, Next};

/// Where a state MSR is in the UTCB, and the MTD group that carries it.
fn state_field(msr: StateMsr) -> (usize, u32) {
    match msr {
        StateMsr::Efer => (off::EFER, mtd::EFER_PAT),
        StateMsr::Pat => (off::PAT, mtd::EFER_PAT),
        StateMsr::Star => (off::STAR, mtd::SYSCALL_SWAPGS),
        StateMsr::Lstar => (off::LSTAR, mtd::SYSCALL_SWAPGS),
        StateMsr::Fmask => (off::FMASK, mtd::SYSCALL_SWAPGS),
        StateMsr::KernelGsBase => (off::KERNEL_GS_BASE, mtd::SYSCALL_SWAPGS),
        StateMsr::FsBase => (off::FS + 8, mtd::FS_GS),
        StateMsr::GsBase => (off::GS + 8, mtd::FS_GS),
        StateMsr::SysenterCs => (off::SYSENTER_CS, mtd::SYSENTER),
        StateMsr::SysenterEsp => (off::SYSENTER_RSP, mtd::SYSENTER),
        StateMsr::SysenterEip => (off::SYSENTER_RIP, mtd::SYSENTER),
    }
}

fn gp() -> Next {
    Next::raise(exception(GP, Some(0)))
}

/// RDMSR: EDX:EAX = the MSR named by ECX.
pub fn rdmsr(h: Handler, rip: u64) -> Next {
    let u = h.utcb;
    let msr = u.get(off::RCX) as u32;
    let v = &h.vm.vcpus[h.index];
    let value = match classify(msr, &h.vm.msr_model) {
        MsrHandling::Fault => None,
        MsrHandling::Lapic => v.lapic.lock().read_msr(msr, facet_rt::cpu::rdtsc()).ok(),
        MsrHandling::State(state) => Some(guest_view(state, u.get(state_field(state).0))),
        // The guest's TSC is the host's (every vCPU of the VM has offset 0).
        MsrHandling::Tsc => Some(facet_rt::cpu::rdtsc()),
        MsrHandling::Kvmclock(_) | MsrHandling::Emulated => {
            v.msrs.lock().read(&h.vm.msr_model, msr).ok()
        }
    };
    let Some(value) = value else { return gp() };
    u.put(off::RAX, value & 0xffff_ffff);
    u.put(off::RDX, value >> 32);
    Next::completed(rip, mtd::GPR_ACDB)
}

/// WRMSR: the MSR named by ECX = EDX:EAX.
pub fn wrmsr(h: Handler, rip: u64) -> Next {
    let u = h.utcb;
    let msr = u.get(off::RCX) as u32;
    let value = u.get(off::RDX) << 32 | u.get(off::RAX) & 0xffff_ffff;
    let v = &h.vm.vcpus[h.index];
    let model = &h.vm.msr_model;
    match classify(msr, model) {
        MsrHandling::Fault => gp(),
        MsrHandling::Lapic => {
            let effect = v.lapic.lock().write_msr(msr, value, facet_rt::cpu::rdtsc());
            match effect {
                Err(_) => gp(),
                Ok(MsrEffect::SendIpi(request)) => {
                    crate::ipi::deliver(h.index, request);
                    Next::completed(rip, 0)
                }
                // No I/O APIC waits for the EOI of a level-triggered interrupt.
                Ok(MsrEffect::LevelTriggeredEoi(_) | MsrEffect::None) => Next::completed(rip, 0),
            }
        }
        MsrHandling::State(state) => {
            let (at, group) = state_field(state);
            match check_state_write(state, value, u.get(at), model) {
                Ok(value) => {
                    u.put(at, value);
                    Next::completed(rip, group)
                }
                Err(_) => gp(),
            }
        }
        // Writes are ignored: one TSC for the whole VM (kvmclock's stable bit and
        // Linux's synchronisation check rely on it).
        MsrHandling::Tsc => Next::completed(rip, 0),
        MsrHandling::Kvmclock(which) => {
            if v.msrs.lock().write(model, msr, value).is_err() {
                return gp();
            }
            if let Some((gpa, record, len)) = guest_record(which, value, &h.vm.clock) {
                // A record outside RAM is the guest's mistake: nothing is written (a
                // real host would write wherever it points).
                let _ = h.vm.ram.write(gpa, &record[..len]);
            }
            Next::completed(rip, 0)
        }
        MsrHandling::Emulated => match v.msrs.lock().write(model, msr, value) {
            Ok(()) => Next::completed(rip, 0),
            Err(_) => gp(),
        },
    }
}
