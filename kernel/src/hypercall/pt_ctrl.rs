//! `pt_ctrl`: set the portal id a handler receives with each call.

use facet_abi::hypercall::arg1_selector;
use facet_abi::perm;

use super::HcResult;
use crate::cap::lookup::object;
use crate::exec::CurrentFrame;
use crate::obj::pt::Pt;
use crate::obj::{with, Kind};

pub fn pt_ctrl(f: &mut CurrentFrame) -> HcResult {
    let pt = object(arg1_selector(f.rdi), Kind::Pt, perm::PT_CT)?;
    let id = f.rsi;
    with::<Pt, _>(pt, |p| p.id = id);
    Ok(())
}
