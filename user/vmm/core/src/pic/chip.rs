//! One Intel 8259A programmable interrupt controller: the request (IRR), in-service
//! (ISR) and mask (IMR) registers, the ICW1-ICW4 initialisation sequence, OCW2's EOI and
//! rotation commands and OCW3's register selection, poll and special mask mode.
//!
//! Priorities rotate: `highest_priority` is the IR line with the highest priority, the
//! others follow in increasing line order modulo 8. Invariant: a line's IRR bit is set
//! only after a rising edge (edge-triggered lines) or while the line is high
//! (level-triggered lines, chosen by the ELCR or ICW1.LTIM).

/// Where the initialisation sequence stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Init {
    /// Initialised: data-port writes go to IMR (OCW1).
    Done,
    ExpectIcw2,
    ExpectIcw3,
    ExpectIcw4,
}

const ICW1: u8 = 0x10;
const ICW1_NEEDS_ICW4: u8 = 0x01;
const ICW1_SINGLE: u8 = 0x02;
const ICW1_LEVEL_TRIGGERED: u8 = 0x08;
const OCW3: u8 = 0x08;
const OCW3_READ_REGISTER: u8 = 0x02;
const OCW3_READ_ISR: u8 = 0x01;
const OCW3_POLL: u8 = 0x04;
const OCW3_SET_SPECIAL_MASK: u8 = 0x40;
const OCW3_SPECIAL_MASK: u8 = 0x20;
const ICW4_AUTO_EOI: u8 = 0x02;
const ICW4_SPECIAL_FULLY_NESTED: u8 = 0x10;
/// The poll word's "interrupt present" bit.
const POLL_INTERRUPT: u8 = 0x80;

#[derive(Clone, Debug)]
pub(super) struct Chip {
    pub(super) irr: u8,
    pub(super) isr: u8,
    pub(super) imr: u8,
    /// Edge/level control register: set bits are level-triggered lines.
    pub(super) elcr: u8,
    /// ELCR bits the chipset lets software change (the others are fixed edge).
    elcr_writable: u8,
    /// Levels of the input lines as last reported, for edge detection.
    line_levels: u8,
    pub(super) vector_base: u8,
    /// ICW3: on the master, the lines with a slave behind them.
    slave_lines: u8,
    init: Init,
    needs_icw4: bool,
    single: bool,
    all_level_triggered: bool,
    auto_eoi: bool,
    rotate_on_auto_eoi: bool,
    special_fully_nested: bool,
    special_mask: bool,
    read_isr: bool,
    poll: bool,
    highest_priority: u8,
}

impl Chip {
    /// A chip as firmware leaves it: initialised with `vector_base` and `slave_lines`
    /// (ICW3), 8086 mode, normal EOI, every line masked.
    pub(super) const fn new(vector_base: u8, slave_lines: u8, elcr_writable: u8) -> Chip {
        Chip {
            irr: 0,
            isr: 0,
            imr: 0xff,
            elcr: 0,
            elcr_writable,
            line_levels: 0,
            vector_base,
            slave_lines,
            init: Init::Done,
            needs_icw4: true,
            single: false,
            all_level_triggered: false,
            auto_eoi: false,
            rotate_on_auto_eoi: false,
            special_fully_nested: false,
            special_mask: false,
            read_isr: false,
            poll: false,
            highest_priority: 0,
        }
    }

    /// A write to the command port (A0 = 0): ICW1, OCW2 or OCW3.
    pub(super) fn write_command(&mut self, value: u8) {
        if value & ICW1 != 0 {
            self.start_init(value);
        } else if value & OCW3 != 0 {
            if value & OCW3_SET_SPECIAL_MASK != 0 {
                self.special_mask = value & OCW3_SPECIAL_MASK != 0;
            }
            if value & OCW3_READ_REGISTER != 0 {
                self.read_isr = value & OCW3_READ_ISR != 0;
            }
            self.poll = value & OCW3_POLL != 0;
        } else {
            self.write_ocw2(value);
        }
    }

    /// A write to the data port (A0 = 1): the next ICW while initialising, else OCW1.
    pub(super) fn write_data(&mut self, value: u8) {
        self.init = match self.init {
            Init::Done => {
                self.imr = value;
                Init::Done
            }
            Init::ExpectIcw2 => {
                self.vector_base = value & 0xf8;
                if !self.single {
                    Init::ExpectIcw3
                } else if self.needs_icw4 {
                    Init::ExpectIcw4
                } else {
                    Init::Done
                }
            }
            Init::ExpectIcw3 => {
                self.slave_lines = value;
                if self.needs_icw4 {
                    Init::ExpectIcw4
                } else {
                    Init::Done
                }
            }
            Init::ExpectIcw4 => {
                // Bit 0 (8086 mode) is assumed and bits 2-3 (buffered mode) do not
                // matter to an emulated bus.
                self.auto_eoi = value & ICW4_AUTO_EOI != 0;
                self.special_fully_nested = value & ICW4_SPECIAL_FULLY_NESTED != 0;
                Init::Done
            }
        };
    }

    /// A read of the command port: the poll word if a poll was requested (which
    /// acknowledges like an INTA cycle), else IRR or ISR as OCW3 selected.
    pub(super) fn read_command(&mut self) -> u8 {
        if core::mem::take(&mut self.poll) {
            return match self.highest_request() {
                Some(line) => {
                    self.acknowledge_line(line);
                    POLL_INTERRUPT | line
                }
                None => 0,
            };
        }
        if self.read_isr {
            self.isr
        } else {
            self.irr
        }
    }

