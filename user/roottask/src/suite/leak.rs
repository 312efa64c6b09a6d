//! Creating and revoking each kind of object, and mapping and unmapping a page, 10,000
//! times leaves the kernel pool exactly as it was (free frames from `machine_ctrl`'s
//! Facet-only pool statistics). Also: `machine_ctrl`'s other sub-operations answer as
//! documented, and a PD that is not pass-through gets BAD_CAP.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::{arg1, xfer::DELEGATE, Hypercall};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{
    call, create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, pd_ctrl_delegate,
    pool_stats, pt_ctrl, raw, revoke, status,
};

use super::{ok, Fail, TestResult};
use crate::world::SCRATCH;

const PD: u64 = ROOT_SEL_PD;
const ROUNDS: u32 = 10_000;
const SEL: u64 = 2300;
const LOCAL_EC: u64 = 2301;
const GLOBAL_EC: u64 = 2302;
const UTCB: u64 = 0x300a_0000;
const UTCB_GLOBAL: u64 = 0x300a_1000;
/// An event base under which the roottask has no portals.
const NO_PORTALS: u64 = 61_000;
const PAGE_FROM: u64 = SCRATCH + 0xa0_0000;
const PAGE_TO: u64 = SCRATCH + 0xa1_0000;
const PAGE_PHYS: u64 = 0x0104_0000;

fn free_frames() -> Result<u64, Fail> {
    pool_stats()
        .map(|(free, _)| free)
        .map_err(|s| Fail::new(format_args!("pool statistics: {}", s.name())))
}

/// Runs `round` once (its first run may leave what lives on, like page-table frames),
/// then ROUNDS times, and checks the pool ends where it was after the first.
fn no_leak(what: &str, mut round: impl FnMut() -> Result<(), Status>) -> TestResult {
    round().map_err(|s| Fail::new(format_args!("{what}: {}", s.name())))?;
    let before = free_frames()?;
    for i in 0..ROUNDS {
        round().map_err(|s| Fail::new(format_args!("{what}, round {i}: {}", s.name())))?;
    }
    let after = free_frames()?;
    ensure!(
        after == before,
        "{what}: {before} free frames before, {after} after {ROUNDS} rounds"
    );
    Ok(())
}

/// Creates the local EC that the tests' portals lead to (`local`), or the global EC
/// without portals that their SCs run.
fn create_test_ec(local: bool) -> TestResult {
    if local {
        return ok(
            create_ec(LOCAL_EC, PD, 0, 0, UTCB, 0, NO_PORTALS),
            "handler EC",
        );
    }
    let flags = ec_flags::GLOBAL;
    ok(
        create_ec(GLOBAL_EC, PD, flags, 0, UTCB_GLOBAL, 0, NO_PORTALS),
        "global EC",
    )
}

fn obj(sel: u64) -> Crd {
    Crd::new(Kind::Object, sel, 0, perm::ALL)
}

pub fn no_leaks_over_ten_thousand_rounds() -> TestResult {
    let (free, total) =
        pool_stats().map_err(|s| Fail::new(format_args!("pool statistics: {}", s.name())))?;
    ensure!(free > 0 && free <= total, "pool {free} of {total}");
    no_leak("semaphore", || {
        create_sm(SEL, PD, 0, 0)?;
        revoke(obj(SEL), true, None)
    })?;
    no_leak("protection domain", || {
        create_pd(SEL, PD, Crd::NULL, false)?;
        revoke(obj(SEL), true, None)
    })?;
    no_leak("execution context with its UTCB", || {
        create_ec(SEL, PD, 0, 0, UTCB, 0, NO_PORTALS)?;
        revoke(obj(SEL), true, None)
    })?;
    create_test_ec(true)?;
    no_leak("portal", || {
        create_pt(SEL, PD, LOCAL_EC, 0, 0x1000)?;
        revoke(obj(SEL), true, None)
    })?;
    // A global EC without start-up portal: should its Sc run before the revoke (a timer
    // tick, same priority as the roottask), the EC stops once, with a message.
    create_test_ec(false)?;
    no_leak("scheduling context", || {
        create_sc(SEL, PD, GLOBAL_EC, 1, 10_000)?;
        revoke(obj(SEL), true, None)
    })?;
    let from_kernel = Crd::new(Kind::Memory, PAGE_PHYS >> 12, 0, perm::MEM_R | perm::MEM_W);
    let from = Crd::new(Kind::Memory, PAGE_FROM >> 12, 0, perm::MEM_R | perm::MEM_W);
    let to = Crd::new(Kind::Memory, PAGE_TO >> 12, 0, perm::MEM_R | perm::MEM_W);
    ok(
        pd_ctrl_delegate(PD, PD, from_kernel, crate::FROM_KERNEL, from).map(|_| ()),
        "page from the kernel",
    )?;
    no_leak("memory mapping", || {
        pd_ctrl_delegate(PD, PD, from, DELEGATE, to)?;
        revoke(to, true, None)
    })?;
    for sel in [LOCAL_EC, GLOBAL_EC] {
        ok(revoke(obj(sel), true, None), "revoke an EC")?;
    }
    Ok(())
}

