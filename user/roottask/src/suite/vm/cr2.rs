//! The guest's CR2 under MTD CR, on SVM and VMX alike: the VMM reads the value the
//! guest wrote and the guest reads the value the VMM set. (SVM keeps CR2 in the VMCB;
//! VMX leaves it in the register, which the kernel holds for the guest while it runs.)

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::reply;
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{VMS, VM_EVENTS, VM_UTCBS};
use crate::suite::{Env, Fail, TestResult};

const VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 10);
/// The VMM handler's UTCB.
const H: Utcb = VM.utcb();
/// Guest code in the first VM's code page:
/// mov eax, 0x2badf00d; mov cr2, eax; hlt; mov eax, cr2; hlt
const CODE_AT: u64 = 0x10c0;
const CODE: [u8; 14] = [
    0x66, 0xb8, 0x0d, 0xf0, 0xad, 0x2b, 0x0f, 0x22, 0xd0, 0xf4, 0x0f, 0x20, 0xd0, 0xf4,
];
const GUEST_CR2: u64 = 0x2bad_f00d;
const VMM_CR2: u64 = 0x600d_cafe;

static HLTS: AtomicU64 = AtomicU64::new(0);
static SEEN_CR2: AtomicU64 = AtomicU64::new(0);
static SEEN_RAX: AtomicU64 = AtomicU64::new(0);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => cr2_startup);
facet_rt::portal_entry!(fn hlt_entry on STACK => cr2_hlt);

/// Start-up: real mode at the code.
extern "C" fn cr2_startup(_id: u64) -> ! {
    let m = H.real_mode(CODE_AT, 2);
    H.reply_with(m);
    reply()
}

/// The first HLT: the CR2 the guest wrote, replaced by the VMM's. The second: what the
/// guest read back.
extern "C" fn cr2_hlt(_id: u64) -> ! {
    if HLTS.fetch_add(1, Ordering::SeqCst) == 0 {
        SEEN_CR2.store(H.get(u::CR2), Ordering::SeqCst);
        H.put(u::CR2, VMM_CR2);
        H.put(u::RIP, H.get(u::RIP) + 1);
        H.reply_with(mtd::CR | mtd::RIP_LEN);
        reply()
    }
    SEEN_RAX.store(H.get(u::RAX) & 0xffff_ffff, Ordering::SeqCst);
    VM.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn guest_cr2_follows_mtd_cr(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    write_guest_code(CODE_AT, &CODE);
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, startup_entry),
        (r.hlt, mtd::GPR_ACDB | mtd::RIP_LEN | mtd::CR, hlt_entry),
    ];
    VM.run(&exits, "wait for the guest's second HLT")?;
    ensure_eq!(HLTS.load(Ordering::SeqCst), 2u64);
    ensure_eq!(SEEN_CR2.load(Ordering::SeqCst), GUEST_CR2);
    ensure_eq!(SEEN_RAX.load(Ordering::SeqCst), VMM_CR2);
    Ok(())
}
