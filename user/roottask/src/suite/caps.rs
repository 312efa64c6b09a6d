//! The capability model: creating objects, delegating, looking up and revoking, with
//! every status the reference gives for bad arguments; ports, memory and MSRs that
//! follow capabilities; device pages the kernel keeps; typed items that lose the
//! hypervisor flag; `machine_ctrl`; translation.

mod beyond;
mod child_memory;
mod forward;
mod kernel_mmio;
mod machine;
mod microcode;
mod port_nodes;
mod ports;
mod translate;

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{ROOT_SEL_EC, ROOT_SEL_PD, ROOT_SEL_SC};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{
    create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, lookup, pd_ctrl_delegate,
    pt_ctrl, revoke, sm_down, sm_up,
};

pub use beyond::selectors_beyond_the_space_name_nothing;
pub use child_memory::child_memory_follows_delegation;
pub use forward::forwarded_items_lose_the_hypervisor_flag;
pub use kernel_mmio::kernel_device_pages_are_not_delegable;
pub use machine::{machine_ctrl_answers, msr_access};
pub use microcode::microcode_update;
pub use port_nodes::{
    port_bitmap_follows_whole_nodes, port_nodes_are_delegated_and_revoked_whole,
    port_nodes_from_the_kernel,
};
pub use ports::{child_ports_follow_capabilities, ports_follow_capabilities};
pub use translate::translate_names_the_receivers_capability;

use super::fixture::{CAPS, CAPS_PDS, CAPS_UTCBS, CAPS_WINDOWS, NOTHING, NO_PORTALS, ROOT};
use super::tools::obj;
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
/// Transfer metadata: a plain delegation between PDs.
const DELEGATE: u64 = facet_abi::hypercall::xfer::DELEGATE;
/// The objects of these tests. SM is an ordinary semaphore later tests use too.
pub const SM: u64 = CAPS.at(0);
/// Stays empty: every creation there is refused.
const SPARE: u64 = CAPS.at(1);
const SM_B: u64 = CAPS.at(10);
const SM_B_COPY: u64 = CAPS.at(11);
const SM_C: u64 = CAPS.at(12);
const LOCAL_EC: u64 = CAPS.at(20);
const GLOBAL_EC: u64 = CAPS.at(21);
const SC: u64 = CAPS.at(30);
const PT: u64 = CAPS.at(40);
const PD_A: u64 = CAPS_PDS.at(0);
const PD_B: u64 = CAPS_PDS.at(10);
const WINDOW_A: u64 = CAPS_WINDOWS.at(0);
const WINDOW_B: u64 = CAPS_WINDOWS.at(1);

/// A semaphore's capability with every right it has: what a lookup or translation of a
/// new one answers.
fn sm_cap(sel: u64) -> Crd {
    Crd::new(Kind::Object, sel, 0, perm::SM_ALL)
}

fn found(sel: u64) -> Result<Crd, Fail> {
    lookup(obj(sel)).map_err(|s| Fail::new(format_args!("lookup {}: {}", sel, s.name())))
}

fn expect(r: Result<(), Status>, want: Status, what: &str) -> TestResult {
    match r {
        Err(s) if s == want => Ok(()),
        Err(s) => Err(Fail::new(format_args!(
            "{}: {} instead of {}",
            what,
            s.name(),
            want.name()
        ))),
        Ok(()) => Err(Fail::new(format_args!(
            "{}: SUCCESS instead of {}",
            what,
            want.name()
        ))),
    }
}

pub fn root_capabilities(_: &Env) -> TestResult {
    // The rights the reference gives: all five on the PD, those defined for the others.
    for (sel, perms) in [
        (ROOT_SEL_PD, perm::ALL),
        (ROOT_SEL_EC, perm::EC_ALL),
        (ROOT_SEL_SC, perm::SC_ALL),
    ] {
        ensure_eq!(found(sel)?, Crd::new(Kind::Object, sel, 0, perms));
    }
    ensure_eq!(found(ROOT.at(31))?, Crd::NULL);
    ensure_eq!(found(ROOT.at(35))?, Crd::NULL);
    // Memory is not recorded: a lookup gives a null CRD even for mapped pages.
    let mem = lookup(Crd::new(Kind::Memory, 0x400, 0, perm::MEM_ALL))
        .map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    ensure_eq!(mem, Crd::NULL);
    Ok(())
}

