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

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{ROOT_SEL_PD, USER_ADDR};
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{
    call, create_ec, create_pt, create_sc, create_sm, ec_flags, reply, revoke, sm_down, sm_up,
};

use super::vmm::Utcb;
use super::{ok, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const HANDLER: u64 = 4000;
const WORKER: u64 = 4001;
const WORKER_SC: u64 = 4002;
const SM_DONE: u64 = 4003;
const PROBE_PT: u64 = 4004;
const PROBE_EC: u64 = 4005;
const BAD_PT: u64 = 4006;
const BAD_HANDLER: u64 = 4007;
/// The worker's (and the bad portal's handler's) event base.
const EVT: u64 = 4100;
const HANDLER_UTCB: u64 = 0x3200_0000;
const WORKER_UTCB: u64 = 0x3200_1000;
const BAD_HANDLER_UTCB: u64 = 0x3200_2000;
const H: Utcb = Utcb(HANDLER_UTCB);

/// Addresses no user state may hold.
const OUTSIDE: [u64; 5] = [
    USER_ADDR,
    0x0000_8000_0000_0000,
    0x8000_0000_0000_0000,
    0xffff_8000_0000_1000,
    0xffff_ffff_8000_0000,
];

global_asm!(
    r#"
    .section .bss.entry_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
entry_handler_stack:
    .skip 0x4000
    .global __entry_worker_stack
__entry_worker_stack:
    .section .text.entry_tests, "ax"
    .global __entry_handler
    .global __entry_startup
    .global __entry_sysenter
    .global __entry_to_compat
    .global __entry_compat_syscall
    .global __entry_compat_ud
    .global __entry_compat_park
__entry_handler:
    lea rsp, [rip + entry_handler_stack]
    call {handler}
    ud2
__entry_startup:
    lea rsp, [rip + entry_handler_stack]
    call {startup}
    ud2
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
"#,
    handler = sym entry_handler,
    startup = sym entry_startup,
);

extern "C" {
    fn __entry_handler();
    fn __entry_startup();
    fn __entry_sysenter();
    fn __entry_to_compat();
    fn __entry_compat_syscall();
    fn __entry_compat_ud();
    fn __entry_compat_park();
    static __entry_worker_stack: u8;
}

fn addr(f: unsafe extern "C" fn()) -> u64 {
    f as *const () as u64
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
    H.put(u::RIP, next_rip);
    H.put(u::RSP, next_rsp);
    H.reply_with(mtd::RIP_LEN | mtd::RSP);
    reply()
}

extern "C" fn entry_startup(_id: u64) -> ! {
    H.put(u::RIP, addr(__entry_sysenter));
    // Below 4 GiB, so that 32-bit code can use it too.
    H.put(
        u::RSP,
        core::ptr::addr_of!(__entry_worker_stack) as u64 - 16,
    );
    H.reply_with(mtd::RIP_LEN | mtd::RSP);
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
    let (_, b, _, _) = super::cpu::cpuid(0, 0);
    b == u32::from_le_bytes(*b"Auth")
}

fn revoke_object(sel: u64) {
    let _ = revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None);
}

pub fn compat_syscall_and_sysenter_are_the_callers_faults() -> TestResult {
    ok(
        create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB, 0, 0),
        "handler EC",
    )?;
    let m = (mtd::RIP_LEN | mtd::RSP) as u64;
    for v in [6u64, 13] {
        ok(
            create_pt(EVT + v, PD, HANDLER, m, addr(__entry_handler)),
            "exception portal",
        )?;
        ok(facet_rt::hypercall::pt_ctrl(EVT + v, v), "portal id")?;
    }
    ok(
        create_pt(EVT + 30, PD, HANDLER, m, addr(__entry_startup)),
        "start-up portal",
    )?;
    ok(create_sm(SM_DONE, PD, 0, 0), "sm")?;
    ok(
        create_ec(WORKER, PD, ec_flags::GLOBAL, 0, WORKER_UTCB, 0, EVT),
        "worker EC",
    )?;
    ok(create_sc(WORKER_SC, PD, WORKER, 1, 1000), "worker SC")?;
    let done = sm_down(SM_DONE);
    // The worker parks in 32-bit code; it goes with its capabilities.
    for sel in [
        WORKER_SC,
        WORKER,
        SM_DONE,
        EVT + 6,
        EVT + 13,
        EVT + 30,
        HANDLER,
    ] {
        revoke_object(sel);
    }
    ok(done, "wait for the worker")?;
    ensure_eq!(COUNT.load(Ordering::SeqCst), 5u64);
    let stack = core::ptr::addr_of!(__entry_worker_stack) as u64 - 16;
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
    Ok(())
}

