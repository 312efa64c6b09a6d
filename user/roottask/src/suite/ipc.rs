//! Execution: portal calls and replies, exception messages, start-up of global ECs,
//! blocking on semaphores.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::mtd;
use facet_abi::status::Status;
use facet_rt::hypercall::{
    call, create_ec, create_pt, create_sc, create_sm, ec_flags, pt_ctrl, reply, sc_time, sm_down,
    sm_up,
};

use super::naps::tsc;
use super::{ok, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const ROOT_UTCB: u64 = facet_abi::layout::ROOT_UTCB_ADDR;
/// UTCBs of the ECs these tests create.
const UTCB_ECHO: u64 = 0x3000_0000;
const UTCB_EXC: u64 = 0x3000_1000;
const UTCB_WORKER: u64 = 0x3000_2000;

global_asm!(
    r#"
    .section .bss.ipc_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
__echo_stack_top:
    .skip 0x4000
__exc_stack_top:
    .skip 0x4000
__worker_stack_top:

    .section .text.ipc_entries, "ax"
    .global __echo_entry
__echo_entry:
    lea rsp, [rip + __echo_stack_top]
    call {echo}
    ud2
    .global __grant_entry
__grant_entry:
    lea rsp, [rip + __echo_stack_top]
    call {grant}
    ud2
    .global __recall_entry
__recall_entry:
    lea rsp, [rip + __exc_stack_top]
    call {recall}
    ud2
    .global __suicide_entry
__suicide_entry:
    lea rsp, [rip + __echo_stack_top]
    call {suicide}
    ud2
    .global __fsbase_entry
__fsbase_entry:
    lea rsp, [rip + __echo_stack_top]
    call {fsbase}
    ud2
    .global __startup_entry
__startup_entry:
    lea rsp, [rip + __exc_stack_top]
    call {startup}
    ud2
    .global __ud_entry
__ud_entry:
    lea rsp, [rip + __exc_stack_top]
    call {ud}
    ud2
    .global __worker_entry
__worker_entry:
    call {worker}
    ud2
"#,
    echo = sym echo_handler,
    grant = sym grant_handler,
    fsbase = sym fsbase_handler,
    suicide = sym suicide_handler,
    recall = sym recall_handler,
    startup = sym startup_handler,
    ud = sym ud_handler,
    worker = sym worker,
);

extern "C" {
    fn __echo_entry();
    fn __grant_entry();
    fn __fsbase_entry();
    fn __suicide_entry();
    fn __recall_entry();
    fn __startup_entry();
    fn __ud_entry();
    fn __worker_entry();
    static __worker_stack_top: u8;
}

fn word(utcb: u64, i: u64) -> *mut u64 {
    (utcb + 32 + 8 * i) as *mut u64
}

fn set_items(utcb: u64, untyped: u64) {
    // SAFETY: `utcb` is a UTCB mapped read-write in this PD.
    unsafe { (utcb as *mut u64).write_volatile(untyped) }
}

fn items(utcb: u64) -> u64 {
    // SAFETY: as for `set_items`.
    unsafe { (utcb as *const u64).read_volatile() }
}

/// Portal handler: answers (a + b, portal id).
extern "C" fn echo_handler(id: u64) -> ! {
    // SAFETY: the echo EC's UTCB is mapped at UTCB_ECHO.
    unsafe {
        let a = word(UTCB_ECHO, 0).read_volatile();
        let b = word(UTCB_ECHO, 1).read_volatile();
        word(UTCB_ECHO, 0).write_volatile(a.wrapping_add(b));
        word(UTCB_ECHO, 1).write_volatile(id);
    }
    set_items(UTCB_ECHO, 2);
    reply()
}

/// Portal handler: replies with one typed item delegating SM 710 (up right only).
extern "C" fn grant_handler(_id: u64) -> ! {
    let crd =
        facet_abi::crd::Crd::new(facet_abi::crd::Kind::Object, 710, 0, facet_abi::perm::SM_UP);
    // SAFETY: the echo EC's UTCB is mapped at UTCB_ECHO; typed items sit at its end.
    unsafe {
        ((UTCB_ECHO + 4096 - 16) as *mut u64).write_volatile(crd.0);
        ((UTCB_ECHO + 4096 - 8) as *mut u64).write_volatile(1);
    }
    set_items(UTCB_ECHO, 1 << 16);
    reply()
}

static RECALLS: AtomicU64 = AtomicU64::new(0);

/// Recall portal handler: counts, and lets the EC continue unchanged (empty MTD).
extern "C" fn recall_handler(_id: u64) -> ! {
    RECALLS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the exception handler's UTCB is mapped at UTCB_EXC.
    unsafe { ((UTCB_EXC + U_MTD) as *mut u64).write_volatile(0) };
    reply()
}

/// Portal handler that revokes its own portal and EC capabilities before replying: the
/// kernel must keep the running EC alive until it has replied.
extern "C" fn suicide_handler(_id: u64) -> ! {
    let all = facet_abi::perm::ALL;
    let _ = facet_rt::hypercall::revoke(
        facet_abi::crd::Crd::new(facet_abi::crd::Kind::Object, 961, 0, all),
        true,
        None,
    );
    let _ = facet_rt::hypercall::revoke(
        facet_abi::crd::Crd::new(facet_abi::crd::Kind::Object, 960, 0, all),
        true,
        None,
    );
    if TOUCH_UTCB.load(Ordering::SeqCst) {
        // Its UTCB left the address space with its last capability: this faults.
        set_items(0x3000_9000, 0);
    }
    reply()
}

/// Whether the self-revoking handler writes its UTCB after the revoke.
static TOUCH_UTCB: AtomicBool = AtomicBool::new(false);

/// Portal handler: replies with its own FS base.
extern "C" fn fsbase_handler(_id: u64) -> ! {
    let fs: u64;
    // SAFETY: RDFSBASE is enabled for user mode (checked by the caller).
    unsafe { core::arch::asm!("rdfsbase {}", out(reg) fs, options(nomem, nostack)) };
    // SAFETY: the echo EC's UTCB is mapped at UTCB_ECHO.
    unsafe { word(UTCB_ECHO, 0).write_volatile(fs) };
    set_items(UTCB_ECHO, 1);
    reply()
}

/// Calls a handler EC (the echo EC, needs `call_and_reply` first) that reports its FS base.
pub fn fs_base_of_handler() -> Result<u64, Fail> {
    ok(
        create_pt(403, PD, 400, 0, __fsbase_entry as *const () as u64),
        "create portal",
    )?;
    set_items(ROOT_UTCB, 0);
    ok(call(403), "call")?;
    // SAFETY: the roottask's UTCB is mapped read-write.
    Ok(unsafe { word(ROOT_UTCB, 0).read_volatile() })
}

/// UTCB exception layout offsets (bytes).
const U_MTD: u64 = 32;
const U_RIP: u64 = 48;
const U_RSP: u64 = 120;

static UD_SEEN: AtomicU64 = AtomicU64::new(0);
static WORKER_DONE: AtomicU64 = AtomicU64::new(0);

/// Where the next global EC to start begins (0: `__worker_entry`).
static NEXT_ENTRY: AtomicU64 = AtomicU64::new(0);

/// Start-up portal handler: starts the new global EC at `NEXT_ENTRY` (or
/// `__worker_entry`) on the worker stack.
extern "C" fn startup_handler(_id: u64) -> ! {
    let sp = core::ptr::addr_of!(__worker_stack_top) as u64;
    let entry = match NEXT_ENTRY.load(Ordering::SeqCst) {
        0 => __worker_entry as *const () as u64,
        e => e,
    };
    // SAFETY: the exception handler's UTCB is mapped at UTCB_EXC.
    unsafe {
        ((UTCB_EXC + U_RIP) as *mut u64).write_volatile(entry);
        ((UTCB_EXC + U_RSP) as *mut u64).write_volatile(sp);
        ((UTCB_EXC + U_MTD) as *mut u64).write_volatile((mtd::RIP_LEN | mtd::RSP) as u64);
    }
    reply()
}

/// #UD portal handler: skips the two-byte `ud2`.
extern "C" fn ud_handler(_id: u64) -> ! {
    // SAFETY: as for `startup_handler`.
    unsafe {
        let rip = ((UTCB_EXC + U_RIP) as *const u64).read_volatile();
        ((UTCB_EXC + U_RIP) as *mut u64).write_volatile(rip + 2);
        ((UTCB_EXC + U_MTD) as *mut u64).write_volatile(mtd::RIP_LEN as u64);
    }
    UD_SEEN.fetch_add(1, Ordering::SeqCst);
    reply()
}

/// The global EC: faults once, then wakes the roottask and parks.
extern "C" fn worker() -> ! {
    // SAFETY: `ud2` raises #UD, which the handler answers by skipping it.
    unsafe { core::arch::asm!("ud2") };
    WORKER_DONE.store(1, Ordering::SeqCst);
    let _ = sm_up(430);
    loop {
        let _ = sm_down(431);
    }
}

/// Creates the echo handler EC (selector 400) and its portal (401, id 0x77).
pub fn setup_echo() -> TestResult {
    ok(
        create_ec(400, PD, 0, 0, UTCB_ECHO, 0, 0),
        "create handler EC",
    )?;
    ok(
        create_pt(401, PD, 400, 0, __echo_entry as *const () as u64),
        "create portal",
    )?;
    ok(pt_ctrl(401, 0x77), "pt_ctrl")
}

pub fn call_and_reply() -> TestResult {
    setup_echo()?;
    for (a, b) in [(40u64, 2u64), (1000, 337)] {
        set_items(ROOT_UTCB, 2);
        // SAFETY: the roottask's UTCB is mapped read-write.
        unsafe {
            word(ROOT_UTCB, 0).write_volatile(a);
            word(ROOT_UTCB, 1).write_volatile(b);
        }
        ok(call(401), "call")?;
        ensure_eq!(items(ROOT_UTCB), 2u64);
        // SAFETY: as above.
        let (sum, id) = unsafe {
            (
                word(ROOT_UTCB, 0).read_volatile(),
                word(ROOT_UTCB, 1).read_volatile(),
            )
        };
        ensure_eq!(sum, a + b);
        ensure_eq!(id, 0x77u64);
    }
    ensure!(
        call(999) == Err(Status::BadCap),
        "call through an empty selector"
    );
    ensure!(
        call(PD) == Err(Status::BadCap),
        "call through a PD capability"
    );
    Ok(())
}

pub fn exceptions_startup_and_semaphores() -> TestResult {
    ok(
        create_ec(410, PD, 0, 0, UTCB_EXC, 0, 0),
        "create exception handler EC",
    )?;
    ok(
        create_ec(420, PD, ec_flags::GLOBAL, 0, UTCB_WORKER, 0, 500),
        "create worker EC",
    )?;
    ok(
        create_pt(
            530,
            PD,
            410,
            (mtd::RIP_LEN | mtd::RSP) as u64,
            __startup_entry as *const () as u64,
        ),
        "startup portal",
    )?;
    ok(
        create_pt(
            506,
            PD,
            410,
            mtd::RIP_LEN as u64,
            __ud_entry as *const () as u64,
        ),
        "#UD portal",
    )?;
    ok(create_sm(430, PD, 0, 0), "create sm")?;
    ok(create_sm(431, PD, 0, 0), "create parking sm")?;
    ok(create_sc(440, PD, 420, 1, 10_000), "create worker SC")?;
    // Blocks until the worker, which runs once the roottask waits, wakes it.
    ok(sm_down(430), "down")?;
    ensure_eq!(UD_SEEN.load(Ordering::SeqCst), 1u64);
    ensure_eq!(WORKER_DONE.load(Ordering::SeqCst), 1u64);
    Ok(())
}

pub fn consumed_time() -> TestResult {
    let sc = facet_abi::layout::ROOT_SEL_SC;
    let a = sc_time(sc).map_err(|s| Fail::new(format_args!("sc_ctrl: {}", s.name())))?;
    // Long enough to count in microseconds on every emulator.
    for _ in 0..200_000 {
        core::hint::spin_loop();
    }
    let b = sc_time(sc).map_err(|s| Fail::new(format_args!("sc_ctrl: {}", s.name())))?;
    ensure!(
        b > a && a > 0,
        "consumed time did not grow: {} then {}",
        a,
        b
    );
    ensure!(
        sc_time(PD) == Err(Status::BadCap),
        "sc_ctrl on a PD capability"
    );
    Ok(())
}

static SPINS: AtomicU64 = AtomicU64::new(0);

/// A global EC that never blocks.
extern "C" fn spinner() -> ! {
    loop {
        SPINS.fetch_add(1, Ordering::SeqCst);
    }
}

/// Spins (without blocking) until `cond` holds or about `ticks` TSC ticks pass.
fn spin_until(ticks: u64, cond: impl Fn() -> bool) -> bool {
    let start = tsc();
    while tsc().wrapping_sub(start) < ticks {
        if cond() {
            return true;
        }
        core::hint::spin_loop();
    }
    cond()
}

/// Starts a global EC (selector `ec`, UTCB at `utcb`) at `entry` on the worker stack,
/// at the roottask's priority under Sc `sc`: its start-up portal is event base `evt` +
/// 30, handled by the exception handler EC 410 (from
/// `exceptions_startup_and_semaphores`).
fn start_thread(entry: extern "C" fn() -> !, evt: u64, ec: u64, utcb: u64, sc: u64) -> TestResult {
    startup_portal(entry as *const () as u64, evt)?;
    ok(
        create_ec(ec, PD, ec_flags::GLOBAL, 0, utcb, 0, evt),
        "create thread EC",
    )?;
    ok(create_sc(sc, PD, ec, 1, 1000), "create thread SC")
}

/// Creates the start-up portal of event base `evt` (selector `evt` + 30): every global EC
/// of that event base starts at address `entry` on the worker stack (the exception
/// handler EC 410 answers; needs `exceptions_startup_and_semaphores` first).
pub(super) fn startup_portal(entry: u64, evt: u64) -> TestResult {
    NEXT_ENTRY.store(entry, Ordering::SeqCst);
    ok(
        create_pt(
            evt + 30,
            PD,
            410,
            (mtd::RIP_LEN | mtd::RSP) as u64,
            __startup_entry as *const () as u64,
        ),
        "startup portal",
    )
}

/// Needs `exceptions_startup_and_semaphores` first (the handler EC 410 and its portals).
pub fn timer_preempts_and_revoke_stops() -> TestResult {
    // Same priority as the roottask: only the timer can give the spinner the CPU.
    start_thread(spinner, 800, 450, UTCB_WORKER + 0x1000, 460)?;
    let ran = spin_until(20_000_000_000, || SPINS.load(Ordering::SeqCst) > 0);
    ensure!(ran, "the spinner never ran: no preemption");
    // Recall: the spinner reports to event base + 31 before it runs again.
    ok(
        create_pt(831, PD, 410, 0, __recall_entry as *const () as u64),
        "recall portal",
    )?;
    ensure!(
        facet_rt::hypercall::ec_recall(PD) == Err(Status::BadCap),
        "recall of a PD capability"
    );
    ok(facet_rt::hypercall::ec_recall(450), "recall")?;
    let recalled = spin_until(20_000_000_000, || RECALLS.load(Ordering::SeqCst) > 0);
    ensure!(recalled, "the recall portal was never called");
    let spins = SPINS.load(Ordering::SeqCst);
    ensure!(
        spin_until(20_000_000_000, || SPINS.load(Ordering::SeqCst) > spins),
        "the spinner did not continue"
    );
    // And the roottask got the CPU back, or it would not be here. Take the spinner away.
    let sc = facet_abi::crd::Crd::new(facet_abi::crd::Kind::Object, 460, 0, facet_abi::perm::ALL);
    let ec = facet_abi::crd::Crd::new(facet_abi::crd::Kind::Object, 450, 0, facet_abi::perm::ALL);
    ok(facet_rt::hypercall::revoke(sc, true, None), "revoke SC")?;
    ok(facet_rt::hypercall::revoke(ec, true, None), "revoke EC")?;
    let before = SPINS.load(Ordering::SeqCst);
    spin_until(50_000_000, || false);
    ensure_eq!(SPINS.load(Ordering::SeqCst), before);
    Ok(())
}

static REVOKE_WOKE: AtomicU64 = AtomicU64::new(0);

/// A global EC that waits on semaphore 741, then says so and signals 742.
extern "C" fn revoke_waiter() -> ! {
    let _ = sm_down(741);
    REVOKE_WOKE.store(1, Ordering::SeqCst);
    let _ = facet_rt::hypercall::sm_up(742);
    loop {
        let _ = sm_down(741);
    }
}

/// `revoke` signals its semaphore the way `sm_ctrl up` does: an Ec already waiting on it
/// wakes. Needs `exceptions_startup_and_semaphores` first (the handler EC 410).
pub fn revoke_wakes_a_waiter_on_its_semaphore() -> TestResult {
    use facet_abi::crd::{Crd, Kind};
    use facet_abi::perm;
    use facet_rt::hypercall::sm_down_until;
    ok(create_sm(741, PD, 0, 0), "create sm")?;
    ok(create_sm(742, PD, 0, 0), "create done sm")?;
    start_thread(revoke_waiter, 850, 451, UTCB_WORKER + 0x2000, 461)?;
    // While the roottask waits, the waiter starts and blocks on 741.
    ensure_eq!(sm_down_until(742, tsc() + 20_000_000), Err(Status::Timeout));
    ensure_eq!(REVOKE_WOKE.load(Ordering::SeqCst), 0u64);
    // Revoking nothing, then signalling 741: the waiter wakes and signals 742.
    let nothing = Crd::new(Kind::Object, 0x1_0000, 0, perm::ALL);
    ok(
        facet_rt::hypercall::revoke_then_signal(nothing, true, None, 741),
        "revoke and signal",
    )?;
    ok(sm_down_until(742, tsc() + 2_000_000_000), "the waiter woke")?;
    ensure_eq!(REVOKE_WOKE.load(Ordering::SeqCst), 1u64);
    for sel in [461, 451, 880, 741, 742] {
        let crd = Crd::new(Kind::Object, sel, 0, perm::ALL);
        ok(facet_rt::hypercall::revoke(crd, true, None), "revoke")?;
    }
    Ok(())
}

static STALE_RAN: AtomicU64 = AtomicU64::new(0);

/// A global EC that waits on semaphore 743 and says so when it runs again.
extern "C" fn stale_waiter() -> ! {
    let _ = sm_down(743);
    STALE_RAN.store(1, Ordering::SeqCst);
    loop {
        let _ = sm_down(743);
    }
}

/// A waiter whose SC was revoked while it waited does not run when its semaphore is
/// signalled: the SC it recorded is gone (its memory freed, not yet reused), and nothing
/// else gives it time. Needs `exceptions_startup_and_semaphores` first (the handler EC
/// 410).
pub fn a_waiter_whose_sc_is_gone_does_not_run() -> TestResult {
    use facet_abi::crd::{Crd, Kind};
    use facet_abi::perm;
    use facet_rt::hypercall::sm_down_until;
    ok(create_sm(743, PD, 0, 0), "create sm")?;
    ok(create_sm(744, PD, 0, 0), "create nap sm")?;
    start_thread(stale_waiter, 870, 452, UTCB_WORKER + 0x3000, 462)?;
    // While the roottask naps, the waiter starts and blocks on 743.
    ensure_eq!(sm_down_until(744, tsc() + 20_000_000), Err(Status::Timeout));
    let sc = Crd::new(Kind::Object, 462, 0, perm::ALL);
    ok(
        facet_rt::hypercall::revoke(sc, true, None),
        "revoke the waiter's SC",
    )?;
    ok(facet_rt::hypercall::sm_up(743), "signal the waiter")?;
    ensure_eq!(sm_down_until(744, tsc() + 20_000_000), Err(Status::Timeout));
    ensure_eq!(STALE_RAN.load(Ordering::SeqCst), 0u64);
    for sel in [452, 900, 743, 744] {
        let crd = Crd::new(Kind::Object, sel, 0, perm::ALL);
        ok(facet_rt::hypercall::revoke(crd, true, None), "revoke")?;
    }
    Ok(())
}

/// Needs `call_and_reply` first (the handler EC 400).
pub fn reply_delegates_typed_items() -> TestResult {
    use facet_abi::crd::{Crd, Kind};
    use facet_abi::perm;
    ok(create_sm(710, PD, 0, 0), "create sm")?;
    ok(
        create_pt(402, PD, 400, 0, __grant_entry as *const () as u64),
        "create portal",
    )?;
    let window = Crd::new(Kind::Object, 720, 0, perm::ALL);
    // SAFETY: the roottask's UTCB is mapped read-write; word 2 is the delegate window.
    unsafe { ((ROOT_UTCB + 16) as *mut u64).write_volatile(window.0) };
    set_items(ROOT_UTCB, 0);
    ok(call(402), "call")?;
    ensure_eq!(items(ROOT_UTCB), 1u64 << 16);
    // SAFETY: as above; typed items sit at the end of the page.
    let (crd, meta) = unsafe {
        (
            ((ROOT_UTCB + 4096 - 16) as *const u64).read_volatile(),
            ((ROOT_UTCB + 4096 - 8) as *const u64).read_volatile(),
        )
    };
    ensure_eq!(Crd(crd), Crd::new(Kind::Object, 720, 0, perm::SM_UP));
    ensure_eq!(meta, 1u64);
    let got = facet_rt::hypercall::lookup(Crd::new(Kind::Object, 720, 0, perm::ALL))
        .map_err(|s| Fail::new(format_args!("lookup: {}", s.name())))?;
    ensure_eq!(got, Crd::new(Kind::Object, 720, 0, perm::SM_UP));
    ok(sm_up(720), "up through the received capability")?;
    ensure!(
        sm_down(720) == Err(Status::BadCap),
        "down without the right"
    );
    Ok(())
}

pub fn semaphore_deadlines() -> TestResult {
    use facet_rt::hypercall::sm_down_until;
    ok(create_sm(730, PD, 0, 0), "create sm")?;
    ensure!(
        sm_down_until(730, 1) == Err(Status::Timeout),
        "a deadline in the past must time out at once"
    );
    let start = tsc();
    let deadline = start + 5_000_000;
    ensure!(
        sm_down_until(730, deadline) == Err(Status::Timeout),
        "the wait did not time out"
    );
    ensure!(tsc() >= deadline, "woke before the deadline");
    ok(sm_up(730), "up")?;
    ok(
        sm_down_until(730, tsc() + 1_000_000_000),
        "down with a count",
    )?;
    Ok(())
}

/// An Ec's FS base survives its blocking: the roottask sets its own, waits on a semaphore
/// until a deadline (the CPU idles meanwhile) and finds it unchanged. (The kernel once
/// saved the FS and GS bases only when another Ec took the CPU directly, so a blocked Ec
/// woke with older ones.) Needs FSGSBASE, which every tier's CPU has; without it the
/// test only says so.
pub fn fs_base_survives_blocking() -> TestResult {
    use facet_rt::hypercall::sm_down_until;
    let leaf7 = core::arch::x86_64::__cpuid_count(7, 0);
    if leaf7.ebx & 1 == 0 {
        facet_rt::println!("  (no FSGSBASE: not checked)");
        return Ok(());
    }
    const MINE: u64 = 0x1234_5000;
    let (old, now): (u64, u64);
    // SAFETY: CR4.FSGSBASE is on where the CPU has it (the kernel enables it); the
    // roottask does not use FS for anything else and gets its old base back below.
    unsafe { core::arch::asm!("rdfsbase {}", "wrfsbase {}", out(reg) old, in(reg) MINE) };
    ok(create_sm(731, PD, 0, 0), "create sm")?;
    let timed_out = sm_down_until(731, tsc() + 2_000_000);
    // SAFETY: as above.
    unsafe { core::arch::asm!("rdfsbase {}", "wrfsbase {}", out(reg) now, in(reg) old) };
    ensure_eq!(timed_out, Err(Status::Timeout));
    ensure_eq!(now, MINE);
    Ok(())
}

/// A handler that revokes its own portal and EC capabilities still replies: the kernel
/// keeps the Ec until then. Its UTCB, though, leaves the address space with its last
/// capability, as in the reference: a handler that writes it afterwards faults, and its
/// caller gets ABORT. A new Ec can have its UTCB at the same address at once.
pub fn handler_revoking_itself_is_safe() -> TestResult {
    use facet_abi::crd::{Crd, Kind};
    use facet_abi::perm;
    let handler = || -> TestResult {
        ok(
            create_ec(960, PD, 0, 0, 0x3000_9000, 0, 0),
            "create handler EC",
        )?;
        ok(
            create_pt(961, PD, 960, 0, __suicide_entry as *const () as u64),
            "create portal",
        )
    };
    handler()?;
    TOUCH_UTCB.store(true, Ordering::SeqCst);
    set_items(ROOT_UTCB, 0);
    ensure_eq!(call(961), Err(Status::Abort));
    TOUCH_UTCB.store(false, Ordering::SeqCst);
    handler()?;
    set_items(ROOT_UTCB, 0);
    ok(call(961), "call")?;
    for sel in [960, 961] {
        let c = facet_rt::hypercall::lookup(Crd::new(Kind::Object, sel, 0, perm::ALL))
            .map_err(|s| Fail::new(format_args!("lookup: {}", s.name())))?;
        ensure_eq!(c, Crd::NULL);
    }
    ensure!(call(961) == Err(Status::BadCap), "the portal is gone");
    // An Ec whose capability went while its portal keeps it: its UTCB's address is free
    // at once for a new Ec, whose UTCB stays when the old Ec goes for good. (The new
    // handler's revokes find nothing; it writes its UTCB and replies.)
    handler()?;
    let obj = |sel| Crd::new(Kind::Object, sel, 0, perm::ALL);
    ok(
        facet_rt::hypercall::revoke(obj(960), true, None),
        "revoke the EC",
    )?;
    ok(
        create_ec(962, PD, 0, 0, 0x3000_9000, 0, 0),
        "a new EC at the same UTCB",
    )?;
    ok(
        create_pt(963, PD, 962, 0, __suicide_entry as *const () as u64),
        "its portal",
    )?;
    ok(
        facet_rt::hypercall::revoke(obj(961), true, None),
        "revoke the old portal",
    )?;
    TOUCH_UTCB.store(true, Ordering::SeqCst);
    set_items(ROOT_UTCB, 0);
    ok(call(963), "call the new EC")?;
    TOUCH_UTCB.store(false, Ordering::SeqCst);
    for sel in [963, 962] {
        ok(facet_rt::hypercall::revoke(obj(sel), true, None), "revoke")?;
    }
    // Two ECs with their UTCBs at one address: the later mapping is there, and it stays
    // when the earlier EC's last capability goes (the reference unmaps whatever is at
    // the address).
    ok(create_ec(964, PD, 0, 0, 0x3000_9000, 0, 0), "first EC")?;
    ok(create_ec(965, PD, 0, 0, 0x3000_9000, 0, 0), "second EC")?;
    ok(
        create_pt(966, PD, 965, 0, __suicide_entry as *const () as u64),
        "the second's portal",
    )?;
    ok(
        facet_rt::hypercall::revoke(obj(964), true, None),
        "revoke the first",
    )?;
    TOUCH_UTCB.store(true, Ordering::SeqCst);
    set_items(ROOT_UTCB, 0);
    ok(call(966), "call the second EC")?;
    TOUCH_UTCB.store(false, Ordering::SeqCst);
    for sel in [966, 965] {
        ok(facet_rt::hypercall::revoke(obj(sel), true, None), "revoke")?;
    }
    // The selectors are free again, and the kernel healthy.
    ok(
        create_sm(960, PD, 1, 0),
        "re-create at the handler's selector",
    )?;
    ok(sm_down(960), "down")?;
    Ok(())
}
