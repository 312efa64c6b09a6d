//! The user boundary of the kernel's entry and exit paths: every way user mode can enter
//! the kernel lands where the kernel expects it, and no state a user hands the kernel
//! can make a return to user mode fault in the kernel.
//!
//! - `syscall` from 32-bit code is a #UD at the instruction on every vendor (AMD CPUs
//!   enter the kernel through IA32_CSTAR, which the kernel points at an entry that turns
//!   it into that fault); `sysenter` is refused (#GP on Intel, #UD on AMD).
//! - Portal entry addresses and local Ec stacks outside user space are refused with
//!   BAD_PAR; an exception reply's RIP or RSP the kernel could not return to (outside
//!   user space, or beyond 4 GiB for 32-bit code) leaves the old value.
//! - With `crash=return` on the kernel's command line (which leaves out the portal
//!   check), a portal whose entry is not canonical makes the return to its handler fault:
//!   the handler takes that #GP as its own exception, and the kernel stays healthy.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD, USER_ADDR};
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::cpu::cpuid;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{call, create_ec, create_pt, pt_ctrl, reply, sm_down, sm_up};
use facet_rt::utcb::Utcb;

use super::fixture::{ENTRY, ENTRY_EVENTS, ENTRY_UTCBS};
use super::tools::{revoke_all, semaphores, thread, Handler};
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The exception handler of the worker (and of the non-canonical portal's handler).
const HANDLER: Handler = Handler::new(ENTRY.at(0), ENTRY_UTCBS.utcb(0));
const WORKER: u64 = ENTRY.at(1);
const WORKER_SC: u64 = ENTRY.at(2);
const SM_DONE: u64 = ENTRY.at(3);
const PROBE_PT: u64 = ENTRY.at(4);
const PROBE_EC: u64 = ENTRY.at(5);
const BAD_PT: u64 = ENTRY.at(6);
const BAD_HANDLER: u64 = ENTRY.at(7);
/// The worker's (and the bad portal's handler's) event base.
const EVT: u64 = ENTRY_EVENTS.base(0);
const WORKER_UTCB: Utcb = ENTRY_UTCBS.utcb(1);
const BAD_HANDLER_UTCB: Utcb = ENTRY_UTCBS.utcb(2);
const H: Utcb = HANDLER.utcb;

/// Addresses no user state may hold.
const OUTSIDE: [u64; 5] = [
    USER_ADDR,
    0x0000_8000_0000_0000,
    0x8000_0000_0000_0000,
    0xffff_8000_0000_1000,
    0xffff_ffff_8000_0000,
];

/// The handler EC's entries share one stack; the worker (in 64-bit and in 32-bit code)
/// and the non-canonical portal's handler (in the other mode) run on the other.
static HANDLER_STACK: Stack = Stack::new();
static WORKER_STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn handler_entry on HANDLER_STACK => entry_handler);
facet_rt::portal_entry!(fn startup_entry on HANDLER_STACK => entry_startup);
facet_rt::portal_entry!(fn return_fault_entry on HANDLER_STACK => return_fault_handler);

// The worker's code: the instructions under test, and the way into 32-bit code.
global_asm!(
    r#"
    .section .text.entry_tests, "ax"
    .global __entry_sysenter
    .global __entry_to_compat
    .global __entry_compat_syscall
    .global __entry_compat_ud
    .global __entry_compat_park
__entry_sysenter:
    sysenter
    ud2
    // Into 32-bit code through the user code selector 0x1b.
__entry_to_compat:
    push 0x1b
    lea rax, [rip + __entry_compat_syscall]
    push rax
    retfq
    .code32
__entry_compat_syscall:
    syscall
__entry_compat_ud:
    ud2
__entry_compat_park:
    pause
    jmp __entry_compat_park
    .code64
"#
);

extern "C" {
    fn __entry_sysenter();
    fn __entry_to_compat();
    fn __entry_compat_syscall();
    fn __entry_compat_ud();
    fn __entry_compat_park();
}

