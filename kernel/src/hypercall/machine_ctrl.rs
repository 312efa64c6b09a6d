//! `machine_ctrl` (pass-through PDs only): the reference's suspend (`suspend.rs`) and
//! microcode update (`microcode.rs`); sub-operation 2 is BAD_PAR as in the reference;
//! sub-operation 3 is Facet's own, the kernel's statistics by ARG2: the kernel pool's
//! free and total frames (0), the IOMMU's faults (1), the pool's frames by use (2),
//! objects by kind (3), a Pd's frames by part (4) (`stats.rs`) and a CPU's timer
//! interrupts (5).

use facet_abi::args::{
    FrameStatsOut, IommuFaultsOut, MachineCtrl, ObjectStatsOut, PdStatsOut, PoolStatsOut,
    TimerStatsOut,
};
use facet_abi::hypercall::machine_ctrl::frames::COUNT;
use facet_abi::status::Status;

use super::{stats, HcResult};
use crate::cap::lookup::object_out_of_line;
use crate::exec::CurrentFrame;
use crate::obj::{pd, Kind};

pub fn machine_ctrl(f: &mut CurrentFrame) -> HcResult {
    if !pd::current_is_passthrough() {
        return Err(Status::BadCap);
    }
    match f.args() {
        MachineCtrl::Suspend { slp_typa, slp_typb } => {
            super::suspend::suspend(f, slp_typa, slp_typb)
        }
        MachineCtrl::UpdateMicrocode { size, address } => {
            super::microcode::update(f, size, address)
        }
        MachineCtrl::PoolStats => {
            // Objects that died in this hypercall's predecessors are gone already;
            // free anything still queued so the figure is exact.
            crate::obj::reap();
            let (free, total) = crate::mem::frames::stats();
            f.answer(&PoolStatsOut { free, total });
            Ok(())
        }
        MachineCtrl::FrameStats { item } => {
            crate::obj::reap();
            let frames = stats::frames(item).ok_or(Status::BadPar)?;
            f.answer(&FrameStatsOut {
                frames,
                uses: COUNT,
            });
            Ok(())
        }
        MachineCtrl::ObjectStats { kind } => {
            crate::obj::reap();
            let (live, peak) = crate::obj::live(stats::kind(kind).ok_or(Status::BadPar)?);
            f.answer(&ObjectStatsOut { live, peak });
            Ok(())
        }
        MachineCtrl::PdStats { pd, part } => {
            crate::obj::reap();
            let pd = object_out_of_line(pd, Kind::Pd, 0)?;
            let frames = crate::obj::pd_frames::frames(pd, part).ok_or(Status::BadPar)?;
            f.answer(&PdStatsOut { frames });
            Ok(())
        }
        MachineCtrl::IommuFaults => {
            let (count, last, info) = crate::iommu::fault_stats();
            f.answer(&IommuFaultsOut { count, last, info });
            Ok(())
        }
        MachineCtrl::TimerInterrupts { cpu } => {
            if cpu >= 64 || !crate::smp::online(cpu as u32) {
                return Err(Status::BadPar);
            }
            let interrupts = crate::arch::lapic::fired_on(cpu as usize);
            f.answer(&TimerStatsOut { interrupts });
            Ok(())
        }
        MachineCtrl::Reserved => Err(Status::BadPar),
    }
}
