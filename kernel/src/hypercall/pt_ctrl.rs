//! `pt_ctrl`: set the portal id a handler receives with each call.

use facet_abi::args::PtCtrl;
use facet_abi::perm;

use super::HcResult;
use crate::cap::lookup::object;
use crate::exec::CurrentFrame;
use crate::obj::pt::Pt;
use crate::obj::{with, Kind};

pub fn pt_ctrl(f: &mut CurrentFrame) -> HcResult {
    let a: PtCtrl = f.args();
    let pt = object(a.pt, Kind::Pt, perm::PT_CT)?;
    let id = a.id;
    with::<Pt, _>(pt, |p| p.id = id);
    Ok(())
}
