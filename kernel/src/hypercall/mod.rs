//! Hypercall decoding and dispatch.
//!
//! Every handler has the same rhythm: decode its arguments from the frame, look up and
//! check capabilities, do the work, and return `Ok(())` or a status. [`dispatch`] writes
//! the status into OUT1 (RDI); handlers write any other results themselves.

mod pd_ctrl;

use facet_abi::hypercall::Hypercall;
use facet_abi::status::Status;

use crate::arch::regs::Frame;

/// Result of a hypercall handler.
pub type HcResult = Result<(), Status>;

/// Entry from the syscall stub.
pub extern "C" fn dispatch(frame: &mut Frame) {
    let result = match Hypercall::from_arg1(frame.rdi) {
        Hypercall::PdCtrl => pd_ctrl::pd_ctrl(frame),
        // Not built yet: the capability, IPC and virtualization work adds these.
        _ => Err(Status::BadHyp),
    };
    frame.rdi = match result {
        Ok(()) => Status::Success as u64,
        Err(s) => s as u64,
    };
}
