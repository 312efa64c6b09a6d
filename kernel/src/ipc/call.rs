//! `call` and `reply`.
//!
//! A call through a portal runs the portal's local Ec on the caller's Sc: the caller
//! waits with its state saved, the handler gets the caller's untyped message words in
//! its UTCB, the portal id in RDI and the portal's instruction pointer. `reply` copies
//! the handler's message back (or, for an exception message, the state its MTD selects)
//! and resumes the caller; the handler waits for the next call, keeping its registers.

use facet_abi::hypercall::arg1_selector;
use facet_abi::status::Status;

use super::{sched, switch_to, utcb};
use crate::arch::regs::Frame;
use crate::hypercall::caps::object;
use crate::obj::ec::{Ec, State};
use crate::obj::pt::Pt;
use crate::obj::{with, Kind};

/// Handles `call`. On success the handler is on the CPU and `frame` holds its state;
/// the caller's status is set when it is resumed by the reply.
pub fn call(frame: &mut Frame) -> Result<(), Status> {
    let pt = object(arg1_selector(frame.rdi), Kind::Pt, 0)?;
    let (handler, id, ip) = with::<Pt, _>(pt, |p| (p.ec, p.id, p.ip)).ok_or(Status::BadCap)?;
    let caller = sched::current_ec();
    let (hcpu, hstate, hutcb) =
        with::<Ec, _>(handler, |e| (e.cpu, e.state, e.utcb)).ok_or(Status::BadCap)?;
    let ccpu = with::<Ec, _>(caller, |e| e.cpu).unwrap_or(0);
    if hcpu != ccpu {
        return Err(Status::BadCpu);
    }
    if hstate != State::Idle {
        // The handler is busy. The reference lets a blocking caller help it finish;
        // Facet does not yet, so every call to a busy handler answers TIMEOUT, as a call
        // with `call::DISABLE_BLOCKING` does in the reference.
        return Err(Status::Timeout);
    }
    let (cutcb, cpd) = with::<Ec, _>(caller, |e| {
        e.state = State::WaitReply;
        e.partner = handler;
        e.in_exception = false;
        (e.utcb, e.pd)
    })
    .unwrap_or((0, 0));
    let hpd = with::<Ec, _>(handler, |e| e.pd).unwrap_or(0);
    utcb::copy_message(cutcb, hutcb);
    super::typed::transfer(cpd, hpd, cutcb, hutcb);
    // The caller resumes after the reply with SUCCESS in RDI[7:0], the rest as it was.
    frame.rdi &= !0xff;
    with::<Ec, _>(handler, |e| e.partner = caller);
    // A call links the two Ecs; each keeps the other alive until the reply.
    crate::obj::get(handler);
    crate::obj::get(caller);
    switch_to(frame, handler);
    frame.rdi = id;
    frame.rip = ip;
    with::<Ec, _>(caller, |e| e.state = State::WaitReply);
    Ok(())
}

/// Handles `reply`. Returns `false` if the CPU has nothing left to run.
pub fn reply(frame: &mut Frame) -> bool {
    let handler = sched::current_ec();
    let Some((caller, hutcb, global)) = with::<Ec, _>(handler, |e| (e.partner, e.utcb, e.global))
    else {
        return true;
    };
    if caller == 0 || global {
        // Nobody to reply to: the Ec waits (a local Ec for its next call; a global Ec
        // has nothing to wait for and stays blocked) and its Sc moves on.
        with::<Ec, _>(handler, |e| {
            e.state = if global { State::WaitSm } else { State::Idle }
        });
        with::<Ec, _>(handler, |e| e.regs = *frame);
        sched::set_current_ec(0);
        with::<Ec, _>(handler, |e| crate::arch::fpu::save(&mut e.fpu));
        return sched::schedule(frame);
    }
    let (in_exc, cutcb, cpd) =
        with::<Ec, _>(caller, |e| (e.in_exception, e.utcb, e.pd)).unwrap_or((false, 0, 0));
    let hpd = with::<Ec, _>(handler, |e| e.pd).unwrap_or(0);
    if in_exc {
        with::<Ec, _>(caller, |e| match e.vmcb {
            0 => utcb::save_exception(hutcb, &mut e.regs),
            block => crate::vcpu::save(hutcb, block, &mut e.regs),
        });
    } else {
        utcb::copy_message(hutcb, cutcb);
        super::typed::transfer(hpd, cpd, hutcb, cutcb);
    }
    with::<Ec, _>(handler, |e| e.partner = 0);
    with::<Ec, _>(caller, |e| e.partner = 0);
    crate::obj::put(handler);
    crate::obj::put(caller);
    // The handler keeps its registers for the next call and waits.
    switch_to(frame, caller);
    with::<Ec, _>(handler, |e| e.state = State::Idle);
    true
}
