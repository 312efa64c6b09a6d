use super::*;

const WINDOW: u64 = 1000;

#[test]
fn the_first_burst_prints_then_the_rest_is_counted() {
    let mut l = Limiter::new();
    for i in 0..3 {
        assert_eq!(l.check(10 + i, WINDOW, 3), Verdict::Print { suppressed: 0 });
    }
    for i in 0..5 {
        assert_eq!(l.check(20 + i, WINDOW, 3), Verdict::Suppress);
    }
    assert_eq!(l.pending(), 5);
}

#[test]
fn the_next_window_prints_again_and_reports_the_count() {
    let mut l = Limiter::new();
    l.check(1, WINDOW, 1);
    for _ in 0..7 {
        assert_eq!(l.check(2, WINDOW, 1), Verdict::Suppress);
    }
    assert_eq!(
        l.check(1 + WINDOW, WINDOW, 1),
        Verdict::Print { suppressed: 7 }
    );
    assert_eq!(l.pending(), 0);
}

#[test]
fn flush_reports_only_after_the_window() {
    let mut l = Limiter::new();
    l.check(100, WINDOW, 1);
    l.check(101, WINDOW, 1);
    l.check(102, WINDOW, 1);
    assert_eq!(l.flush(500, WINDOW), None, "window still open");
    // The report is due when the window that dropped them ends, not a window later.
    assert_eq!(l.window_end(WINDOW), 100 + WINDOW);
    assert_eq!(l.flush(l.window_end(WINDOW) - 1, WINDOW), None);
    assert_eq!(l.flush(100 + WINDOW, WINDOW), Some(2));
    assert_eq!(l.flush(100 + 3 * WINDOW, WINDOW), None, "nothing left");
    // A new window began at the flush: one message prints at once.
    assert_eq!(
        l.check(100 + 3 * WINDOW, WINDOW, 1),
        Verdict::Print { suppressed: 0 }
    );
}

#[test]
fn a_flood_prints_a_bounded_number_of_lines() {
    let mut l = Limiter::new();
    let mut printed = 0u64;
    let mut reported = 0u64;
    let mut now = 1u64;
    for _ in 0..1_000_000 {
        now += 3;
        match l.check(now, WINDOW, 5) {
            Verdict::Print { suppressed } => {
                printed += 1;
                reported += suppressed;
            }
            Verdict::Suppress => {}
        }
    }
    reported += l.flush(now + WINDOW, WINDOW).unwrap_or(0);
    // 3,000,000 ticks: 3,000 windows of at most five lines each.
    assert!(printed <= 5 * 3001, "{printed}");
    assert_eq!(
        printed + reported,
        1_000_000,
        "every message printed or counted"
    );
}

#[test]
fn time_zero_and_wrapping_are_harmless() {
    let mut l = Limiter::new();
    assert_eq!(l.check(0, WINDOW, 1), Verdict::Print { suppressed: 0 });
    assert_eq!(
        l.check(u64::MAX, WINDOW, 1),
        Verdict::Print { suppressed: 0 }
    );
    assert_eq!(l.check(5, WINDOW, 1), Verdict::Suppress);
}
