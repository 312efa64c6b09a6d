//! The VMM's own costs, for `cargo xtask bench` (the `profile` word of the command line):
//! the TSC when the VMM starts and when its guest may run, and per kind of exit how many
//! the handlers served and the TSC ticks from a handler's first instruction to its
//! reply. Under QEMU's `-icount` the TSC counts instructions, so the bench can split a
//! guest's exit round trip into the VMM's part and the rest (kernel and CPU). Off, it
//! costs a load and a branch per exit.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use facet_vmm_core::exit::Exit;

use crate::console::Sender;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// The kinds of exit counted apart: CPUID, port I/O, the rest.
const KINDS: usize = 3;
const NAMES: [&str; KINDS] = ["cpuid", "port I/O", "other"];
static COUNT: [AtomicU64; KINDS] = [const { AtomicU64::new(0) }; KINDS];
static TICKS: [AtomicU64; KINDS] = [const { AtomicU64::new(0) }; KINDS];

/// Turns profiling on and reports when the VMM started (`started`, its first TSC
/// reading) and the guest's vCPUs exist (now).
pub fn enable(out: Sender, started: u64) {
    ENABLED.store(true, Ordering::Relaxed);
    let now = facet_rt::cpu::rdtsc();
    out.report(format_args!(
        "profile: VMM started at TSC {started}, guest created at TSC {now}"
    ));
}

/// A handler's first TSC reading (0 while off).
#[inline]
pub fn enter() -> u64 {
    if ENABLED.load(Ordering::Relaxed) {
        facet_rt::cpu::rdtsc()
    } else {
        0
    }
}

/// Counts an exit of `exit`'s kind whose handler began at `entered` ([`enter`]).
#[inline]
pub fn leave(exit: &Exit, entered: u64) {
    if entered == 0 {
        return;
    }
    let kind = match exit {
        Exit::Cpuid => 0,
        Exit::Io(_) => 1,
        _ => 2,
    };
    let ticks = facet_rt::cpu::rdtsc().wrapping_sub(entered);
    COUNT[kind].fetch_add(1, Ordering::Relaxed);
    TICKS[kind].fetch_add(ticks, Ordering::Relaxed);
}

/// Reports the counts (when on): `profile: N cpuid exits, T ticks in their handlers`.
pub fn report(out: Sender) {
    if !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    for k in 0..KINDS {
        out.report(format_args!(
            "profile: {} {} exits, {} ticks in their handlers",
            COUNT[k].load(Ordering::Relaxed),
            NAMES[k],
            TICKS[k].load(Ordering::Relaxed),
        ));
    }
}
