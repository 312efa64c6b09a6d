//! One 8254 counter: its mode, access mode and flip-flops, the count and status latches,
//! and a counting element whose value and OUT level are computed from the PIT tick
//! (`t`, in 1.193182 MHz clocks) instead of being stepped.
//!
//! Timeline: a count written at tick `t` is loaded by the next CLK edge, so counting
//! starts at `start = t + 1` with the count at `period`; `elapsed = t - start` clocks
//! later the counter holds `period - elapsed` (modes 0, 1, 4, 5; wrapping) or the
//! position in the current cycle (modes 2 and 3). Invariants: `frozen` is `Some` exactly
//! while counting is suspended (by the gate, or in mode 0 by a half-written count) and
//! holds the elapsed clocks at that moment; `deferred` is `Some` only in modes 2 and 3,
//! for a count written while counting, which the 8254 loads at the end of the current
//! cycle (itself a rising edge of OUT).

mod counting;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    LowByte = 1,
    HighByte = 2,
    Word = 3,
}

#[derive(Clone, Debug)]
pub(super) struct Channel {
    /// 0-5 (mode bits 6 and 7 are modes 2 and 3).
    mode: u8,
    /// Mode bits as programmed, for the status byte.
    mode_bits: u8,
    access: Access,
    bcd: bool,
    count_register: u16,
    /// A count was written since the control word.
    has_count: bool,
    write_msb_next: bool,
    pending_lsb: u8,
    read_msb_next: bool,
    latched_count: Option<u16>,
    latch_msb_next: bool,
    latched_status: Option<u8>,
    gate: bool,
    counting: bool,
    start: u64,
    period: u32,
    frozen: Option<u64>,
    deferred: Option<(u64, u32)>,
}

impl Channel {
    /// A counter after power-up: mode 0 with no count, not counting, OUT low.
    pub(super) const fn new(gate: bool) -> Channel {
        Channel {
            mode: 0,
            mode_bits: 0,
            access: Access::Word,
            bcd: false,
            count_register: 0,
            has_count: false,
            write_msb_next: false,
            pending_lsb: 0,
            read_msb_next: false,
            latched_count: None,
            latch_msb_next: false,
            latched_status: None,
            gate,
            counting: false,
            start: 0,
            period: 0x10000,
            frozen: None,
            deferred: None,
        }
    }

    /// A control word for this counter with access bits `rw` (1-3), mode bits and BCD.
    /// It resets the counter's logic: OUT goes to its initial level, counting stops
    /// until a count is written.
    pub(super) fn program(&mut self, rw: u8, mode_bits: u8, bcd: bool) {
        self.access = match rw {
            1 => Access::LowByte,
            2 => Access::HighByte,
            _ => Access::Word,
        };
        self.mode_bits = mode_bits & 7;
        self.mode = if self.mode_bits >= 6 {
            self.mode_bits - 4
        } else {
            self.mode_bits
        };
        self.bcd = bcd;
        self.has_count = false;
        self.write_msb_next = false;
        self.read_msb_next = false;
        self.latched_count = None;
        self.latched_status = None;
        self.counting = false;
        self.frozen = None;
        self.deferred = None;
    }

    /// The counter latch command: the count is held until read (a second latch before
    /// then is ignored).
    pub(super) fn latch_count(&mut self, t: u64) {
        if self.latched_count.is_none() {
            self.latched_count = Some(self.count_value(t));
            self.latch_msb_next = false;
        }
    }

    /// The read-back command's status latch.
    pub(super) fn latch_status(&mut self, t: u64) {
        if self.latched_status.is_none() {
            let mut status = (self.access as u8) << 4 | self.mode_bits << 1 | u8::from(self.bcd);
            if self.output(t) {
                status |= 0x80;
            }
            if self.null_count(t) {
                status |= 0x40;
            }
            self.latched_status = Some(status);
        }
    }

