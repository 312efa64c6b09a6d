//! An Intel 8042 keyboard controller (data port 0x60, status/command port 0x64) with
//! nothing plugged into either of its ports: enough for Linux's i8042 driver to find a
//! working controller, register its keyboard and auxiliary ports quickly, and have the
//! keyboard and mouse drivers' probes fail at once (every byte sent to a device is
//! answered with 0xfe and the time-out status bit, as a controller does when no device
//! clocks the byte in). And the PC's way to reset the machine: command 0xfe pulses the
//! CPU reset line, which [`I8042::write`] reports as [`I8042Effect::ResetSystem`] (as it
//! does for an output-port write that drives the line low).
//!
//! The controller answers at once: the input buffer is never full, and each command's
//! reply is in the one-byte output buffer before the next access. The output buffer
//! raises IRQ 1 (controller or keyboard data) or IRQ 12 (auxiliary data) while full and
//! enabled in the command byte; [`I8042::keyboard_irq_level`] and
//! [`I8042::aux_irq_level`] give the lines' levels.
//!
//! Port 0x61 (speaker and NMI control) is not here: it belongs to the PIT module.
//! Not modelled: keyboards and mice, the A20 gate (always enabled), password and
//! keyboard-lock features, the input port's jumpers (command 0xc0 is ignored).

pub const DATA_PORT: u16 = 0x60;
pub const COMMAND_PORT: u16 = 0x64;
/// ISA lines of the keyboard and auxiliary (mouse) ports.
pub const KEYBOARD_IRQ: u8 = 1;
pub const AUX_IRQ: u8 = 12;

const STATUS_OUTPUT_FULL: u8 = 0x01;
const STATUS_SYSTEM_FLAG: u8 = 0x04;
const STATUS_LAST_WAS_COMMAND: u8 = 0x08;
const STATUS_NOT_INHIBITED: u8 = 0x10;
const STATUS_AUX_DATA: u8 = 0x20;
const STATUS_TIMEOUT: u8 = 0x40;

const CTR_KEYBOARD_INTERRUPT: u8 = 0x01;
const CTR_AUX_INTERRUPT: u8 = 0x02;
const CTR_SYSTEM_FLAG: u8 = 0x04;
const CTR_KEYBOARD_DISABLED: u8 = 0x10;
const CTR_AUX_DISABLED: u8 = 0x20;
const CTR_TRANSLATE: u8 = 0x40;

/// Output port bit 0: the CPU reset line (active low).
const OUTPUT_PORT_NOT_RESET: u8 = 0x01;
const OUTPUT_PORT_A20: u8 = 0x02;

/// What the device answers to a byte it never receives.
const NO_DEVICE: u8 = 0xfe;

/// What a write asks of the VMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum I8042Effect {
    None,
    /// The guest pulsed the CPU reset line: reset the machine.
    ResetSystem,
}

/// The controller.
#[derive(Clone, Debug)]
pub struct I8042 {
    /// The controller's 32 bytes of RAM; byte 0 is the command byte (CTR).
    ram: [u8; 32],
    output: Option<u8>,
    /// The last byte placed in the output buffer, which a read of an empty buffer sees.
    last_output: u8,
    output_from_aux: bool,
    timeout: bool,
    /// A command waiting for its parameter byte on the data port.
    pending_command: Option<u8>,
    last_write_was_command: bool,
    output_port: u8,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// The controller as a BIOS leaves it: keyboard interrupt enabled, system flag set,
    /// scan-code translation on, output buffer empty.
    pub const fn new() -> I8042 {
        let mut ram = [0; 32];
        ram[0] = CTR_KEYBOARD_INTERRUPT | CTR_SYSTEM_FLAG | CTR_TRANSLATE;
        I8042 {
            ram,
            output: None,
            last_output: 0,
            output_from_aux: false,
            timeout: false,
            pending_command: None,
            last_write_was_command: false,
            output_port: OUTPUT_PORT_NOT_RESET | OUTPUT_PORT_A20,
        }
    }

    /// Whether `port` belongs to the controller.
    pub fn owns(port: u16) -> bool {
        matches!(port, DATA_PORT | COMMAND_PORT)
    }

