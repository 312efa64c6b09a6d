//! The legacy PC platform behind the I/O port bus: which device answers a port access,
//! how their interrupt lines reach the PIC, and how the PIC and the bootstrap vCPU's
//! local APIC combine into the next interrupt to inject.
//!
//! The VMM owns one [`LegacyPlatform`] per VM and passes each port-I/O exit to
//! [`LegacyPlatform::io_in`] or [`LegacyPlatform::io_out`]. An access of two or four
//! bytes is split into byte accesses at consecutive ports, as the ISA bus does. Ports no
//! device claims are absent: reads return all ones of the access size, writes vanish;
//! the POST-code port 0x80 and the delay port 0xed are such ports on purpose.
//!
//! Interrupt lines are kept in step: after every access and every [`LegacyPlatform::poll`]
//! the UART's IRQ 4 and the keyboard controller's IRQ 1 and 12 levels are copied to the
//! PIC, and each rising edge of the PIT's counter 0 pulses IRQ 0. With no I/O APIC, the
//! PIC reaches vCPU 0 through its local APIC's LINT0 in ExtINT mode (or directly while
//! that APIC is disabled), ahead of the APIC's own fixed interrupts, which the task
//! priority does not hold back (see [`LegacyPlatform::pending_interrupt`]).

use crate::i8042::{self, I8042Effect, I8042};
use crate::lapic::Lapic;
use crate::pic::{self, Pic};
use crate::pit::{self, Pit};
use crate::rtc::{self, Rtc};
use crate::uart::{self, Uart};

#[cfg(test)]
pub(crate) mod testrng;

/// The POST-code port: firmware writes progress codes, Linux writes it to delay.
pub const POST_PORT: u16 = 0x80;
/// Linux's alternative I/O delay port.
pub const DELAY_PORT: u16 = 0xed;
const COM1_LAST: u16 = uart::COM1_BASE + 7;

/// The width of a port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoSize {
    Byte = 1,
    Word = 2,
    Dword = 4,
}

impl IoSize {
    /// The size of an access of `bytes` bytes (1, 2 or 4).
    pub fn from_bytes(bytes: u8) -> Option<IoSize> {
        match bytes {
            1 => Some(IoSize::Byte),
            2 => Some(IoSize::Word),
            4 => Some(IoSize::Dword),
            _ => None,
        }
    }

    pub fn bytes(self) -> u16 {
        self as u16
    }
}

/// What a port write asks of the VMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoEffect {
    None,
    /// The guest reset the machine (through the keyboard controller).
    ResetSystem,
}

/// Where the next interrupt for vCPU 0 comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterruptSource {
    /// The PIC, through LINT0 (ExtINT): its INTA cycle supplies the vector.
    Pic,
    /// A fixed interrupt in the local APIC's IRR.
    Apic(u8),
}

/// The devices of one VM's legacy platform.
#[derive(Clone, Debug)]
pub struct LegacyPlatform {
    pub pic: Pic,
    pub pit: Pit,
    pub uart: Uart,
    pub rtc: Rtc,
    pub i8042: I8042,
}

impl LegacyPlatform {
    /// A platform whose TSC runs at `tsc_khz` kHz, with the RTC showing `unix_seconds` at
    /// TSC value `now`.
    pub fn new(tsc_khz: u32, unix_seconds: u64, now: u64) -> LegacyPlatform {
        LegacyPlatform {
            pic: Pic::new(),
            pit: Pit::new(tsc_khz),
            uart: Uart::new(),
            rtc: Rtc::new(unix_seconds, now, tsc_khz),
            i8042: I8042::new(),
        }
    }

    /// An IN of `size` from `port` at TSC value `now`: the value for the guest's
    /// register (only the low `size` bytes are meaningful).
    pub fn io_in(&mut self, port: u16, size: IoSize, now: u64) -> u32 {
        self.poll(now);
        let mut value = 0;
        for byte in 0..size.bytes() {
            value |= u32::from(self.read_byte(port.wrapping_add(byte), now)) << (8 * byte);
        }
        self.sync_irq_lines();
        value
    }

    /// An OUT of the low `size` bytes of `value` to `port` at TSC value `now`.
    pub fn io_out(&mut self, port: u16, size: IoSize, value: u32, now: u64) -> IoEffect {
        self.poll(now);
        let mut effect = IoEffect::None;
        for byte in 0..size.bytes() {
            let data = (value >> (8 * byte)) as u8;
            if self.write_byte(port.wrapping_add(byte), data, now) == IoEffect::ResetSystem {
                effect = IoEffect::ResetSystem;
            }
        }
        self.sync_irq_lines();
        effect
    }

