//! Each CPU's one-shot timer: armed for the earliest of the running Sc's quantum end,
//! the CPU's first semaphore deadline and the reports the kernel owes its console (see
//! `facet_kcore::timer`). There is no periodic tick: a CPU with nothing timed (an idle
//! one, or one whose Sc's quantum is far off) takes no timer interrupt.
//!
//! The timer is armed again wherever what it waits for changes: when the scheduler puts
//! another Sc on the CPU ([`program_quantum`]), when a wait with a deadline begins
//! ([`deadline_added`]), before an idle CPU halts and on the way out of the kernel after
//! every timer interrupt ([`program`]). A wait that ends early leaves the timer armed for its deadline, and
//! that interrupt finds nothing due and re-arms.

use crate::arch::{cpu::tsc, lapic, nmi};

/// How soon after an NMI its report is due: a millisecond, in TSC ticks per kHz.
const NMI_REPORT_MS: u64 = 1;

/// Arms the executing CPU's timer for the next thing due on it (disarms it if nothing
/// is).
pub fn program() {
    lapic::arm(next_due());
}

/// Another Sc was put on the CPU: the timer is armed for its quantum's end unless it is
/// armed for an earlier time already. Everything else due is armed for already (a
/// deadline when its wait begins, a report when it is owed, all of them after each timer
/// interrupt and before the CPU idles), so the timer is never later than what is due;
/// it may be earlier (a wait that ended, an Sc that left), and that interrupt only arms
/// it again, which costs less than writing the timer at every switch between Scs (a
/// semaphore handing the CPU back and forth).
pub fn program_quantum() {
    if lapic::armed() == 0 {
        // It fired, or was disarmed: nothing else due is armed for.
        program();
    } else if let Some(end) = super::sched::quantum_end() {
        lapic::arm_by(end);
    }
}

/// A wait with `deadline` began on the executing CPU.
pub fn deadline_added(deadline: u64) {
    lapic::arm_by(deadline);
}

/// The earliest time something is due on the executing CPU (0: nothing).
fn next_due() -> u64 {
    let nmi = nmi::pending().then(|| {
        let khz = lapic::frequencies().0.max(1);
        tsc().saturating_add(khz * NMI_REPORT_MS)
    });
    facet_kcore::timer::earliest(&[
        super::sched::quantum_end(),
        super::semaphore::first_deadline(),
        crate::console::limited::report_due(),
        nmi,
    ])
}

/// A timer interrupt on the executing CPU: semaphore waits whose deadline has passed
/// end, the reports due are made, and the CPU is told to look at its Sc (its quantum
/// may be over, or a woken Ec of a higher priority be ready: `sched::check` on the way
/// out arms the timer again).
pub fn interrupt() {
    lapic::fired();
    super::semaphore::expire(tsc());
    nmi::report();
    crate::console::limited::flush();
    // Armed again on the way out (`sched::check`): here, before the running Sc is
    // charged, its quantum's end may be past, and a timer armed for it would interrupt
    // this very handler's return, again and again.
    super::sched::look_again();
}