/// Where [`exhausting_the_pool_answers_abort`] puts its PDs and semaphores (aligned
/// ranges nothing else uses), and the most of each it may make.
const FILL_PDS: u64 = 5 << 20;
const FILL_SMS: u64 = 6 << 20;
const FILL_ORDER: u8 = 18;
/// Probes made with the pool empty: an EC, a portal into the handler EC, an SC, a PD.
const PROBE: u64 = 7 << 20;

/// Fills the pool with PDs, then semaphores, until creation answers ABORT; every kind of
/// creation and a memory delegation then answer ABORT (or succeed) and the kernel stays
/// healthy; revoking it all gives everything back. Returns (PDs, semaphores) made. With
/// `map`, also a memory delegation that needs new page tables (whatever tables it got
/// stay with the roottask's address space, so only the first round tries it).
fn fill_and_empty_the_pool(map: bool) -> Result<(u64, u64), Fail> {
    let fill = |base: u64, create: &dyn Fn(u64) -> Result<(), Status>| -> Result<u64, Fail> {
        for n in 0..1u64 << FILL_ORDER {
            match create(base + n) {
                Ok(()) => {}
                Err(Status::Abort) => return Ok(n),
                Err(s) => return Err(Fail::new(format_args!("object {n}: {}", s.name()))),
            }
        }
        Err(Fail::new(format_args!("the pool never ran out")))
    };
    let pds = fill(FILL_PDS, &|sel| create_pd(sel, PD, Crd::NULL, false))?;
    let sms = fill(FILL_SMS, &|sel| create_sm(sel, PD, 0, 0))?;
    // The pool is empty: whatever needs memory answers ABORT, nothing is left half-made.
    let probes = [
        create_ec(PROBE, PD, 0, 0, UTCB, 0, NO_PORTALS),
        create_ec(PROBE + 1, PD, ec_flags::GLOBAL, 0, 0, 0, NO_PORTALS),
        create_pt(PROBE + 2, PD, LOCAL_EC, 0, 0x1000),
        create_sc(PROBE + 3, PD, GLOBAL_EC, 1, 10_000),
        create_pd(PROBE + 4, PD, Crd::NULL, false),
        create_sm(PROBE + 5, PD, 0, 0),
    ];
    for (i, p) in probes.iter().enumerate() {
        ensure!(
            matches!(p, Ok(()) | Err(Status::Abort)),
            "probe {i} with the pool empty: {:?}",
            p
        );
    }
    let far = Crd::new(
        Kind::Memory,
        0x7000_0000 >> 12,
        0,
        perm::MEM_R | perm::MEM_W,
    );
    if map {
        let from = Crd::new(Kind::Memory, PAGE_FROM >> 12, 0, perm::MEM_R | perm::MEM_W);
        let mapped = pd_ctrl_delegate(PD, PD, from, DELEGATE, far).map(|_| ());
        ensure!(
            matches!(mapped, Ok(()) | Err(Status::Abort)),
            "a mapping that needs page tables, with the pool empty: {:?}",
            mapped
        );
    }
    for (base, order) in [(FILL_PDS, FILL_ORDER), (FILL_SMS, FILL_ORDER), (PROBE, 3)] {
        ok(
            revoke(Crd::new(Kind::Object, base, order, perm::ALL), true, None),
            "revoke what filled the pool",
        )?;
    }
    ok(revoke(far, true, None), "unmap")?;
    Ok((pds, sms))
}

/// When the kernel pool runs out, creation answers ABORT (the reference has no status for
/// it: it stops) and the kernel stays healthy; once the objects go the pool is back where
/// it was, so no failed creation left anything behind. Twice, since the first round also
/// grows the capability tables that name what it makes. Needs
/// `no_leaks_over_ten_thousand_rounds` first (the page at `PAGE_FROM`).
pub fn exhausting_the_pool_answers_abort() -> TestResult {
    create_test_ec(true)?;
    create_test_ec(false)?;
    fill_and_empty_the_pool(true)?;
    let before = free_frames()?;
    let (pds, sms) = fill_and_empty_the_pool(false)?;
    let after = free_frames()?;
    // The semaphores fill what the PDs left: possibly nothing at all.
    ensure!(pds > 0, "{pds} PDs and {sms} semaphores filled the pool");
    ensure!(
        after == before,
        "{before} free frames before filling the pool, {after} after"
    );
    for sel in [LOCAL_EC, GLOBAL_EC] {
        ok(revoke(obj(sel), true, None), "revoke an EC")?;
    }
    // Still healthy.
    ok(create_sm(SEL, PD, 0, 0), "a semaphore afterwards")?;
    ok(revoke(obj(SEL), true, None), "revoke it")
}

