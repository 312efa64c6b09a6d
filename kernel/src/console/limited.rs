//! Kernel messages that user mode or a device can cause, each kind bounded by a
//! [`Limiter`]: at most [`BURST`] per second, the rest counted and reported with the
//! next message of the kind or by [`flush`] once the second is over. No program can
//! flood a console (and slow every CPU that prints) this way. Boot and fatal messages
//! do not come here.

use core::fmt;

use facet_kcore::ratelimit::{Limiter, Verdict};

use crate::sync::SpinLock;

/// The kinds of messages user mode can cause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A thread stopped: an exception, start-up or other message without a usable
    /// portal, or its exception handler died.
    Stopped,
    /// A vCPU stopped, or a VM entry the CPU refused for a kernel reason.
    Vcpu,
    /// An NMI arrived (from a device, a watchdog or another CPU).
    Nmi,
    /// The IOMMU blocked a device's DMA or interrupt.
    Iommu,
}

const KINDS: usize = 4;
const NAMES: [&str; KINDS] = ["stopped-thread", "vcpu", "nmi", "iommu"];

/// Messages of one kind printed per window.
pub const BURST: u32 = 10;

static LIMITS: [SpinLock<Limiter>; KINDS] = [const { SpinLock::new(Limiter::new()) }; KINDS];

/// One second in TSC ticks (a millisecond's worth per kHz), or a million ticks before
/// the TSC was measured.
fn window() -> u64 {
    match crate::arch::lapic::frequencies().0 {
        0 => 1_000_000,
        khz => khz * 1000,
    }
}

/// Whether a message of `kind` may be printed now; prints the count of those dropped
/// before it first.
pub fn allow(kind: Kind) -> bool {
    let verdict = LIMITS[kind as usize]
        .lock()
        .check(crate::arch::cpu::tsc(), window(), BURST);
    match verdict {
        Verdict::Print { suppressed: 0 } => true,
        Verdict::Print { suppressed } => {
            report(kind as usize, suppressed);
            true
        }
        Verdict::Suppress => false,
    }
}

/// Prints a message of `kind` unless its budget is spent.
pub fn print(kind: Kind, args: fmt::Arguments) {
    if allow(kind) {
        super::print(args);
    }
}

/// Reports the messages dropped in windows that have ended (from the timer tick).
pub fn flush() {
    let now = crate::arch::cpu::tsc();
    for (i, limit) in LIMITS.iter().enumerate() {
        // Never waiting here: the tick must stay cheap (another CPU's report can wait
        // for the next tick).
        let Some(mut l) = limit.try_lock() else {
            continue;
        };
        if l.pending() == 0 {
            continue;
        }
        if let Some(n) = l.flush(now, window()) {
            drop(l);
            report(i, n);
        }
    }
}

fn report(kind: usize, n: u64) {
    super::print(format_args!(
        "FACET: {n} {} messages suppressed\n",
        NAMES[kind]
    ));
}

/// Prints a line of `kind` to every kernel console unless its budget is spent.
#[macro_export]
macro_rules! println_limited {
    ($kind:expr, $($arg:tt)*) => (
        $crate::console::limited::print($kind, format_args!("{}\n", format_args!($($arg)*)))
    );
}
