//! vCPUs on application processors: on every AP a vCPU (of the first VM) starts with
//! its VMM handler on the same CPU and stops at a HLT, whose exit the handler reports
//! from that CPU.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hip::{off, FEAT_SVM, FEAT_VMX};
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::mtd;
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, pt_ctrl, reply, sm_down, sm_up,
};

use super::vmm::Utcb;
use super::{ok, Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
const MAX_CPUS: usize = 16;
/// Per CPU `c`: handler EC, vCPU, its SC.
const HANDLER: u64 = 2600;
const VCPU: u64 = 2700;
const VCPU_SC: u64 = 2800;
const SM_DONE: u64 = 2900;
const SM_PARK: u64 = 2901;
/// Event bases: 256 selectors per CPU.
const EVT: u64 = 16384;
const HANDLER_UTCB: u64 = 0x3006_0000;
/// The `hlt` of the first VM's guest code.
const HLT_AT: u64 = 0x100f;

static HLT_APIC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(u64::MAX) }; MAX_CPUS];

global_asm!(
    r#"
    .section .bss.vm_smp_stacks, "aw", @nobits
    .balign 16
__vm_smp_stacks:
    .skip 0x4000 * 16
    .section .text.vm_smp_entries, "ax"
    .global __vm_smp_startup
    .global __vm_smp_hlt
    // The portal id (in rdi) is the CPU: each handler gets its own stack.
__vm_smp_startup:
    lea rsp, [rip + __vm_smp_stacks]
    mov rax, rdi
    inc rax
    shl rax, 14
    add rsp, rax
    call {startup}
    ud2
__vm_smp_hlt:
    lea rsp, [rip + __vm_smp_stacks]
    mov rax, rdi
    inc rax
    shl rax, 14
    add rsp, rax
    call {hlt}
    ud2
"#,
    startup = sym smp_startup,
    hlt = sym smp_hlt,
);

extern "C" {
    fn __vm_smp_startup();
    fn __vm_smp_hlt();
}

/// Handler `c`'s UTCB.
fn handler_utcb(c: u64) -> Utcb {
    Utcb(HANDLER_UTCB + c * 0x1000)
}

/// Start-up of vCPU `c`: real mode at the HLT.
extern "C" fn smp_startup(c: u64) -> ! {
    let h = handler_utcb(c);
    let m = h.real_mode(HLT_AT, 2);
    h.reply_with(m);
    reply()
}

/// The HLT exit of vCPU `c`: report the CPU the handler (and so the vCPU) runs on.
extern "C" fn smp_hlt(c: u64) -> ! {
    let apic = core::arch::x86_64::__cpuid(1).ebx >> 24;
    HLT_APIC[c as usize % MAX_CPUS].store(apic as u64, Ordering::SeqCst);
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

pub fn vcpus_on_every_cpu(w: &World) -> TestResult {
    let flags = w.hip.u32(off::API_FLG);
    if flags & (FEAT_SVM | FEAT_VMX) == 0 {
        return Ok(());
    }
    let hlt = if flags & FEAT_VMX != 0 { 12 } else { 0x78 };
    let online = (0..facet_abi::config::NUM_CPU)
        .take_while(|&i| w.hip.cpu(i).flags & 1 != 0)
        .count()
        .min(MAX_CPUS) as u64;
    ok(create_sm(SM_DONE, PD, 0, 0), "sm")?;
    ok(create_sm(SM_PARK, PD, 0, 0), "parking sm")?;
    for c in 1..online {
        let evt = EVT + c * 256;
        ok(
            create_ec(HANDLER + c, PD, 0, c, HANDLER_UTCB + c * 0x1000, 0, 0),
            "handler EC",
        )?;
        for (event, m, f) in [
            (
                VM_EVENT_STARTUP,
                0,
                __vm_smp_startup as unsafe extern "C" fn(),
            ),
            (hlt, mtd::RIP_LEN, __vm_smp_hlt),
        ] {
            ok(
                create_pt(
                    evt + event,
                    PD,
                    HANDLER + c,
                    m as u64,
                    f as *const () as u64,
                ),
                "portal",
            )?;
            ok(pt_ctrl(evt + event, c), "portal id")?;
        }
        let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
        ok(create_ec(VCPU + c, PD, vcpu, c, 0, 0, evt), "vCPU")?;
        ok(create_sc(VCPU_SC + c, PD, VCPU + c, 1, 1000), "vCPU SC")?;
    }
    for _ in 1..online {
        ok(sm_down(SM_DONE), "a vCPU's HLT")?;
    }
    for c in 1..online {
        let seen = HLT_APIC[c as usize].load(Ordering::SeqCst);
        ensure_eq!(seen, w.hip.cpu(c as usize).lapic[0] as u64);
    }
    Ok(())
}
