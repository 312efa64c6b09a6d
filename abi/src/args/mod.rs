//! Typed hypercall arguments and results: the one place each hypercall's register layout
//! is written down.
//!
//! A hypercall passes ARG1..ARG5 in RDI, RSI, RDX, RAX and R8 ([`Regs`]) and gets its
//! status back in RDI bits 7:0 and its results in RSI, RDX or RAX ([`Out`]). For every
//! hypercall, and every sub-operation of one, this module has a plain struct of its
//! arguments with an encoder and a decoder ([`Args`]), and for those that answer more than
//! a status a struct of its results ([`Results`]). `facet-rt` encodes with them and the
//! kernel's handlers are to decode with them, so that the layout is spelt once
//! (`docs/hypercalls.md`, "Where the layouts live").
//!
//! Two rules hold for every decoder, and the host tests check both:
//!
//! - **Decoding never fails.** Every bit pattern decodes to something, exactly as the
//!   kernel reads it: a field is cut to the bits the kernel looks at (the CPU of
//!   `create_ec` to 12 bits, a semaphore deadline to two 32-bit halves), bits the kernel
//!   ignores are dropped, and refusing a value (BAD_PAR, BAD_CPU) is left to the handler.
//! - **Encoding keeps every field.** `from_regs(&a.to_regs()) == a` for every value whose
//!   fields fit their documented widths (a selector in ARG1 has 56 bits); registers a
//!   hypercall does not read are encoded as 0.
//!
//! A few fields are the reference interface's (Hedron, API 4.3) and are carried for user
//! programs that run on it, though Facet's kernel does not read them; their docs say so.
//! Results are written with [`Results::to_out`], which changes only the registers the
//! hypercall answers in: the others keep what the caller passed, as the kernel leaves
//! them.

mod control;
mod create;
mod device;
mod ipc;
mod machine;
mod pd_ctrl;

#[cfg(test)]
mod tests;

pub use control::{EcCtrl, PtCtrl, Revoke, ScCtrl, ScCtrlOut};
pub use create::{CreateEc, CreatePd, CreatePt, CreateSc, CreateSm};
pub use device::{AssignGsi, AssignGsiOut, AssignPci, GsiMode, NO_CHAIN};
pub use ipc::{Call, Reply, SmCtrl, SmDown, SmUp};
pub use machine::{
    FrameStatsOut, IommuFaultsOut, MachineCtrl, MicrocodeOut, ObjectStatsOut, PdStatsOut,
    PoolStatsOut, SuspendOut, TimerStatsOut,
};
pub use pd_ctrl::{
    Delegate, DelegateOut, Lookup, LookupOut, MapAccessPage, MsrAccess, MsrAccessOut, PdCtrl,
};

use crate::hypercall::Hypercall;

/// The argument registers of a hypercall: ARG1..ARG5.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Regs {
    /// ARG1: the hypercall number (bits 3:0), flags or a sub-operation (bits 7:4) and
    /// usually a selector (bits 63:8).
    pub rdi: u64,
    /// ARG2.
    pub rsi: u64,
    /// ARG3.
    pub rdx: u64,
    /// ARG4.
    pub rax: u64,
    /// ARG5.
    pub r8: u64,
}

/// The registers a hypercall answers in: the status in RDI bits 7:0, results in RSI,
/// RDX and RAX.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Out {
    /// The status in bits 7:0 (`crate::status::Status::from_out1`).
    pub rdi: u64,
    /// OUT2.
    pub rsi: u64,
    /// OUT3.
    pub rdx: u64,
    /// OUT4.
    pub rax: u64,
}

/// A hypercall's arguments, with their register encoding.
pub trait Args: Sized {
    /// The hypercall these arguments are for (ARG1 bits 3:0 of [`Args::to_regs`]).
    const HYPERCALL: Hypercall;

    /// The registers that pass these arguments; registers not read are 0.
    fn to_regs(&self) -> Regs;

    /// The arguments as the kernel reads them from `regs`. ARG1 bits 3:0 are not looked
    /// at: the caller has dispatched on them already.
    fn from_regs(regs: &Regs) -> Self;
}

/// A hypercall's results (besides its status), with their register encoding.
pub trait Results: Sized {
    /// Writes the results into the registers they come back in, and into no other.
    fn to_out(&self, out: &mut Out);

    /// The results as a caller reads them from `out`.
    fn from_out(out: &Out) -> Self;
}

/// ARG1 of hypercall `h` with flags or sub-operation `flags` (4 bits) and selector `sel`
/// (56 bits).
#[inline(always)]
const fn arg1(h: Hypercall, flags: u64, sel: u64) -> u64 {
    crate::hypercall::arg1(h, flags, sel)
}

/// ARG1 bits 7:4.
#[inline(always)]
const fn flags(rdi: u64) -> u64 {
    (rdi >> 4) & 0xf
}

/// Where ARG1's selector starts: bits 63:8.
pub const ARG1_SEL_SHIFT: u32 = 8;

/// ARG1 bits 63:8.
#[inline(always)]
const fn sel(rdi: u64) -> u64 {
    rdi >> ARG1_SEL_SHIFT
}

/// Bit `n` of `v` as a flag.
#[inline(always)]
const fn bit(v: u64, n: u32) -> bool {
    v >> n & 1 != 0
}
