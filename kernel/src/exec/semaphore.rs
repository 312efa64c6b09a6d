//! Blocking on semaphores and waking up.

use super::sched;
use super::CurrentFrame;
use crate::obj::ec::{Ec, State};
use crate::obj::sm::Sm;
use crate::obj::{with, Handle};
use facet_abi::config::NUM_CPU;

/// The running Ec waits on `sm` (whose counter is zero). Returns `false` if the CPU has
/// nothing else to run. The Ec resumes with SUCCESS when an `up` wakes it.
pub fn block(frame: &mut CurrentFrame, sm: Handle, deadline: u64) -> bool {
    let ec = sched::current_ec();
    let (sc, serial) = sched::current_sc_record();
    frame.set_status(facet_abi::status::Status::Success);
    with::<Ec, _>(ec, |e| {
        e.state = State::WaitSm;
        e.waiting_on = sm;
        e.next_waiter = 0;
        (e.blocked_sc, e.blocked_serial) = (sc, serial);
    });
    if deadline != 0 {
        time(ec, deadline);
    }
    let last = with::<Sm, _>(sm, |s| s.last_waiter).unwrap_or(0);
    if last == 0 {
        with::<Sm, _>(sm, |s| s.waiters = ec);
    } else {
        with::<Ec, _>(last, |e| e.next_waiter = ec);
    }
    with::<Sm, _>(sm, |s| s.last_waiter = ec);
    super::park_current();
    sched::schedule(frame)
}

/// Wakes the first Ec waiting on `sm`, if any; returns whether one was woken.
pub fn wake_one(sm: Handle) -> bool {
    let Some(ec) = with::<Sm, _>(sm, |s| s.waiters) else {
        return false;
    };
    if ec == 0 {
        return false;
    }
    wake_waiter(sm, ec);
    true
}

/// Makes `ec`, the first waiter of `sm`, ready. Out of line: an `up` without waiters keeps
/// a short path.
#[inline(never)]
fn wake_waiter(sm: Handle, ec: Handle) {
    untime(ec);
    let next = with::<Ec, _>(ec, |e| {
        e.state = State::Ready;
        e.waiting_on = 0;
        e.next_waiter
    })
    .unwrap_or(0);
    with::<Sm, _>(sm, |s| {
        s.waiters = next;
        if next == 0 {
            s.last_waiter = 0;
        }
    });
    sched::wake(ec);
}

/// An `up` on `sm`: the first waiter wakes, or the counter counts it.
#[inline]
pub fn up(sm: Handle) {
    if !wake_one(sm) {
        with::<Sm, _>(sm, |s| s.counter = s.counter.saturating_add(1));
    }
}

/// A GSI fired: a level-triggered one is masked until its semaphore is waited on again,
/// and the semaphore (or the one it is chained to) is signalled.
pub fn interrupt(gsi: u32) {
    if crate::arch::ioapic::is_level(gsi) {
        crate::arch::ioapic::mask(gsi, true);
    }
    let Some(sm) = crate::obj::kern::gsi_sm(gsi) else {
        return;
    };
    let target = match with::<Sm, _>(sm, |s| s.chained) {
        Some(c) if c != 0 => c,
        _ => sm,
    };
    up(target);
}

/// Per CPU, the first and the last of its Ecs waiting with a deadline, in deadline
/// order (0: none), linked through their `timed_prev` and `timed_next`. An Ec is on its
/// CPU's list exactly while its `deadline` is not 0: however many wait, each wait ends
/// by its deadline, on its own CPU's timer (`super::timer`).
static TIMED: [crate::sync::SpinLock<Ends>; NUM_CPU] =
    [const { crate::sync::SpinLock::new(Ends(0, 0)) }; NUM_CPU];

/// The first and the last Ec of a list of timed waits.
struct Ends(Handle, Handle);

/// The list of timed waits of Ec `ec`'s CPU.
fn timed_of(ec: Handle) -> &'static crate::sync::SpinLock<Ends> {
    let cpu = with::<Ec, _>(ec, |e| e.cpu).unwrap_or(0);
    &TIMED[cpu as usize % NUM_CPU]
}

/// The executing CPU's list of timed waits.
fn timed_here() -> &'static crate::sync::SpinLock<Ends> {
    &TIMED[crate::arch::percpu::cpu_id() as usize % NUM_CPU]
}

