//! The UART's modem control outputs (MCR bits 0-3) and status inputs (MSR): in loopback
//! mode the outputs feed the inputs, otherwise the other end is a terminal that is on
//! line and ready. Every change of an input sets its delta bit (for RI: only its trailing
//! edge), which the modem-status interrupt reports until MSR is read.

use super::{Uart, MCR_LOOPBACK, MCR_OUT2};

pub(super) const MCR_DTR: u8 = 0x01;
pub(super) const MCR_RTS: u8 = 0x02;
pub(super) const MCR_OUT1: u8 = 0x04;
/// DTR, RTS, OUT1, OUT2 and loopback; bits 7:5 read as zero.
const MCR_WRITABLE: u8 = 0x1f;

pub(super) const MSR_DELTA_CTS: u8 = 0x01;
pub(super) const MSR_DELTA_DSR: u8 = 0x02;
pub(super) const MSR_TRAILING_RI: u8 = 0x04;
pub(super) const MSR_DELTA_DCD: u8 = 0x08;
pub(super) const MSR_CTS: u8 = 0x10;
pub(super) const MSR_DSR: u8 = 0x20;
pub(super) const MSR_RI: u8 = 0x40;
pub(super) const MSR_DCD: u8 = 0x80;

impl Uart {
    /// A write of MCR: the outputs change, and with them (in loopback) the inputs.
    pub(super) fn write_mcr(&mut self, value: u8) {
        let before = self.modem_inputs();
        self.mcr = value & MCR_WRITABLE;
        let after = self.modem_inputs();
        let changed = before ^ after;
        if changed & MSR_CTS != 0 {
            self.modem_deltas |= MSR_DELTA_CTS;
        }
        if changed & MSR_DSR != 0 {
            self.modem_deltas |= MSR_DELTA_DSR;
        }
        if before & MSR_RI != 0 && after & MSR_RI == 0 {
            self.modem_deltas |= MSR_TRAILING_RI;
        }
        if changed & MSR_DCD != 0 {
            self.modem_deltas |= MSR_DELTA_DCD;
        }
    }

    /// MSR bits 7:4. In loopback mode the modem outputs feed the inputs (RTS to CTS, DTR
    /// to DSR, OUT1 to RI, OUT2 to DCD); otherwise the other end is a terminal that is
    /// on line and ready (CTS, DSR and DCD asserted).
    pub(super) fn modem_inputs(&self) -> u8 {
        if self.mcr & MCR_LOOPBACK == 0 {
            return MSR_CTS | MSR_DSR | MSR_DCD;
        }
        let mut inputs = 0;
        for (output, input) in [
            (MCR_RTS, MSR_CTS),
            (MCR_DTR, MSR_DSR),
            (MCR_OUT1, MSR_RI),
            (MCR_OUT2, MSR_DCD),
        ] {
            if self.mcr & output != 0 {
                inputs |= input;
            }
        }
        inputs
    }
}