pub fn semaphore_counts(_: &Env) -> TestResult {
    ok(create_sm(SM, PD, 2, 0), "create_sm")?;
    // A new semaphore's capability has the two rights a semaphore knows.
    ensure_eq!(found(SM)?, Crd::new(Kind::Object, SM, 0, perm::SM_ALL));
    ok(sm_down(SM), "down 1")?;
    ok(sm_down(SM), "down 2")?;
    ok(sm_up(SM), "up")?;
    ok(sm_down(SM), "down after up")?;
    Ok(())
}

pub fn create_refusals(_: &Env) -> TestResult {
    expect(create_sm(SM, PD, 0, 0), Status::BadCap, "occupied selector")?;
    expect(
        create_sm(ROOT_SEL_PD, PD, 0, 0),
        Status::BadCap,
        "selector of the PD cap",
    )?;
    expect(
        create_sm(1 << 26, PD, 0, 0),
        Status::BadCap,
        "selector beyond the space",
    )?;
    expect(
        create_sm(SPARE, ROOT_SEL_EC, 0, 0),
        Status::BadCap,
        "EC cap as PD",
    )?;
    expect(
        create_sm(SPARE, NOTHING, 0, 0),
        Status::BadCap,
        "empty selector as PD",
    )?;
    expect(
        create_sm(SPARE, PD, 0, ROOT_SEL_SC),
        Status::BadCap,
        "SC cap as chained SM",
    )?;
    ensure_eq!(found(SPARE)?, Crd::NULL);
    Ok(())
}

pub fn ec_sc_pt_checks(e: &Env) -> TestResult {
    let utcb = CAPS_UTCBS.addr(0);
    expect(
        create_ec(LOCAL_EC, PD, 0, e.offline_cpu(), utcb, 0, 0),
        Status::BadCpu,
        "an offline CPU",
    )?;
    expect(
        create_ec(LOCAL_EC, PD, 0, 0xfff, utcb, 0, 0),
        Status::BadCpu,
        "CPU 4095",
    )?;
    expect(
        create_ec(LOCAL_EC, PD, 0, 0, 0x7fff_ffff_f000, 0, 0),
        Status::BadPar,
        "UTCB at USER_ADDR",
    )?;
    expect(
        create_ec(LOCAL_EC, ROOT_SEL_SC, 0, 0, utcb, 0, 0),
        Status::BadCap,
        "SC cap as PD",
    )?;
    // Their event base has no portals: the global EC stops at its start-up.
    let evt = NO_PORTALS.base(0);
    ok(create_ec(LOCAL_EC, PD, 0, 0, utcb, 0x1000, evt), "local EC")?;
    // The kernel just mapped the new EC's UTCB there, zeroed.
    ensure_eq!(CAPS_UTCBS.utcb(0).items(), 0u64);
    ok(
        create_ec(
            GLOBAL_EC,
            PD,
            ec_flags::GLOBAL,
            0,
            CAPS_UTCBS.addr(1),
            0x1000,
            evt,
        ),
        "global EC",
    )?;

    expect(
        create_sc(SC, PD, LOCAL_EC, 1, 10_000),
        Status::BadCap,
        "SC for a local EC",
    )?;
    expect(
        create_sc(SC, PD, GLOBAL_EC, 0, 10_000),
        Status::BadPar,
        "priority 0",
    )?;
    expect(
        create_sc(SC, PD, GLOBAL_EC, 128, 10_000),
        Status::BadPar,
        "priority 128",
    )?;
    expect(
        create_sc(SC, PD, GLOBAL_EC, 1, 0),
        Status::BadPar,
        "quantum 0",
    )?;
    expect(
        create_sc(SC, PD, SM, 1, 10_000),
        Status::BadCap,
        "SM cap as EC",
    )?;
    ok(create_sc(SC, PD, GLOBAL_EC, 127, 10_000), "SC")?;

    expect(
        create_pt(PT, PD, GLOBAL_EC, 0, 0x1000),
        Status::BadCap,
        "portal to a global EC",
    )?;
    ok(create_pt(PT, PD, LOCAL_EC, 0x1f, 0x1000), "portal")?;
    ok(pt_ctrl(PT, 0xdead_beef), "pt_ctrl")?;
    expect(pt_ctrl(SM, 1), Status::BadCap, "pt_ctrl on an SM")?;
    Ok(())
}

