//! How a hypercall ends for the Ec that made it: the one byte the syscall stub
//! (`entry::syscall`) tells its two ways out by.
//!
//! It lives here rather than with the entry code that acts on it because the execution
//! layer produces it: a `call` ends with the handler on the CPU, a caller waiting or
//! nothing left to run, and the hypercall handlers answer with it too.

use facet_abi::status::Status;

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
