//! What the execution layer undoes when an Ec, Sc or Sm dies: an Ec leaves the
//! semaphore or handler it waits for and releases the callers waiting for it and the Scs
//! parked on it, an Sc leaves its run queue, an Sm releases its waiters. Objects die in
//! `obj::reap`, which calls these through `obj::Destroy`.

use crate::mem::frames;
use crate::mem::usage::Use;
use crate::obj::ec::{Ec, State};
use crate::obj::sc::Sc;
use crate::obj::sm::Sm;
use crate::obj::{put, with, Destroy, Handle};

impl Destroy for Ec {
    fn destroy(h: Handle) {
        // An Ec that dies while waiting on a semaphore or a handler leaves its queue;
        // the callers waiting for it try again (and find it gone).
        match with::<Ec, _>(h, |e| (e.state, e.waiting_on)) {
            Some((State::WaitSm, sm)) => super::semaphore::forget(sm, h),
            Some((State::WaitHandler, handler)) => super::call::forget_helper(handler, h),
            _ => {}
        }
        super::call::release_helpers(h);
        super::sched::release_parked(h);
        let Some((pd, utcb)) = with::<Ec, _>(h, |e| (e.pd, e.utcb)) else {
            return;
        };
        if let Some((block, cpu)) = with::<Ec, _>(h, |e| (e.vmcb, e.cpu)).filter(|&(v, _)| v != 0) {
            crate::vcpu::destroy(block, cpu);
        }
        if utcb != 0 {
            // The UTCB frame goes back to the pool: it must have left user space (as it
            // did when the last capability went, unless the Ec never had one).
            Ec::release_user_page(h);
            frames::free(utcb, 0, Use::Utcbs);
        }
        put(pd);
    }
}

impl Destroy for Sc {
    fn destroy(h: Handle) {
        super::sched::dequeue(h);
        if let Some(ec) = with::<Sc, _>(h, |s| s.ec) {
            put(ec);
        }
    }
}

impl Destroy for Sm {
    fn destroy(h: Handle) {
        // Ecs still waiting are released with ABORT.
        while super::semaphore::release_one(h) {}
        if let Some(c) = with::<Sm, _>(h, |s| s.chained) {
            if c != 0 {
                put(c);
            }
        }
    }
}
