//! Every permission bit the reference's documentation defines, each checked where the
//! documentation says: one test per bit. Each takes a capability with every right but
//! the one under test (a copy the roottask delegates to itself with that bit left out),
//! shows that the operation needing it answers BAD_CAP and changes nothing, and that
//! the same operation through the full capability works.
//!
//! Object rights: PD (create_pd, _ec, _sc, _pt, _sm: bits 0-4 of the PD named as
//! parent), EC (ec_ctrl: 0, create_sc: 2, create_pt: 3), SC (sc_ctrl: 0), portal
//! (pt_ctrl: 0, call: 1), semaphore (up: 0, down: 1; the reference's code also asks for
//! up of a semaphore that a new one is chained to and of one `revoke` signals). Port and
//! memory rights are in `perms/memory.rs`. The write right of memory is shown by
//! `caps::child_memory_follows_delegation`.

mod memory;

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::{ROOT_SEL_PD, ROOT_SEL_SC};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    call, create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, ec_recall, lookup,
    pd_ctrl_delegate, pt_ctrl, reply, revoke_then_signal, sc_time, sm_down, sm_down_until, sm_up,
};
use facet_rt::utcb::Utcb;

pub use memory::{execution_needs_the_x_right, port_access_needs_the_a_right};

use super::fixture::{NO_PORTALS, PERMS, PERMS_UTCBS};
use super::tools::{revoke_all, Handler};
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// The reduced copy a test makes, what it creates through it and through the full
/// capability, and the objects it needs.
const REDUCED: u64 = PERMS.at(0);
const MADE: u64 = PERMS.at(1);
const MADE_TOO: u64 = PERMS.at(2);
const EC: u64 = PERMS.at(3);
const OBJ: u64 = PERMS.at(4);
/// The handler EC whose portal the portal tests use, and the portal.
const HANDLER: Handler = Handler::new(PERMS.at(5), PERMS_UTCBS.utcb(0));
const PT: u64 = PERMS.at(6);
/// UTCBs of the ECs the tests create.
const EC_UTCB: u64 = PERMS_UTCBS.addr(1);
const MADE_UTCB: u64 = PERMS_UTCBS.addr(2);
/// What the tests leave behind, revoked at their end.
const ALL: [u64; 7] = [PT, HANDLER.ec, MADE, MADE_TOO, OBJ, EC, REDUCED];

/// How often the handler ran, and the portal id it last saw.
static CALLS: AtomicU64 = AtomicU64::new(0);
static LAST_ID: AtomicU64 = AtomicU64::new(0);
static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn counting_entry on STACK => counting_handler);

/// Portal handler: counts the call and notes the portal id.
extern "C" fn counting_handler(id: u64) -> ! {
    CALLS.fetch_add(1, Ordering::SeqCst);
    LAST_ID.store(id, Ordering::SeqCst);
    HANDLER.utcb.send(&[]);
    reply()
}

/// Copies the roottask's capability `sel` to [`REDUCED`] with every right but `bit`, and
/// checks the copy's rights: those of `sel` without `bit`.
fn reduce(sel: u64, bit: u8) -> TestResult {
    let full = ok(lookup(obj(sel, perm::ALL)), "lookup")?;
    let to = obj(REDUCED, perm::ALL & !bit);
    ok(
        pd_ctrl_delegate(PD, PD, obj(sel, perm::ALL), DELEGATE, to),
        "delegate",
    )?;
    let got = ok(lookup(obj(REDUCED, perm::ALL)), "lookup of the copy")?;
    ensure_eq!(got, obj(REDUCED, full.perms() & !bit));
    Ok(())
}

fn obj(sel: u64, perms: u8) -> Crd {
    Crd::new(Kind::Object, sel, 0, perms)
}

/// Fails unless `r` is BAD_CAP.
fn refused(r: Result<(), Status>, what: &str) -> TestResult {
    ensure!(
        r == Err(Status::BadCap),
        "{} without its right: {:?} instead of BAD_CAP",
        what,
        r
    );
    Ok(())
}

/// Fails unless nothing is at `sel`.
fn empty(sel: u64) -> TestResult {
    ensure_eq!(ok(lookup(obj(sel, perm::ALL)), "lookup")?, Crd::NULL);
    Ok(())
}

/// A local EC of the roottask at `sel` (no exception portals).
fn local_ec(sel: u64, utcb: u64) -> TestResult {
    ok(
        create_ec(sel, PD, 0, 0, utcb, 0x1000, NO_PORTALS.base(0)),
        "local EC",
    )
}

