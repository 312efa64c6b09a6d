//! The hypercall entry: the kernel lock, the hypercall's handler (`crate::hypercall`),
//! and the end of every hypercall (reaping, resuming whichever Ec runs next, the lock
//! let go), whose outcome tells the syscall stub which way to leave.

use crate::exec::{CurrentFrame, Outcome};

/// Entry from the syscall stub, which saved the caller's registers in its Ec and passes
/// ARG1 (still in RDI) along.
///
/// Returns the outcome's byte. For a status the stub puts it in RDI and goes back to the
/// caller itself, restoring only the registers a hypercall may have changed (the
/// callee-saved ones are still the caller's, kept by every function on the way); for
/// [`Outcome::SWITCHED`] and [`Outcome::IDLE`] it restores the whole frame of whichever Ec
/// runs by then.
///
/// Each hypercall's handler is a function of its own, reached through
/// [`crate::hypercall::HANDLERS`], and everything but a status with no object to reap is
/// done in [`finish_switch`] and [`reap_and_return`], so that the common path keeps
/// nothing in registers across the handler.
pub extern "C" fn dispatch(arg1: u64) -> u8 {
    if !crate::smp::bkl::try_enter_from_user() {
        return dispatch_contended(arg1);
    }
    // SAFETY: the one token of this kernel entry.
    dispatch_locked(arg1, unsafe { CurrentFrame::new_ref() })
}

/// [`dispatch`] when another CPU holds the kernel lock: waits for it first.
#[cold]
#[inline(never)]
pub fn dispatch_contended(_arg1: u64) -> u8 {
    let sleeps = crate::smp::sleep::count();
    crate::smp::bkl::enter_from_user_contended();
    // SAFETY: the one token of this kernel entry.
    let frame = unsafe { CurrentFrame::new_ref() };
    if crate::smp::sleep::count() != sleeps {
        // Another CPU's suspend ran while this one waited with its hypercall: a second
        // suspend asked for at the same time is refused, as the reference refuses it.
        if let Some(outcome) = crate::hypercall::suspend_overlapped(frame) {
            return finish(outcome, frame);
        }
    }
    // ARG1 is read back from the frame, so that the common path keeps nothing in a
    // register across the wait.
    dispatch_locked(frame.regs().rdi, frame)
}

/// The hypercall ARG1 names, with the kernel lock held: its handler, then [`finish`].
#[inline]
pub fn dispatch_locked(arg1: u64, frame: &mut CurrentFrame) -> u8 {
    let outcome = crate::hypercall::HANDLERS[(arg1 & 0xf) as usize](arg1, frame);
    finish(outcome, frame)
}

/// The end of every hypercall: objects whose last reference went are destroyed, the Ec
/// that runs next (if another) is resumed, the kernel lock is released. Returns the
/// outcome's byte for the stub.
#[inline(always)]
pub fn finish(outcome: Outcome, frame: &mut CurrentFrame) -> u8 {
    if outcome.byte() >= Outcome::SWITCHED.byte() {
        // Another thread runs and nothing is left to destroy (an IPC call or reply):
        // nothing more to do here.
        if outcome != Outcome::SWITCHED
            || crate::obj::any_dead()
            || crate::exec::sched::current_is_vcpu()
            || crate::arch::percpu::hazard() != 0
        {
            return finish_switch(outcome, frame);
        }
        crate::smp::bkl::release();
        return Outcome::SWITCHED.byte();
    }
    // A status goes back to the caller, a thread (vCPUs make no hypercalls): nothing to
    // resume, unless an Sc of a higher priority became ready.
    if crate::arch::percpu::hazard() != 0 {
        return preempt_caller(outcome, frame);
    }
    if crate::obj::any_dead() {
        return reap_and_return(outcome);
    }
    crate::smp::bkl::release();
    outcome.byte()
}

/// The rest of a hypercall after which another Ec runs (or none): objects are reaped
/// first, then the Ec that runs next is resumed. Returns [`Outcome::SWITCHED`]'s byte,
/// which tells the stub to restore that Ec's whole frame.
#[inline(never)]
pub fn finish_switch(outcome: Outcome, frame: &mut CurrentFrame) -> u8 {
    crate::obj::reap();
    if outcome == Outcome::SWITCHED {
        crate::exec::sched::check(frame);
        if crate::exec::sched::current_ec() == 0 {
            idle(frame);
        } else {
            crate::exec::resume(frame);
        }
    } else {
        idle(frame);
    }
    // A vCPU that ran meanwhile may have left an Ec to destroy.
    crate::obj::reap();
    crate::smp::bkl::release();
    Outcome::SWITCHED.byte()
}

/// A hypercall that answers a status made an Sc of a higher priority than the caller's
/// ready on this CPU: the caller gets its status in its frame and gives way before it
/// runs again (`exec::sched::check`).
#[cold]
#[inline(never)]
fn preempt_caller(outcome: Outcome, frame: &mut CurrentFrame) -> u8 {
    frame.rdi = outcome.byte() as u64;
    finish_switch(Outcome::SWITCHED, frame)
}

/// The rest of a hypercall that answers a status and left objects to destroy.
#[cold]
#[inline(never)]
fn reap_and_return(outcome: Outcome) -> u8 {
    crate::obj::reap();
    crate::smp::bkl::release();
    // Opaque to the caller, so that it jumps here instead of keeping the outcome across
    // the call itself.
    core::hint::black_box(outcome.byte())
}

/// Nothing is left to run on this CPU after the hypercall.
#[cold]
#[inline(never)]
fn idle(frame: &mut CurrentFrame) {
    crate::exec::sched::idle_until_ready(frame);
    crate::exec::resume(frame);
}
