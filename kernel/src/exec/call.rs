//! `call` and `reply`.
//!
//! A call through a portal runs the portal's local Ec on the caller's Sc: the caller
//! waits with its state saved, the handler gets the caller's untyped message words in
//! its UTCB, the portal id in RDI and the portal's instruction pointer. `reply` copies
//! the handler's message back (or, for an exception message, the state its MTD selects)
//! and resumes the caller; the handler waits for the next call, keeping its registers.

use facet_abi::args::Call;
use facet_abi::perm;
use facet_abi::status::Status;

use super::current::arg1_args;
use super::{sched, switch_to};
use super::{CurrentFrame, Outcome};
use crate::cap::lookup::object;
use crate::obj::ec::{Ec, State};
use crate::obj::pt::Pt;
use crate::obj::{with, with2_known, with_known, Kind};
use crate::utcb;

/// Handles `call`. On success the handler is on the CPU and `frame` holds its state
/// ([`Outcome::SWITCHED`]); the caller's status is set when it is resumed by the reply. A
/// caller that waits for a busy handler lends its time to the handler's chain, or leaves
/// the CPU if that chain waits ([`Outcome::IDLE`] if nothing else is ready).
#[inline(never)]
pub fn call(arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    let a: Call = arg1_args(arg1);
    match portal(a.pt) {
        Ok(pt) => {
            // SAFETY: a portal capability names a live portal.
            let (handler, id, ip) = unsafe { with_known::<Pt, _>(pt, |p| (p.ec, p.id, p.ip)) };
            call_handler(frame, handler, id, ip)
        }
        Err(s) => Outcome::status(s),
    }
}

/// The portal a `call` names at `sel`: a portal capability with the call right (bit 1),
/// as the reference's documentation says (its code does not check the right); BAD_CAP
/// otherwise. Both ways through `call` (this one and the fast path) look it up here. The
/// right is tested together with the kind (see `object`): it costs the path nothing.
#[inline(always)]
pub fn portal(sel: u64) -> Result<crate::obj::Handle, Status> {
    object(sel, Kind::Pt, perm::PT_CALL)
}

/// [`portal`] for the selector of a `call` whose first argument is `arg1`, as the fast
/// path looks it up (`cap::lookup::object_at_arg1`).
#[inline(always)]
pub fn portal_at(arg1: u64) -> Result<crate::obj::Handle, Status> {
    crate::cap::lookup::object_at_arg1(arg1, Kind::Pt, perm::PT_CALL)
}

/// The call through a portal whose handler is `handler`, with the portal's id and
/// instruction pointer (apart, so that a call on an empty selector stays short).
#[inline(never)]
fn call_handler(
    frame: &mut CurrentFrame,
    handler: crate::obj::Handle,
    id: u64,
    ip: u64,
) -> Outcome {
    let caller = sched::current_ec();
    // Both sides checked and linked in one loan: the caller waits for the reply, the
    // handler will reply to it.
    // SAFETY: a portal holds a reference to its Ec; the caller is the running Ec.
    let linked = unsafe {
        with2_known::<Ec, Ec, _>(handler, caller, |h, c| {
            if h.cpu != c.cpu {
                return Err(Status::BadCpu);
            }
            match h.state {
                State::Idle => {}
                // The handler died earlier (a fault nobody handled): TIMEOUT, as the
                // reference answers a call to a dead Ec (its callers at the time got ABORT).
                State::Dead => return Err(Status::Timeout),
                _ => return Ok(None),
            }
            link(c, caller, h, handler);
            Ok(Some((c.utcb, c.pd, h.utcb, h.pd)))
        })
    };
    let (cutcb, cpd, hutcb, hpd) = match linked {
        Some(Ok(Some(sides))) => sides,
        Some(Err(s)) => return Outcome::status(s),
        // The handler is busy (a caller calling its own portal finds itself busy too).
        Some(Ok(None)) | None => return busy(frame, caller, handler),
    };
    if utcb::copy_message(cutcb, hutcb) {
        super::typed::transfer(cpd, hpd, cutcb, hutcb);
    }
    // A call links the two Ecs; each keeps the other alive until the reply.
    crate::obj::get(handler);
    crate::obj::get(caller);
    switch_to(handler);
    frame.rdi = id;
    frame.rip = ip;
    Outcome::SWITCHED
}

/// Links caller `c` (the running Ec, `caller`) and handler `h` (`handler`) for a call:
/// the caller waits for the reply and resumes with SUCCESS in RDI[7:0] (the rest as it
/// was), the handler will reply to it.
#[inline(always)]
pub fn link(c: &mut Ec, caller: crate::obj::Handle, h: &mut Ec, handler: crate::obj::Handle) {
    c.state = State::WaitReply;
    c.callee = handler;
    c.in_exception = false;
    c.regs.rdi &= !0xff;
    h.reply_to = caller;
}

/// Ends the link of a call as handler `h` replies to caller `c`: the handler waits for
/// its next call.
#[inline(always)]
pub fn unlink(h: &mut Ec, c: &mut Ec) {
    h.reply_to = 0;
    h.state = State::Idle;
    c.callee = 0;
}

