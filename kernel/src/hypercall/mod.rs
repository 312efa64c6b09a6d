//! Hypercall decoding and dispatch.
//!
//! Every handler has the same rhythm: decode its arguments from the frame, look up and
//! check capabilities, do the work, and return `Ok(())` or a status. [`dispatch`] writes
//! the status into OUT1 (RDI); handlers write any other results themselves. Objects
//! whose last reference went away during the hypercall are destroyed before returning.

mod assign_gsi;
mod assign_pci;
pub mod caps;
mod create;
pub mod delegation;
mod ec_ctrl;
mod machine_ctrl;
mod pd_ctrl;
mod pt_ctrl;
mod revoke;
mod sc_ctrl;
mod sm_ctrl;
pub mod xfer_item;

use facet_abi::hypercall::Hypercall;
use facet_abi::status::Status;

use crate::arch::regs::Frame;
use crate::ipc::CurrentFrame;

/// Result of a hypercall handler.
pub type HcResult = Result<(), Status>;

/// How a hypercall ends: back to the caller with a status in RDI, or another Ec (or the
/// caller, its status already in place) runs with the state now in the frame
/// ([`Outcome::SWITCHED`]), or nothing is left to run on this CPU ([`Outcome::IDLE`]).
///
/// One byte, a status or one of two values no status has: telling them apart on every
/// hypercall's way out is one compare (an enum with the status inside took seven
/// instructions).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Outcome(u8);

impl Outcome {
    pub const SWITCHED: Outcome = Outcome(0xfe);
    pub const IDLE: Outcome = Outcome(0xff);

    /// Back to the caller with `s`.
    pub const fn status(s: Status) -> Outcome {
        Outcome(s as u8)
    }
}

const _: () = assert!((Status::BadDev as u8) < 0xfe);

impl Outcome {
    fn from_switch(ran: bool) -> Outcome {
        if ran {
            Outcome::SWITCHED
        } else {
            Outcome::IDLE
        }
    }
}

/// Entry from the syscall stub, which saved the caller's registers in its Ec.
///
/// Each hypercall's handler is a function of its own, so that the common path here
/// stays small: the cheapest hypercalls pay for no more registers than they use.
pub extern "C" fn dispatch() {
    crate::smp::bkl::enter_from_user();
    // SAFETY: the one token of this kernel entry.
    let mut frame = unsafe { CurrentFrame::new() };
    let arg1 = frame.rdi;
    let outcome = match Hypercall::from_arg1(arg1) {
        Hypercall::Call => call(&mut frame),
        Hypercall::Reply => Outcome::from_switch(crate::ipc::call::reply(&mut frame)),
        Hypercall::SmCtrl => sm_ctrl::sm_ctrl(&mut frame, arg1),
        Hypercall::CreateSc => create_sc(&mut frame),
        _ => other(&mut frame),
    };
    crate::obj::reap();
    if outcome.0 < Outcome::SWITCHED.0 {
        // Back to the caller, a thread (vCPUs make no hypercalls): nothing to resume.
        frame.rdi = outcome.0 as u64;
    } else if outcome == Outcome::SWITCHED {
        crate::ipc::resume(&mut frame);
    } else {
        idle(&mut frame);
    }
    crate::smp::bkl::release();
}

#[inline(never)]
fn call(frame: &mut CurrentFrame) -> Outcome {
    match crate::ipc::call::call(frame) {
        Ok(runs) => Outcome::from_switch(runs),
        Err(s) => Outcome::status(s),
    }
}

#[inline(never)]
fn create_sc(frame: &mut CurrentFrame) -> Outcome {
    match create::create_sc(frame) {
        Ok(preempt) => {
            frame.rdi = Status::Success as u64;
            if preempt {
                crate::ipc::sched::yield_current(frame);
            }
            Outcome::SWITCHED
        }
        Err(s) => Outcome::status(s),
    }
}

/// Nothing is left to run on this CPU after the hypercall.
#[cold]
#[inline(never)]
fn idle(frame: &mut CurrentFrame) {
    crate::ipc::sched::idle_until_ready(frame);
    crate::ipc::resume(frame);
}

#[inline(never)]
fn other(frame: &mut Frame) -> Outcome {
    Outcome::status(match other_hypercall(frame) {
        Ok(()) => Status::Success,
        Err(s) => s,
    })
}

fn other_hypercall(frame: &mut Frame) -> HcResult {
    match Hypercall::from_arg1(frame.rdi) {
        Hypercall::CreatePd => create::create_pd(frame),
        Hypercall::CreateEc => create::create_ec(frame),
        Hypercall::CreatePt => create::create_pt(frame),
        Hypercall::CreateSm => create::create_sm(frame),
        Hypercall::Revoke => revoke::revoke(frame),
        Hypercall::PdCtrl => pd_ctrl::pd_ctrl(frame),
        Hypercall::PtCtrl => pt_ctrl::pt_ctrl(frame),
        Hypercall::ScCtrl => sc_ctrl::sc_ctrl(frame),
        Hypercall::EcCtrl => ec_ctrl::ec_ctrl(frame),
        Hypercall::AssignGsi => assign_gsi::assign_gsi(frame),
        Hypercall::AssignPci => assign_pci::assign_pci(frame),
        Hypercall::MachineCtrl => machine_ctrl::machine_ctrl(frame),
        _ => Err(Status::BadHyp),
    }
}