    /// A read of the counter's port: a latched status first, then a latched count, else
    /// the live count, each in the programmed access mode.
    pub(super) fn read(&mut self, t: u64) -> u8 {
        if let Some(status) = self.latched_status.take() {
            return status;
        }
        let (count, msb) = match self.latched_count {
            Some(count) => {
                let msb = match self.access {
                    Access::LowByte => false,
                    Access::HighByte => true,
                    Access::Word => core::mem::replace(&mut self.latch_msb_next, true),
                };
                if self.access != Access::Word || msb {
                    self.latched_count = None;
                }
                (count, msb)
            }
            None => {
                let msb = match self.access {
                    Access::LowByte => false,
                    Access::HighByte => true,
                    Access::Word => {
                        self.read_msb_next = !self.read_msb_next;
                        !self.read_msb_next
                    }
                };
                (self.count_value(t), msb)
            }
        };
        if msb {
            (count >> 8) as u8
        } else {
            count as u8
        }
    }

    /// A write of the counter's port: one byte of the count in the programmed access mode.
    pub(super) fn write(&mut self, value: u8, t: u64) {
        match self.access {
            Access::LowByte => self.load(u16::from(value), t),
            Access::HighByte => self.load(u16::from(value) << 8, t),
            Access::Word if !self.write_msb_next => {
                self.write_msb_next = true;
                self.pending_lsb = value;
                // Mode 0: writing the first byte stops the count.
                if self.mode == 0 && self.counting && self.frozen.is_none() {
                    self.frozen = Some(self.elapsed(t));
                }
            }
            Access::Word => {
                self.write_msb_next = false;
                self.load(u16::from(self.pending_lsb) | u16::from(value) << 8, t);
            }
        }
    }

    /// The gate input changes (only counter 2's gate is not tied high on a PC).
    pub(super) fn set_gate(&mut self, high: bool, t: u64) {
        if high == self.gate {
            return;
        }
        self.settle(t);
        self.gate = high;
        match self.mode {
            0 | 4 if self.counting => {
                if !high && self.frozen.is_none() {
                    self.frozen = Some(self.elapsed(t));
                } else if high && !(self.mode == 0 && self.write_msb_next) {
                    // Counting goes on from where it stopped, but not before the count
                    // is loaded (if the gate rose within the writing clock).
                    if let Some(elapsed) = self.frozen.take() {
                        self.start = t.saturating_sub(elapsed).max(self.start);
                    }
                }
            }
            2 | 3 if self.counting => {
                if high {
                    self.restart(t);
                } else {
                    self.frozen = Some(self.elapsed(t));
                    self.deferred = None;
                }
            }
            1 | 5 if high && self.has_count => self.restart(t),
            _ => {}
        }
    }

    fn load(&mut self, register: u16, t: u64) {
        self.settle(t);
        self.count_register = register;
        self.has_count = true;
        let period = self.register_period();
        match self.mode {
            2 | 3 if self.counting && self.frozen.is_none() => {
                let at = match self.deferred {
                    Some((at, _)) => at,
                    None => {
                        let cycles = (self.elapsed(t) / u64::from(self.period)).saturating_add(1);
                        self.start
                            .saturating_add(cycles.saturating_mul(u64::from(self.period)))
                    }
                };
                self.deferred = Some((at, period));
            }
            // Modes 1 and 5 load the count at the next gate trigger.
            1 | 5 => {}
            _ => {
                self.restart(t);
                if !self.gate {
                    self.frozen = Some(0);
                }
            }
        }
    }

    /// Loads the count register into the counting element at the next CLK edge.
    fn restart(&mut self, t: u64) {
        self.counting = true;
        self.start = t.saturating_add(1);
        self.period = self.register_period();
        self.frozen = None;
        self.deferred = None;
    }

    /// Applies a deferred count whose cycle has ended by `t`.
    fn settle(&mut self, t: u64) {
        if let Some((at, period)) = self.deferred {
            if t >= at {
                self.start = at;
                self.period = period;
                self.deferred = None;
            }
        }
    }
}
