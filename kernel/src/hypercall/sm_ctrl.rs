//! `sm_ctrl`: semaphore up (ARG1 bit 4 clear) and down (set; bit 5 = zero the counter).
//!
//! Blocking is built with the scheduler: until then a `down` that would block returns
//! TIMEOUT at once, as a down with an expired deadline does.

use facet_abi::hypercall::{arg1_flags, arg1_selector};
use facet_abi::status::Status;

use super::caps::object;
use super::HcResult;
use crate::arch::regs::Frame;
use crate::obj::sm::Sm;
use crate::obj::{with, Kind};

pub fn sm_ctrl(f: &mut Frame) -> HcResult {
    let flags = arg1_flags(f.rdi);
    let down = flags & 1 != 0;
    // The permission needed is the operation's bit: up = bit 0, down = bit 1.
    let sm = object(arg1_selector(f.rdi), Kind::Sm, 1 << (flags & 1))?;
    if !down {
        with::<Sm, _>(sm, |s| s.counter = s.counter.saturating_add(1));
        return Ok(());
    }
    if with::<Sm, _>(sm, |s| s.chained != 0).unwrap_or(true) {
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
        Ok(())
    } else {
        Err(Status::Timeout)
    }
}
