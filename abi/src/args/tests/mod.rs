//! Host tests of the hypercall encodings, three kinds per hypercall:
//!
//! - round trips: random values of every field, within its width, come back unchanged
//!   through `to_regs` and `from_regs`, and ARG1 bits 3:0 name the hypercall;
//! - decoding as the kernel reads: random registers decode to what the kernel's handler
//!   computes from them today (its expressions are written out here), and encoding that
//!   again loses nothing the kernel reads;
//! - layout: hand-written register values pin each field's bits, so that a change of
//!   layout fails a test.

mod control;
mod create;
mod device;
mod ipc;
mod pd_ctrl;

use core::fmt::Debug;

use super::{Args, Out, Regs, Results};

/// Random draws per property.
const RUNS: usize = 10_000;

/// A small deterministic generator (xorshift64*), so that a failure repeats.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub(super) fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Mostly uniform, sometimes an edge value: 0, all ones or one bit.
    pub(super) fn word(&mut self) -> u64 {
        match self.u64() % 8 {
            0 => 0,
            1 => u64::MAX,
            2 => 1 << (self.u64() % 64),
            _ => self.u64(),
        }
    }

    /// A value of `bits` bits.
    pub(super) fn bits(&mut self, bits: u32) -> u64 {
        self.word() & (u64::MAX >> (64 - bits))
    }

    /// A selector as ARG1 carries it (56 bits).
    pub(super) fn sel(&mut self) -> u64 {
        self.bits(56)
    }

    pub(super) fn bool(&mut self) -> bool {
        self.u64() & 1 != 0
    }

    pub(super) fn regs(&mut self) -> Regs {
        Regs {
            rdi: self.word(),
            rsi: self.word(),
            rdx: self.word(),
            rax: self.word(),
            r8: self.word(),
        }
    }

    pub(super) fn out(&mut self) -> Out {
        Out {
            rdi: self.word(),
            rsi: self.word(),
            rdx: self.word(),
            rax: self.word(),
        }
    }
}

/// `RUNS` draws of `f`, each with the generator.
pub(super) fn runs(seed: u64, mut f: impl FnMut(&mut Rng)) {
    let mut rng = Rng::new(seed);
    for _ in 0..RUNS {
        f(&mut rng);
    }
}

/// `a` comes back from its registers, which name its hypercall.
pub(super) fn round_trip<T: Args + PartialEq + Debug>(a: T) {
    let r = a.to_regs();
    assert_eq!(r.rdi & 0xf, T::HYPERCALL as u64, "{a:?}: hypercall number");
    assert_eq!(T::from_regs(&r), a, "{r:x?}");
}

/// `r` decodes to `expected`, and encoding that again decodes to the same: the encoding
/// keeps every bit the decoder (the kernel) reads.
pub(super) fn decodes<T: Args + PartialEq + Debug>(r: &Regs, expected: T) {
    let a = T::from_regs(r);
    assert_eq!(a, expected, "{r:x?}");
    assert_eq!(T::from_regs(&a.to_regs()), a, "{r:x?}");
}

/// `v` comes back through any output registers, and writing it sets exactly the
/// registers marked in `written` (RDI, RSI, RDX, RAX), whatever they held, and keeps
/// the others; RDI, the status, is never written.
pub(super) fn results_round_trip<T: Results + PartialEq + Debug>(
    v: T,
    written: [bool; 4],
    rng: &mut Rng,
) {
    assert!(!written[0]);
    let regs = |o: &Out| [o.rdi, o.rsi, o.rdx, o.rax];
    let (before1, before2) = (rng.out(), rng.out());
    let (mut out1, mut out2) = (before1, before2);
    v.to_out(&mut out1);
    v.to_out(&mut out2);
    assert_eq!(T::from_out(&out1), v);
    let (b1, b2, a1, a2) = (regs(&before1), regs(&before2), regs(&out1), regs(&out2));
    for i in 0..4 {
        if written[i] {
            assert_eq!(a1[i], a2[i], "{v:?}: register {i} not set");
        } else {
            assert_eq!(
                (a1[i], a2[i]),
                (b1[i], b2[i]),
                "{v:?}: register {i} changed"
            );
        }
    }
}

/// Registers from ARG1..ARG5.
pub(super) const fn regs(rdi: u64, rsi: u64, rdx: u64, rax: u64, r8: u64) -> Regs {
    Regs {
        rdi,
        rsi,
        rdx,
        rax,
        r8,
    }
}
