//! The short way through `call` and `reply`, after seL4's fastpath.
//!
//! The common round trip is a call through a portal whose handler waits on the caller's
//! CPU, with untyped words only, and its reply to a caller that waits in a `call`.
//! The syscall stub sends both hypercalls here first: this path checks that the case is
//! the common one before it changes anything, does the whole hypercall in one function
//! (no dispatcher, no handler table, the switch between the two Ecs inlined), and hands
//! every other case to the general path ([`super::dispatch::dispatch_locked`]), which
//! starts again from the hypercall's registers and gives the same results it always
//! gives. A call whose portal lookup fails (no portal, or no call right) answers BAD_CAP
//! from here, as `call` does: both look the portal up with `exec::call::portal`.
//!
//! What either way does to the two Ecs, their links, reference counts and message is the
//! same (`exec::call`); only the checks that send a case to the general path are added.

use facet_abi::hypercall::Hypercall;
use facet_abi::status::Status;

use crate::exec::{exchange, sched, CurrentFrame, Outcome};
use crate::obj::ec::Ec;
use crate::obj::pt::Pt;
use crate::obj::{with2_distinct_known, with_known, Handle};
use crate::utcb;

/// Entry from the syscall stub for `call` and `reply` (ARG1 bits 3:0 are 0 or 1), which
/// saved the caller's registers in its Ec. Returns the outcome's byte, as
/// [`super::dispatch::dispatch`] does.
pub extern "C" fn call_or_reply(arg1: u64) -> u8 {
    if !crate::smp::bkl::try_enter_from_user() {
        return super::dispatch::dispatch_contended(arg1);
    }
    if arg1 & 0xf != Hypercall::Call as u64 {
        return reply(arg1);
    }
    // The lookup here, the rest apart: a call on an empty selector (the null hypercall)
    // pays for nothing else.
    match crate::exec::call::portal_at(arg1) {
        Ok(pt) => call(arg1, pt),
        // SAFETY: the one token of this kernel entry.
        Err(s) => super::dispatch::finish(Outcome::status(s), unsafe { CurrentFrame::new_ref() }),
    }
}

/// The call through portal `pt` if it is the common case, which puts the handler on the
/// CPU; else the general path.
#[inline(never)]
fn call(arg1: u64, pt: Handle) -> u8 {
    // SAFETY: a portal capability names a live portal.
    let (handler, id, ip) = unsafe { with_known::<Pt, _>(pt, |p| (p.ec, p.id, p.ip)) };
    let caller = sched::current_ec();
    // The handler must be a local thread idle on this CPU, the caller's (a handler is
    // never global: `create_pt` refuses global Ecs). The caller runs, so is not idle:
    // the two are different Ecs (its own portal takes the general path).
    let cpu = crate::arch::percpu::cpu_id() as u32;
    // SAFETY: a portal holds a reference to its Ec.
    if !unsafe { with_known::<Ec, _>(handler, |h| h.is_idle_local_thread_on(cpu)) } {
        return general(arg1);
    }
    // SAFETY: the handler as above; the caller is the running Ec; they differ.
    let pd = unsafe {
        with2_distinct_known::<Ec, Ec, _>(caller, handler, |c, h| {
            debug_assert_eq!(c.cpu, cpu);
            let items = utcb::plain_message(c.utcb, h.utcb)?;
            utcb::copy_plain(c.utcb, h.utcb, items);
            crate::exec::call::link(c, caller, h, handler);
            // The handler starts at the portal's IP with its id in RDI.
            h.regs.rdi = id;
            h.regs.rip = ip;
            Some(switch(c, h))
        })
    };
    let Some(pd) = pd else {
        return general(arg1);
    };
    // A call links the two Ecs; each keeps the other alive until the reply.
    crate::obj::get(handler);
    crate::obj::get(caller);
    enter(handler, pd)
}