/// The worker's stack pointer: below 4 GiB (as the whole image is), so that 32-bit code
/// can use it too.
fn worker_sp() -> u64 {
    WORKER_STACK.top() - 16
}

/// What the handler saw: (vector, RIP, RSP) per exception.
static SEEN: [[AtomicU64; 3]; 6] = [const { [const { AtomicU64::new(0) }; 3] }; 6];
static COUNT: AtomicU64 = AtomicU64::new(0);

/// One exception of the worker (the portal id is the vector). The replies walk it
/// through the cases in the module documentation, some with state the kernel must not
/// take.
extern "C" fn entry_handler(vector: u64) -> ! {
    let i = COUNT.fetch_add(1, Ordering::SeqCst) as usize;
    let (rip, rsp) = (H.get(u::RIP), H.get(u::RSP));
    if let Some(seen) = SEEN.get(i) {
        seen[0].store(vector, Ordering::SeqCst);
        seen[1].store(rip, Ordering::SeqCst);
        seen[2].store(rsp, Ordering::SeqCst);
    }
    let compat_syscall = addr(__entry_compat_syscall);
    let (next_rip, next_rsp) = match i {
        // SYSENTER refused: first a kernel-half RIP, which must stay unused.
        0 => (0xffff_8000_0000_1000, rsp),
        // Then on into 32-bit code.
        1 => (addr(__entry_to_compat), rsp),
        // SYSCALL from 32-bit code: a RIP beyond the 4 GiB code segment stays unused.
        2 => (compat_syscall + (1 << 32), rsp),
        // A stack outside user space stays unused; the RIP is taken.
        3 => (addr(__entry_compat_ud), 0xffff_8000_0000_0000),
        _ => {
            let _ = sm_up(SM_DONE);
            (addr(__entry_compat_park), rsp)
        }
    };
    H.reply_with(H.start(next_rip, next_rsp));
    reply()
}

/// The worker starts at its SYSENTER.
extern "C" fn entry_startup(_id: u64) -> ! {
    H.reply_with(H.start(addr(__entry_sysenter), worker_sp()));
    reply()
}

fn seen(i: usize) -> (u64, u64, u64) {
    let s = &SEEN[i];
    (
        s[0].load(Ordering::SeqCst),
        s[1].load(Ordering::SeqCst),
        s[2].load(Ordering::SeqCst),
    )
}

/// Whether the CPU says it is an AMD one (CPUID vendor "AuthenticAMD").
fn amd() -> bool {
    cpuid(0, 0).1 == u32::from_le_bytes(*b"Auth")
}

pub fn compat_syscall_and_sysenter_are_the_callers_faults(_: &Env) -> TestResult {
    HANDLER.create()?;
    let m = mtd::RIP_LEN | mtd::RSP;
    for v in [6u64, 13] {
        HANDLER.portal(EVT + v, m, handler_entry)?;
        ok(pt_ctrl(EVT + v, v), "portal id")?;
    }
    HANDLER.startup_portal(EVT, startup_entry)?;
    semaphores([SM_DONE])?;
    thread(WORKER, WORKER_UTCB.addr(), EVT, WORKER_SC)?;
    let done = sm_down(SM_DONE);
    // The worker parks in 32-bit code; it goes with its capabilities.
    let revoked = revoke_all([
        WORKER_SC,
        WORKER,
        SM_DONE,
        EVT + 6,
        EVT + 13,
        EVT + EVENT_STARTUP,
        HANDLER.ec,
    ]);
    ok(done, "wait for the worker")?;
    ensure_eq!(COUNT.load(Ordering::SeqCst), 5u64);
    let stack = worker_sp();
    // SYSENTER: #GP on Intel (SYSENTER_CS is 0); AMD raises #UD in long mode (QEMU's
    // TCG checks SYSENTER_CS first and raises #GP there too).
    let (v0, rip0, _) = seen(0);
    let sysenter_vectors: &[u64] = if amd() { &[6, 13] } else { &[13] };
    ensure!(
        sysenter_vectors.contains(&v0),
        "sysenter raised vector {}",
        v0
    );
    ensure_eq!(rip0, addr(__entry_sysenter));
    // The kernel-half RIP of the first reply was not taken: the same fault again.
    ensure_eq!(seen(1), (v0, addr(__entry_sysenter), stack));
    // SYSCALL from 32-bit code: #UD at the instruction, twice (the RIP beyond 4 GiB
    // was not taken).
    let compat_syscall = addr(__entry_compat_syscall);
    ensure_eq!(seen(2), (6, compat_syscall, stack));
    ensure_eq!(seen(3), (6, compat_syscall, stack));
    // The kernel-half stack was not taken.
    ensure_eq!(seen(4), (6, addr(__entry_compat_ud), stack));
    revoked
}

