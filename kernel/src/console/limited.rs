//! Kernel messages that user mode or a device can cause, each kind bounded by a
//! [`Limiter`]: at most [`BURST`] per second, the rest counted and reported with the
//! next message of the kind or by [`flush`] once the second is over (a timer interrupt
//! the dropping CPU armed for then). No program can
//! flood a console (and slow every CPU that prints) this way. Boot and fatal messages
//! do not come here.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

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
    let (verdict, end) = {
        let mut limit = LIMITS[kind as usize].lock();
        let verdict = limit.check(crate::arch::cpu::tsc(), window(), BURST);
        (verdict, limit.window_end(window()))
    };
    match verdict {
        Verdict::Print { suppressed: 0 } => true,
        Verdict::Print { suppressed } => {
            report(kind as usize, suppressed);
            true
        }
        Verdict::Suppress => {
            report_at(end);
            false
        }
    }
}

/// When the counts of dropped messages are to be reported (a TSC value; 0: nothing
/// waits): the earliest end of a window in which messages were dropped. The timer of the
/// CPU that dropped one is armed for then, and whichever CPU's timer fires after it
/// reports, so that a count goes out as its window ends (as the periodic tick once
/// reported it), not a window later.
static REPORT_DUE: AtomicU64 = AtomicU64::new(0);

/// Messages were dropped in a window that ends at `end`: their count is reported then.
fn report_at(end: u64) {
    let end = end.max(1);
    let due = REPORT_DUE.load(Ordering::Relaxed);
    if due == 0 || end < due {
        REPORT_DUE.store(end, Ordering::Relaxed);
    }
    crate::arch::lapic::arm_by(end);
}

/// When the counts of dropped messages are due to be reported (`None`: nothing waits).
pub fn report_due() -> Option<u64> {
    match REPORT_DUE.load(Ordering::Relaxed) {
        0 => None,
        due => Some(due),
    }
}

/// Prints a message of `kind` unless its budget is spent.
pub fn print(kind: Kind, args: fmt::Arguments) {
    if allow(kind) {
        super::print(args);
    }
}

/// Reports the messages dropped in windows that have ended, once they are due (from a
/// timer interrupt, with the kernel lock held).
pub fn flush() {
    let now = crate::arch::cpu::tsc();
    match REPORT_DUE.load(Ordering::Relaxed) {
        0 => return,
        due if now < due => return,
        _ => REPORT_DUE.store(0, Ordering::Relaxed),
    }
    for (i, limit) in LIMITS.iter().enumerate() {
        // Never waiting here: a timer interrupt must stay cheap (a report another CPU
        // holds the lock for waits for the next one).
        let Some(mut l) = limit.try_lock() else {
            // Another CPU holds it a moment: look again in a millisecond.
            report_at(now.saturating_add(window() / 1000));
            continue;
        };
        if l.pending() == 0 {
            continue;
        }
        match l.flush(now, window()) {
            Some(n) => {
                drop(l);
                report(i, n);
            }
            // Its window is not over yet.
            None => {
                let end = l.window_end(window());
                drop(l);
                report_at(end);
            }
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