/// Semaphores held at once by [`small_objects_share_frames`]: with a frame each they
/// would need more than the whole pool of the suite's machines (8,192 frames).
const MANY_ORDER: u8 = 14;
/// Where they go: an aligned range of selectors nothing else uses.
const MANY_BASE: u64 = 1 << 22;

/// Small objects share frames: 16,384 semaphores fit in the pool at once and take about
/// one frame per 31 (plus the capability tables that name them), and one revoke of their
/// range gives every frame back.
pub fn small_objects_share_frames() -> TestResult {
    let count = 1u64 << MANY_ORDER;
    let before = free_frames()?;
    for i in 0..count {
        create_sm(MANY_BASE + i, PD, i, 0)
            .map_err(|s| Fail::new(format_args!("semaphore {i} of {count}: {}", s.name())))?;
    }
    let used = before - free_frames()?;
    // 529 frames of slots and 128 of capability slots (32 bytes each), and the table
    // frames above them.
    ensure!(
        used < count / 31 + count / 128 + 16,
        "{count} semaphores took {used} frames"
    );
    ok(
        revoke(
            Crd::new(Kind::Object, MANY_BASE, MANY_ORDER, perm::ALL),
            true,
            None,
        ),
        "revoke of them all",
    )?;
    let after = free_frames()?;
    // Capability-table frames stay with the object space; the slots' frames are back.
    ensure!(
        before - after <= count / 128 + 16,
        "{before} free frames before, {after} after the revoke"
    );
    Ok(())
}

global_asm!(
    r#"
    .section .text.machine_ctrl_probe, "ax"
    .balign 4096
    .global __machine_ctrl_probe
    // A portal handler in a child PD whose portal id is its UTCB's address: asks for the
    // pool statistics (machine_ctrl, sub-operation 3) and replies with the status word.
__machine_ctrl_probe:
    mov rbx, rdi
    mov edi, 0x3f
    syscall
    mov [rbx + 32], rdi
    mov qword ptr [rbx], 1
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#
);

extern "C" {
    fn __machine_ctrl_probe();
}

const CHILD: u64 = 2310;
const CHILD_EC: u64 = 2311;
const CHILD_PT: u64 = 2312;
const CHILD_UTCB: u64 = 0x300b_0000;

/// `machine_ctrl`: suspend and microcode updates are not built, sub-operation 2 is
/// refused as in the reference, 3 is Facet's pool statistics; a PD that is not
/// pass-through gets BAD_CAP.
pub fn machine_ctrl_answers() -> TestResult {
    let op = |sub| status(&raw(arg1(Hypercall::MachineCtrl, sub, 0), 0, 0, 0, 0));
    ensure_eq!(op(0), Status::BadFtr);
    ensure_eq!(op(1), Status::BadFtr);
    ensure_eq!(op(2), Status::BadPar);
    ensure_eq!(op(3), Status::Success);
    // The same request from a child PD that is not pass-through.
    ok(create_pd(CHILD, PD, Crd::NULL, false), "create_pd")?;
    let stub = __machine_ctrl_probe as *const () as u64;
    let code = Crd::new(Kind::Memory, stub >> 12, 0, perm::MEM_R | perm::MEM_X);
    ok(
        pd_ctrl_delegate(PD, CHILD, code, DELEGATE, code).map(|_| ()),
        "code into the child",
    )?;
    ok(
        create_ec(CHILD_EC, CHILD, 0, 0, CHILD_UTCB, 0, NO_PORTALS),
        "child EC",
    )?;
    ok(create_pt(CHILD_PT, PD, CHILD_EC, 0, stub), "portal")?;
    ok(pt_ctrl(CHILD_PT, CHILD_UTCB), "portal id")?;
    let root = facet_abi::layout::ROOT_UTCB_ADDR;
    // SAFETY: the roottask's UTCB is mapped read-write at its fixed address.
    unsafe { (root as *mut u64).write_volatile(0) };
    ok(call(CHILD_PT), "call the child")?;
    // SAFETY: as above; the reply's one word follows the four header words.
    let (items, word) = unsafe {
        (
            (root as *const u64).read_volatile(),
            ((root + 32) as *const u64).read_volatile(),
        )
    };
    ensure_eq!(items & 0xffff, 1u64);
    ensure_eq!(word & 0xff, Status::BadCap as u64);
    for sel in [CHILD_PT, CHILD_EC, CHILD] {
        ok(revoke(obj(sel), true, None), "revoke")?;
    }
    Ok(())
}
