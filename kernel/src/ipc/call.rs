//! `call` and `reply`.
//!
//! A call through a portal runs the portal's local Ec on the caller's Sc: the caller
//! waits with its state saved, the handler gets the caller's untyped message words in
//! its UTCB, the portal id in RDI and the portal's instruction pointer. `reply` copies
//! the handler's message back (or, for an exception message, the state its MTD selects)
//! and resumes the caller; the handler waits for the next call, keeping its registers.

use facet_abi::hypercall::{arg1_flags, arg1_selector, call as call_flags};
use facet_abi::status::Status;

use super::CurrentFrame;
use super::{sched, switch_to, utcb};
use crate::hypercall::caps::object;
use crate::obj::ec::{Ec, State};
use crate::obj::pt::Pt;
use crate::obj::{with, Kind};

/// Handles `call`. On success the handler is on the CPU and `frame` holds its state;
/// the caller's status is set when it is resumed by the reply. A caller that waits for
/// a busy handler leaves the CPU: `Ok(false)` then says nothing else is ready.
pub fn call(frame: &mut CurrentFrame) -> Result<bool, Status> {
    let pt = object(arg1_selector(frame.rdi), Kind::Pt, 0)?;
    let (handler, id, ip) = with::<Pt, _>(pt, |p| (p.ec, p.id, p.ip)).ok_or(Status::BadCap)?;
    let caller = sched::current_ec();
    let (hcpu, hstate, hutcb) =
        with::<Ec, _>(handler, |e| (e.cpu, e.state, e.utcb)).ok_or(Status::BadCap)?;
    let ccpu = with::<Ec, _>(caller, |e| e.cpu).unwrap_or(0);
    if hcpu != ccpu {
        return Err(Status::BadCpu);
    }
    if hstate == State::Dead {
        // The handler died (a fault nobody handled): as for the callers that waited on it.
        return Err(Status::Abort);
    }
    if hstate != State::Idle {
        // The handler is busy: fail at once if the caller asked so, else wait until it
        // is free and call again.
        if arg1_flags(frame.rdi) & call_flags::DISABLE_BLOCKING != 0 {
            return Err(Status::Timeout);
        }
        return Ok(wait_for(frame, caller, handler));
    }
    let (cutcb, cpd) = with::<Ec, _>(caller, |e| {
        e.state = State::WaitReply;
        e.callee = handler;
        e.in_exception = false;
        (e.utcb, e.pd)
    })
    .unwrap_or((0, 0));
    let hpd = with::<Ec, _>(handler, |e| e.pd).unwrap_or(0);
    utcb::copy_message(cutcb, hutcb);
    super::typed::transfer(cpd, hpd, cutcb, hutcb);
    // The caller resumes after the reply with SUCCESS in RDI[7:0], the rest as it was.
    frame.rdi &= !0xff;
    with::<Ec, _>(handler, |e| e.reply_to = caller);
    // A call links the two Ecs; each keeps the other alive until the reply.
    crate::obj::get(handler);
    crate::obj::get(caller);
    switch_to(handler);
    frame.rdi = id;
    frame.rip = ip;
    with::<Ec, _>(caller, |e| e.state = State::WaitReply);
    Ok(true)
}