pub fn delegate_and_revoke_recursively(_: &Env) -> TestResult {
    // A new PD gets SM at its selector 0.
    ok(create_pd(PD_A, PD, obj(SM), false), "create_pd")?;
    // Take it back from the new PD into WINDOW_A, down-rights only.
    let window = Crd::new(Kind::Object, WINDOW_A, 0, perm::SM_DOWN);
    let (got, _) = pd_ctrl_delegate(PD_A, PD, obj(0), DELEGATE, window)
        .map_err(|s| Fail::new(format_args!("delegate: {}", s.name())))?;
    ensure_eq!(got, Crd::new(Kind::Object, WINDOW_A, 0, perm::SM_DOWN));
    ensure_eq!(
        found(WINDOW_A)?,
        Crd::new(Kind::Object, WINDOW_A, 0, perm::SM_DOWN)
    );
    expect(sm_up(WINDOW_A), Status::BadCap, "up without the up right")?;
    ok(sm_up(SM), "up on the original")?;
    ok(sm_down(WINDOW_A), "down through the grandchild")?;
    // Revoking the children of SM removes WINDOW_A (a grandchild) but keeps SM.
    ok(revoke(obj(SM), false, None), "revoke children")?;
    ensure_eq!(found(WINDOW_A)?, Crd::NULL);
    ensure_eq!(found(SM)?, Crd::new(Kind::Object, SM, 0, perm::SM_ALL));
    // With `self` the capability itself goes too.
    ok(revoke(obj(SM), true, None), "revoke self")?;
    ensure_eq!(found(SM)?, Crd::NULL);
    // The selector is free again.
    ok(create_sm(SM, PD, 0, 0), "re-create")?;
    Ok(())
}

pub fn revoke_reduces_rights(_: &Env) -> TestResult {
    ok(create_sm(SM_B, PD, 1, 0), "create_sm")?;
    let (got, _) = pd_ctrl_delegate(PD, PD, obj(SM_B), DELEGATE, obj(SM_B_COPY))
        .map_err(|s| Fail::new(format_args!("delegate: {}", s.name())))?;
    ensure_eq!(got, obj(SM_B_COPY));
    let up_only = Crd::new(Kind::Object, SM_B, 0, perm::SM_UP);
    ok(revoke(up_only, false, None), "revoke up")?;
    ensure_eq!(
        found(SM_B_COPY)?,
        Crd::new(Kind::Object, SM_B_COPY, 0, perm::SM_DOWN)
    );
    ensure_eq!(found(SM_B)?, sm_cap(SM_B));
    expect(sm_up(SM_B_COPY), Status::BadCap, "up after revoke")?;
    ok(sm_down(SM_B_COPY), "down still allowed")?;
    // An occupied destination is left alone.
    ok(create_sm(SM_C, PD, 0, 0), "create_sm")?;
    let (got, _) = pd_ctrl_delegate(PD, PD, obj(SM_B), DELEGATE, obj(SM_C))
        .map_err(|s| Fail::new(format_args!("delegate: {}", s.name())))?;
    ensure_eq!(got, obj(SM_C));
    ensure_eq!(found(SM_C)?, sm_cap(SM_C));
    Ok(())
}

pub fn remote_revoke_and_bad_pd(_: &Env) -> TestResult {
    ok(create_pd(PD_B, PD, obj(SM_C), false), "create_pd")?;
    // Remote revoke of the new PD's selector 0 (its copy of SM_C).
    ok(revoke(obj(0), true, Some(PD_B)), "remote revoke")?;
    // Delegating the (now empty) selector 0 back transfers nothing. Like the reference,
    // the answer still names the receive window.
    let r = pd_ctrl_delegate(PD_B, PD, obj(0), DELEGATE, obj(WINDOW_B));
    ensure!(
        r.map(|x| x.0) == Ok(obj(WINDOW_B)),
        "unexpected answer {:?}",
        r.map(|x| x.0)
    );
    ensure_eq!(found(WINDOW_B)?, Crd::NULL);
    expect(
        revoke(obj(0), true, Some(SM)),
        Status::BadCap,
        "remote revoke with an SM cap",
    )?;
    Ok(())
}
