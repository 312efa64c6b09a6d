//! The PC's pair of cascaded Intel 8259A interrupt controllers: the master at ports
//! 0x20/0x21 takes ISA lines 0-7, the slave at 0xa0/0xa1 lines 8-15 and signals the
//! master on its IR2; the chipset's edge/level control registers (ELCR) sit at
//! 0x4d0/0x4d1. With no I/O APIC in the machine, the master's INT output reaches the
//! bootstrap vCPU through its local APIC's LINT0 (ExtINT, virtual-wire mode).
//!
//! Devices report line levels with [`Pic::set_irq`]; the VMM asks [`Pic::intr_pending`]
//! and, when the vCPU takes the interrupt, runs the INTA cycle with [`Pic::acknowledge`],
//! which returns the vector. Invariant: the master's IR2 request always equals the
//! slave's INT output (re-derived after every operation).
//!
//! Modelled: ICW1-ICW4 (8086 mode), OCW1-OCW3 with every EOI and rotation command,
//! auto-EOI, special mask and special fully nested modes, poll mode, the spurious IRQ 7
//! and IRQ 15 of an INTA with nothing (left) to deliver, edge and level triggering.
//! Not modelled: 8080 mode (vectors are always 8086-style), buffered mode, and the
//! slave's ID from ICW3 (the slave always answers for the master's IR2). ISA line 2 is
//! the cascade itself: `set_irq(2, _)` is ignored, as on a PC where the bus's IRQ 2 is
//! wired to IRQ 9.

mod chip;

use chip::Chip;

pub const MASTER_COMMAND: u16 = 0x20;
pub const MASTER_DATA: u16 = 0x21;
pub const SLAVE_COMMAND: u16 = 0xa0;
pub const SLAVE_DATA: u16 = 0xa1;
pub const ELCR_MASTER: u16 = 0x4d0;
pub const ELCR_SLAVE: u16 = 0x4d1;

/// The master's input that the slave drives.
const CASCADE_LINE: u8 = 2;

/// Both 8259As and the ELCR.
#[derive(Clone, Debug)]
pub struct Pic {
    master: Chip,
    slave: Chip,
}

impl Default for Pic {
    fn default() -> Self {
        Self::new()
    }
}

impl Pic {
    /// The pair as a PC BIOS leaves it: vectors 0x08 and 0x70, the slave on IR2, every
    /// line masked and edge-triggered. (Linux reinitialises it at boot.)
    pub const fn new() -> Pic {
        Pic {
            // The chipset (PIIX/ICH) fixes IRQ 0, 1, 2, 8 and 13 as edge-triggered.
            master: Chip::new(0x08, 1 << CASCADE_LINE, 0xf8),
            slave: Chip::new(0x70, CASCADE_LINE, 0xde),
        }
    }

    /// Whether `port` belongs to the PIC pair or its ELCR.
    pub fn owns(port: u16) -> bool {
        matches!(
            port,
            MASTER_COMMAND | MASTER_DATA | SLAVE_COMMAND | SLAVE_DATA | ELCR_MASTER | ELCR_SLAVE
        )
    }

    /// A byte read from one of the PIC's ports; other ports read 0xff.
    pub fn read(&mut self, port: u16) -> u8 {
        let value = match port {
            MASTER_COMMAND => self.master.read_command(),
            MASTER_DATA => self.master.imr,
            SLAVE_COMMAND => self.slave.read_command(),
            SLAVE_DATA => self.slave.imr,
            ELCR_MASTER => self.master.elcr,
            ELCR_SLAVE => self.slave.elcr,
            _ => 0xff,
        };
        self.sync_cascade();
        value
    }

    /// A byte written to one of the PIC's ports; other ports are ignored.
    pub fn write(&mut self, port: u16, value: u8) {
        match port {
            MASTER_COMMAND => self.master.write_command(value),
            MASTER_DATA => self.master.write_data(value),
            SLAVE_COMMAND => self.slave.write_command(value),
            SLAVE_DATA => self.slave.write_data(value),
            ELCR_MASTER => self.master.write_elcr(value),
            ELCR_SLAVE => self.slave.write_elcr(value),
            _ => {}
        }
        self.sync_cascade();
    }

    /// ISA interrupt line `line` (0-15) is now at `high`. Reporting an unchanged level is
    /// harmless; lines above 15 and the cascade line 2 are ignored.
    pub fn set_irq(&mut self, line: u8, high: bool) {
        match line {
            CASCADE_LINE => return,
            0..=7 => self.master.set_line(line, high),
            8..=15 => self.slave.set_line(line - 8, high),
            _ => return,
        }
        self.sync_cascade();
    }

    /// The master's INT output: an interrupt would be delivered by an INTA cycle now.
    pub fn intr_pending(&self) -> bool {
        self.master.highest_request().is_some()
    }

    /// The INTA cycle, as when the CPU takes the interrupt: returns the vector and moves
    /// the request to in-service (unless auto-EOI). With nothing to deliver the chip
    /// answers with its IR7 vector without setting ISR (a spurious interrupt): the
    /// master's for IRQ 7, the slave's for IRQ 15.
    pub fn acknowledge(&mut self) -> u8 {
        let vector = match self.master.highest_request() {
            None => self.master.vector(7),
            Some(line) => {
                self.master.acknowledge_line(line);
                if !self.master.is_cascade(line) {
                    self.master.vector(line)
                } else if let Some(slave_line) = self.slave.highest_request() {
                    self.slave.acknowledge_line(slave_line);
                    self.slave.vector(slave_line)
                } else {
                    self.slave.vector(7)
                }
            }
        };
        self.sync_cascade();
        vector
    }

    fn sync_cascade(&mut self) {
        let slave_requests = self.slave.highest_request().is_some();
        self.master.set_cascade_input(CASCADE_LINE, slave_requests);
    }
}

#[cfg(test)]
mod tests;
