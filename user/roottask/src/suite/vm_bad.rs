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
use facet_rt::hypercall::{create_ec, ec_flags, reply, sm_down, sm_up};

use super::vmm::{Exit, TestVm, Utcb};
use super::{Fail, TestResult};
use crate::world::World;

const PD: u64 = ROOT_SEL_PD;
const VM: TestVm = TestVm {
    vmm: 945,
    utcb: 0x3001_2000,
    done: 910,
    park: 911,
    vcpu: 958,
    sc: 959,
    evt: 6000,
};
/// The VMM handler's UTCB.
const H: Utcb = Utcb(VM.utcb);
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
    let _ = sm_up(VM.done);
    loop {
        let _ = sm_down(VM.park);
    }
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
        create_ec(VM.vcpu, VM.done + 100, vcpu, 0, 0, 0, VM.evt),
        Err(Status::BadCap)
    );
    ensure_eq!(
        create_ec(VM.vcpu, ROOT_SEL_EC, vcpu, 0, 0, 0, VM.evt),
        Err(Status::BadCap)
    );
    ensure_eq!(
        create_ec(VM.vcpu, PD, vcpu, 200, 0, 0, VM.evt),
        Err(Status::BadCpu)
    );
    ensure_eq!(
        create_ec(PD, PD, vcpu, 0, 0, 0, VM.evt),
        Err(Status::BadCap)
    );

    let (hlt, invalid) = if flags & FEAT_VMX != 0 {
        (12, 33)
    } else {
        (0x78, VM_EVENT_INVALID)
    };
    let exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, 0, __vm_bad_startup),
        (invalid, mtd::CR, __vm_bad_invalid),
        (hlt, mtd::RIP_LEN, __vm_bad_hlt),
    ];
    VM.run(&exits, "wait for the repaired guest's HLT")?;
    ensure_eq!(INVALID_EXITS.load(Ordering::SeqCst), 1u64);
    ensure_eq!(HLT_EXITS.load(Ordering::SeqCst), 1u64);
    Ok(())
}
