//! `sm_ctrl`: semaphore up (ARG1 bit 4 clear) and down (set; bit 5 = zero the counter).
//!
//! A `down` on a zero counter blocks the caller until an `up` or, if ARG2:ARG3 (high and
//! low 32 bits) name an absolute TSC deadline, until then (TIMEOUT): the waiter's CPU
//! arms its one-shot timer for it (`exec::timer`).

use facet_abi::args::{SmCtrl, SmDown};
use facet_abi::status::Status;

use crate::cap::lookup::object;
use crate::exec::current::arg1_args;
use crate::exec::CurrentFrame;
use crate::exec::Outcome;
use crate::obj::sm::Sm;
use crate::obj::{with, Handle, Kind};

/// The common cases (an `up` nobody waits for, a `down` that takes a count) stay in this
/// function; everything else leaves it by a tail call, so that it saves no registers.
#[inline(never)]
pub fn sm_ctrl(arg1: u64, f: &mut CurrentFrame) -> Outcome {
    // Both operations name themselves and the semaphore in ARG1, in the same bits (a
    // down's decoder reads them, and its flag, for either); a down's deadline is read
    // only if it waits.
    let down = matches!(arg1_args(arg1), SmCtrl::Down(_));
    let SmDown { sm: sel, zero, .. } = arg1_args(arg1);
    // The permission needed is the operation's bit: up = bit 0, down = bit 1.
    let sm = match object(sel, Kind::Sm, 1 << down as u64) {
        Ok(sm) => sm,
        Err(s) => return Outcome::status(s),
    };
    let Some(next) = with::<Sm, _>(sm, |s| {
        if down {
            if s.chained != 0 || s.gsi != 0 || s.counter == 0 {
                return Next::Slow;
            }
            s.counter = if zero { 0 } else { s.counter - 1 };
        } else if s.waiters != 0 {
            return Next::Wake;
        } else {
            s.counter = s.counter.saturating_add(1);
        }
        Next::Done
    }) else {
        return Outcome::status(Status::BadCap);
    };
    match next {
        Next::Done => Outcome::status(Status::Success),
        Next::Wake => wake(sm),
        Next::Slow => slow_down(f, sm),
    }
}

/// What the common path leaves to do.
enum Next {
    Done,
    Wake,
    Slow,
}

/// An `up` with a waiter: it wakes.
#[inline(never)]
fn wake(sm: Handle) -> Outcome {
    crate::exec::semaphore::up(sm);
    Outcome::status(Status::Success)
}

/// A `down` that takes no count at once: on an interrupt semaphore (whose down re-enables
/// the interrupt, and returns at once if it is chained), or on a zero counter.
#[inline(never)]
fn slow_down(f: &mut CurrentFrame, sm: Handle) -> Outcome {
    let a: SmDown = f.args();
    let (chained, gsi) = with::<Sm, _>(sm, |s| (s.chained != 0, s.gsi)).unwrap_or((true, 0));
    if gsi != 0 {
        // Waiting on an interrupt semaphore re-enables its (level-triggered) interrupt.
        crate::arch::ioapic::mask(gsi - 1, false);
        if chained {
            return Outcome::status(Status::Success);
        }
    } else if chained {
        return Outcome::status(Status::BadCap);
    }
    let zero = a.zero;
    let taken = with::<Sm, _>(sm, |s| {
        if s.counter == 0 {
            false
        } else {
            s.counter = if zero { 0 } else { s.counter - 1 };
            true
        }
    });
    if taken == Some(true) {
        return Outcome::status(Status::Success);
    }
    let deadline = a.deadline;
    let now = crate::arch::cpu::tsc();
    if deadline != 0 && deadline <= now {
        return Outcome::status(Status::Timeout);
    }
    if crate::exec::semaphore::block(f, sm, deadline) {
        Outcome::SWITCHED
    } else {
        Outcome::IDLE
    }
}
