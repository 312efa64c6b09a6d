//! NMIs: the kernel takes them as events, never faults. They are counted where they
//! arrive (the paranoid entry, `entry::interrupt`, or a VMX exit that consumed one) and
//! reported, rate-limited, from a timer interrupt soon after.

use core::sync::atomic::{AtomicU64, Ordering};

/// NMIs seen (from any CPU, in any mode), and how many of them were reported.
static NMIS: AtomicU64 = AtomicU64::new(0);
static NMIS_REPORTED: AtomicU64 = AtomicU64::new(0);

/// Counts an NMI: one delivered to the kernel, or one the CPU turned into a VM exit
/// instead of delivering it (VMX).
pub fn seen() {
    NMIS.fetch_add(1, Ordering::Relaxed);
}

/// Whether NMIs arrived that were not reported yet (the CPUs' timers are armed for a
/// report soon after, `exec::timer`).
pub fn pending() -> bool {
    NMIS.load(Ordering::Relaxed) != NMIS_REPORTED.load(Ordering::Relaxed)
}

/// Reports NMIs that arrived since the last report (rate-limited; from a timer
/// interrupt).
pub fn report() {
    let seen = NMIS.load(Ordering::Relaxed);
    let reported = NMIS_REPORTED.load(Ordering::Relaxed);
    if seen != reported {
        NMIS_REPORTED.store(seen, Ordering::Relaxed);
        crate::println_limited!(
            crate::console::limited::Kind::Nmi,
            "FACET: {} NMI(s) received ({} in all); ignored",
            seen - reported,
            seen
        );
    }
}