    /// A byte read: the output buffer (emptying it) or the status register.
    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            DATA_PORT => {
                if let Some(byte) = self.output.take() {
                    self.last_output = byte;
                }
                self.timeout = false;
                self.last_output
            }
            COMMAND_PORT => self.status(),
            _ => 0xff,
        }
    }

    /// A byte written: a command (port 0x64), or a command's parameter or a byte for the
    /// keyboard (port 0x60).
    pub fn write(&mut self, port: u16, value: u8) -> I8042Effect {
        match port {
            COMMAND_PORT => {
                self.last_write_was_command = true;
                self.pending_command = None;
                self.command(value)
            }
            DATA_PORT => {
                self.last_write_was_command = false;
                match self.pending_command.take() {
                    Some(command) => self.parameter(command, value),
                    None => {
                        // To the keyboard, which is not there.
                        self.reply_no_device(false);
                        I8042Effect::None
                    }
                }
            }
            _ => I8042Effect::None,
        }
    }

    /// IRQ 1: keyboard-side data in the output buffer with its interrupt enabled.
    pub fn keyboard_irq_level(&self) -> bool {
        self.output.is_some() && !self.output_from_aux && self.ctr() & CTR_KEYBOARD_INTERRUPT != 0
    }

    /// IRQ 12: auxiliary data in the output buffer with its interrupt enabled.
    pub fn aux_irq_level(&self) -> bool {
        self.output.is_some() && self.output_from_aux && self.ctr() & CTR_AUX_INTERRUPT != 0
    }

    fn status(&self) -> u8 {
        let mut status = STATUS_NOT_INHIBITED;
        if self.output.is_some() {
            status |= STATUS_OUTPUT_FULL;
            if self.output_from_aux {
                status |= STATUS_AUX_DATA;
            }
        }
        if self.ctr() & CTR_SYSTEM_FLAG != 0 {
            status |= STATUS_SYSTEM_FLAG;
        }
        if self.last_write_was_command {
            status |= STATUS_LAST_WAS_COMMAND;
        }
        if self.timeout {
            status |= STATUS_TIMEOUT;
        }
        status
    }

    fn command(&mut self, command: u8) -> I8042Effect {
        match command {
            0x20..=0x3f => self.reply(self.ram[usize::from(command & 0x1f)], false),
            // Write RAM (0x60 the command byte), write output port, write the keyboard
            // or auxiliary output buffer, write to the auxiliary device: a parameter
            // follows on the data port.
            0x60..=0x7f | 0xd1..=0xd4 => self.pending_command = Some(command),
            0xa7 => self.ram[0] |= CTR_AUX_DISABLED,
            0xa8 => self.ram[0] &= !CTR_AUX_DISABLED,
            // Interface tests pass: the clock and data lines idle high with nothing
            // attached.
            0xa9 | 0xab => self.reply(0x00, false),
            0xaa => self.reply(0x55, false),
            0xad => self.ram[0] |= CTR_KEYBOARD_DISABLED,
            0xae => self.ram[0] &= !CTR_KEYBOARD_DISABLED,
            0xd0 => self.reply(self.output_port, false),
            0xdd => self.output_port &= !OUTPUT_PORT_A20,
            0xdf => self.output_port |= OUTPUT_PORT_A20,
            // Pulse output-port bits 0-3 low for those clear in the command's low
            // nibble; bit 0 is the reset line.
            0xf0..=0xff if command & OUTPUT_PORT_NOT_RESET == 0 => return I8042Effect::ResetSystem,
            _ => {}
        }
        I8042Effect::None
    }

    fn parameter(&mut self, command: u8, value: u8) -> I8042Effect {
        match command {
            0x60..=0x7f => self.ram[usize::from(command & 0x1f)] = value,
            0xd1 => {
                self.output_port = value;
                if value & OUTPUT_PORT_NOT_RESET == 0 {
                    return I8042Effect::ResetSystem;
                }
            }
            0xd2 => self.reply(value, false),
            0xd3 => self.reply(value, true),
            // 0xd4: to the auxiliary device, which is not there.
            _ => self.reply_no_device(true),
        }
        I8042Effect::None
    }

    fn reply(&mut self, byte: u8, from_aux: bool) {
        self.output = Some(byte);
        self.output_from_aux = from_aux;
        self.timeout = false;
    }

    fn reply_no_device(&mut self, from_aux: bool) {
        self.reply(NO_DEVICE, from_aux);
        self.timeout = true;
    }

    fn ctr(&self) -> u8 {
        self.ram[0]
    }
}

#[cfg(test)]
mod tests;