    /// Brings the timers' interrupts up to `now`: call at [`LegacyPlatform::next_deadline`]
    /// (port accesses do it too).
    pub fn poll(&mut self, now: u64) {
        if self.pit.poll_irq0(now) > 0 {
            // IRQ 0 is edge-triggered: one pulse stands for every edge since the last
            // poll, as the PIC's single request bit would.
            self.pic.set_irq(pit::IRQ, true);
            self.pic.set_irq(pit::IRQ, false);
        }
    }

    /// The TSC value at which [`LegacyPlatform::poll`] next has work.
    pub fn next_deadline(&self) -> Option<u64> {
        self.pit.next_deadline()
    }

    /// A byte typed at the host for the guest's COM1; false if it was lost (check
    /// [`Uart::rx_room`] first to hold input back instead).
    pub fn serial_input(&mut self, byte: u8) -> bool {
        let stored = self.uart.receive(byte);
        self.sync_irq_lines();
        stored
    }

    /// The next byte the guest wrote to COM1, for the host's console.
    pub fn serial_output(&mut self) -> Option<u8> {
        let byte = self.uart.take_output();
        self.sync_irq_lines();
        byte
    }

    /// The interrupt vCPU 0 would take now: the PIC's (if it reaches the CPU, see
    /// [`Lapic::accepts_pic_interrupts`]) before the APIC's highest injectable vector.
    pub fn pending_interrupt(&self, lapic: &Lapic) -> Option<InterruptSource> {
        if lapic.accepts_pic_interrupts() && self.pic.intr_pending() {
            return Some(InterruptSource::Pic);
        }
        lapic.highest_injectable().map(InterruptSource::Apic)
    }

    /// vCPU 0 takes the pending interrupt (call when injecting it): the PIC's INTA cycle
    /// or the APIC's move to ISR. Returns the vector to inject.
    pub fn take_interrupt(&mut self, lapic: &mut Lapic) -> Option<u8> {
        let vector = match self.pending_interrupt(lapic)? {
            InterruptSource::Pic => self.pic.acknowledge(),
            InterruptSource::Apic(vector) => {
                lapic.acknowledge(vector);
                vector
            }
        };
        Some(vector)
    }

    fn read_byte(&mut self, port: u16, now: u64) -> u8 {
        match port {
            pic::MASTER_COMMAND
            | pic::MASTER_DATA
            | pic::SLAVE_COMMAND
            | pic::SLAVE_DATA
            | pic::ELCR_MASTER
            | pic::ELCR_SLAVE => self.pic.read(port),
            pit::COUNTER0..=pit::CONTROL | pit::PORT_B => self.pit.read(port, now),
            i8042::DATA_PORT | i8042::COMMAND_PORT => self.i8042.read(port),
            rtc::INDEX_PORT | rtc::DATA_PORT => self.rtc.read(port, now),
            uart::COM1_BASE..=COM1_LAST => self.uart.read((port - uart::COM1_BASE) as u8),
            // Absent, POST_PORT and DELAY_PORT included: the bus floats high.
            _ => 0xff,
        }
    }

    fn write_byte(&mut self, port: u16, value: u8, now: u64) -> IoEffect {
        match port {
            pic::MASTER_COMMAND
            | pic::MASTER_DATA
            | pic::SLAVE_COMMAND
            | pic::SLAVE_DATA
            | pic::ELCR_MASTER
            | pic::ELCR_SLAVE => self.pic.write(port, value),
            pit::COUNTER0..=pit::CONTROL | pit::PORT_B => self.pit.write(port, value, now),
            i8042::DATA_PORT | i8042::COMMAND_PORT => {
                return match self.i8042.write(port, value) {
                    I8042Effect::ResetSystem => IoEffect::ResetSystem,
                    I8042Effect::None => IoEffect::None,
                };
            }
            rtc::INDEX_PORT | rtc::DATA_PORT => self.rtc.write(port, value, now),
            uart::COM1_BASE..=COM1_LAST => self.uart.write((port - uart::COM1_BASE) as u8, value),
            // POST codes, delays and absent ports.
            _ => {}
        }
        IoEffect::None
    }

    fn sync_irq_lines(&mut self) {
        self.pic.set_irq(uart::COM1_IRQ, self.uart.irq_level());
        self.pic
            .set_irq(i8042::KEYBOARD_IRQ, self.i8042.keyboard_irq_level());
        self.pic.set_irq(i8042::AUX_IRQ, self.i8042.aux_irq_level());
    }
}

#[cfg(test)]
mod tests;
