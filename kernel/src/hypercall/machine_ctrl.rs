//! `machine_ctrl` (pass-through PDs only): of the reference's sub-operations, suspend
//! and microcode updates are not built (BAD_FTR); sub-operation 2 is BAD_PAR as in the
//! reference; sub-operation 3 is Facet's own, the kernel's statistics by ARG2: the
//! kernel pool's free and total frames (0), the IOMMU's faults (1).

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
        op::SUSPEND | op::UPDATE_MICROCODE => Err(Status::BadFtr),
        op::FACET_STATS => match f.rsi {
            op::STATS_POOL => {
                // Objects that died in this hypercall's predecessors are gone already;
                // free anything still queued so the figure is exact.
                crate::obj::reap();
                let (free, total) = crate::mem::frames::stats();
                f.rsi = free;
                f.rdx = total;
                Ok(())
            }
            op::STATS_IOMMU_FAULTS => {
                (f.rsi, f.rdx, f.rax) = crate::iommu::fault_stats();
                Ok(())
            }
            _ => Err(Status::BadPar),
        },
        _ => Err(Status::BadPar),
    }
}
