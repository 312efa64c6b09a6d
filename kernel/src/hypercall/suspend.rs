//! `machine_ctrl` suspend: the reference's arguments (SLP_TYPa in ARG1 bits 15:8,
//! SLP_TYPb in bits 23:16, the values of the DSDT's `\_Sx` package, which the caller has
//! read) and statuses. OUT2 is the FACS waking vector the firmware had (mode 0, real
//! mode, in bits 63:62), set whatever the outcome, as in the reference. The work is
//! `smp::sleep`'s: the call returns after the machine has slept and woken, with every
//! CPU back where it was.

use facet_abi::args::SuspendOut;
use facet_abi::status::Status;
use facet_kcore::acpi::facs::valid_sleep_types;

use super::HcResult;
use crate::exec::CurrentFrame;
use crate::smp::sleep::{self, SleepError};

// Out of line: rare, and large enough to cost the other hypercalls that share the
// dispatcher's frame.
#[inline(never)]
#[cold]
pub fn suspend(f: &mut CurrentFrame, slp_typa: u8, slp_typb: u8) -> HcResult {
    f.answer(&SuspendOut {
        waking_vector: crate::acpi::waking_vector() as u64,
    });
    if !valid_sleep_types(slp_typa, slp_typb) {
        return Err(Status::BadPar);
    }
    match sleep::suspend(slp_typa, slp_typb) {
        Ok(()) => Ok(()),
        // Facet's answer for want of kernel memory, and for a CPU that would not stop.
        Err(SleepError::NoMemory | SleepError::NotParked) => Err(Status::Abort),
        // The reference's: a second suspend at once, a machine without what S3 needs,
        // or a PM1 write that did not put it to sleep.
        Err(SleepError::Busy | SleepError::Unsupported | SleepError::DidNotSleep) => {
            Err(Status::BadPar)
        }
    }
}

/// The status for a suspend whose caller waited while another CPU's ran (BAD_PAR, as
/// the reference answers a suspend while one is in progress), or `None` if `f` is not
/// a suspend from a pass-through PD.
pub fn overlapped(f: &mut CurrentFrame) -> Option<Status> {
    use facet_abi::hypercall::{arg1_flags, machine_ctrl, Hypercall};
    let suspend = Hypercall::from_arg1(f.rdi) == Hypercall::MachineCtrl
        && arg1_flags(f.rdi) & 3 == machine_ctrl::SUSPEND
        && crate::obj::pd::current_is_passthrough();
    suspend.then(|| {
        f.answer(&SuspendOut {
            waking_vector: crate::acpi::waking_vector() as u64,
        });
        Status::BadPar
    })
}
