//! Intercept control and the interrupt window: the VMM turns on RDTSC exiting through
//! MTD CTRL at start-up, answers the guest's RDTSC, then asks for an exit as soon as
//! the guest can take an interrupt (the INJ window request), and injects one there.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::reply;
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{VMS, VM_EVENTS, VM_UTCBS};
use crate::suite::{Env, Fail, TestResult};

const VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 6);
/// The VMM handler's UTCB.
const H: Utcb = VM.utcb();
/// Guest code in the first VM's code page: rdtsc; sti; nop; hlt.
const CODE_AT: u64 = 0x1060;
const CODE: [u8; 5] = [0x0f, 0x31, 0xfb, 0x90, 0xf4];

static RDTSC_EXITS: AtomicU64 = AtomicU64::new(0);
static STARTUP_RIP: AtomicU64 = AtomicU64::new(0);
static STARTUP_CS: AtomicU64 = AtomicU64::new(0);
static STARTUP_CS_BASE: AtomicU64 = AtomicU64::new(0);
static WINDOW_RIP: AtomicU64 = AtomicU64::new(0);
static WINDOW_RAX: AtomicU64 = AtomicU64::new(0);
static HANDLER_RBX: AtomicU64 = AtomicU64::new(0);
/// RDTSC exiting: SVM intercept bit 14 of the first word, VMX primary control bit 12.
static RDTSC_CTRL: AtomicU64 = AtomicU64::new(0);
/// HLT exiting, which the VMM tries to turn off and the kernel keeps on: SVM intercept
/// bit 24 of the first word, VMX primary control bit 7.
static HLT_CTRL: AtomicU64 = AtomicU64::new(0);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => window_startup);
facet_rt::portal_entry!(fn rdtsc_entry on STACK => window_rdtsc);
facet_rt::portal_entry!(fn open_entry on STACK => window_open);
facet_rt::portal_entry!(fn hlt_entry on STACK => window_hlt);

/// Start-up (the message carries the current intercepts): add RDTSC exiting, start in
/// real mode with interrupts disabled.
extern "C" fn window_startup(_id: u64) -> ! {
    // The state the vCPU starts in, as the message carries it.
    STARTUP_RIP.store(H.get(u::RIP), Ordering::SeqCst);
    STARTUP_CS.store(H.get(u::CS), Ordering::SeqCst);
    STARTUP_CS_BASE.store(H.get(u::CS + 8), Ordering::SeqCst);
    let ctrl = H.get(u::CTRL) | RDTSC_CTRL.load(Ordering::SeqCst);
    H.put(u::CTRL, ctrl & !HLT_CTRL.load(Ordering::SeqCst));
    H.put(u::RSP, 0x1800);
    let m = H.real_mode(CODE_AT, 2);
    H.reply_with(m | mtd::CTRL | mtd::RSP);
    reply()
}

/// RDTSC: answer 0x77, skip the two bytes, and ask for the interrupt window.
extern "C" fn window_rdtsc(_id: u64) -> ! {
    RDTSC_EXITS.fetch_add(1, Ordering::SeqCst);
    H.put(u::RAX, 0x77);
    H.put(u::RDX, 0);
    H.put(u::RIP, H.get(u::RIP) + 2);
    H.put(u::INJ, u::INJ_REQUEST_INTR_WINDOW);
    H.reply_with(mtd::GPR_ACDB | mtd::RIP_LEN | mtd::INJ);
    reply()
}

/// The window is open: inject interrupt 0x20 (external, valid), no further request.
extern "C" fn window_open(_id: u64) -> ! {
    WINDOW_RIP.store(H.get(u::RIP), Ordering::SeqCst);
    WINDOW_RAX.store(H.get(u::RAX), Ordering::SeqCst);
    H.put(u::INJ, 0x8000_0020);
    H.reply_with(mtd::INJ);
    reply()
}

extern "C" fn window_hlt(_id: u64) -> ! {
    HANDLER_RBX.store(H.get(u::RBX), Ordering::SeqCst);
    VM.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn intercepts_and_interrupt_window(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    // (RDTSC intercept control, HLT intercept control)
    let (ctrl, hlt_ctrl) = if r.vmx {
        (1 << 12, 1 << 7)
    } else {
        (1 << 14, 1 << 24)
    };
    RDTSC_CTRL.store(ctrl, Ordering::SeqCst);
    // The VMM also clears HLT exiting: the guest's final HLT must still exit (below).
    HLT_CTRL.store(hlt_ctrl, Ordering::SeqCst);
    write_guest_code(CODE_AT, &CODE);
    let gprs = mtd::GPR_ACDB | mtd::RIP_LEN;
    let exits: [Exit; 4] = [
        (
            VM_EVENT_STARTUP,
            mtd::CTRL | mtd::RIP_LEN | mtd::CS_SS,
            startup_entry,
        ),
        (r.rdtsc, gprs, rdtsc_entry),
        (r.intr_window, gprs, open_entry),
        (r.hlt, mtd::GPR_ACDB, hlt_entry),
    ];
    VM.run(&exits, "wait for the guest's handler")?;
    // The start-up message showed the reference's start state (`vm::start`): RIP and CS
    // zero, its base too.
    ensure_eq!(STARTUP_RIP.load(Ordering::SeqCst), 0u64);
    ensure_eq!(STARTUP_CS.load(Ordering::SeqCst), 0u64);
    ensure_eq!(STARTUP_CS_BASE.load(Ordering::SeqCst), 0u64);
    ensure_eq!(RDTSC_EXITS.load(Ordering::SeqCst), 1u64);
    // The window opens after `sti` and the instruction it shields: at the HLT.
    ensure_eq!(WINDOW_RIP.load(Ordering::SeqCst), CODE_AT + 4);
    // The VMM's answer to RDTSC reached the guest.
    ensure_eq!(WINDOW_RAX.load(Ordering::SeqCst) & 0xffff_ffff, 0x77u64);
    ensure_eq!(HANDLER_RBX.load(Ordering::SeqCst) & 0xffff, 0x5678u64);
    Ok(())
}
