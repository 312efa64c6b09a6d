//! Exception messages: a fault in user mode becomes a call to the portal at the faulting
//! Ec's event base plus the vector, carrying the state the portal's MTD selects; the
//! handler's reply sets the state the faulting Ec resumes with. The start-up message of
//! a global Ec (event base + 30) works the same way.

use facet_abi::layout::{EVENT_RECALL, EVENT_STARTUP};

use super::sched::Next;
use super::CurrentFrame;
use super::{sched, switch_to};
use crate::cap::lookup::object;
use crate::obj::ec::{Ec, State};
use crate::obj::pt::Pt;
use crate::obj::{with, with2_known, with_known, Kind};
use crate::utcb;

/// Sends the running Ec's exception `vector` to its portal (see [`send`]): `None` if
/// there is no usable portal (the caller stops the Ec), else whether something runs on
/// the CPU.
pub fn deliver(frame: &mut CurrentFrame, vector: u64, cr2: u64) -> Option<bool> {
    let ec = sched::current_ec();
    send(frame, ec, vector, cr2).map(|next| next.finish(frame))
}

/// Delivers the start-up message of the global Ec `ec`, which is on the CPU (event base
/// plus 30 for a thread, plus NUM_VMI - 2 for a vCPU); without a usable portal the Ec is
/// stopped. Returns what runs on the CPU: the handler, or, while `ec` waits for a busy
/// one, whatever its time helps or another Sc ([`Next`]).
pub fn startup(frame: &mut CurrentFrame, ec: crate::obj::Handle) -> Next {
    let vcpu = with::<Ec, _>(ec, |e| e.vmcb != 0).unwrap_or(false);
    let event = if vcpu {
        facet_abi::layout::VM_EVENT_STARTUP
    } else {
        EVENT_STARTUP
    };
    if let Some(next) = send(frame, ec, event, 0) {
        return next;
    }
    crate::println_limited!(
        crate::console::limited::Kind::Stopped,
        "FACET: global EC on CPU {} has no usable start-up portal; stopped",
        crate::arch::percpu::cpu_id()
    );
    stop()
}

/// Delivers a pending recall of `ec`, which is on the CPU, to event base + 31. A busy
/// recall handler makes the Ec wait for it (helping it meanwhile) like any message, as the
/// reference's recalled Ec helps and retries; without a usable recall portal the recall
/// is dropped and the Ec simply continues. Returns what runs on the CPU.
pub fn recall(frame: &mut CurrentFrame, ec: crate::obj::Handle) -> Next {
    let vcpu = with::<Ec, _>(ec, |e| e.vmcb != 0).unwrap_or(false);
    let event = if vcpu {
        facet_abi::layout::VM_EVENT_RECALL
    } else {
        EVENT_RECALL
    };
    send(frame, ec, event, 0).unwrap_or(Next::Done(true))
}

/// Sends the VM exit `index` of the vCPU on the CPU to its VMM's portal. `None` if it has
/// no usable portal, else whether something runs on the CPU.
pub fn vm_exit(frame: &mut CurrentFrame, index: u64) -> Option<bool> {
    let ec = sched::current_ec();
    send(frame, ec, index, 0).map(|next| next.finish(frame))
}

/// The message `ec` (on the CPU) could not send before, now that it runs again. Returns
/// what runs on the CPU.
pub fn send_pending(frame: &mut CurrentFrame, ec: crate::obj::Handle) -> Next {
    let Some((event, cr2)) = with::<Ec, _>(ec, |e| {
        let p = (core::mem::replace(&mut e.pending_event, 0), e.pending_cr2);
        e.pending_cr2 = 0;
        p
    }) else {
        return Next::Done(true);
    };
    if event == 0 {
        return Next::Done(true);
    }
    let vector = event - 1;
    let recall = match with::<Ec, _>(ec, |e| e.vmcb != 0).unwrap_or(false) {
        true => facet_abi::layout::VM_EVENT_RECALL,
        false => EVENT_RECALL,
    };
    match send(frame, ec, vector, cr2) {
        Some(next) => next,
        // A recall without a usable portal any more is dropped, as on its first try.
        None if vector == recall => Next::Done(true),
        None => {
            crate::println_limited!(
                crate::console::limited::Kind::Stopped,
                "FACET: EC on CPU {} has no usable portal for its message {} any more; stopped",
                crate::arch::percpu::cpu_id(),
                event - 1
            );
            stop()
        }
    }
}

