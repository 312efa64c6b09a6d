use super::*;

#[test]
fn quanta_in_tsc_ticks() {
    // The reference's default quantum, 10 ms, at 2 GHz.
    assert_eq!(quantum_ticks(10_000, 2_000_000), 20_000_000);
    assert_eq!(quantum_ticks(0, 2_000_000), 1);
    assert_eq!(quantum_ticks(u32::MAX, u64::MAX), u64::MAX);
}

#[test]
fn a_quantum_is_used_up_within_the_slack() {
    assert_eq!(charge(1000, 200, 10), 800);
    assert_eq!(charge(1000, 991, 10), 0);
    assert_eq!(charge(1000, 990, 10), 10);
    assert_eq!(charge(1000, 5000, 10), 0);
}

#[test]
fn the_earliest_time_or_none() {
    assert_eq!(earliest(&[None, None]), 0);
    assert_eq!(earliest(&[Some(7), None, Some(3)]), 3);
    assert_eq!(earliest(&[]), 0);
}

#[test]
fn one_shot_counts_stay_in_range() {
    // TSC 3 GHz, bus 1 GHz: a third.
    assert_eq!(one_shot_count(3000, (3_000_000, 1_000_000)), 1000);
    // Rounded up: never before the time asked for.
    assert_eq!(one_shot_count(3001, (3_000_000, 1_000_000)), 1001);
    assert_eq!(one_shot_count(1, (3_000_000, 1_000_000)), 1);
    assert_eq!(one_shot_count(0, (3_000_000, 1_000_000)), 1);
    assert_eq!(one_shot_count(u64::MAX, (1, 1_000_000)), u32::MAX);
    // No TSC frequency measured: no division by zero.
    assert_eq!(one_shot_count(5, (0, 1)), 5);
}

#[test]
fn preemption_counts_round_up() {
    assert_eq!(preemption_count(0, 100, 5), u32::MAX as u64);
    assert_eq!(preemption_count(100, 200, 5), 1);
    assert_eq!(preemption_count(164, 100, 5), 2);
    assert_eq!(preemption_count(132, 100, 5), 1);
    assert_eq!(preemption_count(u64::MAX, 0, 0), u32::MAX as u64);
}
