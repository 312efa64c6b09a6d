//! `call`, `reply` and `sm_ctrl`: the hypercalls that may leave the CPU.
//!
//! The IPC fast path and `sm_ctrl` read ARG1 only (and `sm_ctrl down` ARG2 and ARG3), so
//! `facet-rt` passes only those registers; the encoders still give 0 for the others.

use super::{arg1, bit, flags, sel, Args, Regs};
use crate::hypercall::{call as flag, Hypercall};

/// `call` (0): calls portal `pt` with the message in the caller's UTCB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Call {
    /// The portal (ARG1 bits 63:8).
    pub pt: u64,
    /// ARG1 bit 4: answer TIMEOUT instead of waiting for a busy handler.
    pub disable_blocking: bool,
    /// ARG1 bit 5: do not lend the caller's SC. The reference's; Facet always lends it.
    pub disable_donation: bool,
    /// ARG1 bit 6: no reply capability. The reference's; Facet has none.
    pub disable_replycap: bool,
}

impl Args for Call {
    const HYPERCALL: Hypercall = Hypercall::Call;

    #[inline]
    fn to_regs(&self) -> Regs {
        let f = (self.disable_blocking as u64 * flag::DISABLE_BLOCKING)
            | (self.disable_donation as u64 * flag::DISABLE_DONATION)
            | (self.disable_replycap as u64 * flag::DISABLE_REPLYCAP);
        Regs {
            rdi: arg1(Self::HYPERCALL, f, self.pt),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        let f = flags(r.rdi);
        Call {
            pt: sel(r.rdi),
            disable_blocking: f & flag::DISABLE_BLOCKING != 0,
            disable_donation: f & flag::DISABLE_DONATION != 0,
            disable_replycap: f & flag::DISABLE_REPLYCAP != 0,
        }
    }
}

/// `reply` (1): ends the call the running EC serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// ARG1 bits 63:8: in the reference, a semaphore the replier then waits on (0: none).
    /// Facet's kernel does not read it (it reads only ARG1 bits 3:0).
    pub sm: u64,
}

impl Args for Reply {
    const HYPERCALL: Hypercall = Hypercall::Reply;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.sm),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        Reply { sm: sel(r.rdi) }
    }
}

/// `sm_ctrl` (12), by ARG1 bit 4: up or down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmCtrl {
    /// Bit 4 clear.
    Up(SmUp),
    /// Bit 4 set.
    Down(SmDown),
}

impl Args for SmCtrl {
    const HYPERCALL: Hypercall = Hypercall::SmCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        match self {
            SmCtrl::Up(a) => a.to_regs(),
            SmCtrl::Down(a) => a.to_regs(),
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        if bit(r.rdi, 4) {
            SmCtrl::Down(SmDown::from_regs(r))
        } else {
            SmCtrl::Up(SmUp::from_regs(r))
        }
    }
}

/// `sm_ctrl up`: wakes a waiter of semaphore `sm` or counts one more. Reads ARG1 only
/// (bit 5 is not looked at).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmUp {
    /// The semaphore (ARG1 bits 63:8), with permission bit 0.
    pub sm: u64,
}

impl Args for SmUp {
    const HYPERCALL: Hypercall = Hypercall::SmCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.sm),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        SmUp { sm: sel(r.rdi) }
    }
}

/// `sm_ctrl down`: takes a count of semaphore `sm`, or waits for one until `deadline`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmDown {
    /// The semaphore (ARG1 bits 63:8), with permission bit 1.
    pub sm: u64,
    /// ARG1 bit 5: set the counter to 0 instead of decrementing it.
    pub zero: bool,
    /// An absolute TSC deadline (0: none): bits 63:32 in ARG2 bits 31:0, bits 31:0 in
    /// ARG3 bits 31:0. The upper halves of ARG2 and ARG3 are ignored (the reference ORs
    /// all of ARG3 in).
    pub deadline: u64,
}

impl Args for SmDown {
    const HYPERCALL: Hypercall = Hypercall::SmCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 1 | (self.zero as u64) << 1, self.sm),
            rsi: self.deadline >> 32,
            rdx: self.deadline & 0xffff_ffff,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        SmDown {
            sm: sel(r.rdi),
            zero: bit(r.rdi, 5),
            deadline: (r.rsi << 32) | (r.rdx & 0xffff_ffff),
        }
    }
}