/// Sends event `vector` of `ec` (on the CPU) to its portal. `None` if there is no usable
/// portal (none, a dead handler, or one on another CPU); else what runs on the CPU: the
/// handler with the message, or, if the handler is busy, whatever `ec`'s time helps (or
/// another Sc's) while `ec` waits to send the message again (as the reference's senders
/// help and retry).
///
/// Check, then commit (as the IPC fast path): the portal and its handler are looked at
/// first, and only then are both Ecs linked, in one loan.
fn send(frame: &mut CurrentFrame, ec: crate::obj::Handle, vector: u64, cr2: u64) -> Option<Next> {
    // SAFETY: every caller passes the Ec on the CPU, which is live.
    let (evt, cpu, block, xcr0) =
        unsafe { with_known::<Ec, _>(ec, |e| (e.evt, e.cpu, e.vmcb, e.guest_xcr0)) };
    let pt = object(evt.wrapping_add(vector), Kind::Pt, 0).ok()?;
    let (handler, id, ip, mtd) = with::<Pt, _>(pt, |p| (p.ec, p.id, p.ip, p.mtd))?;
    let (hstate, hutcb, hcpu) = with::<Ec, _>(handler, |e| (e.state, e.utcb, e.cpu))?;
    // An Ec that handles its own events cannot wait for itself, nor for a handler whose
    // chain waits for it (it would wait for good; the reference stops such a sender).
    if hstate == State::Dead
        || handler == ec
        || hcpu != cpu
        || (hstate != State::Idle && sched::chain_reaches(handler, ec))
    {
        return None;
    }
    if hstate != State::Idle {
        // SAFETY: as above.
        unsafe {
            with_known::<Ec, _>(ec, |e| {
                e.pending_event = vector + 1;
                e.pending_cr2 = cr2;
            })
        };
        return Some(super::call::wait_and_help(ec, handler));
    }
    // SAFETY: the running Ec and the portal's handler, checked to be another live Ec.
    unsafe {
        with2_known::<Ec, Ec, _>(ec, handler, |e, h| {
            e.state = State::WaitReply;
            e.callee = handler;
            e.in_exception = true;
            e.mtd = mtd;
            h.reply_to = ec;
        })
    };
    crate::obj::get(handler);
    crate::obj::get(ec);
    match block {
        0 => utcb::load_exception(hutcb, frame, mtd, cr2),
        block => crate::vcpu::load(hutcb, block, frame, mtd as u32, vector, xcr0),
    }
    switch_to(handler);
    // SAFETY: as above; the call's link keeps it alive.
    unsafe { with_known::<Ec, _>(ec, |e| e.state = State::WaitReply) };
    frame.rdi = id;
    frame.rip = ip;
    Some(Next::Done(true))
}

/// Stops the running Ec for good and runs the next Sc. Returns `false` if nothing is
/// left to run.
///
/// A handler that dies in a call answers its caller as the reference does: a caller in
/// `call` resumes with ABORT (on the running Sc, which may be a helper's); one that sent
/// an exception or start-up
/// message dies too. Callers waiting for the handler to be free try again and get ABORT.
pub fn stop_current(frame: &mut CurrentFrame) -> bool {
    stop().finish(frame)
}

/// [`stop_current`], handing back what runs next.
fn stop() -> Next {
    let ec = sched::current_ec();
    let caller = with::<Ec, _>(ec, |e| {
        e.state = State::Dead;
        core::mem::replace(&mut e.reply_to, 0)
    })
    .unwrap_or(0);
    super::call::release_helpers(ec);
    sched::release_parked(ec);
    if caller != 0 {
        // The call's links (see `call::call`) end here.
        crate::obj::put(ec);
        crate::obj::put(caller);
        let in_exception = with::<Ec, _>(caller, |e| {
            e.callee = 0;
            e.in_exception
        })
        .unwrap_or(false);
        if !in_exception {
            with::<Ec, _>(caller, |e| {
                e.regs.rdi = e.regs.rdi & !0xff | facet_abi::status::Status::Abort as u64
            });
            super::park_current();
            switch_to(caller);
            return Next::Done(true);
        }
        with::<Ec, _>(caller, |e| e.state = State::Dead);
        crate::println_limited!(
            crate::console::limited::Kind::Stopped,
            "FACET: an EC whose exception handler died is stopped"
        );
    }
    super::park_current();
    Next::Schedule
}
