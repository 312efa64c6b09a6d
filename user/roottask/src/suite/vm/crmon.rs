//! VMX-only VMM controls. Monitored control-register bits: the VMM asks, through MTD
//! CTRL, to see guest writes that change CR0.TS; the guest's MOV to CR0 is then a
//! CR-access exit with the register and the access in the qualification, and the VMM
//! completes the write. The VMM's timeout (MTD TSC_TIMEOUT): a guest spinning with
//! interrupts off exits to the VMM (reason 52) once the timeout has passed.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::reply;
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use super::SPIN_AT;
use crate::suite::fixture::{VMS, VM_EVENTS, VM_UTCBS};
use crate::suite::{Env, Fail, TestResult};

const VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 8);
/// The VMM handler's UTCB.
const H: Utcb = VM.utcb();
/// Guest code in the first VM's code page: mov eax, cr0; or al, 8; mov cr0, eax; hlt
const CODE_AT: u64 = 0x1080;
const CODE: [u8; 9] = [0x0f, 0x20, 0xc0, 0x0c, 0x08, 0x0f, 0x22, 0xc0, 0xf4];
const CR0_TS: u64 = 1 << 3;

static CR_EXITS: AtomicU64 = AtomicU64::new(0);
static CR_QUAL: AtomicU64 = AtomicU64::new(0);
static HLT_CR0: AtomicU64 = AtomicU64::new(0);
static TIMEOUT_RIP: AtomicU64 = AtomicU64::new(0);
static TIMEOUT_LEFT: AtomicU64 = AtomicU64::new(0);

/// A stack per VMM handler EC.
static STACK: Stack = Stack::new();
static T_STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => crmon_startup);
facet_rt::portal_entry!(fn cr_entry on STACK => crmon_cr);
facet_rt::portal_entry!(fn hlt_entry on STACK => crmon_hlt);
facet_rt::portal_entry!(fn timeout_startup_entry on T_STACK => timeout_startup);
facet_rt::portal_entry!(fn timeout_entry on T_STACK => timeout_exit);

/// The timeout test's VM (with semaphores of its own: it does not depend on the CR0
/// test's).
const T_VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 9);
const T: Utcb = T_VM.utcb();
/// The timeout the VMM sets.
const TIMEOUT_TICKS: u64 = 2_000_000;
/// VMX's exits: a CR access, HLT, the preemption timer (the VMM's timeout).
const CR_ACCESS: u64 = 28;
const PREEMPTION_TIMER: u64 = 52;

/// Start-up: spin with interrupts off, and exit after TIMEOUT_TICKS.
extern "C" fn timeout_startup(_id: u64) -> ! {
    T.put(u::TSC_TIMEOUT, TIMEOUT_TICKS);
    let m = T.real_mode(SPIN_AT, 2);
    T.reply_with(m | mtd::TSC_TIMEOUT);
    reply()
}

/// The timeout's exit: where the guest was and what is left of the timeout (none).
extern "C" fn timeout_exit(_id: u64) -> ! {
    TIMEOUT_RIP.store(T.get(u::RIP), Ordering::SeqCst);
    TIMEOUT_LEFT.store(T.get(u::TSC_TIMEOUT), Ordering::SeqCst);
    T_VM.finish()
}

/// Start-up: monitor CR0.TS, real mode at the code.
extern "C" fn crmon_startup(_id: u64) -> ! {
    H.put(u::CR0_MON, CR0_TS);
    let m = H.real_mode(CODE_AT, 2);
    H.reply_with(m | mtd::CTRL);
    reply()
}

/// The CR access: complete the write of EAX to CR0 and skip the 3-byte instruction.
extern "C" fn crmon_cr(_id: u64) -> ! {
    CR_EXITS.fetch_add(1, Ordering::SeqCst);
    CR_QUAL.store(H.get(u::QUAL), Ordering::SeqCst);
    H.put(u::CR0, H.get(u::RAX) & 0xffff_ffff);
    H.put(u::RIP, H.get(u::RIP) + 3);
    H.reply_with(mtd::CR | mtd::RIP_LEN);
    reply()
}

extern "C" fn crmon_hlt(_id: u64) -> ! {
    HLT_CR0.store(H.get(u::CR0), Ordering::SeqCst);
    VM.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn monitored_cr0_bit_exits(e: &Env) -> TestResult {
    // Monitoring masks are VMX's (SVM intercepts whole CR writes).
    let Some(r) = reasons(e).filter(|r| r.vmx) else {
        return Ok(());
    };
    write_guest_code(CODE_AT, &CODE);
    let gprs = mtd::GPR_ACDB | mtd::RIP_LEN;
    let exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, mtd::CTRL, startup_entry),
        (CR_ACCESS, gprs | mtd::QUAL | mtd::CR, cr_entry),
        (r.hlt, mtd::CR, hlt_entry),
    ];
    VM.run(&exits, "wait for the guest's HLT")?;
    // One exit: MOV to CR0 (access type 0 in bits 5:4, CR 0 in bits 3:0) from EAX
    // (register 0 in bits 11:8); afterwards the guest sees TS set.
    ensure_eq!(CR_EXITS.load(Ordering::SeqCst), 1u64);
    ensure_eq!(CR_QUAL.load(Ordering::SeqCst) & 0xfff, 0u64);
    ensure!(
        HLT_CR0.load(Ordering::SeqCst) & CR0_TS != 0,
        "CR0 at the HLT {:#x}",
        HLT_CR0.load(Ordering::SeqCst)
    );
    Ok(())
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn vmm_timeout_exits(e: &Env) -> TestResult {
    // The timeout rides on VMX's preemption timer.
    if !reasons(e).is_some_and(|r| r.vmx) {
        return Ok(());
    }
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, timeout_startup_entry),
        (
            PREEMPTION_TIMER,
            mtd::RIP_LEN | mtd::TSC_TIMEOUT,
            timeout_entry,
        ),
    ];
    T_VM.run(&exits, "wait for the timeout")?;
    ensure_eq!(TIMEOUT_RIP.load(Ordering::SeqCst), SPIN_AT);
    ensure_eq!(TIMEOUT_LEFT.load(Ordering::SeqCst), u64::MAX);
    Ok(())
}
