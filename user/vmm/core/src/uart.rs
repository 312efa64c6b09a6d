//! An NS16550A UART as the guest's COM1 (ports 0x3f8-0x3ff, IRQ 4): its console.
//!
//! The guest sees eight byte registers at `base + offset`; [`Uart::read`] and
//! [`Uart::write`] take the offset. Bytes the guest transmits go into a queue that the
//! VMM drains with [`Uart::take_output`]; bytes typed at the host go into the receive
//! FIFO through [`Uart::receive`]. [`Uart::irq_level`] is the level of the interrupt line
//! after the PC's OUT2 gate.
//!
//! Transmission takes no time: a written byte goes straight into the output queue, and
//! THR (with its FIFO) counts as empty while the queue has room for a full transmit-FIFO
//! load of 16 bytes, which is what a driver writes after each THR-empty interrupt. So
//! THRE (and the THR-empty interrupt) means "16 bytes of room" and TEMT "the output queue
//! is empty": a guest that writes faster than the VMM drains sees a busy transmitter
//! instead of losing bytes.
//!
//! Invariants: IER keeps only its four architectural bits, MCR its five; the receive FIFO
//! holds at most 16 bytes (1 with FIFOs disabled); the interrupt identification follows
//! the 16550A's priority (line status, received data or character timeout, THR empty,
//! modem status). Not modelled: baud rate and timing (the divisor latch is storage), parity,
//! framing and break errors, DMA mode, the transmit FIFO clear (bytes in the output queue
//! are already on the wire), the 4-character receive timeout (data below the trigger level
//! reports the timeout interrupt at once).

mod modem;
mod queue;

use queue::ByteQueue;

/// COM1's first port.
pub const COM1_BASE: u16 = 0x3f8;
/// COM1's ISA interrupt line.
pub const COM1_IRQ: u8 = 4;
/// Depth of the 16550A's receive FIFO.
pub const RX_FIFO_BYTES: usize = 16;
/// Transmitted bytes the VMM has not drained yet that the UART can hold.
pub const TX_QUEUE_BYTES: usize = 64;
/// Depth of the 16550A's transmit FIFO: what a driver may write once THR is empty.
const TX_FIFO_BYTES: usize = 16;

// Register offsets (DLAB selects the divisor latch at 0 and 1).
const DATA: u8 = 0;
const IER: u8 = 1;
const IIR_FCR: u8 = 2;
const LCR: u8 = 3;
const MCR: u8 = 4;
const LSR: u8 = 5;
const MSR: u8 = 6;
const SCR: u8 = 7;

const IER_RX_DATA: u8 = 0x01;
const IER_THR_EMPTY: u8 = 0x02;
const IER_LINE_STATUS: u8 = 0x04;
const IER_MODEM_STATUS: u8 = 0x08;

const IIR_NO_INTERRUPT: u8 = 0x01;
const IIR_LINE_STATUS: u8 = 0x06;
const IIR_RX_DATA: u8 = 0x04;
const IIR_RX_TIMEOUT: u8 = 0x0c;
const IIR_THR_EMPTY: u8 = 0x02;
const IIR_MODEM_STATUS: u8 = 0x00;
const IIR_FIFOS_ENABLED: u8 = 0xc0;

const FCR_ENABLE_FIFOS: u8 = 0x01;
const FCR_CLEAR_RX: u8 = 0x02;

const LCR_DLAB: u8 = 0x80;

const MCR_OUT2: u8 = 0x08;
const MCR_LOOPBACK: u8 = 0x10;

const LSR_DATA_READY: u8 = 0x01;
const LSR_OVERRUN: u8 = 0x02;
const LSR_THR_EMPTY: u8 = 0x20;
const LSR_TRANSMITTER_EMPTY: u8 = 0x40;

/// Receive FIFO trigger levels selected by FCR bits 7:6.
const RX_TRIGGER_LEVELS: [usize; 4] = [1, 4, 8, 14];

