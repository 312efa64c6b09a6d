//! The VM-exit fast path: a vCPU's exit straight to its VMM's handler, and the handler's
//! reply straight back to the vCPU, in the check-then-commit shape of the IPC fast path
//! (`entry::fastpath`).
//!
//! The common exit goes to a portal whose handler waits on the vCPU's CPU (its message
//! written by the plain transfers when it asks for plain state only, `vcpu::PLAIN_MTD`:
//! general registers, RSP, RIP, RFLAGS, the qualification, the TSC offset; else by the
//! general transfer, which only reads the vCPU's state), and a reply that carries plain
//! state back. Each way looks at everything that decides the case before it changes
//! anything; every other case (no portal, a busy, dead or remote handler, a reply with
//! other MTD bits, a pending recall, callers waiting for the handler, VMX's start-up
//! message) returns `false` with nothing changed, and the
//! general path (`exception::vm_exit`, `call::reply`) handles it from the start, with
//! the results it always gives. What either way does to the two Ecs, their links,
//! reference counts, the message and the vCPU's state is the same; the fast path leaves
//! out the general path's look-ups with kind checks, its scheduler steps (`Next`) and the
//! user FS and GS bases of the vCPU, which are the CPU's (`super::exchange_to_vcpu`).
//! Reaping, a marked CPU (`sched::check`) and the rest of the way out stay with the
//! callers, which take the general way there as before.

use crate::cap::lookup::object_in;
use crate::obj::ec::{Ec, State};
use crate::obj::pd::Pd;
use crate::obj::pt::Pt;
use crate::obj::{with2_known, with_known, Handle, Kind};

use super::sched;

/// Sends exit `index` of vCPU `ec`, the Ec on the CPU, to its VMM's portal if this is
/// the common case, and puts the handler on the CPU with the message. Returns whether it
/// did; if not, nothing has changed.
#[inline(never)]
pub fn to_handler(ec: Handle, index: u64) -> bool {
    // SAFETY: the running Ec, and its Pd, to which it holds a reference.
    let (evt, vpd) = unsafe { with_known::<Ec, _>(ec, |e| (e.evt, e.pd)) };
    // SAFETY: as above.
    let root = unsafe { with_known::<Pd, _>(vpd, |p| p.obj.root) };
    // In the vCPU's Pd, which need not be the running one (see `to_vcpu`).
    let Ok(pt) = object_in(root, evt.wrapping_add(index), Kind::Pt, 0) else {
        return false;
    };
    // SAFETY: a portal capability names a live portal.
    let (handler, id, ip, mtd) = unsafe { with_known::<Pt, _>(pt, |p| (p.ec, p.id, p.ip, p.mtd)) };
    // SAFETY: the running Ec and the portal's handler, which the portal keeps alive. The
    // loan gives None if they are the same Ec (a vCPU is global, and global Ecs handle
    // no portal: the general path would stop it).
    let pd = unsafe {
        with2_known::<Ec, Ec, _>(ec, handler, |e, h| {
            debug_assert!(!h.vcpu && h.utcb != 0);
            if h.state != State::Idle || h.cpu != e.cpu {
                return None;
            }
            let (block, xcr0) = (e.vmcb, e.guest_xcr0);
            if !crate::vcpu::load_fast(h.utcb, block, &mut e.regs, mtd as u32, index, xcr0) {
                return None;
            }
            // The links of `exception::send`: the vCPU waits for the reply, which
            // restores its state through the reply's MTD.
            e.state = State::WaitReply;
            e.callee = handler;
            e.in_exception = true;
            e.mtd = mtd;
            h.reply_to = ec;
            let pd = super::exchange_from_vcpu(e, h);
            // The handler starts at the portal's IP with its id in RDI.
            h.regs.rdi = id;
            h.regs.rip = ip;
            super::current::point_at(&mut h.regs);
            Some(pd)
        })
    };
    let Some(Some(pd)) = pd else {
        return false;
    };
    // A message links the two Ecs; each keeps the other alive until the reply.
    crate::obj::get(handler);
    crate::obj::get(ec);
    crate::arch::percpu::set_is_vcpu(0);
    // The vCPU that left holds the reference the link took: it cannot have died
    // unnoticed (`sched::become_current`).
    sched::become_current(handler, false);
    // Usually the Pd the CPU kept while the vCPU ran (see `to_vcpu`): nothing to load.
    super::enter_pd(pd);
    true
}

/// The reply of `handler`, the Ec on the CPU, to vCPU `caller`, whose exit message it
/// handled, if this is the common case: the vCPU gets the state and goes on the CPU.
/// Returns whether it did; if not, nothing has changed. The caller has checked that no
/// callers wait for the handler (the general reply decides then whose time runs next).
#[inline(always)]
pub fn to_vcpu(handler: Handle, caller: Handle) -> bool {
    // SAFETY: the running Ec and the one it replies to, which the call's link keeps
    // alive.
    let pd = unsafe {
        with2_known::<Ec, Ec, _>(handler, caller, |h, c| {
            // A thread's exception or call, or a recall to deliver (which the general
            // path leaves for the vCPU's next way into its guest as before): the general
            // path.
            if !c.in_exception || c.vmcb == 0 || c.recall {
                return None;
            }
            if !crate::vcpu::save_fast(h.utcb, c.vmcb, &mut c.regs) {
                return None;
            }
            super::call::unlink(h, c);
            let pd = super::exchange_to_vcpu(h, c);
            super::current::point_at(&mut c.regs);
            Some(pd)
        })
    };
    let Some(Some(pd)) = pd else {
        return false;
    };
    crate::obj::put(handler);
    crate::obj::put(caller);
    crate::arch::percpu::set_is_vcpu(1);
    // As for `to_handler`: the handler's last reference, if the `put` took it, is queued
    // for reaping already.
    sched::become_current(caller, false);
    // The CPU keeps the handler's Pd (its page table, I/O bitmap and object space), which
    // neither the guest nor the vCPU loop uses, so that the handler's next message finds
    // it loaded (the exit's portal is looked up in the vCPU's own Pd, `to_handler`).
    // Whatever else runs while the vCPU is on the CPU (reaping and a marked CPU next,
    // here; an interrupt's exit or a message the fast path does not take, in the loop)
    // first makes the vCPU's Pd the running one ([`settle`]).
    if crate::obj::any_dead() {
        super::enter_pd(pd);
    }
    true
}

/// Makes Pd `pd` of the vCPU on the CPU the running one, if the CPU kept another's
/// ([`to_vcpu`]): before anything but the fast path runs for the vCPU.
#[inline(always)]
pub fn settle(pd: Handle) {
    super::enter_pd(pd);
}
