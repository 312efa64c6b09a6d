//! `sc_ctrl`: the time a scheduling context has consumed, in TSC ticks, returned as
//! ARG2 (high 32 bits) and ARG3 (low 32 bits) like the reference.

use facet_abi::hypercall::arg1_selector;
use facet_abi::perm;

use super::caps::object;
use super::HcResult;
use crate::ipc::CurrentFrame;
use crate::obj::sc::Sc;
use crate::obj::{with, Kind};

pub fn sc_ctrl(f: &mut CurrentFrame) -> HcResult {
    let sc = object(arg1_selector(f.rdi), Kind::Sc, perm::SC_CT)?;
    crate::ipc::sched::account_now();
    let t = with::<Sc, _>(sc, |s| s.consumed).unwrap_or(0);
    f.rsi = t >> 32;
    f.rdx = t & 0xffff_ffff;
    Ok(())
}
