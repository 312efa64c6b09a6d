//! The one-loan rule of [`super::with`], checked in debug builds.
//!
//! `with` and its unchecked relatives hand out `&mut` references to objects in the pool.
//! They are sound only if a caller never holds two loans of one object at once (and
//! never reaches an object's header while it is lent): nothing in the types stops a
//! closure from calling `with` on the handle it was lent. Debug builds (the `checked`
//! kernel of `cargo xtask test`, whose tiers run the whole on-target suite) record, per
//! CPU, the handles lent at the moment and panic on a second loan of one of them
//! ("lent twice"); a release kernel records nothing and pays nothing ([`Loan`] is empty
//! and has no destructor there). The kernel lock keeps other CPUs off objects, so a
//! record per CPU sees every loan that could overlap.

use super::Handle;

/// An active loan; the record ends when it is dropped.
#[must_use]
pub struct Loan {
    #[cfg(debug_assertions)]
    at: (usize, usize),
}

/// Records a loan of `h` on this CPU; panics (debug builds) if `h` is lent already.
#[inline(always)]
pub fn lend(h: Handle) -> Loan {
    #[cfg(debug_assertions)]
    {
        checked::lend(h)
    }
    #[cfg(not(debug_assertions))]
    {
        let _ = h;
        Loan {}
    }
}

/// Panics (debug builds) if `h` is lent on this CPU: its header is about to be reached
/// directly (reference counts, kind).
#[inline(always)]
pub fn assert_not_lent(h: Handle) {
    #[cfg(debug_assertions)]
    checked::assert_not_lent(h);
    #[cfg(not(debug_assertions))]
    let _ = h;
}

/// `crash=loan`: lends a new semaphore inside a loan of itself, which a debug build
/// stops at (a release build lets it pass: nothing is written through either loan).
pub fn lend_twice() {
    let Ok(sm) = super::sm::Sm::create(0, 0) else {
        return;
    };
    super::with::<super::sm::Sm, _>(sm, |_| super::with::<super::sm::Sm, _>(sm, |_| ()));
}

#[cfg(debug_assertions)]
mod checked {
    use core::sync::atomic::{AtomicU64, Ordering};

    use facet_abi::config::NUM_CPU;

    use super::{Handle, Loan};

    /// Loans one CPU may hold at once (nested loans of different objects).
    const DEPTH: usize = 8;

    /// The handles lent on each CPU (0: a free entry).
    static LENT: [[AtomicU64; DEPTH]; NUM_CPU] =
        [const { [const { AtomicU64::new(0) }; DEPTH] }; NUM_CPU];

    fn here() -> (usize, &'static [AtomicU64; DEPTH]) {
        let cpu = crate::arch::percpu::cpu_id() as usize % NUM_CPU;
        (cpu, &LENT[cpu])
    }

    pub fn lend(h: Handle) -> Loan {
        let (cpu, lent) = here();
        let mut free = None;
        for (i, slot) in lent.iter().enumerate() {
            match slot.load(Ordering::Relaxed) {
                v if v == h => panic!("object {h:#x} lent twice (obj::with's one-loan rule)"),
                0 if free.is_none() => free = Some(i),
                _ => {}
            }
        }
        let Some(i) = free else {
            panic!("more than {DEPTH} nested object loans");
        };
        lent[i].store(h, Ordering::Relaxed);
        Loan { at: (cpu, i) }
    }

    pub fn assert_not_lent(h: Handle) {
        let (_, lent) = here();
        if lent.iter().any(|s| s.load(Ordering::Relaxed) == h) {
            panic!("header of object {h:#x} reached while it is lent (obj::with's one-loan rule)");
        }
    }

    impl Drop for Loan {
        fn drop(&mut self) {
            LENT[self.at.0][self.at.1].store(0, Ordering::Relaxed);
        }
    }
}
