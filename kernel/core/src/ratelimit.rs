//! Bounding kernel messages that user mode can cause (a thread without a portal, an
//! NMI storm from a device a driver programmed): each kind of message may be printed a
//! few times per window of time; the rest are counted, and the count is printed with the
//! next message of that kind or when the window ends ([`Limiter::flush`]). Messages the
//! boot or a fatal error prints never go through a limiter.
//!
//! Time is whatever monotonic tick the caller uses (the kernel: its TSC); the window is
//! given in the same ticks.

/// One kind of message's budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limiter {
    /// Start of the current window (0 before the first message).
    window_start: u64,
    /// Messages printed in the current window.
    printed: u32,
    /// Messages suppressed since the last one printed or reported.
    suppressed: u64,
}

/// What to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Print it; `suppressed` messages of its kind were dropped before it (say so).
    Print { suppressed: u64 },
    /// Drop it (it is counted).
    Suppress,
}

impl Limiter {
    pub const fn new() -> Limiter {
        Limiter {
            window_start: 0,
            printed: 0,
            suppressed: 0,
        }
    }

    /// Decides about one message at `now`: at most `burst` per `window` ticks.
    pub fn check(&mut self, now: u64, window: u64, burst: u32) -> Verdict {
        self.roll(now, window);
        if self.printed < burst {
            self.printed += 1;
            let suppressed = core::mem::take(&mut self.suppressed);
            Verdict::Print { suppressed }
        } else {
            self.suppressed = self.suppressed.saturating_add(1);
            Verdict::Suppress
        }
    }

    /// Once the window in which messages were dropped has ended: how many, for the
    /// caller to report (the count is then cleared). `None` while the window lasts or
    /// when nothing was dropped.
    pub fn flush(&mut self, now: u64, window: u64) -> Option<u64> {
        if self.suppressed == 0 || now.wrapping_sub(self.window_start) < window {
            return None;
        }
        self.roll(now, window);
        Some(core::mem::take(&mut self.suppressed))
    }

    /// When the current window ends (`window` ticks after it began): when what it
    /// dropped can be reported.
    pub fn window_end(&self, window: u64) -> u64 {
        self.window_start.saturating_add(window)
    }

    /// Messages dropped and not yet reported.
    pub fn pending(&self) -> u64 {
        self.suppressed
    }

    /// Starts a new window if the current one has ended (or none began).
    fn roll(&mut self, now: u64, window: u64) {
        if self.window_start == 0 || now.wrapping_sub(self.window_start) >= window {
            self.window_start = now.max(1);
            self.printed = 0;
        }
    }
}

#[cfg(test)]
mod tests;