pub fn portal_entries_and_stacks_outside_user_space_are_refused() -> TestResult {
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
    revoke_object(PROBE_PT);
    ok(
        create_ec(PROBE_PT, PD, 0, 0, 0, USER_ADDR - 16, 0),
        "stack at the top of user space",
    )?;
    revoke_object(PROBE_PT);
    revoke_object(PROBE_EC);
    Ok(())
}

/// The #GP the bad portal's handler takes when the kernel could not return to it.
static RETURN_FAULT: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

global_asm!(
    r#"
    .section .text.entry_tests, "ax"
    .global __entry_return_fault
    .global __entry_bad_handler_recovered
__entry_return_fault:
    lea rsp, [rip + entry_handler_stack]
    call {fault}
    ud2
    // Where the bad portal's handler goes on after its fault: it answers the call.
__entry_bad_handler_recovered:
    call {recovered}
    ud2
"#,
    fault = sym return_fault_handler,
    recovered = sym bad_handler_recovered,
);

extern "C" {
    fn __entry_return_fault();
    fn __entry_bad_handler_recovered();
}

extern "C" fn return_fault_handler(vector: u64) -> ! {
    RETURN_FAULT[0].store(vector, Ordering::SeqCst);
    RETURN_FAULT[1].store(H.get(u::RIP), Ordering::SeqCst);
    H.put(u::RIP, addr(__entry_bad_handler_recovered));
    H.put(
        u::RSP,
        core::ptr::addr_of!(__entry_worker_stack) as u64 - 16,
    );
    H.reply_with(mtd::RIP_LEN | mtd::RSP);
    reply()
}

extern "C" fn bad_handler_recovered() -> ! {
    reply()
}

/// Only with `crash=return` (the `bochs-return` tier): a portal whose entry is not
/// canonical. Hardware (and Bochs) fault on the `iretq` that would enter it, in the
/// kernel; QEMU's TCG enters it and faults on the first fetch. Either way the handler
/// takes a #GP at that address as its own exception, and its caller's call completes.
pub fn fault_on_return_is_the_handlers() -> TestResult {
    const BAD_IP: u64 = 0x8000_0000_0000_0000;
    ok(
        create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB, 0, 0),
        "fault handler EC",
    )?;
    let m = (mtd::RIP_LEN | mtd::RSP) as u64;
    for v in [13u64, 14] {
        ok(
            create_pt(EVT + v, PD, HANDLER, m, addr(__entry_return_fault)),
            "exception portal",
        )?;
        ok(facet_rt::hypercall::pt_ctrl(EVT + v, v), "portal id")?;
    }
    ok(
        create_ec(
            BAD_HANDLER,
            PD,
            0,
            0,
            BAD_HANDLER_UTCB,
            core::ptr::addr_of!(__entry_worker_stack) as u64 - 16,
            EVT,
        ),
        "bad portal's handler",
    )?;
    ok(
        create_pt(BAD_PT, PD, BAD_HANDLER, 0, BAD_IP),
        "portal with a non-canonical entry (crash=return)",
    )?;
    let r = call(BAD_PT);
    for sel in [BAD_PT, BAD_HANDLER, EVT + 13, EVT + 14, HANDLER] {
        revoke_object(sel);
    }
    ok(r, "call through the bad portal")?;
    ensure_eq!(RETURN_FAULT[0].load(Ordering::SeqCst), 13u64);
    ensure_eq!(RETURN_FAULT[1].load(Ordering::SeqCst), BAD_IP);
    Ok(())
}
