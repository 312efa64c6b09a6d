//! The one-shot timer's arithmetic: quanta in TSC ticks, what a CPU's timer is armed
//! for, and the bus-clock count of a one-shot local APIC timer.
//!
//! The kernel keeps no periodic tick. Each CPU's timer is armed for the earliest of
//! the running scheduling context's quantum end, the CPU's first semaphore deadline and
//! (on the boot CPU, while a report waits) the next report of the console's rate
//! limiter; a CPU with none of them takes no timer interrupt.

/// The TSC ticks of a quantum of `quantum_us` microseconds at `tsc_khz` (at least one:
/// a quantum of 0 still lets its Sc run an instant).
pub fn quantum_ticks(quantum_us: u32, tsc_khz: u64) -> u64 {
    (quantum_us as u128 * tsc_khz as u128 / 1000).clamp(1, u64::MAX as u128) as u64
}

/// What is left of a quantum with `left` ticks after `elapsed` more: none once less
/// than `slack` would remain (a one-shot timer rounded to its own clock may fire a
/// little early; the rest is not worth another interrupt).
pub fn charge(left: u64, elapsed: u64, slack: u64) -> u64 {
    match left.saturating_sub(elapsed) {
        rest if rest < slack => 0,
        rest => rest,
    }
}

/// The time to arm a CPU's timer for: the earliest of the times given (each a TSC
/// value), 0 (disarmed) if none.
pub fn earliest(times: &[Option<u64>]) -> u64 {
    times.iter().flatten().copied().min().unwrap_or(0)
}

/// The bus-clock count of a one-shot local APIC timer that expires `tsc` TSC ticks from
/// now, at the (TSC, bus) frequencies in kHz, rounded up so that it does not expire
/// before then (an interrupt that finds nothing due costs a second one): at least 1 (0
/// would disarm it), and the
/// most the 32-bit counter holds for a time beyond it (the interrupt then finds nothing
/// due, and the timer is armed again for the rest).
pub fn one_shot_count(tsc: u64, (tsc_khz, bus_khz): (u64, u64)) -> u32 {
    let count = (tsc as u128 * bus_khz as u128).div_ceil(tsc_khz.max(1) as u128);
    count.clamp(1, u32::MAX as u128) as u32
}

/// The VMX preemption timer's count (TSC ticks shifted right by `shift`) that expires
/// at the TSC value `until` seen at `now`, rounded up so that the guest does not exit
/// before the local APIC timer is due; 1 if that has passed. `until` 0 (nothing armed):
/// the longest count.
pub fn preemption_count(until: u64, now: u64, shift: u32) -> u64 {
    if until == 0 {
        return u32::MAX as u64;
    }
    let ticks = until.saturating_sub(now);
    let unit = 1u64 << shift.min(63);
    (ticks.div_ceil(unit)).clamp(1, u32::MAX as u64)
}

#[cfg(test)]
mod tests;