/// A global EC of the roottask at `sel` without an SC: it never runs (with an SC, it
/// stops at its start-up, its event base having no portals).
fn global_ec(sel: u64, utcb: u64) -> TestResult {
    ok(
        create_ec(
            sel,
            PD,
            ec_flags::GLOBAL,
            0,
            utcb,
            0x1000,
            NO_PORTALS.base(0),
        ),
        "global EC",
    )
}

/// Revokes what the tests make: at the end of each, and at its start too, so that a
/// test that failed leaves nothing in the way of the next.
fn done() -> TestResult {
    revoke_all(ALL)
}

pub fn create_pd_needs_the_pd_right(_: &Env) -> TestResult {
    done()?;
    reduce(PD, perm::PD_PD)?;
    refused(create_pd(MADE, REDUCED, Crd::NULL, false), "create_pd")?;
    empty(MADE)?;
    ok(create_pd(MADE, PD, Crd::NULL, false), "create_pd")?;
    done()
}

pub fn create_ec_needs_the_ec_right(_: &Env) -> TestResult {
    done()?;
    reduce(PD, perm::PD_EC)?;
    let ec = |pd| create_ec(MADE, pd, 0, 0, MADE_UTCB, 0x1000, NO_PORTALS.base(0));
    refused(ec(REDUCED), "create_ec")?;
    empty(MADE)?;
    ok(ec(PD), "create_ec")?;
    done()
}

pub fn create_sc_needs_the_sc_right_of_the_pd(_: &Env) -> TestResult {
    done()?;
    reduce(PD, perm::PD_SC)?;
    global_ec(EC, EC_UTCB)?;
    refused(create_sc(MADE, REDUCED, EC, 1, 1000), "create_sc")?;
    empty(MADE)?;
    ok(create_sc(MADE, PD, EC, 1, 1000), "create_sc")?;
    done()
}

pub fn create_pt_needs_the_pt_right_of_the_pd(_: &Env) -> TestResult {
    done()?;
    reduce(PD, perm::PD_PT)?;
    local_ec(EC, EC_UTCB)?;
    let ip = addr(counting_entry);
    refused(create_pt(MADE, REDUCED, EC, 0, ip), "create_pt")?;
    empty(MADE)?;
    ok(create_pt(MADE, PD, EC, 0, ip), "create_pt")?;
    done()
}

pub fn create_sm_needs_the_sm_right(_: &Env) -> TestResult {
    done()?;
    reduce(PD, perm::PD_SM)?;
    refused(create_sm(MADE, REDUCED, 0, 0), "create_sm")?;
    empty(MADE)?;
    ok(create_sm(MADE, PD, 0, 0), "create_sm")?;
    done()
}

pub fn ec_ctrl_needs_the_ct_right(_: &Env) -> TestResult {
    done()?;
    global_ec(EC, EC_UTCB)?;
    reduce(EC, perm::EC_CT)?;
    refused(ec_recall(REDUCED), "ec_ctrl recall")?;
    ok(ec_recall(EC), "ec_ctrl recall")?;
    done()
}

pub fn create_sc_needs_the_sc_right_of_the_ec(_: &Env) -> TestResult {
    done()?;
    global_ec(EC, EC_UTCB)?;
    reduce(EC, perm::EC_SC)?;
    refused(create_sc(MADE, PD, REDUCED, 1, 1000), "create_sc")?;
    empty(MADE)?;
    ok(create_sc(MADE, PD, EC, 1, 1000), "create_sc")?;
    done()
}

pub fn create_pt_needs_the_pt_right_of_the_ec(_: &Env) -> TestResult {
    done()?;
    local_ec(EC, EC_UTCB)?;
    reduce(EC, perm::EC_PT)?;
    let ip = addr(counting_entry);
    refused(create_pt(MADE, PD, REDUCED, 0, ip), "create_pt")?;
    empty(MADE)?;
    ok(create_pt(MADE, PD, EC, 0, ip), "create_pt")?;
    done()
}

pub fn sc_ctrl_needs_the_ct_right(_: &Env) -> TestResult {
    done()?;
    // `ct` is the only right an SC has, so a copy without it is no capability at all:
    // the delegation leaves the selector empty, and sc_ctrl finds nothing there.
    let to = obj(REDUCED, perm::ALL & !perm::SC_CT);
    ok(
        pd_ctrl_delegate(PD, PD, obj(ROOT_SEL_SC, perm::ALL), DELEGATE, to),
        "delegate",
    )?;
    empty(REDUCED)?;
    refused(sc_time(REDUCED).map(|_| ()), "sc_ctrl")?;
    ok(sc_time(ROOT_SEL_SC), "sc_ctrl")?;
    done()
}

