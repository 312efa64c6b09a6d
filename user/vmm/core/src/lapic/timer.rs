//! The local APIC timer: one-shot and periodic counting of the initial count at the
//! timer clock divided by the divide configuration, and TSC-deadline mode
//! (IA32_TSC_DEADLINE).
//!
//! The timer clock runs at `timer_khz` (the APIC's bus or crystal clock as CPUID leaf
//! 0x15 reports it; with `timer_khz == tsc_khz` every deadline is an exact TSC value).
//! Counting is computed from the TSC value `start` at which the count was loaded: after
//! `d` TSC ticks the timer has counted `d * timer_khz / (tsc_khz * divisor)` clocks
//! (rounded down), and its `k`-th expiry is at `start + ceil(k * initial * divisor *
//! tsc_khz / timer_khz)`, so a periodic timer never drifts. Invariant: `next` is the
//! TSC value of the next expiry, `None` while nothing is armed.

/// LVT timer bits 18:17.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TimerMode {
    OneShot,
    Periodic,
    TscDeadline,
}

impl TimerMode {
    pub(super) fn from_lvt(lvt: u32) -> TimerMode {
        match (lvt >> 17) & 3 {
            1 => TimerMode::Periodic,
            2 => TimerMode::TscDeadline,
            // 3 is reserved: it counts like one-shot.
            _ => TimerMode::OneShot,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Timer {
    tsc_khz: u128,
    timer_khz: u128,
    pub(super) divide_config: u32,
    pub(super) initial_count: u32,
    start: u64,
    tsc_deadline: u64,
    next: Option<u64>,
}

impl Timer {
    pub(super) fn new(tsc_khz: u32, timer_khz: u32) -> Timer {
        Timer {
            tsc_khz: u128::from(tsc_khz.max(1)),
            timer_khz: u128::from(timer_khz.max(1)),
            divide_config: 0,
            initial_count: 0,
            start: 0,
            tsc_deadline: 0,
            next: None,
        }
    }

    /// Power-up state: stopped, divide by 2.
    pub(super) fn reset(&mut self) {
        self.divide_config = 0;
        self.initial_count = 0;
        self.tsc_deadline = 0;
        self.next = None;
    }

    pub(super) fn next_expiry(&self) -> Option<u64> {
        self.next
    }

    /// A write of the initial-count register (ignored in TSC-deadline mode): loads and
    /// starts the count; 0 stops the timer.
    pub(super) fn write_initial(&mut self, count: u32, mode: TimerMode, now: u64) {
        if mode == TimerMode::TscDeadline {
            return;
        }
        self.initial_count = count;
        self.start = now;
        self.schedule(mode, now);
    }

    /// A write of the divide configuration (bits 0, 1 and 3). A running count carries on
    /// from its current value at the new rate.
    pub(super) fn write_divide(&mut self, value: u32, mode: TimerMode, now: u64) {
        let current = self.current_count(mode, now);
        self.divide_config = value & 0b1011;
        if mode == TimerMode::TscDeadline || self.initial_count == 0 {
            return;
        }
        let counted = u128::from(self.initial_count - current);
        let tsc = (counted * self.tsc_per_clock_numerator()).div_ceil(self.timer_khz);
        self.start = now.saturating_sub(u64::try_from(tsc).unwrap_or(u64::MAX));
        self.schedule(mode, now);
    }

    /// The current-count register: 0 in TSC-deadline mode, after a one-shot expired and
    /// while stopped.
    pub(super) fn current_count(&self, mode: TimerMode, now: u64) -> u32 {
        if mode == TimerMode::TscDeadline || self.initial_count == 0 {
            return 0;
        }
        let clocks = u128::from(now.saturating_sub(self.start)) * self.timer_khz
            / self.tsc_per_clock_numerator();
        let initial = u128::from(self.initial_count);
        let remaining = match mode {
            TimerMode::Periodic => initial - clocks % initial,
            _ => initial.saturating_sub(clocks),
        };
        remaining as u32
    }

    /// IA32_TSC_DEADLINE as read: the armed deadline, 0 once it fired or outside
    /// TSC-deadline mode.
    pub(super) fn tsc_deadline(&self, mode: TimerMode) -> u64 {
        if mode == TimerMode::TscDeadline {
            self.tsc_deadline
        } else {
            0
        }
    }

    /// A write of IA32_TSC_DEADLINE: arms (0 disarms) in TSC-deadline mode, else ignored.
    pub(super) fn write_tsc_deadline(&mut self, value: u64, mode: TimerMode) {
        if mode == TimerMode::TscDeadline {
            self.tsc_deadline = value;
            self.next = (value != 0).then_some(value);
        }
    }

    /// The LVT timer's mode changes: entering or leaving TSC-deadline mode disarms the
    /// timer (count and deadline cleared); between one-shot and periodic the count runs
    /// on and the mode at expiry decides whether it reloads.
    pub(super) fn change_mode(&mut self, old: TimerMode, new: TimerMode) {
        if old != new && (old == TimerMode::TscDeadline || new == TimerMode::TscDeadline) {
            self.initial_count = 0;
            self.tsc_deadline = 0;
            self.next = None;
        }
    }

    /// Whether the timer expired by `now` (once per expiry, however many periods were
    /// missed); re-arms a periodic timer for its first expiry after `now`.
    pub(super) fn poll(&mut self, mode: TimerMode, now: u64) -> bool {
        match self.next {
            Some(expiry) if now >= expiry => {}
            _ => return false,
        }
        match mode {
            TimerMode::Periodic => self.schedule(mode, now),
            TimerMode::OneShot => self.next = None,
            TimerMode::TscDeadline => {
                self.tsc_deadline = 0;
                self.next = None;
            }
        }
        true
    }

    /// Arms `next` for the first expiry after `now` (one-shot: the only one, if it is
    /// still ahead).
    fn schedule(&mut self, mode: TimerMode, now: u64) {
        if self.initial_count == 0 {
            self.next = None;
            return;
        }
        let per_period = u128::from(self.initial_count) * self.tsc_per_clock_numerator();
        let elapsed = u128::from(now.saturating_sub(self.start));
        let period_index = match mode {
            TimerMode::Periodic => elapsed * self.timer_khz / per_period + 1,
            _ => 1,
        };
        let expiry = (period_index * per_period).div_ceil(self.timer_khz);
        let expiry = u128::from(self.start) + expiry;
        self.next = u64::try_from(expiry).ok();
        if mode != TimerMode::Periodic && self.current_count(mode, now) == 0 {
            self.next = None;
        }
    }

    /// `divisor * tsc_khz`: one timer clock is this many TSC ticks times `1/timer_khz`.
    fn tsc_per_clock_numerator(&self) -> u128 {
        let code = ((self.divide_config >> 1) & 4) | (self.divide_config & 3);
        let divisor = 1u128 << ((code + 1) & 7);
        divisor * self.tsc_khz
    }
}