/// A call found its handler busy: fail at once if the caller asked so, else wait until
/// the handler is free and call again.
fn busy(
    frame: &mut CurrentFrame,
    caller: crate::obj::Handle,
    handler: crate::obj::Handle,
) -> Outcome {
    if frame.args::<Call>().disable_blocking {
        return Outcome::status(Status::Timeout);
    }
    // A handler whose chain waits for the caller (the caller's own portal, or a cycle)
    // would keep it waiting for good: the caller is stopped, as the reference's helping
    // gives up on such a livelock and stops it.
    if sched::chain_reaches(handler, caller) {
        crate::println_limited!(
            crate::console::limited::Kind::Stopped,
            "FACET: EC on CPU {} calls a portal whose handler waits for it; stopped",
            crate::arch::percpu::cpu_id()
        );
        return Outcome::from_switch(super::exception::stop_current(frame));
    }
    Outcome::from_switch(wait_for(frame, caller, handler))
}

/// Handles `reply`. Returns `false` if the CPU has nothing left to run.
#[inline]
pub fn reply(frame: &mut CurrentFrame) -> bool {
    let handler = sched::current_ec();
    // SAFETY: the running Ec.
    let (caller, global) = unsafe { with_known::<Ec, _>(handler, |e| (e.reply_to, e.global)) };
    // Both sides in one loan: the message (or the exception state the caller resumes
    // with) goes back, the links end and the handler waits for its next call, keeping
    // its registers.
    let replied = (caller != 0 && !global)
        .then(|| {
            // SAFETY: the running Ec and the one it replies to, which the call's link
            // keeps alive.
            unsafe {
                with2_known::<Ec, Ec, _>(handler, caller, |h, c| {
                    let mut items = None;
                    if c.in_exception {
                        match c.vmcb {
                            0 => utcb::save_exception(h.utcb, &mut c.regs),
                            block => {
                                crate::vcpu::save(h.utcb, block, &mut c.regs, &mut c.guest_xcr0)
                            }
                        }
                    } else {
                        if utcb::copy_message(h.utcb, c.utcb) {
                            items = Some((h.pd, c.pd, h.utcb, c.utcb));
                        }
                    }
                    unlink(h, c);
                    (items, h.helpers != 0)
                })
            }
        })
        .flatten();
    let Some((items, helpers)) = replied else {
        // Nobody to reply to: the Ec waits (a local Ec for its next call; a global Ec
        // has nothing to wait for and stays blocked, its Sc recorded with it so that the
        // scheduler does not look for it again) and its Sc moves on.
        let (sc, serial) = sched::current_sc_record();
        with::<Ec, _>(handler, |e| {
            e.state = if global { State::WaitSm } else { State::Idle };
            if global {
                (e.blocked_sc, e.blocked_serial) = (sc, serial);
            }
        });
        if !global {
            release_helpers(handler);
        }
        super::park_current();
        return sched::schedule(frame);
    };
    // Typed items outside the loan: delegations touch the objects they name.
    if let Some((hpd, cpd, hutcb, cutcb)) = items {
        super::typed::transfer(hpd, cpd, hutcb, cutcb);
    }
    crate::obj::put(handler);
    crate::obj::put(caller);
    // With callers waiting for the handler, the time running it may be a helper's
    // rather than the one the caller lent along this chain.
    if !helpers || sched::lent_to(caller) {
        switch_to(caller);
        if helpers {
            release_helpers(handler);
        }
        return true;
    }
    // A helper's time: it goes back to its own chain (its Ec, released like every waiter,
    // calls again), and the caller waits for its own Sc, as in the reference.
    with::<Ec, _>(caller, |e| e.state = State::Ready);
    release_helpers(handler);
    super::park_current();
    sched::run_current_sc(frame)
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
    wait_and_help(caller, handler).finish(frame)
}

/// Makes `caller`, the running Ec, wait until `handler` is free, at the end of its
/// queue, lending its time to the handler's chain meanwhile. Returns what runs instead.
pub fn wait_and_help(caller: crate::obj::Handle, handler: crate::obj::Handle) -> sched::Next {
    let (sc, serial) = sched::current_sc_record();
    with::<Ec, _>(caller, |e| {
        e.state = State::WaitHandler;
        e.waiting_on = handler;
        e.next_waiter = 0;
        (e.blocked_sc, e.blocked_serial) = (sc, serial);
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
    // Helping: the caller's time runs the busy handler's chain until it is free. If the
    // chain waits itself, the caller's Sc leaves the CPU as an orphan and helps once the
    // chain can run again (`sched::settle`).
    match sched::chain_end(handler) {
        Some(end) => sched::Next::Run(end),
        None => sched::Next::Schedule,
    }
}

/// `handler` became free (or is going away): every caller waiting for it becomes ready
/// to issue its call again. Their Scs decide who calls first (the highest priority; in
/// the order they came within one), and those that find the handler busy again wait (and
/// help) again, as the reference's helpers retry.
pub fn release_helpers(handler: crate::obj::Handle) {
    loop {
        let Some(first) = with::<Ec, _>(handler, |e| e.helpers).filter(|&f| f != 0) else {
            return;
        };
        let Some(next) = with::<Ec, _>(first, |e| {
            e.state = State::Ready;
            e.waiting_on = 0;
            core::mem::replace(&mut e.next_waiter, 0)
        }) else {
            return;
        };
        with::<Ec, _>(handler, |e| e.helpers = next);
        sched::wake(first);
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
