//! Creating and revoking each kind of object, and mapping and unmapping a page, 10,000
//! times leaves the kernel pool exactly as it was (free frames from `machine_ctrl`'s
//! Facet-only pool statistics); small objects share frames; an exhausted pool answers
//! ABORT and recovers; the statistics say where every frame is.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::machine_ctrl::{frames, objects, pd_frames as part};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{
    create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, frame_stats, object_stats,
    pd_ctrl_delegate, pd_frames, pool_stats, revoke,
};

mod ledger;
mod load;
mod proxy;

use super::fixture::{
    Sels, FILL_FAR, FILL_PDS, FILL_SMS, LEAK, LEAK_PAGES, LEAK_RAM, LEAK_UTCBS, MANY, NO_PORTALS,
    PROBES,
};
use super::tools::{map_from_kernel, obj, revoke_all};
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const ROUNDS: u32 = 10_000;
const SEL: u64 = LEAK.at(0);
const LOCAL_EC: u64 = LEAK.at(1);
const GLOBAL_EC: u64 = LEAK.at(2);
const UTCB: u64 = LEAK_UTCBS.addr(0);
const UTCB_GLOBAL: u64 = LEAK_UTCBS.addr(1);
/// The page mapped from the kernel, and where its copies go.
const PAGE_FROM: u64 = LEAK_PAGES.addr(0);
const PAGE_TO: u64 = LEAK_PAGES.addr(16);

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
    let evt = NO_PORTALS.base(0);
    if local {
        return ok(create_ec(LOCAL_EC, PD, 0, 0, UTCB, 0, evt), "handler EC");
    }
    let flags = ec_flags::GLOBAL;
    ok(
        create_ec(GLOBAL_EC, PD, flags, 0, UTCB_GLOBAL, 0, evt),
        "global EC",
    )
}

pub fn no_leaks_over_ten_thousand_rounds(_: &Env) -> TestResult {
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
        create_ec(SEL, PD, 0, 0, UTCB, 0, NO_PORTALS.base(0))?;
        revoke(obj(SEL), true, None)
    })?;
    create_test_ec(true)?;
    no_leak("portal", || {
        create_pt(SEL, PD, LOCAL_EC, 0, 0x1000)?;
        revoke(obj(SEL), true, None)
    })?;
    // A global EC without start-up portal: should its Sc run before the revoke (the end
    // of a quantum, same priority as the roottask), the EC stops once, with a message.
    create_test_ec(false)?;
    no_leak("scheduling context", || {
        create_sc(SEL, PD, GLOBAL_EC, 1, 10_000)?;
        revoke(obj(SEL), true, None)
    })?;
    let rw = perm::MEM_R | perm::MEM_W;
    let page = LEAK_PAGES.window().sub(0, 0x1000);
    map_from_kernel(LEAK_RAM.page(0), 0, rw, page, "page from the kernel")?;
    let from = Crd::new(Kind::Memory, PAGE_FROM >> 12, 0, rw);
    let to = Crd::new(Kind::Memory, PAGE_TO >> 12, 0, rw);
    no_leak("memory mapping", || {
        pd_ctrl_delegate(PD, PD, from, DELEGATE, to)?;
        revoke(to, true, None)
    })?;
    revoke_all([LOCAL_EC, GLOBAL_EC])
}

/// Probes made with the pool empty: an EC, a portal into the handler EC, an SC, a PD.
const PROBE: u64 = PROBES.at(0);

