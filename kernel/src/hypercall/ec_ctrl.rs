//! `ec_ctrl recall`: ask an Ec to report to its recall portal (event base + 31) the next
//! time it would return to user mode, so that its handler can inspect or change its state.

use facet_abi::args::EcCtrl;
use facet_abi::perm;
use facet_abi::status::Status;

use super::HcResult;
use crate::cap::lookup::object_out_of_line;
use crate::exec::CurrentFrame;
use crate::obj::ec::Ec;
use crate::obj::{with, Kind};

/// The only sub-operation in API 4.3.
const RECALL: u8 = 0;

pub fn ec_ctrl(f: &mut CurrentFrame) -> HcResult {
    let a: EcCtrl = f.args();
    if a.op != RECALL {
        return Err(Status::BadPar);
    }
    let ec = object_out_of_line(a.ec, Kind::Ec, perm::EC_CT)?;
    let cpu = with::<Ec, _>(ec, |e| {
        e.recall = true;
        e.cpu
    })
    .unwrap_or(0);
    // An Ec running on another CPU hears of it now, not at its next scheduling.
    if crate::exec::sched::current_ec_on(cpu) == ec {
        crate::smp::reschedule(cpu);
    }
    Ok(())
}
