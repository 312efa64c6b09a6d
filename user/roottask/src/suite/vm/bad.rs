//! Bad input around vCPUs: creation refusals, and a VMM reply with a guest state the CPU
//! must not enter. The kernel reports the refused entry to the VMM as an exit (SVM's
//! invalid-state event, VMX's basic reason 33), the VMM repairs the state, and the vCPU
//! runs on.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{ROOT_SEL_EC, ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{create_ec, ec_flags, reply};
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, Exit, TestVm};
use crate::suite::fixture::{NOTHING, VMS, VM_EVENTS, VM_UTCBS};
use crate::suite::{Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 5);
/// The VMM handler's UTCB.
const H: Utcb = VM.utcb();
/// The `hlt` of the first VM's guest code (guest-physical page 1, offset 15).
const HLT_AT: u64 = 0x100f;

static INVALID_EXITS: AtomicU64 = AtomicU64::new(0);
static HLT_EXITS: AtomicU64 = AtomicU64::new(0);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => bad_startup);
facet_rt::portal_entry!(fn invalid_entry on STACK => bad_invalid);
facet_rt::portal_entry!(fn hlt_entry on STACK => bad_hlt);

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
    VM.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn malformed_state_is_refused_and_repairable(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    // Creation refusals: a vCPU in nothing, in an object that is not a PD, on a CPU
    // that does not exist, or at an occupied selector.
    ensure_eq!(
        create_ec(VM.vcpu(), NOTHING, vcpu, 0, 0, 0, VM.evt()),
        Err(Status::BadCap)
    );
    ensure_eq!(
        create_ec(VM.vcpu(), ROOT_SEL_EC, vcpu, 0, 0, 0, VM.evt()),
        Err(Status::BadCap)
    );
    ensure_eq!(
        create_ec(VM.vcpu(), PD, vcpu, 200, 0, 0, VM.evt()),
        Err(Status::BadCpu)
    );
    ensure_eq!(
        create_ec(PD, PD, vcpu, 0, 0, 0, VM.evt()),
        Err(Status::BadCap)
    );

    let exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, 0, startup_entry),
        (r.invalid, mtd::CR, invalid_entry),
        (r.hlt, mtd::RIP_LEN, hlt_entry),
    ];
    VM.run(&exits, "wait for the repaired guest's HLT")?;
    ensure_eq!(INVALID_EXITS.load(Ordering::SeqCst), 1u64);
    ensure_eq!(HLT_EXITS.load(Ordering::SeqCst), 1u64);
    Ok(())
}
