//! The Intel 8254 programmable interval timer (ports 0x40-0x43) and PC port 0x61 (NMI
//! status and control: counter 2's gate and the speaker), which lives here because its
//! interesting bits are counter 2's gate and output.
//!
//! Counter 0 drives ISA IRQ 0; counter 2's OUT is readable as port 0x61 bit 5, which is
//! how Linux calibrates the TSC (it also reads counter 2's count through port 0x42).
//! The counters' clock is 1.193182 MHz derived from the TSC: at TSC value `now` the PIT
//! has seen `now * 1193182 / tsc_hz` clock edges (rounded down), a pure function of `now`,
//! so counts and outputs never drift however often they are read.
//!
//! IRQ 0 is reported as pulses: [`Pit::poll_irq0`] returns how many rising edges counter
//! 0's OUT made since the previous poll (the caller raises and lowers IRQ 0 once if there
//! were any), and [`Pit::next_deadline`] the TSC value at which the next one happens.
//! Edges that happen before a reprogramming are counted first, so none is lost.
//!
//! Modelled: all three counters, modes 0-5 (mode 3's count values are approximate for
//! odd counts, and a counter 0 or 1 in mode 1 or 5 never triggers since their gates are
//! tied high), every access mode with its flip-flop, the counter latch and read-back
//! commands, BCD counting. Port 0x61: bits 0-3 read back as written, bit 4 toggles every
//! 15 µs (the refresh-request bit some delay loops watch), bit 5 is counter 2's OUT; the
//! NMI sources of bits 6 and 7 never fire. The speaker makes no sound.

mod channel;

use channel::Channel;

/// The 8254's input clock on a PC, in Hz.
pub const PIT_HZ: u64 = 1_193_182;
pub const COUNTER0: u16 = 0x40;
pub const COUNTER1: u16 = 0x41;
pub const COUNTER2: u16 = 0x42;
pub const CONTROL: u16 = 0x43;
/// PC port B: NMI status and control.
pub const PORT_B: u16 = 0x61;
/// ISA line of counter 0's output.
pub const IRQ: u8 = 0;

const PORT_B_GATE2: u8 = 0x01;
const PORT_B_SPEAKER_DATA: u8 = 0x02;
/// Parity and channel check enables: storage only.
const PORT_B_CHECK_ENABLES: u8 = 0x0c;
const PORT_B_REFRESH: u8 = 0x10;
const PORT_B_OUT2: u8 = 0x20;
/// PIT clocks between toggles of the refresh-request bit (15.09 µs on a PC).
const REFRESH_TOGGLE_CLOCKS: u64 = 18;

/// Converts between TSC values and PIT clock edges.
#[derive(Clone, Copy, Debug)]
struct Clock {
    tsc_hz: u128,
}

impl Clock {
    /// PIT clock edges up to TSC value `now`.
    fn ticks(self, now: u64) -> u64 {
        let ticks = u128::from(now) * u128::from(PIT_HZ) / self.tsc_hz;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// The first TSC value at which `ticks` PIT clock edges have happened.
    fn tsc_at(self, ticks: u64) -> u64 {
        let tsc = (u128::from(ticks) * self.tsc_hz).div_ceil(u128::from(PIT_HZ));
        u64::try_from(tsc).unwrap_or(u64::MAX)
    }
}

/// The 8254 with port 0x61.
#[derive(Clone, Debug)]
pub struct Pit {
    clock: Clock,
    counters: [Channel; 3],
    /// Port 0x61 bits 1-3 as written.
    port_b: u8,
    /// PIT tick up to which counter 0's edges have been counted.
    irq0_counted_until: u64,
    irq0_pulses: u64,
}

impl Pit {
    /// An 8254 after power-up (no counter counting) on a machine whose TSC runs at
    /// `tsc_khz` kHz.
    pub fn new(tsc_khz: u32) -> Pit {
        Pit {
            clock: Clock {
                tsc_hz: u128::from(tsc_khz.max(1)) * 1000,
            },
            counters: [Channel::new(true), Channel::new(true), Channel::new(false)],
            port_b: 0,
            irq0_counted_until: 0,
            irq0_pulses: 0,
        }
    }

