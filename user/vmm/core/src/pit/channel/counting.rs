//! What a counter shows at a given PIT tick: its count and OUT level, and the rising
//! edges of OUT, all computed from when counting started (`start`) and the period loaded
//! then, including a deferred count's next segment (modes 2 and 3).

use super::Channel;

impl Channel {
    /// The OUT level at tick `t`.
    pub(in crate::pit) fn output(&self, t: u64) -> bool {
        if !self.counting {
            return self.mode != 0;
        }
        if self.mode == 0 && self.write_msb_next {
            // Mode 0: the first byte of a new count sets OUT low at once.
            return false;
        }
        let (start, period) = self.segment(t);
        let elapsed = self.elapsed_in(start, t);
        let n = u64::from(period);
        match self.mode {
            0 | 1 => elapsed >= n,
            2 => self.frozen.is_some() || elapsed % n != n - 1,
            3 => self.frozen.is_some() || elapsed % n < n.div_ceil(2),
            _ => elapsed != n,
        }
    }

    /// Rising edges of OUT in the PIT ticks `(after, until]` (for counter 0's IRQ 0).
    pub(in crate::pit) fn rising_edges(&self, after: u64, until: u64) -> u64 {
        if !self.counting || self.frozen.is_some() || until <= after {
            return 0;
        }
        match self.deferred {
            Some((at, period)) if at < until => {
                let before = if after < at {
                    edges_between(self.mode, self.start, self.period, after, at)
                } else {
                    0
                };
                before + edges_between(self.mode, at, period, after.max(at), until)
            }
            _ => edges_between(self.mode, self.start, self.period, after, until),
        }
    }

    /// The first tick after `after` at which OUT rises, if it ever does as programmed.
    pub(in crate::pit) fn next_rising_edge(&self, after: u64) -> Option<u64> {
        if !self.counting || self.frozen.is_some() {
            return None;
        }
        match self.deferred {
            Some((at, period)) if after >= at => next_edge(self.mode, at, period, after),
            _ => next_edge(self.mode, self.start, self.period, after),
        }
    }

    /// The start and period in force at `t` (a deferred count's, once its cycle began).
    pub(super) fn segment(&self, t: u64) -> (u64, u32) {
        match self.deferred {
            Some((at, period)) if t >= at => (at, period),
            _ => (self.start, self.period),
        }
    }

    /// Clocks counted by `t` since the start of the segment in force.
    pub(super) fn elapsed(&self, t: u64) -> u64 {
        let (start, _) = self.segment(t);
        self.elapsed_in(start, t)
    }

    pub(super) fn elapsed_in(&self, start: u64, t: u64) -> u64 {
        self.frozen.unwrap_or(t.saturating_sub(start))
    }

    /// Status bit 6: a count was written but is not in the counting element yet.
    pub(super) fn null_count(&self, t: u64) -> bool {
        !self.counting || t < self.start || self.deferred.is_some()
    }

    /// The count register as a number of clocks (0 is the largest count).
    pub(super) fn register_period(&self) -> u32 {
        let value = if self.bcd {
            from_bcd(self.count_register)
        } else {
            u32::from(self.count_register)
        };
        match value {
            0 if self.bcd => 10_000,
            0 => 0x10000,
            v => v,
        }
    }

    /// The counting element's value at `t`, in the counter's format (binary or BCD).
    pub(in crate::pit) fn count_value(&self, t: u64) -> u16 {
        let modulus: u64 = if self.bcd { 10_000 } else { 0x10000 };
        let count = if !self.counting {
            u64::from(self.register_period())
        } else {
            let (_, period) = self.segment(t);
            let n = u64::from(period);
            let elapsed = self.elapsed(t);
            match self.mode {
                2 => n - elapsed % n,
                3 => {
                    // Decrements by two; the high half-cycle is the longer for odd counts.
                    let position = elapsed % n;
                    let high = n.div_ceil(2);
                    let into_half = if position < high {
                        position
                    } else {
                        position - high
                    };
                    (n & !1).saturating_sub(2 * into_half).max(2)
                }
                _ => (n + modulus - elapsed % modulus) % modulus,
            }
        };
        if self.bcd {
            to_bcd(count % 10_000)
        } else {
            count as u16
        }
    }
}

/// Rising edges in `(after, until]` of a counter in `mode` loaded with `period` at
/// `start`: once at the terminal count in modes 0 and 1, one clock after it in modes 4
/// and 5, at every reload in modes 2 and 3.
fn edges_between(mode: u8, start: u64, period: u32, after: u64, until: u64) -> u64 {
    let n = i128::from(period);
    let from = i128::from(after) - i128::from(start);
    let to = i128::from(until) - i128::from(start);
    let count = match mode {
        2 | 3 => to.div_euclid(n) - from.div_euclid(n).max(0),
        _ => {
            let edge = if mode <= 1 { n } else { n + 1 };
            i128::from(from < edge && edge <= to)
        }
    };
    count.max(0) as u64
}

fn next_edge(mode: u8, start: u64, period: u32, after: u64) -> Option<u64> {
    let n = i128::from(period);
    let from = i128::from(after) - i128::from(start);
    let edge = match mode {
        2 | 3 => (from.div_euclid(n) + 1).max(1) * n,
        _ => {
            let edge = if mode <= 1 { n } else { n + 1 };
            if edge <= from {
                return None;
            }
            edge
        }
    };
    u64::try_from(i128::from(start) + edge).ok()
}

/// Four BCD digits as a number; digits above 9 keep their weight (as the counter's
/// decade logic would misbehave, but never fault).
fn from_bcd(value: u16) -> u32 {
    (0..4).rev().fold(0, |acc, digit| {
        acc * 10 + u32::from((value >> (digit * 4)) & 0xf)
    })
}

fn to_bcd(value: u64) -> u16 {
    (0..4).fold(0, |acc, digit| {
        acc | ((value / 10u64.pow(digit) % 10) as u16) << (digit * 4)
    })
}
