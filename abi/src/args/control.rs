//! `revoke`, `ec_ctrl`, `sc_ctrl` and `pt_ctrl` (`machine_ctrl` is in `machine.rs`).

use super::{arg1, bit, flags, sel, Args, Out, Regs, Results};
use crate::crd::Crd;
use crate::hypercall::Hypercall;

/// `revoke` (7): takes permissions back from what was delegated from `crd`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Revoke {
    /// ARG2: the range and the permissions to take.
    pub crd: Crd,
    /// ARG1 bit 4: reduce the range's own capabilities too.
    pub include_self: bool,
    /// ARG1 bit 5 set: work on the PD whose capability is in ARG3 instead of the
    /// caller's. ARG3 is read only with the bit.
    pub remote: Option<u64>,
    /// ARG1 bits 63:8: a semaphore to `up` when done (0: none).
    pub sm: u64,
}

impl Args for Revoke {
    const HYPERCALL: Hypercall = Hypercall::Revoke;

    #[inline]
    fn to_regs(&self) -> Regs {
        let f = self.include_self as u64 | (self.remote.is_some() as u64) << 1;
        Regs {
            rdi: arg1(Self::HYPERCALL, f, self.sm),
            rsi: self.crd.0,
            rdx: self.remote.unwrap_or(0),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        Revoke {
            crd: Crd(r.rsi),
            include_self: bit(r.rdi, 4),
            remote: bit(r.rdi, 5).then_some(r.rdx),
            sm: sel(r.rdi),
        }
    }
}

/// `ec_ctrl` (9): recalls EC `ec`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EcCtrl {
    /// ARG1 bits 63:8: an EC capability with permission bit 0.
    pub ec: u64,
    /// ARG1 bits 5:4: the sub-operation, `crate::hypercall::ec_ctrl::RECALL` (the only
    /// one; others answer BAD_PAR).
    pub op: u8,
}

impl Args for EcCtrl {
    const HYPERCALL: Hypercall = Hypercall::EcCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, self.op as u64 & 3, self.ec),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        EcCtrl {
            ec: sel(r.rdi),
            op: (flags(r.rdi) & 3) as u8,
        }
    }
}

/// `sc_ctrl` (10): the time SC `sc` has consumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScCtrl {
    /// ARG1 bits 63:8: an SC capability with permission bit 0. Bits 7:4 are ignored.
    pub sc: u64,
}

impl Args for ScCtrl {
    const HYPERCALL: Hypercall = Hypercall::ScCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.sc),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        ScCtrl { sc: sel(r.rdi) }
    }
}

/// The answer of `sc_ctrl`, as the reference gives it: bits 63:32 in OUT2 (RSI), the
/// whole value in OUT3 (RDX). Read back from OUT2 bits 31:0 and OUT3 bits 31:0, which
/// works with either half-filling of OUT3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScCtrlOut {
    /// Consumed time in microseconds.
    pub us: u64,
}

impl Results for ScCtrlOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.us >> 32;
        out.rdx = self.us;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        ScCtrlOut {
            us: out.rsi << 32 | (out.rdx & 0xffff_ffff),
        }
    }
}

/// `pt_ctrl` (11): sets portal `pt`'s id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtCtrl {
    /// ARG1 bits 63:8: a portal capability with permission bit 0.
    pub pt: u64,
    /// ARG2: the id the handler will receive in RDI.
    pub id: u64,
}

impl Args for PtCtrl {
    const HYPERCALL: Hypercall = Hypercall::PtCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.pt),
            rsi: self.id,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        PtCtrl {
            pt: sel(r.rdi),
            id: r.rsi,
        }
    }
}