/// One 16550A.
#[derive(Clone, Debug)]
pub struct Uart {
    rx: ByteQueue<RX_FIFO_BYTES>,
    tx: ByteQueue<TX_QUEUE_BYTES>,
    /// What a read of an empty receive buffer returns: the last byte received.
    last_received: u8,
    ier: u8,
    lcr: u8,
    mcr: u8,
    scratch: u8,
    divisor: u16,
    fifos_enabled: bool,
    rx_trigger: usize,
    /// LSR.OE: a byte arrived with the receive buffer full (cleared by reading LSR).
    overrun: bool,
    /// The THR-empty interrupt condition: set when THR becomes empty (or ETBEI is
    /// enabled while it is), cleared by writing THR or by reading IIR while it is the
    /// reported source.
    thr_empty_pending: bool,
    /// MSR bits 3:0, cleared by reading MSR.
    modem_deltas: u8,
}

impl Default for Uart {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart {
    /// A UART in its reset state: interrupts disabled, FIFOs off, divisor 12 (9600 baud).
    pub const fn new() -> Uart {
        Uart {
            rx: ByteQueue::new(),
            tx: ByteQueue::new(),
            last_received: 0,
            ier: 0,
            lcr: 0,
            mcr: 0,
            scratch: 0,
            divisor: 12,
            fifos_enabled: false,
            rx_trigger: 1,
            overrun: false,
            thr_empty_pending: false,
            modem_deltas: 0,
        }
    }

    /// The guest reads the register at `offset` (0-7; higher bits ignored).
    pub fn read(&mut self, offset: u8) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset & 7 {
            DATA if dlab => self.divisor as u8,
            DATA => {
                if let Some(byte) = self.rx.pop() {
                    self.last_received = byte;
                }
                self.last_received
            }
            IER if dlab => (self.divisor >> 8) as u8,
            IER => self.ier,
            IIR_FCR => {
                let source = self.interrupt_source();
                if source == IIR_THR_EMPTY {
                    self.thr_empty_pending = false;
                }
                source
                    | if self.fifos_enabled {
                        IIR_FIFOS_ENABLED
                    } else {
                        0
                    }
            }
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => {
                let mut lsr = 0;
                if !self.rx.is_empty() {
                    lsr |= LSR_DATA_READY;
                }
                if core::mem::take(&mut self.overrun) {
                    lsr |= LSR_OVERRUN;
                }
                if self.thr_empty() {
                    lsr |= LSR_THR_EMPTY;
                }
                if self.tx.is_empty() {
                    lsr |= LSR_TRANSMITTER_EMPTY;
                }
                lsr
            }
            MSR => self.modem_inputs() | core::mem::take(&mut self.modem_deltas),
            SCR | 8.. => self.scratch,
        }
    }

    /// The guest writes `value` to the register at `offset` (0-7; higher bits ignored).
    /// LSR and MSR are read-only: writes to them are ignored.
    pub fn write(&mut self, offset: u8, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset & 7 {
            DATA if dlab => self.divisor = (self.divisor & 0xff00) | u16::from(value),
            DATA => self.transmit(value),
            IER if dlab => self.divisor = (self.divisor & 0x00ff) | (u16::from(value) << 8),
            IER => {
                let enabled_now = value & !self.ier & IER_THR_EMPTY != 0;
                self.ier = value & 0x0f;
                // The 16550A raises THR-empty as soon as the interrupt is enabled while
                // THR is empty; Linux's 8250 driver tests exactly that at start-up.
                if enabled_now && self.thr_empty() {
                    self.thr_empty_pending = true;
                }
            }
            IIR_FCR => self.write_fcr(value),
            LCR => self.lcr = value,
            MCR => self.write_mcr(value),
            LSR | MSR => {}
            SCR | 8.. => self.scratch = value,
        }
    }

    /// The interrupt line (IRQ 4) as the PIC sees it: an interrupt is identified and the
    /// PC's gate (MCR.OUT2, forced inactive in loopback mode) is open.
    pub fn irq_level(&self) -> bool {
        self.interrupt_source() != IIR_NO_INTERRUPT
            && self.mcr & MCR_OUT2 != 0
            && self.mcr & MCR_LOOPBACK == 0
    }

