//! The VM's port-I/O devices in one place: the legacy PC platform ([`LegacyPlatform`]:
//! PIC, PIT, UART, RTC, i8042) and the ACPI power-management registers the FADT names
//! ([`PmRegisters`]). A port-I/O exit goes to [`Machine::io_in`] or [`Machine::io_out`],
//! and what a write asks of the VMM beyond the device's state comes back as a
//! [`MachineRequest`]: the guest powered off (ACPI S5) or reset the machine (the 8042's
//! pulse-reset command, which is also the FADT's reset register).

use crate::platform::{PmAction, PmRegisters, PM_PORTS};
use crate::ports::{IoEffect, IoSize, LegacyPlatform};

#[cfg(test)]
mod tests;

/// What a port write asks of the VMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineRequest {
    None,
    /// The guest entered ACPI S5: stop the VM, successfully.
    PowerOff,
    /// The guest reset the machine.
    Reset,
}

/// One VM's port-I/O devices.
#[derive(Clone, Debug)]
pub struct Machine {
    pub legacy: LegacyPlatform,
    pub pm: PmRegisters,
}

impl Machine {
    /// The devices of a VM whose TSC runs at `tsc_khz` kHz, with the clock showing
    /// `unix_seconds` at TSC value `now`, and `ram_bytes` of RAM (for the CMOS).
    pub fn new(tsc_khz: u32, unix_seconds: u64, now: u64, ram_bytes: u64) -> Machine {
        let mut legacy = LegacyPlatform::new(tsc_khz, unix_seconds, now);
        legacy.rtc.set_memory_size(ram_bytes, 0);
        Machine {
            legacy,
            pm: PmRegisters::new(tsc_khz as u64 * 1000, now),
        }
    }

    /// An IN of `size` from `port` at TSC value `now`.
    pub fn io_in(&mut self, port: u16, size: IoSize, now: u64) -> u32 {
        if PM_PORTS.contains(&port) {
            return self.pm.read(port, size.bytes() as u8, now);
        }
        self.legacy.io_in(port, size, now)
    }

    /// An OUT of the low `size` bytes of `value` to `port` at TSC value `now`.
    pub fn io_out(&mut self, port: u16, size: IoSize, value: u32, now: u64) -> MachineRequest {
        if PM_PORTS.contains(&port) {
            return match self.pm.write(port, size.bytes() as u8, value) {
                PmAction::PowerOff => MachineRequest::PowerOff,
                PmAction::None => MachineRequest::None,
            };
        }
        match self.legacy.io_out(port, size, value, now) {
            IoEffect::ResetSystem => MachineRequest::Reset,
            IoEffect::None => MachineRequest::None,
        }
    }
}