    /// Whether `port` belongs to the PIT (including port 0x61).
    pub fn owns(port: u16) -> bool {
        matches!(port, COUNTER0..=CONTROL | PORT_B)
    }

    /// A byte read at TSC value `now`. The control port is write-only (reads float to
    /// 0xff), as are ports the PIT does not own.
    pub fn read(&mut self, port: u16, now: u64) -> u8 {
        let t = self.clock.ticks(now);
        match port {
            COUNTER0..=COUNTER2 => self.counters[usize::from(port - COUNTER0)].read(t),
            PORT_B => {
                let mut value = self.port_b;
                if self.counters[2].output(t) {
                    value |= PORT_B_OUT2;
                }
                if (t / REFRESH_TOGGLE_CLOCKS) & 1 != 0 {
                    value |= PORT_B_REFRESH;
                }
                value
            }
            _ => 0xff,
        }
    }

    /// A byte written at TSC value `now`; ports the PIT does not own are ignored.
    pub fn write(&mut self, port: u16, value: u8, now: u64) {
        let t = self.clock.ticks(now);
        self.count_irq0_edges(t);
        match port {
            COUNTER0..=COUNTER2 => self.counters[usize::from(port - COUNTER0)].write(value, t),
            CONTROL => self.write_control(value, t),
            PORT_B => {
                self.port_b = value & (PORT_B_GATE2 | PORT_B_SPEAKER_DATA | PORT_B_CHECK_ENABLES);
                self.counters[2].set_gate(value & PORT_B_GATE2 != 0, t);
            }
            _ => {}
        }
    }

    /// Rising edges of counter 0's output (IRQ 0) since the previous call, up to `now`.
    pub fn poll_irq0(&mut self, now: u64) -> u64 {
        self.count_irq0_edges(self.clock.ticks(now));
        core::mem::take(&mut self.irq0_pulses)
    }

    /// The TSC value at which [`Pit::poll_irq0`] next has something to report (already
    /// past if pulses are waiting), or `None` while counter 0 will never raise IRQ 0.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.irq0_pulses > 0 {
            return Some(self.clock.tsc_at(self.irq0_counted_until));
        }
        let edge = self.counters[0].next_rising_edge(self.irq0_counted_until)?;
        Some(self.clock.tsc_at(edge))
    }

    /// Whether counter 2's gate (port 0x61 bit 0) and the speaker data bit (bit 1) are
    /// both set: the speaker then sounds counter 2's output.
    pub fn speaker_enabled(&self) -> bool {
        self.port_b & (PORT_B_GATE2 | PORT_B_SPEAKER_DATA) == PORT_B_GATE2 | PORT_B_SPEAKER_DATA
    }

    fn write_control(&mut self, value: u8, t: u64) {
        let select = usize::from(value >> 6);
        if select == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches status, bits
            // 1-3 select counters 0-2.
            for (index, counter) in self.counters.iter_mut().enumerate() {
                if value & (2 << index) != 0 {
                    if value & 0x20 == 0 {
                        counter.latch_count(t);
                    }
                    if value & 0x10 == 0 {
                        counter.latch_status(t);
                    }
                }
            }
            return;
        }
        let counter = &mut self.counters[select];
        match (value >> 4) & 3 {
            0 => counter.latch_count(t),
            rw => counter.program(rw, (value >> 1) & 7, value & 1 != 0),
        }
    }

    fn count_irq0_edges(&mut self, t: u64) {
        if t > self.irq0_counted_until {
            let edges = self.counters[0].rising_edges(self.irq0_counted_until, t);
            self.irq0_pulses = self.irq0_pulses.saturating_add(edges);
            self.irq0_counted_until = t;
        }
    }
}

#[cfg(test)]
mod tests;
