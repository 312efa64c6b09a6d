//! `create_pd`, `create_ec`, `create_sc`, `create_pt`, `create_sm`.
//!
//! Each creates an object and places a capability to it at the selector in ARG1[63:8]
//! of the calling Pd, after checking the Pd capability in ARG2 for the permission to
//! create that kind of object.

use facet_abi::args::{CreateEc, CreatePd, CreatePt, CreateSc, CreateSm};
use facet_abi::config::{NUM_CPU, NUM_PRIORITIES};
use facet_abi::crd::{Crd, Kind as CrdKind};
use facet_abi::layout::{SEL_USER_CODE64, USER_ADDR};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_kcore::user_state;

use super::HcResult;
use crate::cap::delegation::delegate_objects;
use crate::cap::lookup::{install, object, object_out_of_line, object_with_perms};
use crate::exec::CurrentFrame;
use crate::obj::ec::{Ec, EcParams};
use crate::obj::pd::{self, Pd};
use crate::obj::pt::Pt;
use crate::obj::sc::Sc;
use crate::obj::sm::Sm;
use crate::obj::{with, Kind};

pub fn create_pd(f: &mut CurrentFrame) -> HcResult {
    let a: CreatePd = f.args();
    let (parent, parent_perms) = object_with_perms(a.parent, Kind::Pd, perm::PD_PD)?;
    let parent_passthrough = with::<Pd, _>(parent, |p| p.passthrough).unwrap_or(false);
    let new = Pd::create(false, a.passthrough && parent_passthrough)?;
    // The new Pd's capability carries the parent capability's permissions.
    install(a.sel, Kind::Pd, parent_perms, new)?;
    // Capabilities named by ARG3 go to selector 0 onwards of the new Pd.
    let crd = a.crd;
    if crd.kind() == CrdKind::Object {
        let whole = Crd::new(CrdKind::Object, 0, 0x1f, perm::ALL);
        delegate_objects(pd::current(), new, crd, whole, 0);
    }
    Ok(())
}

pub fn create_ec(f: &mut CurrentFrame) -> HcResult {
    let a: CreateEc = f.args();
    let (cpu, user_page) = (a.cpu as u32, a.utcb);
    if cpu as usize >= NUM_CPU || !crate::smp::online(cpu) {
        return Err(Status::BadCpu);
    }
    let vcpu = a.vcpu;
    if vcpu && !crate::vcpu::enabled() {
        return Err(Status::BadFtr);
    }
    // A CPU where the extension could not be turned on runs no vCPUs.
    if vcpu && !crate::vcpu::usable_on(cpu) {
        return Err(Status::BadCpu);
    }
    let target = object_out_of_line(a.pd, Kind::Pd, perm::PD_EC)?;
    // A local Ec starts handling calls on this stack (see `user_state`).
    if user_page >= USER_ADDR || !user_state::stack_ok(a.sp) {
        return Err(Status::BadPar);
    }
    let utcb_pd = if a.utcb_in_caller {
        pd::current()
    } else {
        target
    };
    let ec = Ec::create(&EcParams {
        pd: target,
        cpu,
        global: a.global,
        vcpu,
        user_page,
        utcb_pd,
        sp: a.sp,
        evt: a.evt,
    })?;
    install(a.sel, Kind::Ec, perm::EC_ALL, ec)
}

/// Creates an Sc and makes it ready (if it outranks the running one on this CPU, that
/// one gives way on the way out of the kernel).
pub fn create_sc(f: &mut CurrentFrame) -> Result<(), Status> {
    let a: CreateSc = f.args();
    object_out_of_line(a.pd, Kind::Pd, perm::PD_SC)?;
    let ec = object_out_of_line(a.ec, Kind::Ec, perm::EC_SC)?;
    if !with::<Ec, _>(ec, |e| e.global).unwrap_or(false) {
        return Err(Status::BadCap);
    }
    let (prio, quantum) = (a.prio, a.quantum);
    if prio == 0 || quantum == 0 || prio as u32 >= NUM_PRIORITIES || quantum > u32::MAX as u64 {
        return Err(Status::BadPar);
    }
    let sc = Sc::create(ec, prio, quantum as u32)?;
    install(a.sel, Kind::Sc, perm::SC_ALL, sc)?;
    crate::exec::sched::enqueue(sc);
    Ok(())
}

pub fn create_pt(f: &mut CurrentFrame) -> HcResult {
    let a: CreatePt = f.args();
    object_out_of_line(a.pd, Kind::Pd, perm::PD_PT)?;
    let ec = object_out_of_line(a.ec, Kind::Ec, perm::EC_PT)?;
    if with::<Ec, _>(ec, |e| e.global).unwrap_or(true) {
        return Err(Status::BadCap);
    }
    // Every call starts the handler at this address (see `user_state`).
    if !user_state::entry_ok(SEL_USER_CODE64 as u64, a.ip) && !super::unchecked_portal_ips() {
        return Err(Status::BadPar);
    }
    let pt = Pt::create(ec, a.mtd, a.ip)?;
    install(a.sel, Kind::Pt, perm::PT_ALL, pt)
}

pub fn create_sm(f: &mut CurrentFrame) -> HcResult {
    let a: CreateSm = f.args();
    object(a.pd, Kind::Pd, perm::PD_SM)?;
    let chained = if a.chain != 0 {
        let si = object_out_of_line(a.chain, Kind::Sm, perm::SM_UP)?;
        // Chains are one level deep.
        if with::<Sm, _>(si, |s| s.chained != 0).unwrap_or(true) {
            return Err(Status::BadCap);
        }
        si
    } else {
        0
    };
    let sm = Sm::create(a.count, chained)?;
    install(a.sel, Kind::Sm, perm::SM_ALL, sm)
}
