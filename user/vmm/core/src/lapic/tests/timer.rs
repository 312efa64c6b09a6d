use super::*;

const START: u64 = 1_000_000_000;
const VECTOR: u64 = 0xec; // Linux's LOCAL_TIMER_VECTOR
const ONE_SHOT: u64 = VECTOR;
const PERIODIC: u64 = 1 << 17 | VECTOR;
const TSC_DEADLINE: u64 = 2 << 17 | VECTOR;
const DIVIDE_BY_1: u64 = 0b1011;

fn write_at(lapic: &mut Lapic, msr: u32, value: u64, now: u64) {
    lapic.write_msr(msr, value, now).expect("writable");
}

fn read_at(lapic: &mut Lapic, msr: u32, now: u64) -> u64 {
    lapic.read_msr(msr, now).expect("readable")
}

/// Polls at `now`; whether the timer's vector became injectable (and takes it).
fn fired(lapic: &mut Lapic, now: u64) -> bool {
    lapic.poll(now);
    match lapic.highest_injectable() {
        Some(vector) => {
            assert_eq!(u64::from(vector), VECTOR);
            lapic.acknowledge(vector);
            lapic.write_msr(EOI, 0, now).expect("EOI");
            true
        }
        None => false,
    }
}

#[test]
fn one_shot_expires_exactly_once() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, LVT_TIMER, ONE_SHOT);
    write(&mut lapic, TIMER_DIVIDE, DIVIDE_BY_1);
    write_at(&mut lapic, TIMER_INITIAL, 1000, START);
    assert_eq!(lapic.next_deadline(), Some(START + 1000));
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 250), 750);
    assert!(!fired(&mut lapic, START + 999));
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 999), 1);
    assert!(fired(&mut lapic, START + 1000));
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 1000), 0);
    assert_eq!(lapic.next_deadline(), None);
    assert!(!fired(&mut lapic, START + 1_000_000));
}

#[test]
fn the_divide_configuration_scales_the_count() {
    for (config, divisor) in [
        (0, 2),
        (1, 4),
        (2, 8),
        (3, 16),
        (8, 32),
        (9, 64),
        (10, 128),
        (11, 1),
    ] {
        let mut lapic = enabled_lapic(0);
        write(&mut lapic, LVT_TIMER, ONE_SHOT);
        write(&mut lapic, TIMER_DIVIDE, config);
        write_at(&mut lapic, TIMER_INITIAL, 100, START);
        assert_eq!(
            lapic.next_deadline(),
            Some(START + 100 * divisor),
            "config {config}"
        );
        assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + divisor), 99);
    }
}

#[test]
fn periodic_reloads_without_drift() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, LVT_TIMER, PERIODIC);
    write(&mut lapic, TIMER_DIVIDE, DIVIDE_BY_1);
    write_at(&mut lapic, TIMER_INITIAL, 500, START);
    for k in 1..=5 {
        assert_eq!(lapic.next_deadline(), Some(START + 500 * k));
        assert!(!fired(&mut lapic, START + 500 * k - 1));
        assert!(fired(&mut lapic, START + 500 * k));
    }
    assert_eq!(
        read_at(&mut lapic, TIMER_CURRENT, START + 2500),
        500,
        "reloaded"
    );
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 2501), 499);
    // Missed periods coalesce into one interrupt; the schedule stays on the grid.
    assert!(fired(&mut lapic, START + 500 * 20 + 7));
    assert_eq!(lapic.next_deadline(), Some(START + 500 * 21));
    // Writing 0 stops it.
    write_at(&mut lapic, TIMER_INITIAL, 0, START + 500 * 21);
    assert_eq!(lapic.next_deadline(), None);
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 500 * 22), 0);
}

#[test]
fn timer_clock_slower_than_the_tsc() {
    // A 2.1 GHz TSC and a 1 GHz timer clock: 2.1 TSC ticks per count.
    let mut lapic = Lapic::new(0, 2_100_000, 1_000_000);
    write(&mut lapic, SVR, 0x1ff);
    write(&mut lapic, LVT_TIMER, PERIODIC);
    write(&mut lapic, TIMER_DIVIDE, DIVIDE_BY_1);
    write_at(&mut lapic, TIMER_INITIAL, 3, START);
    // Expiry k at START + ceil(6.3 k): 7, 13, 19, 26, ..., 63 at k = 10.
    let mut expiries = std::vec::Vec::new();
    for _ in 0..10 {
        let deadline = lapic.next_deadline().expect("armed");
        expiries.push(deadline - START);
        assert!(fired(&mut lapic, deadline));
    }
    assert_eq!(expiries, [7, 13, 19, 26, 32, 38, 45, 51, 57, 63]);
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 63), 3);
    assert_eq!(
        read_at(&mut lapic, TIMER_CURRENT, START + 65),
        3,
        "2 TSC ticks: 0.95 clocks"
    );
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 66), 2);
}