    pub(super) fn write_elcr(&mut self, value: u8) {
        self.elcr = value & self.elcr_writable;
        // Lines that are now level-triggered request exactly while they are high.
        let level = self.level_lines();
        self.irr = (self.irr & !level) | (self.line_levels & level);
    }

    /// An input line changes (or keeps) its level.
    pub(super) fn set_line(&mut self, line: u8, high: bool) {
        let bit = 1u8 << (line & 7);
        if self.level_lines() & bit != 0 {
            self.set_request(bit, high);
        } else if high && self.line_levels & bit == 0 {
            self.irr |= bit;
        }
        self.set_line_level(bit, high);
    }

    /// The input from a cascaded slave: its INT output, followed as a level whatever
    /// the trigger mode, so that a slave that stays requesting is never lost.
    pub(super) fn set_cascade_input(&mut self, line: u8, high: bool) {
        let bit = 1u8 << (line & 7);
        self.set_request(bit, high);
        self.set_line_level(bit, high);
    }

    /// The IR line the chip would present to the CPU now, if any (the INT output).
    pub(super) fn highest_request(&self) -> Option<u8> {
        if self.special_mask {
            // Special mask mode: every unmasked level not in service may interrupt.
            return self.highest_priority_in(self.irr & !self.imr & !self.isr);
        }
        let request = self.highest_priority_in(self.irr & !self.imr)?;
        let mut in_service = self.isr;
        if self.special_fully_nested {
            // A slave's further (higher-priority) requests pass its in-service line.
            in_service &= !self.cascade_lines();
        }
        match self.highest_priority_in(in_service) {
            Some(served) if self.priority(served) <= self.priority(request) => None,
            _ => Some(request),
        }
    }

    /// The INTA cycle for `line`: IRR to ISR (or straight to done with auto-EOI).
    pub(super) fn acknowledge_line(&mut self, line: u8) {
        let bit = 1u8 << (line & 7);
        if self.level_lines() & bit == 0 {
            self.irr &= !bit;
        }
        if !self.auto_eoi {
            self.isr |= bit;
        } else if self.rotate_on_auto_eoi {
            self.highest_priority = line.wrapping_add(1) & 7;
        }
    }

    /// Whether `line` has a slave behind it (ICW3, in cascade mode).
    pub(super) fn is_cascade(&self, line: u8) -> bool {
        self.cascade_lines() & (1u8 << (line & 7)) != 0
    }

    pub(super) fn vector(&self, line: u8) -> u8 {
        self.vector_base | (line & 7)
    }

    fn start_init(&mut self, icw1: u8) {
        self.init = Init::ExpectIcw2;
        self.needs_icw4 = icw1 & ICW1_NEEDS_ICW4 != 0;
        self.single = icw1 & ICW1_SINGLE != 0;
        self.all_level_triggered = icw1 & ICW1_LEVEL_TRIGGERED != 0;
        // ICW1 clears the mask and in-service registers and resets the edge sense
        // circuits: edge-triggered lines need a new rising edge.
        self.imr = 0;
        self.isr = 0;
        self.irr &= self.level_lines() & self.line_levels;
        self.highest_priority = 0;
        self.special_mask = false;
        self.read_isr = false;
        self.poll = false;
        // Without ICW4 its functions are all zero.
        self.auto_eoi = false;
        self.rotate_on_auto_eoi = false;
        self.special_fully_nested = false;
    }

    fn write_ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value >> 5 {
            0b001 => {
                self.non_specific_eoi();
            }
            0b101 => {
                if let Some(line) = self.non_specific_eoi() {
                    self.highest_priority = (line + 1) & 7;
                }
            }
            0b011 => self.isr &= !(1u8 << level),
            0b111 => {
                self.isr &= !(1u8 << level);
                self.highest_priority = (level + 1) & 7;
            }
            0b110 => self.highest_priority = (level + 1) & 7,
            0b100 => self.rotate_on_auto_eoi = true,
            0b000 => self.rotate_on_auto_eoi = false,
            _ => {} // 0b010: no operation
        }
    }

    /// Clears the highest-priority in-service bit; returns its line.
    fn non_specific_eoi(&mut self) -> Option<u8> {
        let line = self.highest_priority_in(self.isr)?;
        self.isr &= !(1u8 << line);
        Some(line)
    }

    fn set_request(&mut self, bit: u8, high: bool) {
        if high {
            self.irr |= bit;
        } else {
            self.irr &= !bit;
        }
    }

    fn set_line_level(&mut self, bit: u8, high: bool) {
        if high {
            self.line_levels |= bit;
        } else {
            self.line_levels &= !bit;
        }
    }

    fn level_lines(&self) -> u8 {
        if self.all_level_triggered {
            0xff
        } else {
            self.elcr
        }
    }

    fn cascade_lines(&self) -> u8 {
        if self.single {
            0
        } else {
            self.slave_lines
        }
    }

    /// 0 is the highest priority, 7 the lowest.
    fn priority(&self, line: u8) -> u8 {
        line.wrapping_sub(self.highest_priority) & 7
    }

    fn highest_priority_in(&self, lines: u8) -> Option<u8> {
        (0..8)
            .map(|rank| (self.highest_priority + rank) & 7)
            .find(|line| lines & (1u8 << line) != 0)
    }
}