/// The running Ec's reply if it is the common case, which puts the caller back on the
/// CPU; else the general path.
#[inline(never)]
fn reply(arg1: u64) -> u8 {
    let handler = sched::current_ec();
    // SAFETY: the running Ec.
    let caller = unsafe {
        with_known::<Ec, _>(handler, |h| {
            // Nobody to reply to (a global Ec never has anybody: `create_pt` refuses
            // global Ecs, and only a call or `exception::send` through a portal sets
            // `reply_to`), or callers waiting for this one to be free (they are released,
            // and decide whose time runs next): the general path.
            debug_assert!(!h.global || h.reply_to == 0);
            if h.helpers != 0 {
                0
            } else {
                h.reply_to
            }
        })
    };
    if caller == 0 {
        return general(arg1);
    }
    // SAFETY: the running Ec and the one it replies to, which the call's link keeps
    // alive; never the same Ec (every link is made between two lent Ecs: `call::link`,
    // `exception::send`, `vm_exit::to_handler`).
    let pd = unsafe {
        with2_distinct_known::<Ec, Ec, _>(handler, caller, |h, c| {
            // An exception or VM-exit message's reply restores state through the MTD:
            // the general path. (So the caller here is a thread: a vCPU only ever waits
            // in such a message.)
            if c.in_exception {
                return None;
            }
            let items = utcb::plain_message(h.utcb, c.utcb)?;
            utcb::copy_plain(h.utcb, c.utcb, items);
            crate::exec::call::unlink(h, c);
            Some(switch(h, c))
        })
    };
    let Some(pd) = pd else {
        return vcpu_or_general(arg1);
    };
    crate::obj::put(handler);
    crate::obj::put(caller);
    enter(caller, pd)
}

/// Not a thread's reply: the reply to a vCPU's exit message if it is the common case
/// (`exec::vm_exit::to_vcpu`), which puts the vCPU on the CPU and enters its guest by the
/// general way out (reaping, a marked CPU and the vCPU loop, `exec::resume`); else the
/// general path.
#[inline(never)]
fn vcpu_or_general(arg1: u64) -> u8 {
    // Found again rather than kept across the thread's case, which then saves no
    // register for them.
    let handler = sched::current_ec();
    // SAFETY: the running Ec.
    let caller = unsafe { with_known::<Ec, _>(handler, |h| h.reply_to) };
    if !crate::exec::vm_exit::to_vcpu(handler, caller) {
        return general(arg1);
    }
    // SAFETY: the one token of this kernel entry.
    super::dispatch::finish_switch(Outcome::SWITCHED, unsafe { CurrentFrame::new_ref() })
}

/// Moves the CPU from thread `c`, the running Ec, to thread `n`: their extended state,
/// and the frame the exit path restores. Returns `n`'s Pd.
#[inline(always)]
fn switch(c: &mut Ec, n: &mut Ec) -> Handle {
    let pd = exchange(c, n);
    // Both are threads: the vCPU flag stays clear.
    debug_assert!(n.vmcb == 0 && !crate::exec::sched::current_is_vcpu());
    crate::exec::current::point_at(&mut n.regs);
    pd
}

/// Records `next`, whose state [`switch`] put in place, as the Ec on the CPU, with its
/// Pd `pd`, and ends the hypercall.
#[inline(always)]
fn enter(next: Handle, pd: Handle) -> u8 {
    // The Ec that left cannot have died unnoticed while it ran: a caller holds the
    // reference its new link took, and a handler's last reference, if it went, went with
    // the reply's own `put`, which queued it for reaping.
    sched::become_current(next, false);
    if pd != crate::obj::pd::current() {
        // SAFETY: the Pd of the Ec about to run, which holds a reference to it.
        unsafe { crate::obj::pd::enter(pd, true) };
    }
    // A thread runs (the vCPU flag stayed clear): what is left is reaping, if the reply
    // dropped the last reference to either side or objects died elsewhere since the last
    // reap (an exit that let the kernel lock go while idling), as the general path does.
    if crate::obj::any_dead() {
        // SAFETY: the one token of this kernel entry.
        return super::dispatch::finish_switch(Outcome::SWITCHED, unsafe {
            CurrentFrame::new_ref()
        });
    }
    crate::smp::bkl::release();
    // Straight out through the new Ec's frame: nothing on this kernel stack is needed
    // any more (the next entry starts it afresh), so neither the return into the stub
    // nor its test of the outcome is.
    // SAFETY: `next`'s frame is a complete user state (saved by its own entry, with the
    // portal's IP for a handler), and GS holds the kernel's per-CPU base.
    unsafe { super::syscall::enter_user() }
}

/// Not the common case: the general path, from the start (nothing has changed).
#[cold]
#[inline(never)]
fn general(arg1: u64) -> u8 {
    // SAFETY: the one token of this kernel entry.
    super::dispatch::dispatch_locked(arg1, unsafe { CurrentFrame::new_ref() })
}

const _: () = assert!(Hypercall::Call as u64 == 0 && Hypercall::Reply as u64 == 1);
const _: () = assert!(Status::Success as u8 == 0);