/// Handles `reply`. Returns `false` if the CPU has nothing left to run.
pub fn reply(frame: &mut CurrentFrame) -> bool {
    let handler = sched::current_ec();
    let Some((caller, hutcb, global)) = with::<Ec, _>(handler, |e| (e.reply_to, e.utcb, e.global))
    else {
        return true;
    };
    if caller == 0 || global {
        // Nobody to reply to: the Ec waits (a local Ec for its next call; a global Ec
        // has nothing to wait for and stays blocked) and its Sc moves on.
        with::<Ec, _>(handler, |e| {
            e.state = if global { State::WaitSm } else { State::Idle }
        });
        if !global {
            release_helpers(handler, false);
        }
        super::park_current();
        return sched::schedule(frame);
    }
    let (in_exc, cutcb, cpd) =
        with::<Ec, _>(caller, |e| (e.in_exception, e.utcb, e.pd)).unwrap_or((false, 0, 0));
    let hpd = with::<Ec, _>(handler, |e| e.pd).unwrap_or(0);
    if in_exc {
        with::<Ec, _>(caller, |e| match e.vmcb {
            0 => utcb::save_exception(hutcb, &mut e.regs),
            block => crate::vcpu::save(hutcb, block, &mut e.regs, &mut e.guest_xcr0),
        });
    } else {
        utcb::copy_message(hutcb, cutcb);
        super::typed::transfer(hpd, cpd, hutcb, cutcb);
    }
    with::<Ec, _>(handler, |e| e.reply_to = 0);
    with::<Ec, _>(caller, |e| e.callee = 0);
    crate::obj::put(handler);
    crate::obj::put(caller);
    // The handler keeps its registers for the next call and waits.
    switch_to(caller);
    with::<Ec, _>(handler, |e| e.state = State::Idle);
    release_helpers(handler, false);
    true
}

/// Makes `caller` wait until `handler` is free. Its saved RIP goes back over the
/// `syscall` instruction, so that once woken it issues the same call again (with the same
/// registers and UTCB) instead of needing a continuation of its own. Returns whether the
/// CPU has something else to run.
fn wait_for(
    frame: &mut CurrentFrame,
    caller: crate::obj::Handle,
    handler: crate::obj::Handle,
) -> bool {
    const SYSCALL_LEN: u64 = 2;
    frame.rip = frame.rip.wrapping_sub(SYSCALL_LEN);
    let sc = sched::current_sc();
    with::<Ec, _>(caller, |e| {
        e.state = State::WaitHandler;
        e.waiting_on = handler;
        e.next_waiter = 0;
        e.blocked_sc = sc;
    });
    // At the end of the handler's queue: callers are served in the order they came.
    let mut last = with::<Ec, _>(handler, |e| e.helpers).unwrap_or(0);
    if last == 0 {
        with::<Ec, _>(handler, |e| e.helpers = caller);
    } else {
        while let Some(next) = with::<Ec, _>(last, |e| e.next_waiter).filter(|&n| n != 0) {
            last = next;
        }
        with::<Ec, _>(last, |e| e.next_waiter = caller);
    }
    super::park_current();
    sched::schedule(frame)
}

/// `handler` became free (or, with `all`, is going away): the first of the callers
/// waiting for it (or all of them) become ready to issue their calls again.
pub fn release_helpers(handler: crate::obj::Handle, all: bool) {
    loop {
        let Some(first) = with::<Ec, _>(handler, |e| e.helpers).filter(|&f| f != 0) else {
            return;
        };
        let Some((next, sc)) = with::<Ec, _>(first, |e| {
            e.state = State::Ready;
            e.waiting_on = 0;
            (core::mem::replace(&mut e.next_waiter, 0), e.blocked_sc)
        }) else {
            return;
        };
        with::<Ec, _>(handler, |e| e.helpers = next);
        if sc != 0 {
            sched::enqueue(sc);
        }
        if !all {
            return;
        }
    }
}

/// `caller`, waiting for `handler`, is going away: it leaves the queue.
pub fn forget_helper(handler: crate::obj::Handle, caller: crate::obj::Handle) {
    let next = with::<Ec, _>(caller, |e| e.next_waiter).unwrap_or(0);
    if with::<Ec, _>(handler, |e| e.helpers).unwrap_or(0) == caller {
        with::<Ec, _>(handler, |e| e.helpers = next);
        return;
    }
    let mut cur = with::<Ec, _>(handler, |e| e.helpers).unwrap_or(0);
    while cur != 0 {
        let n = with::<Ec, _>(cur, |e| e.next_waiter).unwrap_or(0);
        if n == caller {
            with::<Ec, _>(cur, |e| e.next_waiter = next);
            return;
        }
        cur = n;
    }
}