/// The earliest deadline of a wait on the executing CPU, if any.
pub fn first_deadline() -> Option<u64> {
    let first = timed_here().lock().0;
    with::<Ec, _>(first, |e| e.deadline).filter(|&d| d != 0)
}

/// Puts `ec` on its CPU's list of timed waits with `deadline` (not 0), after those due
/// no later.
fn time(ec: Handle, deadline: u64) {
    debug_assert!(deadline != 0);
    let mut ends = timed_of(ec).lock();
    // From the last: a new deadline is most often the latest, so this is one step.
    let (mut prev, mut next) = (ends.1, 0);
    while prev != 0 {
        let Some((due, before)) = with::<Ec, _>(prev, |e| (e.deadline, e.timed_prev)) else {
            break;
        };
        if due <= deadline {
            break;
        }
        (prev, next) = (before, prev);
    }
    with::<Ec, _>(ec, |e| {
        e.deadline = deadline;
        e.timed_prev = prev;
        e.timed_next = next;
    });
    relink(&mut ends, prev, ec, next, ec);
}

/// Points the forward link of `prev` (the first end if 0) at `forward`, and the back
/// link of `next` (the last end if 0) at `back`.
fn relink(ends: &mut Ends, prev: Handle, forward: Handle, next: Handle, back: Handle) {
    match prev {
        0 => ends.0 = forward,
        p => {
            with::<Ec, _>(p, |e| e.timed_next = forward);
        }
    }
    match next {
        0 => ends.1 = back,
        n => {
            with::<Ec, _>(n, |e| e.timed_prev = back);
        }
    }
}

/// Takes `ec` off the list of timed waits, if it is on it, and clears its deadline.
fn untime(ec: Handle) {
    let Some((deadline, prev, next)) = with::<Ec, _>(ec, |e| {
        let links = (e.deadline, e.timed_prev, e.timed_next);
        (e.deadline, e.timed_prev, e.timed_next) = (0, 0, 0);
        links
    }) else {
        return;
    };
    if deadline == 0 {
        return;
    }
    relink(&mut timed_of(ec).lock(), prev, next, next, prev);
}

/// Ends every semaphore wait on the executing CPU whose deadline has passed: the Ec
/// resumes with TIMEOUT. Looks only at the waits that end (the list is in deadline
/// order).
pub fn expire(now: u64) {
    loop {
        let first = timed_here().lock().0;
        let Some((deadline, sm)) = with::<Ec, _>(first, |e| (e.deadline, e.waiting_on)) else {
            return;
        };
        if deadline > now {
            return;
        }
        untime(first);
        unlink(sm, first);
        with::<Ec, _>(first, |e| {
            e.state = State::Ready;
            e.waiting_on = 0;
            e.regs.rdi = facet_abi::status::Status::Timeout as u64;
        });
        sched::wake(first);
    }
}

/// Removes `ec` from the wait list of `sm`.
fn unlink(sm: Handle, ec: Handle) {
    let Some(mut cur) = with::<Sm, _>(sm, |s| s.waiters) else {
        return;
    };
    let mut prev = 0;
    while cur != 0 && cur != ec {
        prev = cur;
        cur = with::<Ec, _>(cur, |e| e.next_waiter).unwrap_or(0);
    }
    if cur == 0 {
        return;
    }
    let next = with::<Ec, _>(ec, |e| e.next_waiter).unwrap_or(0);
    if prev == 0 {
        with::<Sm, _>(sm, |s| s.waiters = next);
    } else {
        with::<Ec, _>(prev, |e| e.next_waiter = next);
    }
    with::<Sm, _>(sm, |s| {
        if s.last_waiter == ec {
            s.last_waiter = prev;
        }
    });
}

/// Removes a dying Ec from the queue of `sm` and from the list of timed waits.
pub fn forget(sm: Handle, ec: Handle) {
    if sm != 0 {
        unlink(sm, ec);
    }
    untime(ec);
}

/// Releases the first waiter of a dying semaphore with ABORT; `false` when none is left.
pub fn release_one(sm: Handle) -> bool {
    let Some(ec) = with::<Sm, _>(sm, |s| s.waiters).filter(|&e| e != 0) else {
        return false;
    };
    forget(sm, ec);
    with::<Ec, _>(ec, |e| {
        e.state = State::Ready;
        e.waiting_on = 0;
        e.regs.rdi = facet_abi::status::Status::Abort as u64;
    });
    sched::wake(ec);
    true
}
