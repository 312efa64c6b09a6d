//! `sc_ctrl`: the time a scheduling context has consumed, in microseconds, returned as
//! the reference does: ARG2 the high 32 bits, ARG3 the whole value (so both
//! `ARG2 << 32 | ARG3` and ARG3 alone read it).

use facet_abi::args::{ScCtrl, ScCtrlOut};
use facet_abi::perm;

use super::HcResult;
use crate::cap::lookup::object_out_of_line;
use crate::exec::CurrentFrame;
use crate::obj::sc::Sc;
use crate::obj::{with, Kind};

pub fn sc_ctrl(f: &mut CurrentFrame) -> HcResult {
    let a: ScCtrl = f.args();
    let sc = object_out_of_line(a.sc, Kind::Sc, perm::SC_CT)?;
    crate::exec::sched::account_now();
    let ticks = with::<Sc, _>(sc, |s| s.consumed).unwrap_or(0);
    let tsc_khz = crate::arch::lapic::frequencies().0.max(1);
    // In 128 bits: the reference's 64-bit product overflows after some 70 days at 3 GHz.
    let us = (ticks as u128 * 1000 / tsc_khz as u128).min(u64::MAX as u128) as u64;
    f.answer(&ScCtrlOut { us });
    Ok(())
}