/// Fills the pool with PDs, then semaphores, until creation answers ABORT; every kind of
/// creation and a memory delegation then answer ABORT (or succeed) and the kernel stays
/// healthy; revoking it all gives everything back. Returns (PDs, semaphores) made. With
/// `map`, also a memory delegation that needs new page tables (whatever tables it got
/// stay with the roottask's address space, so only the first round tries it).
fn fill_and_empty_the_pool(map: bool) -> Result<(u64, u64), Fail> {
    // Each range holds the most of its kind it may make.
    let fill = |range: Sels, create: &dyn Fn(u64) -> Result<(), Status>| -> Result<u64, Fail> {
        for n in 0..range.len() {
            match create(range.at(n)) {
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
        create_ec(PROBE, PD, 0, 0, UTCB, 0, NO_PORTALS.base(0)),
        create_ec(PROBE + 1, PD, ec_flags::GLOBAL, 0, 0, 0, NO_PORTALS.base(0)),
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
        FILL_FAR.addr(0) >> 12,
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
    for range in [FILL_PDS, FILL_SMS, PROBES] {
        ok(
            revoke(range.crd(), true, None),
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
pub fn exhausting_the_pool_answers_abort(_: &Env) -> TestResult {
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
    revoke_all([LOCAL_EC, GLOBAL_EC])?;
    // Still healthy.
    ok(create_sm(SEL, PD, 0, 0), "a semaphore afterwards")?;
    ok(revoke(obj(SEL), true, None), "revoke it")
}

/// Small objects share frames: 16,384 semaphores (with a frame each they would need more
/// than the whole pool of the suite's machines, 8,192 frames) fit in the pool at once and
/// take about one frame per 31 (plus the capability tables that name them), and one
/// revoke of their range gives every frame back.
pub fn small_objects_share_frames(_: &Env) -> TestResult {
    let count = MANY.len();
    let before = free_frames()?;
    for i in 0..count {
        create_sm(MANY.at(i), PD, i, 0)
            .map_err(|s| Fail::new(format_args!("semaphore {i} of {count}: {}", s.name())))?;
    }
    let used = before - free_frames()?;
    // 529 frames of slots and 128 of capability slots (32 bytes each), and the table
    // frames above them.
    ensure!(
        used < count / 31 + count / 128 + 16,
        "{count} semaphores took {used} frames"
    );
    ok(revoke(MANY.crd(), true, None), "revoke of them all")?;
    let after = free_frames()?;
    // Capability-table frames stay with the object space; the slots' frames are back.
    ensure!(
        before - after <= count / 128 + 16,
        "{before} free frames before, {after} after the revoke"
    );
    Ok(())
}

/// The pool's frames by use add up to its total; a new PD shows its frames in the
/// statistics of its tables (a PML4, the roots of its two spaces, an I/O bitmap) and
/// they go with it; the objects' counts follow a creation and a revoke. Needs the VM
/// tests first (or none of them): the roottask's APIC-access page.
pub fn every_frame_has_a_use(_: &Env) -> TestResult {
    let stat = |r: Result<u64, Status>, what: &str| ok(r, what);
    let accounted = || -> Result<(), Fail> {
        let (free, total) = ok(pool_stats(), "pool statistics")?;
        let mut used = 0;
        for item in (0..frames::COUNT).filter(|&i| i != frames::KEPT) {
            used += stat(frame_stats(item), "frames of a use")?;
        }
        ensure!(
            free + used == total,
            "{free} free and {used} used frames of {total}"
        );
        Ok(())
    };
    accounted()?;
    let (pds, _) = ok(object_stats(objects::PD), "PDs")?;
    ensure!(
        pds >= 2,
        "{pds} PDs alive (the kernel's and the roottask's at least)"
    );
    let host = stat(pd_frames(PD, part::HOST), "the roottask's host tables")?;
    ensure!(
        host >= 4,
        "the roottask's host page table has {host} frames"
    );
    // Its bitmap, and the APIC-access page of the VM tests' vCPUs.
    let other = stat(pd_frames(PD, part::OTHER), "its bitmap")?;
    ensure!(
        other == 2 || other == 3,
        "the roottask's other frames: {other}"
    );
    let tables = stat(frame_stats(frames::HOST_TABLES), "host tables")?;
    ok(create_pd(SEL, PD, Crd::NULL, false), "a PD")?;
    accounted()?;
    ensure_eq!(ok(object_stats(objects::PD), "PDs")?.0, pds + 1);
    for (p, want) in [
        (part::HOST, 1u64),
        (part::GUEST, 0),
        (part::DEVICE, 0),
        (part::OBJECT_SPACE, 1),
        (part::PORT_SPACE, 1),
        (part::OTHER, 2),
    ] {
        ensure_eq!(stat(pd_frames(SEL, p), "the new PD's frames")?, want);
    }
    ensure_eq!(
        stat(frame_stats(frames::HOST_TABLES), "host tables")?,
        tables + 1
    );
    ok(revoke(obj(SEL), true, None), "revoke the PD")?;
    ensure_eq!(ok(object_stats(objects::PD), "PDs")?.0, pds);
    ensure_eq!(
        stat(frame_stats(frames::HOST_TABLES), "host tables")?,
        tables
    );
    accounted()
}

/// Random load in the roottask and in child PDs that act on their own spaces, then
/// everything revoked: the pool is back where it was, but for the SC slot frames the
/// most SCs at once needed (`load.rs`). The roottask's `leak-calls=N` makes it N steps
/// and `leak-seed=S` draws them from seed S (`docs/testing.md`: the long run).
pub fn random_load_gives_every_frame_back(e: &Env) -> TestResult {
    let calls = e.args.leak_calls.unwrap_or(load::CALLS);
    let seed = e.args.leak_seed.unwrap_or(0x5eed_1e4c_0000_0001);
    load::run(e, calls, seed)
}
