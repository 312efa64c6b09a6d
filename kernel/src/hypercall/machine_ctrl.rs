//! `machine_ctrl` (pass-through PDs only): the reference's suspend (`suspend.rs`) and
//! microcode update (`microcode.rs`); sub-operation 2 is BAD_PAR as in the reference;
//! sub-operation 3 is Facet's own, the kernel pool's free and total frames in ARG2 and
//! ARG3.

use facet_abi::hypercall::{arg1_flags, machine_ctrl as op};
use facet_abi::status::Status;

use super::HcResult;
use crate::exec::CurrentFrame;
use crate::obj::pd;

pub fn machine_ctrl(f: &mut CurrentFrame) -> HcResult {
    if !pd::current_is_passthrough() {
        return Err(Status::BadCap);
    }
    match arg1_flags(f.rdi) & 3 {
        op::SUSPEND => super::suspend::suspend(f),
        op::UPDATE_MICROCODE => super::microcode::update(f),
        op::FACET_POOL_STATS => {
            // Objects that died in this hypercall's predecessors are gone already;
            // free anything still queued so the figure is exact.
            crate::obj::reap();
            let (free, total) = crate::mem::frames::stats();
            f.rsi = free;
            f.rdx = total;
            Ok(())
        }
        _ => Err(Status::BadPar),
    }
}