    /// How many bytes [`Uart::receive`] can take without an overrun (0 in loopback mode,
    /// where the serial input is disconnected).
    pub fn rx_room(&self) -> usize {
        if self.mcr & MCR_LOOPBACK != 0 {
            return 0;
        }
        self.rx_capacity().saturating_sub(self.rx.len())
    }

    /// A byte arrives on the serial input. Returns whether it was stored: in loopback
    /// mode the input is disconnected and the byte is lost; with the receive buffer full
    /// it is an overrun (LSR.OE) and the byte is lost (with FIFOs) or replaces the held
    /// byte (without).
    pub fn receive(&mut self, byte: u8) -> bool {
        if self.mcr & MCR_LOOPBACK != 0 {
            return false;
        }
        self.store_received(byte)
    }

    /// The oldest transmitted byte not yet taken by the VMM. Draining a (nearly) full
    /// queue makes THR empty again, which may raise the interrupt line: re-read
    /// [`Uart::irq_level`].
    pub fn take_output(&mut self) -> Option<u8> {
        let was_empty = self.thr_empty();
        let byte = self.tx.pop()?;
        if !was_empty && self.thr_empty() {
            self.thr_empty_pending = true;
        }
        Some(byte)
    }

    /// Whether transmitted bytes are waiting for [`Uart::take_output`].
    pub fn has_output(&self) -> bool {
        !self.tx.is_empty()
    }

    fn transmit(&mut self, byte: u8) {
        if self.mcr & MCR_LOOPBACK != 0 {
            self.store_received(byte);
        } else {
            // A full queue means THRE was clear for a while: the guest ignored it and
            // the byte is lost, as on a UART whose holding register is overwritten.
            self.tx.push_within(byte, TX_QUEUE_BYTES);
        }
        // Writing THR clears the THR-empty interrupt; THR is empty again at once if the
        // byte left it.
        self.thr_empty_pending = self.thr_empty();
    }

    fn store_received(&mut self, byte: u8) -> bool {
        if self.rx.push_within(byte, self.rx_capacity()) {
            return true;
        }
        self.overrun = true;
        if !self.fifos_enabled {
            self.rx.pop();
            self.rx.push_within(byte, 1);
        }
        false
    }

    fn rx_capacity(&self) -> usize {
        if self.fifos_enabled {
            RX_FIFO_BYTES
        } else {
            1
        }
    }

    fn thr_empty(&self) -> bool {
        self.tx.len() + TX_FIFO_BYTES <= TX_QUEUE_BYTES
    }

    fn write_fcr(&mut self, value: u8) {
        let enable = value & FCR_ENABLE_FIFOS != 0;
        // Changing the FIFO enable resets the FIFOs; the other bits only take effect
        // while FIFOs are enabled.
        if enable != self.fifos_enabled {
            self.rx.clear();
        }
        self.fifos_enabled = enable;
        if enable {
            if value & FCR_CLEAR_RX != 0 {
                self.rx.clear();
            }
            self.rx_trigger = RX_TRIGGER_LEVELS[usize::from(value >> 6)];
        }
    }

    /// IIR bits 3:0: the highest-priority enabled interrupt condition.
    fn interrupt_source(&self) -> u8 {
        if self.ier & IER_LINE_STATUS != 0 && self.overrun {
            IIR_LINE_STATUS
        } else if self.ier & IER_RX_DATA != 0 && !self.rx.is_empty() {
            if self.fifos_enabled && self.rx.len() < self.rx_trigger {
                IIR_RX_TIMEOUT
            } else {
                IIR_RX_DATA
            }
        } else if self.ier & IER_THR_EMPTY != 0 && self.thr_empty_pending {
            IIR_THR_EMPTY
        } else if self.ier & IER_MODEM_STATUS != 0 && self.modem_deltas != 0 {
            IIR_MODEM_STATUS
        } else {
            IIR_NO_INTERRUPT
        }
    }
}

#[cfg(test)]
mod tests;
