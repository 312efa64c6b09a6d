//! Hypercall decoding and dispatch.
//!
//! Every handler has the same rhythm: decode its arguments from the frame, look up and
//! check capabilities, do the work, and return `Ok(())` or a status. [`dispatch`] hands
//! the status to the syscall stub, which returns it in OUT1 (RDI); handlers write any
//! other results into the frame themselves. Objects whose last reference went away
//! during the hypercall are destroyed before returning.

mod assign_gsi;
mod assign_pci;
mod create;
mod ec_ctrl;
mod machine_ctrl;
mod pd_ctrl;
mod pt_ctrl;
mod revoke;
mod sc_ctrl;
mod sm_ctrl;

use facet_abi::hypercall::Hypercall;
use facet_abi::status::Status;

use crate::exec::CurrentFrame;

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

    /// The byte the syscall stub tells the outcomes apart by.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// Back to the caller with `s`.
    pub const fn status(s: Status) -> Outcome {
        Outcome(s as u8)
    }
}

const _: () = assert!((Status::BadDev as u8) < 0xfe);

impl Outcome {
    /// [`Outcome::SWITCHED`] if something runs after the caller left the CPU, else
    /// [`Outcome::IDLE`].
    pub fn from_switch(ran: bool) -> Outcome {
        if ran {
            Outcome::SWITCHED
        } else {
            Outcome::IDLE
        }
    }
}

/// Entry from the syscall stub, which saved the caller's registers in its Ec and passes
/// ARG1 (still in RDI) along.
///
/// Returns the outcome's byte. For a status the stub puts it in RDI and goes back to the
/// caller itself, restoring only the registers a hypercall may have changed (the
/// callee-saved ones are still the caller's, kept by every function on the way); for
/// [`Outcome::SWITCHED`] and [`Outcome::IDLE`] it restores the whole frame of whichever Ec
/// runs by then.
///
/// Each hypercall's handler is a function of its own, reached through [`HANDLERS`], and
/// everything but a status with no object to reap is done in [`finish_switch`] and
/// [`reap_and_return`], so that the common path keeps nothing in registers across the
/// handler.
pub extern "C" fn dispatch(arg1: u64) -> u8 {
    if !crate::smp::bkl::try_enter_from_user() {
        return dispatch_contended(arg1);
    }
    // SAFETY: the one token of this kernel entry.
    dispatch_locked(arg1, unsafe { CurrentFrame::new_ref() })
}

/// [`dispatch`] when another CPU holds the kernel lock: waits for it first.
#[cold]
#[inline(never)]
pub fn dispatch_contended(_arg1: u64) -> u8 {
    crate::smp::bkl::enter_from_user_contended();
    // SAFETY: the one token of this kernel entry.
    let frame = unsafe { CurrentFrame::new_ref() };
    // ARG1 is read back from the frame, so that the common path keeps nothing in a
    // register across the wait.
    dispatch_locked(frame.rdi, frame)
}

/// The hypercall ARG1 names, with the kernel lock held: its handler, then [`finish`].
#[inline]
pub fn dispatch_locked(arg1: u64, frame: &mut CurrentFrame) -> u8 {
    let outcome = HANDLERS[(arg1 & 0xf) as usize](arg1, frame);
    finish(outcome, frame)
}

/// The end of every hypercall: objects whose last reference went are destroyed, the Ec
/// that runs next (if another) is resumed, the kernel lock is released. Returns the
/// outcome's byte for the stub.
#[inline(always)]
pub fn finish(outcome: Outcome, frame: &mut CurrentFrame) -> u8 {
    if outcome.0 >= Outcome::SWITCHED.0 {
        // Another thread runs and nothing is left to destroy (an IPC call or reply):
        // nothing more to do here.
        if outcome != Outcome::SWITCHED
            || crate::obj::any_dead()
            || crate::exec::sched::current_is_vcpu()
        {
            return finish_switch(outcome, frame);
        }
        crate::smp::bkl::release();
        return Outcome::SWITCHED.0;
    }
    // A status goes back to the caller, a thread (vCPUs make no hypercalls): nothing to
    // resume.
    if crate::obj::any_dead() {
        return reap_and_return(outcome);
    }
    crate::smp::bkl::release();
    outcome.0
}

/// A hypercall's handler: ARG1 and the running Ec's state in, the outcome out.
type Handler = fn(u64, &mut CurrentFrame) -> Outcome;

/// The handlers by ARG1 bits 3:0 ([`Hypercall::from_arg1`]): the hot ones on their own,
/// the rest through [`other`].
static HANDLERS: [Handler; 16] = {
    let mut table = [other as Handler; 16];
    table[Hypercall::Call as usize] = crate::exec::call::call;
    table[Hypercall::Reply as usize] = reply;
    table[Hypercall::SmCtrl as usize] = sm_ctrl::sm_ctrl;
    table[Hypercall::CreateSc as usize] = create_sc;
    table
};

/// The rest of a hypercall after which another Ec runs (or none): objects are reaped
/// first, then the Ec that runs next is resumed. Returns [`Outcome::SWITCHED`]'s byte,
/// which tells the stub to restore that Ec's whole frame.
#[inline(never)]
pub fn finish_switch(outcome: Outcome, frame: &mut CurrentFrame) -> u8 {
    crate::obj::reap();
    if outcome == Outcome::SWITCHED {
        crate::exec::resume(frame);
    } else {
        idle(frame);
    }
    // A vCPU that ran meanwhile may have left an Ec to destroy.
    crate::obj::reap();
    crate::smp::bkl::release();
    Outcome::SWITCHED.0
}

/// The rest of a hypercall that answers a status and left objects to destroy.
#[cold]
#[inline(never)]
fn reap_and_return(outcome: Outcome) -> u8 {
    crate::obj::reap();
    crate::smp::bkl::release();
    // Opaque to the caller, so that it jumps here instead of keeping the outcome across
    // the call itself.
    core::hint::black_box(outcome.0)
}

#[inline(never)]
fn reply(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    Outcome::from_switch(crate::exec::call::reply(frame))
}

#[inline(never)]
fn create_sc(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    match create::create_sc(frame) {
        Ok(preempt) => {
            frame.rdi = Status::Success as u64;
            if preempt {
                return Outcome::from_switch(crate::exec::sched::yield_current(frame));
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
    crate::exec::sched::idle_until_ready(frame);
    crate::exec::resume(frame);
}

#[inline(never)]
fn other(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    Outcome::status(match other_hypercall(frame) {
        Ok(()) => Status::Success,
        Err(s) => s,
    })
}

fn other_hypercall(frame: &mut CurrentFrame) -> HcResult {
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
