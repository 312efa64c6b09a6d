//! Each CPU's one-shot timer: armed for the earliest of the running Sc's quantum end,
//! the CPU's first semaphore deadline and the reports the kernel owes its console (see
//! `facet_kcore::timer`). There is no periodic tick: a CPU with nothing timed (an idle
//! one, or one whose Sc's quantum is far off) takes no timer interrupt.
//!
//! The timer is armed again wherever what it waits for changes: when the scheduler puts
//! another Sc on the CPU ([`super::sched`]), before an idle CPU halts, and after every
//! timer interrupt. A semaphore wait with a deadline goes through the scheduler, so it
//! is covered; a wait that ends early leaves the timer armed for its deadline, and that
//! interrupt finds nothing due and re-arms.

use crate::arch::{cpu::tsc, lapic, nmi};

/// How soon after an NMI its report is due: a millisecond, in TSC ticks per kHz.
const NMI_REPORT_MS: u64 = 1;

/// Arms the executing CPU's timer for the next thing due on it.
pub fn program() {
    let nmi = nmi::pending().then(|| {
        let khz = lapic::frequencies().0.max(1);
        tsc().saturating_add(khz * NMI_REPORT_MS)
    });
    lapic::arm(facet_kcore::timer::earliest(&[
        super::sched::quantum_end(),
        super::semaphore::first_deadline(),
        crate::console::limited::report_due(),
        nmi,
    ]));
}

/// A timer interrupt on the executing CPU: semaphore waits whose deadline has passed
/// end, the reports due are made, and the CPU is told to look at its Sc (its quantum
/// may be over, or a woken Ec of a higher priority be ready: `sched::check` on the way
/// out re-arms the timer).
pub fn interrupt() {
    lapic::fired();
    super::semaphore::expire(tsc());
    nmi::report();
    crate::console::limited::flush();
    super::sched::look_again();
}
