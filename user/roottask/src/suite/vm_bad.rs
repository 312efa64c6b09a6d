//! Bad input around vCPUs: creation refusals, and a VMM reply with a guest state the CPU
//! must not enter. The kernel reports the refused entry to the VMM as an exit (SVM's
//! invalid-state event, VMX's basic reason 33), the VMM repairs the state, and the vCPU
//! runs on.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hip::{off, FEAT_SVM, FEAT_VMX};
use facet_abi::layout::{ROOT_SEL_EC, ROOT_SEL_PD, VM_EVENT_INVALID, VM_EVENT_STARTUP};
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, reply, sm_down, sm_up,
};

use super::vmm::Utcb;
use super::{ok, Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
const VMM: u64 = 945;
const UTCB: u64 = 0x3001_2000;
/// The VMM handler\'s UTCB.
const H: Utcb = Utcb(UTCB);
const VCPU: u64 = 958;
const VCPU_SC: u64 = 959;
const EVT: u64 = 6000;
const SM_DONE: u64 = 910;
const SM_PARK: u64 = 911;
/// The `hlt` of the first VM's guest code (guest-physical page 1, offset 15).
const HLT_AT: u64 = 0x100f;

static INVALID_EXITS: AtomicU64 = AtomicU64::new(0);
static HLT_EXITS: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.vm_bad_stack, "aw", @nobits
    .balign 16
    .skip 0x4000
vm_bad_stack:
    .section .text.vm_bad_entries, "ax"
    .global __vm_bad_startup
    .global __vm_bad_invalid
    .global __vm_bad_hlt
__vm_bad_startup:
    lea rsp, [rip + vm_bad_stack]
    call {startup}
    ud2
__vm_bad_invalid:
    lea rsp, [rip + vm_bad_stack]
    call {invalid}
    ud2
__vm_bad_hlt:
    lea rsp, [rip + vm_bad_stack]
    call {hlt}
    ud2
"#,
    startup = sym bad_startup,
    invalid = sym bad_invalid,
    hlt = sym bad_hlt,
);

extern "C" {
    fn __vm_bad_startup();
    fn __vm_bad_invalid();
    fn __vm_bad_hlt();
}

/// Control registers with `cr0` (CR2, CR3, CR4 zero) and RIP at the guest's HLT.
fn reply_with_cr0(cr0: u64) -> ! {
    H.put(u::CR0, cr0);
    H.put(u::CR2, 0);
    H.put(u::CR3, 0);
    H.put(u::CR4, 0);
    let m = H.real_mode(HLT_AT, 2);
    H.reply_with(m | mtd::CR);
    reply()
}

/// Start-up: a CR0 with a reserved bit (32) set, which no CPU enters.
extern "C" fn bad_startup(_id: u64) -> ! {
    reply_with_cr0(1 << 32 | 0x10)
}

/// The refused entry: repair CR0 (real mode, ET) and go on.
extern "C" fn bad_invalid(_id: u64) -> ! {
    INVALID_EXITS.fetch_add(1, Ordering::SeqCst);
    reply_with_cr0(0x10)
}

extern "C" fn bad_hlt(_id: u64) -> ! {
    HLT_EXITS.fetch_add(1, Ordering::SeqCst);
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

fn entry(f: unsafe extern "C" fn()) -> u64 {
    f as *const () as u64
}

pub fn malformed_state_is_refused_and_repairable(w: &World) -> TestResult {
    let flags = w.hip.u32(off::API_FLG);
    if flags & (FEAT_SVM | FEAT_VMX) == 0 {
        return Ok(());
    }
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    // Creation refusals: a vCPU in nothing, in an object that is not a PD, on a CPU
    // that does not exist, or at an occupied selector.
    ensure_eq!(
        create_ec(VCPU, SM_DONE + 100, vcpu, 0, 0, 0, EVT),
        Err(Status::BadCap)
    );
    ensure_eq!(
        create_ec(VCPU, ROOT_SEL_EC, vcpu, 0, 0, 0, EVT),
        Err(Status::BadCap)
    );
    ensure_eq!(
        create_ec(VCPU, PD, vcpu, 200, 0, 0, EVT),
        Err(Status::BadCpu)
    );
    ensure_eq!(create_ec(PD, PD, vcpu, 0, 0, 0, EVT), Err(Status::BadCap));

    let (hlt, invalid) = if flags & FEAT_VMX != 0 {
        (12, 33)
    } else {
        (0x78, VM_EVENT_INVALID)
    };
    ok(create_ec(VMM, PD, 0, 0, UTCB, 0, 0), "VMM EC")?;
    ok(create_sm(SM_DONE, PD, 0, 0), "sm")?;
    ok(create_sm(SM_PARK, PD, 0, 0), "parking sm")?;
    for (event, m, f) in [
        (
            VM_EVENT_STARTUP,
            0,
            __vm_bad_startup as unsafe extern "C" fn(),
        ),
        (invalid, mtd::CR, __vm_bad_invalid),
        (hlt, mtd::RIP_LEN, __vm_bad_hlt),
    ] {
        ok(
            create_pt(EVT + event, PD, VMM, m as u64, entry(f)),
            "portal",
        )?;
    }
    ok(create_ec(VCPU, PD, vcpu, 0, 0, 0, EVT), "vCPU")?;
    ok(create_sc(VCPU_SC, PD, VCPU, 1, 1000), "vCPU SC")?;
    ok(sm_down(SM_DONE), "wait for the repaired guest's HLT")?;
    ensure_eq!(INVALID_EXITS.load(Ordering::SeqCst), 1u64);
    ensure_eq!(HLT_EXITS.load(Ordering::SeqCst), 1u64);
    Ok(())
}
