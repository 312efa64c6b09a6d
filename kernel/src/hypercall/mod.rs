//! Hypercall decoding and dispatch.
//!
//! Every handler has the same rhythm: decode its arguments from the frame, look up and
//! check capabilities, do the work, and return `Ok(())` or a status. [`dispatch`] writes
//! the status into OUT1 (RDI); handlers write any other results themselves. Objects
//! whose last reference went away during the hypercall are destroyed before returning.

mod caps;
mod create;
mod delegation;
mod pd_ctrl;
mod pt_ctrl;
mod revoke;
mod sm_ctrl;

use facet_abi::hypercall::Hypercall;
use facet_abi::status::Status;

use crate::arch::regs::Frame;

/// Result of a hypercall handler.
pub type HcResult = Result<(), Status>;

/// Entry from the syscall stub.
pub extern "C" fn dispatch(frame: &mut Frame) {
    let result = match Hypercall::from_arg1(frame.rdi) {
        Hypercall::CreatePd => create::create_pd(frame),
        Hypercall::CreateEc => create::create_ec(frame),
        Hypercall::CreateSc => create::create_sc(frame),
        Hypercall::CreatePt => create::create_pt(frame),
        Hypercall::CreateSm => create::create_sm(frame),
        Hypercall::Revoke => revoke::revoke(frame),
        Hypercall::PdCtrl => pd_ctrl::pd_ctrl(frame),
        Hypercall::PtCtrl => pt_ctrl::pt_ctrl(frame),
        Hypercall::SmCtrl => sm_ctrl::sm_ctrl(frame),
        // Not built yet: IPC and scheduling (call, reply, ec_ctrl, sc_ctrl), interrupts
        // (assign_gsi), the IOMMU (assign_pci) and machine_ctrl.
        _ => Err(Status::BadHyp),
    };
    crate::obj::reap();
    frame.rdi = match result {
        Ok(()) => Status::Success as u64,
        Err(s) => s as u64,
    };
}
