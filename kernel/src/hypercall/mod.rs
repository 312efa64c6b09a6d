//! Hypercall decoding: one handler per hypercall, reached through [`HANDLERS`].
//!
//! Every handler has the same rhythm: decode its arguments (`frame.args()`, with their
//! `facet_abi::args` type), look up and check capabilities (`crate::cap`), do the work,
//! and return `Ok(())` or a status. The entry layer (`entry::dispatch`) takes the kernel
//! lock, calls the handler and hands the status to the syscall stub, which returns it in
//! OUT1 (RDI); a handler that answers more writes its result struct (`frame.answer`). Objects whose last reference went away during the
//! hypercall are destroyed before returning.

mod assign_gsi;
mod assign_pci;
mod create;
mod ec_ctrl;
mod machine_ctrl;
mod microcode;
mod pd_ctrl;
mod pt_ctrl;
mod revoke;
mod sc_ctrl;
mod sm_ctrl;
pub mod stats;
mod suspend;

use facet_abi::hypercall::Hypercall;
use facet_abi::status::Status;

use crate::exec::{CurrentFrame, Outcome};

/// Set by `crash=return` (tests only): portals take any entry address.
pub static UNCHECKED_PORTAL_IPS: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Whether `create_pt` leaves its entry-address check out (`crash=return`, tests only).
pub fn unchecked_portal_ips() -> bool {
    UNCHECKED_PORTAL_IPS.load(core::sync::atomic::Ordering::Relaxed)
}

/// Result of a hypercall handler.
pub type HcResult = Result<(), Status>;

/// A hypercall's handler: ARG1 and the running Ec's state in, the outcome out.
pub type Handler = fn(u64, &mut CurrentFrame) -> Outcome;

/// The handlers by ARG1 bits 3:0 ([`Hypercall::from_arg1`]): the hot ones on their own,
/// the rest through [`other`].
pub static HANDLERS: [Handler; 16] = {
    let mut table = [other as Handler; 16];
    table[Hypercall::Call as usize] = crate::exec::call::call;
    table[Hypercall::Reply as usize] = reply;
    table[Hypercall::SmCtrl as usize] = sm_ctrl::sm_ctrl;
    table[Hypercall::CreateSc as usize] = create_sc;
    table[Hypercall::PtCtrl as usize] = pt_ctrl;
    table[Hypercall::PdCtrl as usize] = pd_ctrl;
    table
};

/// `pt_ctrl` on its own: through [`other`], whose frame holds what the biggest handler
/// needs, it paid that frame's saves and restores (about 20 instructions).
#[inline(never)]
fn pt_ctrl(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    Outcome::status(match pt_ctrl::pt_ctrl(frame) {
        Ok(()) => Status::Success,
        Err(s) => s,
    })
}

/// `pd_ctrl` (lookup, delegate, MSR access) on its own, as [`pt_ctrl`].
#[inline(never)]
fn pd_ctrl(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    Outcome::status(match pd_ctrl::pd_ctrl(frame) {
        Ok(()) => Status::Success,
        Err(s) => s,
    })
}

/// A `machine_ctrl` suspend whose caller waited for the kernel lock while another
/// CPU's suspend ran gets that suspend's answer for a second one at the same time
/// (`None`: `frame` asks for something else).
pub fn suspend_overlapped(frame: &mut CurrentFrame) -> Option<Outcome> {
    suspend::overlapped(frame).map(Outcome::status)
}

#[inline(never)]
fn reply(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    Outcome::from_switch(crate::exec::call::reply(frame))
}

#[inline(never)]
fn create_sc(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    // An Sc that outranks the running one runs before the caller goes on (the end of
    // the hypercall, `exec::sched::check`).
    Outcome::status(match create::create_sc(frame) {
        Ok(()) => Status::Success,
        Err(s) => s,
    })
}

#[inline(never)]
fn other(arg1: u64, frame: &mut CurrentFrame) -> Outcome {
    Outcome::status(match other_hypercall(arg1, frame) {
        Ok(()) => Status::Success,
        Err(s) => s,
    })
}

fn other_hypercall(arg1: u64, frame: &mut CurrentFrame) -> HcResult {
    match Hypercall::from_arg1(arg1) {
        Hypercall::CreatePd => create::create_pd(frame),
        Hypercall::CreateEc => create::create_ec(frame),
        Hypercall::CreatePt => create::create_pt(frame),
        Hypercall::CreateSm => create::create_sm(frame),
        Hypercall::Revoke => revoke::revoke(frame),
        Hypercall::ScCtrl => sc_ctrl::sc_ctrl(frame),
        Hypercall::EcCtrl => ec_ctrl::ec_ctrl(frame),
        Hypercall::AssignGsi => assign_gsi::assign_gsi(frame),
        Hypercall::AssignPci => assign_pci::assign_pci(frame),
        Hypercall::MachineCtrl => machine_ctrl::machine_ctrl(frame),
        _ => Err(Status::BadHyp),
    }
}
