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

/// The handlers by ARG1 bits 3:0 ([`Hypercall::from_arg1`]), each a function of its own:
/// behind one function for several hypercalls, each paid the register saves of the
/// biggest one's frame and a second dispatch (`pt_ctrl` 146 → 114 instructions).
pub static HANDLERS: [Handler; 16] = {
    let mut table = [bad_hypercall as Handler; 16];
    table[Hypercall::Call as usize] = crate::exec::call::call;
    table[Hypercall::Reply as usize] = reply;
    table[Hypercall::CreatePd as usize] = create_pd;
    table[Hypercall::CreateEc as usize] = create_ec;
    table[Hypercall::CreateSc as usize] = create_sc;
    table[Hypercall::CreatePt as usize] = create_pt;
    table[Hypercall::CreateSm as usize] = create_sm;
    table[Hypercall::Revoke as usize] = revoke;
    table[Hypercall::PdCtrl as usize] = pd_ctrl;
    table[Hypercall::EcCtrl as usize] = ec_ctrl;
    table[Hypercall::ScCtrl as usize] = sc_ctrl;
    table[Hypercall::PtCtrl as usize] = pt_ctrl;
    table[Hypercall::SmCtrl as usize] = sm_ctrl::sm_ctrl;
    table[Hypercall::AssignPci as usize] = assign_pci;
    table[Hypercall::AssignGsi as usize] = assign_gsi;
    table[Hypercall::MachineCtrl as usize] = machine_ctrl;
    table
};

/// The outcome of a handler that answers with a status.
#[inline(always)]
fn status(r: HcResult) -> Outcome {
    Outcome::status(match r {
        Ok(()) => Status::Success,
        Err(s) => s,
    })
}

/// Table entries for the handlers that answer with a status: `name` calls `handler`.
macro_rules! status_handlers {
    ($($name:ident => $handler:path),* $(,)?) => {
        $(
            #[inline(never)]
            fn $name(_arg1: u64, frame: &mut CurrentFrame) -> Outcome {
                status($handler(frame))
            }
        )*
    };
}

status_handlers! {
    create_pd => create::create_pd,
    create_ec => create::create_ec,
    create_pt => create::create_pt,
    create_sm => create::create_sm,
    revoke => revoke::revoke,
    pd_ctrl => pd_ctrl::pd_ctrl,
    ec_ctrl => ec_ctrl::ec_ctrl,
    sc_ctrl => sc_ctrl::sc_ctrl,
    pt_ctrl => pt_ctrl::pt_ctrl,
    assign_pci => assign_pci::assign_pci,
    assign_gsi => assign_gsi::assign_gsi,
    machine_ctrl => machine_ctrl::machine_ctrl,
}

/// No hypercall has this number (all 16 decode in API 4.3, so this is unreachable).
#[inline(never)]
fn bad_hypercall(_arg1: u64, _frame: &mut CurrentFrame) -> Outcome {
    Outcome::status(Status::BadHyp)
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
    status(create::create_sc(frame))
}
