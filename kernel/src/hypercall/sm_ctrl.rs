//! `sm_ctrl`: semaphore up (ARG1 bit 4 clear) and down (set; bit 5 = zero the counter).
//!
//! A `down` on a zero counter blocks the caller until an `up` or, if ARG2:ARG3 (high and
//! low 32 bits) name an absolute TSC deadline, until then (TIMEOUT). The deadline is
//! checked on every timer tick, so it is honoured to within one tick.

use facet_abi::hypercall::{arg1_flags, arg1_selector};
use facet_abi::status::Status;

use crate::cap::lookup::object;
use crate::exec::CurrentFrame;
use crate::exec::Outcome;
use crate::obj::sm::Sm;
use crate::obj::{with, Kind};

#[inline(never)]
pub fn sm_ctrl(arg1: u64, f: &mut CurrentFrame) -> Outcome {
    match sm_ctrl_inner(f, arg1) {
        Ok(o) => o,
        Err(s) => Outcome::status(s),
    }
}

fn sm_ctrl_inner(f: &mut CurrentFrame, arg1: u64) -> Result<Outcome, Status> {
    let flags = arg1_flags(arg1);
    let down = flags & 1 != 0;
    // The permission needed is the operation's bit: up = bit 0, down = bit 1.
    let sm = object(arg1_selector(arg1), Kind::Sm, 1 << (flags & 1))?;
    if !down {
        crate::exec::semaphore::up(sm);
        return Ok(Outcome::status(Status::Success));
    }
    let (chained, gsi) = with::<Sm, _>(sm, |s| (s.chained != 0, s.gsi)).unwrap_or((true, 0));
    if gsi != 0 {
        // Waiting on an interrupt semaphore re-enables its (level-triggered) interrupt.
        crate::arch::ioapic::mask(gsi - 1, false);
        if chained {
            return Ok(Outcome::status(Status::Success));
        }
    }
    if chained {
        return Err(Status::BadCap);
    }
    let zero = flags & 2 != 0;
    let taken = with::<Sm, _>(sm, |s| {
        if s.counter == 0 {
            false
        } else {
            s.counter = if zero { 0 } else { s.counter - 1 };
            true
        }
    });
    if taken == Some(true) {
        Ok(Outcome::status(Status::Success))
    } else {
        let deadline = (f.rsi << 32) | (f.rdx & 0xffff_ffff);
        let now = crate::arch::cpu::tsc();
        if deadline != 0 && deadline <= now {
            return Ok(Outcome::status(Status::Timeout));
        }
        Ok(if crate::exec::semaphore::block(f, sm, deadline) {
            Outcome::SWITCHED
        } else {
            Outcome::IDLE
        })
    }
}