pub fn portal_entries_and_stacks_outside_user_space_are_refused(_: &Env) -> TestResult {
    ok(create_ec(PROBE_EC, PD, 0, 0, 0, 0, 0), "local EC")?;
    for bad in OUTSIDE {
        ensure_eq!(
            create_pt(PROBE_PT, PD, PROBE_EC, 0, bad),
            Err(Status::BadPar)
        );
        ensure_eq!(
            create_ec(PROBE_PT, PD, 0, 0, 0, bad, 0),
            Err(Status::BadPar)
        );
    }
    // The last user addresses are fine.
    ok(
        create_pt(PROBE_PT, PD, PROBE_EC, 0, USER_ADDR - 1),
        "portal at the top of user space",
    )?;
    revoke_all([PROBE_PT])?;
    ok(
        create_ec(PROBE_PT, PD, 0, 0, 0, USER_ADDR - 16, 0),
        "stack at the top of user space",
    )?;
    revoke_all([PROBE_PT, PROBE_EC])
}

/// The #GP the bad portal's handler takes when the kernel could not return to it.
static RETURN_FAULT: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

/// The bad portal's handler's exception: noted, and it goes on in
/// [`bad_handler_recovered`] on the worker's stack.
extern "C" fn return_fault_handler(vector: u64) -> ! {
    RETURN_FAULT[0].store(vector, Ordering::SeqCst);
    RETURN_FAULT[1].store(H.get(u::RIP), Ordering::SeqCst);
    H.reply_with(H.start_thread(bad_handler_recovered, &WORKER_STACK));
    reply()
}

/// Where the bad portal's handler goes on after its fault: it answers the call.
extern "C" fn bad_handler_recovered(_: u64) -> ! {
    reply()
}

/// Only with `crash=return` (the `bochs-return` tier): a portal whose entry is not
/// canonical. Hardware (and Bochs) fault on the `iretq` that would enter it, in the
/// kernel; QEMU's TCG enters it and faults on the first fetch. Either way the handler
/// takes a #GP at that address as its own exception, and its caller's call completes.
pub fn fault_on_return_is_the_handlers(_: &Env) -> TestResult {
    const BAD_IP: u64 = 0x8000_0000_0000_0000;
    HANDLER.create()?;
    let m = mtd::RIP_LEN | mtd::RSP;
    for v in [13u64, 14] {
        HANDLER.portal(EVT + v, m, return_fault_entry)?;
        ok(pt_ctrl(EVT + v, v), "portal id")?;
    }
    ok(
        create_ec(
            BAD_HANDLER,
            PD,
            0,
            0,
            BAD_HANDLER_UTCB.addr(),
            worker_sp(),
            EVT,
        ),
        "bad portal's handler",
    )?;
    ok(
        create_pt(BAD_PT, PD, BAD_HANDLER, 0, BAD_IP),
        "portal with a non-canonical entry (crash=return)",
    )?;
    let r = call(BAD_PT);
    let revoked = revoke_all([BAD_PT, BAD_HANDLER, EVT + 13, EVT + 14, HANDLER.ec]);
    ok(r, "call through the bad portal")?;
    ensure_eq!(RETURN_FAULT[0].load(Ordering::SeqCst), 13u64);
    ensure_eq!(RETURN_FAULT[1].load(Ordering::SeqCst), BAD_IP);
    revoked
}
