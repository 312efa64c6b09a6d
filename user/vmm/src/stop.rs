//! How the VM ends. A handler that finds the guest powered off, reset, triple-faulted
//! or doing what the VMM cannot handle reports it and asks the main EC to end the VM;
//! the main EC (whose CPU has the roottask's parent portal) tells the roottask, which
//! stops the VMM's PD and with it every vCPU. The handler itself waits for good, so its
//! vCPU never runs again.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::status::Status;
use facet_rt::hypercall::{call, reply, sm_down, sm_down_until, sm_up};
use facet_rt::start_info::{parent, sel};
use facet_rt::utcb::Utcb;

use crate::console::Sender;
use crate::layout::{MAIN_SM, PARK_SM};

/// The exit code asked for (none yet: [`NONE`]).
static REQUESTED: AtomicU64 = AtomicU64::new(NONE);
const NONE: u64 = u64::MAX;

/// Exit codes the roottask reports.
pub const POWERED_OFF: u64 = 0;
pub const FAILED: u64 = 1;
pub const RESET: u64 = 2;

/// Reports `args`, ends the VM with `code` and never returns.
pub fn request(sender: Sender, code: u64, args: core::fmt::Arguments) -> ! {
    sender.report(args);
    let _ = REQUESTED.compare_exchange(NONE, code, Ordering::AcqRel, Ordering::Acquire);
    let _ = sm_up(MAIN_SM);
    park()
}

/// Waits for good. Once the roottask takes the VMM down, the semaphore is gone: then
/// the EC replies, which stops a global EC that serves no call for good (and answers a
/// handler's vCPU, whose next exit finds no portal), instead of spinning on the error.
pub fn park() -> ! {
    loop {
        if sm_down(PARK_SM).is_err() {
            reply()
        }
    }
}

/// Reads an address no VMM maps (the `fault` test aid): the roottask's exception portal
/// hears of it and stops this VMM.
pub fn fault_on_purpose() -> ! {
    // SAFETY: a load from page 0, which the VMM never maps: it faults and the EC ends
    // there (were it mapped, the value is dropped and the VMM parks).
    unsafe {
        core::arch::asm!("mov {0}, qword ptr [0x10]", out(reg) _, options(nostack, readonly))
    };
    park()
}

/// A broken invariant of the VMM itself: nothing sensible to report from an EC that
/// may not own a console, so it waits for good (its vCPU, if it has one, stops).
pub fn internal_error(_what: &str) -> ! {
    park()
}

/// The main EC: tells the roottask that the VMM is done with `code`.
pub fn exit_now(code: u64) -> ! {
    let utcb = Utcb::at(facet_rt::start_info::MAIN_UTCB_ADDR);
    utcb.send(&[parent::EXIT, code]);
    let _ = call(sel::PARENT);
    park()
}

/// The main EC's loop once the VM runs: it waits for a stop request and, without the
/// console service, looks at COM1's input every `poll_ticks` TSC ticks.
pub fn main_loop(out: Sender, poll_ticks: u64) -> ! {
    let mut typed = [0u8; 64];
    loop {
        let code = REQUESTED.load(Ordering::Acquire);
        if code != NONE {
            crate::profile::report(out);
            exit_now(code);
        }
        let waited = if crate::console::uses_service() {
            sm_down(MAIN_SM)
        } else {
            let n = crate::console::poll_serial_input(&mut typed);
            crate::ipi::type_input(&typed[..n]);
            sm_down_until(MAIN_SM, facet_rt::cpu::rdtsc().wrapping_add(poll_ticks))
        };
        if matches!(waited, Err(s) if s != Status::Timeout) {
            park()
        }
    }
}
