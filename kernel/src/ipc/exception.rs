//! Exception messages: a fault in user mode becomes a call to the portal at the faulting
//! Ec's event base plus the vector, carrying the state the portal's MTD selects; the
//! handler's reply sets the state the faulting Ec resumes with. The start-up message of
//! a global Ec (event base + 30) works the same way.

use facet_abi::layout::{EVENT_RECALL, EVENT_STARTUP};

use super::CurrentFrame;
use super::{sched, switch_to, utcb};
use crate::hypercall::caps::object;
use crate::obj::ec::{Ec, State};
use crate::obj::pt::Pt;
use crate::obj::{with, Kind};

/// Sends the running Ec's exception `vector` to its portal. Returns `false` if there is
/// no usable portal: the Ec is then stopped and the next Sc runs (or the CPU idles,
/// which `idle` reports through the second result).
pub fn deliver(frame: &mut CurrentFrame, vector: u64, cr2: u64) -> bool {
    let ec = sched::current_ec();
    send(frame, ec, vector, cr2)
}

/// Delivers the start-up message of the global Ec `ec`, which is on the CPU (event base
/// plus 30 for a thread, plus NUM_VMI - 2 for a vCPU). Returns `false` if that failed
/// and nothing else is ready either.
pub fn startup(frame: &mut CurrentFrame, ec: crate::obj::Handle) -> bool {
    let vcpu = with::<Ec, _>(ec, |e| e.vmcb != 0).unwrap_or(false);
    let event = if vcpu {
        facet_abi::layout::VM_EVENT_STARTUP
    } else {
        EVENT_STARTUP
    };
    if send(frame, ec, event, 0) {
        return true;
    }
    crate::println!(
        "FACET: global EC on CPU {} has no usable start-up portal; stopped",
        crate::arch::syscall::cpu_id()
    );
    stop_current(frame)
}

/// Delivers a pending recall of `ec`, which is on the CPU, to event base + 31. Without a
/// recall portal the recall is dropped and the Ec simply continues.
pub fn recall(frame: &mut CurrentFrame, ec: crate::obj::Handle) {
    let vcpu = with::<Ec, _>(ec, |e| e.vmcb != 0).unwrap_or(false);
    let event = if vcpu {
        facet_abi::layout::VM_EVENT_RECALL
    } else {
        EVENT_RECALL
    };
    let _ = send(frame, ec, event, 0);
}

/// Sends the VM exit `index` of the vCPU on the CPU to its VMM's portal.
pub fn vm_exit(frame: &mut CurrentFrame, index: u64) -> bool {
    let ec = sched::current_ec();
    send(frame, ec, index, 0)
}

fn send(frame: &mut CurrentFrame, ec: crate::obj::Handle, vector: u64, cr2: u64) -> bool {
    let Some(evt) = with::<Ec, _>(ec, |e| e.evt) else {
        return false;
    };
    let Ok(pt) = object(evt.wrapping_add(vector), Kind::Pt, 0) else {
        return false;
    };
    let Some((handler, id, ip, mtd)) = with::<Pt, _>(pt, |p| (p.ec, p.id, p.ip, p.mtd)) else {
        return false;
    };
    let Some((hstate, hutcb, hcpu)) = with::<Ec, _>(handler, |e| (e.state, e.utcb, e.cpu)) else {
        return false;
    };
    if hstate != State::Idle || hcpu != with::<Ec, _>(ec, |e| e.cpu).unwrap_or(u32::MAX) {
        return false;
    }
    with::<Ec, _>(ec, |e| {
        e.state = State::WaitReply;
        e.callee = handler;
        e.in_exception = true;
        e.mtd = mtd;
    });
    with::<Ec, _>(handler, |e| e.reply_to = ec);
    crate::obj::get(handler);
    crate::obj::get(ec);
    match with::<Ec, _>(ec, |e| (e.vmcb, e.guest_xcr0)).unwrap_or((0, 1)) {
        (0, _) => utcb::load_exception(hutcb, frame, mtd, cr2),
        (block, xcr0) => crate::vcpu::load(hutcb, block, frame, mtd as u32, vector, xcr0),
    }
    switch_to(handler);
    with::<Ec, _>(ec, |e| e.state = State::WaitReply);
    frame.rdi = id;
    frame.rip = ip;
    true
}

/// Stops the running Ec for good and runs the next Sc. Returns `false` if nothing is
/// left to run.
///
/// A handler that dies in a call answers its caller as the reference does: a caller in
/// `call` resumes with ABORT (on the running Sc, which may be a helper's); one that sent
/// an exception or start-up
/// message dies too. Callers waiting for the handler to be free try again and get ABORT.
pub fn stop_current(frame: &mut CurrentFrame) -> bool {
    let ec = sched::current_ec();
    let caller = with::<Ec, _>(ec, |e| {
        e.state = State::Dead;
        core::mem::replace(&mut e.reply_to, 0)
    })
    .unwrap_or(0);
    super::call::release_helpers(ec);
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
            return true;
        }
        with::<Ec, _>(caller, |e| e.state = State::Dead);
        crate::println!("FACET: an EC whose exception handler died is stopped");
    }
    super::park_current();
    sched::schedule(frame)
}