#[test]
fn masked_timer_counts_but_does_not_interrupt() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, LVT_TIMER, LVT_MASKED as u64 | ONE_SHOT);
    write_at(&mut lapic, TIMER_INITIAL, 10, START);
    assert!(lapic.poll(START + 20), "expired");
    assert_eq!(lapic.highest_injectable(), None);
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 20), 0);
}

#[test]
fn changing_the_divisor_keeps_the_current_count() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, LVT_TIMER, ONE_SHOT);
    write(&mut lapic, TIMER_DIVIDE, DIVIDE_BY_1);
    write_at(&mut lapic, TIMER_INITIAL, 1000, START);
    write_at(&mut lapic, TIMER_DIVIDE, 0b0001, START + 400); // divide by 4
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 400), 600);
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 404), 599);
    assert_eq!(lapic.next_deadline(), Some(START + 400 + 600 * 4));
}

#[test]
fn tsc_deadline_arms_fires_and_disarms() {
    let mut lapic = enabled_lapic(0);
    write_at(&mut lapic, IA32_TSC_DEADLINE, START + 5, START);
    assert_eq!(
        read_at(&mut lapic, IA32_TSC_DEADLINE, START),
        0,
        "ignored in one-shot mode"
    );
    assert_eq!(lapic.next_deadline(), None);
    write(&mut lapic, LVT_TIMER, TSC_DEADLINE);
    write_at(&mut lapic, IA32_TSC_DEADLINE, START + 12_345, START);
    assert_eq!(
        read_at(&mut lapic, IA32_TSC_DEADLINE, START),
        START + 12_345
    );
    assert_eq!(lapic.next_deadline(), Some(START + 12_345));
    assert!(!fired(&mut lapic, START + 12_344));
    assert!(fired(&mut lapic, START + 12_345));
    assert_eq!(
        read_at(&mut lapic, IA32_TSC_DEADLINE, START + 12_345),
        0,
        "cleared by firing"
    );
    assert_eq!(lapic.next_deadline(), None);
    // Disarming by writing 0.
    write_at(
        &mut lapic,
        IA32_TSC_DEADLINE,
        START + 50_000,
        START + 20_000,
    );
    write_at(&mut lapic, IA32_TSC_DEADLINE, 0, START + 30_000);
    assert_eq!(lapic.next_deadline(), None);
    assert!(!fired(&mut lapic, START + 60_000));
    // A deadline already past fires at the write.
    write_at(&mut lapic, IA32_TSC_DEADLINE, START, START + 70_000);
    assert_eq!(lapic.highest_injectable(), Some(VECTOR as u8));
    // The count registers do nothing in this mode.
    write_at(&mut lapic, TIMER_INITIAL, 100, START + 70_000);
    assert_eq!(read_at(&mut lapic, TIMER_INITIAL, START + 70_000), 0);
    assert_eq!(read_at(&mut lapic, TIMER_CURRENT, START + 70_000), 0);
}

#[test]
fn leaving_or_entering_tsc_deadline_mode_disarms() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, LVT_TIMER, TSC_DEADLINE);
    write_at(&mut lapic, IA32_TSC_DEADLINE, START + 100, START);
    write_at(&mut lapic, LVT_TIMER, ONE_SHOT, START + 1);
    assert_eq!(lapic.next_deadline(), None);
    write_at(&mut lapic, LVT_TIMER, TSC_DEADLINE, START + 2);
    assert_eq!(
        read_at(&mut lapic, IA32_TSC_DEADLINE, START + 2),
        0,
        "not re-armed"
    );
    write_at(&mut lapic, LVT_TIMER, PERIODIC, START + 3);
    write_at(&mut lapic, TIMER_INITIAL, 100, START + 3); // divide by 2: 200 ticks
    write_at(&mut lapic, LVT_TIMER, ONE_SHOT, START + 50); // runs on, then stops
    assert!(fired(&mut lapic, START + 203));
    assert_eq!(lapic.next_deadline(), None);
    write_at(&mut lapic, LVT_TIMER, PERIODIC, START + 300);
    write_at(&mut lapic, TIMER_INITIAL, 100, START + 300);
    write_at(&mut lapic, LVT_TIMER, TSC_DEADLINE, START + 350);
    assert_eq!(lapic.next_deadline(), None);
    assert_eq!(read_at(&mut lapic, TIMER_INITIAL, START + 350), 0);
}

#[test]
fn timer_stops_with_the_apic_disabled() {
    let mut lapic = enabled_lapic(0);
    write(&mut lapic, LVT_TIMER, PERIODIC);
    write_at(&mut lapic, TIMER_INITIAL, 100, START);
    write_at(&mut lapic, IA32_APIC_BASE, 0xfee0_0000, START + 10);
    assert_eq!(lapic.next_deadline(), None);
}