/// The counting handler and its portal (id 0x11).
fn portal() -> TestResult {
    HANDLER.create()?;
    HANDLER.portal(PT, 0, counting_entry)?;
    ok(pt_ctrl(PT, 0x11), "pt_ctrl")
}

/// Calls `pt`: the handler must have run once more and seen portal id `id`.
fn called(pt: u64, id: u64) -> TestResult {
    let before = CALLS.load(Ordering::SeqCst);
    Utcb::ROOT.send(&[]);
    ok(call(pt), "call")?;
    ensure_eq!(CALLS.load(Ordering::SeqCst), before + 1);
    ensure_eq!(LAST_ID.load(Ordering::SeqCst), id);
    Ok(())
}

pub fn pt_ctrl_needs_the_ct_right(_: &Env) -> TestResult {
    done()?;
    portal()?;
    reduce(PT, perm::PT_CT)?;
    refused(pt_ctrl(REDUCED, 0x22), "pt_ctrl")?;
    // The id is the old one; the copy still calls.
    called(REDUCED, 0x11)?;
    ok(pt_ctrl(PT, 0x33), "pt_ctrl")?;
    called(PT, 0x33)?;
    done()
}

pub fn call_needs_the_call_right(_: &Env) -> TestResult {
    done()?;
    portal()?;
    reduce(PT, perm::PT_CALL)?;
    let before = CALLS.load(Ordering::SeqCst);
    Utcb::ROOT.send(&[]);
    refused(call(REDUCED), "call")?;
    ensure_eq!(CALLS.load(Ordering::SeqCst), before);
    // The copy still controls the portal; the full capability calls.
    ok(pt_ctrl(REDUCED, 0x44), "pt_ctrl")?;
    called(PT, 0x44)?;
    done()
}

/// A semaphore at [`OBJ`] with count `count`.
fn semaphore(count: u64) -> TestResult {
    ok(create_sm(OBJ, PD, count, 0), "create_sm")
}

/// Whether the semaphore at `sm` has a count to take (takes it), without waiting: a
/// down with a deadline in the past.
fn takes(sm: u64) -> Result<bool, Fail> {
    match sm_down_until(sm, 1) {
        Ok(()) => Ok(true),
        Err(Status::Timeout) => Ok(false),
        Err(s) => Err(Fail::new(format_args!("down: {}", s.name()))),
    }
}

pub fn up_needs_the_up_right(_: &Env) -> TestResult {
    done()?;
    semaphore(0)?;
    reduce(OBJ, perm::SM_UP)?;
    refused(sm_up(REDUCED), "up")?;
    ensure!(!takes(OBJ)?, "the refused up counted");
    ok(sm_up(OBJ), "up")?;
    // The copy still downs.
    ok(sm_down(REDUCED), "down through the copy")?;
    done()
}

pub fn down_needs_the_down_right(_: &Env) -> TestResult {
    done()?;
    semaphore(1)?;
    reduce(OBJ, perm::SM_DOWN)?;
    refused(sm_down(REDUCED), "down")?;
    // The count is still there; the copy still ups.
    ensure!(takes(OBJ)?, "the refused down took the count");
    ok(sm_up(REDUCED), "up through the copy")?;
    ok(sm_down(OBJ), "down")?;
    done()
}

pub fn chaining_needs_the_up_right(_: &Env) -> TestResult {
    done()?;
    semaphore(0)?;
    reduce(OBJ, perm::SM_UP)?;
    refused(create_sm(MADE, PD, 0, REDUCED), "create_sm chained")?;
    empty(MADE)?;
    ok(create_sm(MADE, PD, 0, OBJ), "create_sm chained")?;
    done()
}

pub fn revoke_signals_only_with_the_up_right(_: &Env) -> TestResult {
    done()?;
    semaphore(0)?;
    reduce(OBJ, perm::SM_UP)?;
    // The semaphore of a revoke is signalled only through a capability with the up
    // right; without it the revoke still succeeds (as in the reference).
    ok(
        revoke_then_signal(Crd::NULL, false, None, REDUCED),
        "revoke",
    )?;
    ensure!(!takes(OBJ)?, "signalled without the up right");
    ok(revoke_then_signal(Crd::NULL, false, None, OBJ), "revoke")?;
    ensure!(takes(OBJ)?, "not signalled with the up right");
    done()
}
