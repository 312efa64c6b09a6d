//! COM1's 16550 UART, as the kernel left it (115200 8N1, FIFOs on): bytes out through the
//! transmit holding register, bytes in from the receive buffer, and the receive
//! interrupt. Callers hold the console's lock, so the registers have one user at a time.
//!
//! A missing UART reads as all ones: its line status then claims both "transmitter
//! empty" and "data ready", so the waits below are bounded and a read of 0xff status
//! counts as no data.

use facet_rt::console_protocol::COM1;
use facet_rt::io::{inb, outb};

const DATA: u16 = COM1;
const IER: u16 = COM1 + 1;
const MCR: u16 = COM1 + 4;
const LSR: u16 = COM1 + 5;

const LSR_DATA_READY: u8 = 1 << 0;
const LSR_THR_EMPTY: u8 = 1 << 5;
/// Interrupt enable: received data available.
const IER_RX: u8 = 1 << 0;
/// Modem control: DTR, RTS, and OUT2, which gates the UART's interrupt line on a PC.
const MCR_DTR_RTS_OUT2: u8 = 0x0b;

/// Writes `bytes`, each line end as CR LF.
pub fn write(bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            put(b'\r');
        }
        put(b);
    }
}

fn put(b: u8) {
    for _ in 0..100_000 {
        if inb(LSR) & LSR_THR_EMPTY != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    outb(DATA, b);
}

/// The next received byte, if one waits.
pub fn read() -> Option<u8> {
    let lsr = inb(LSR);
    (lsr != 0xff && lsr & LSR_DATA_READY != 0).then(|| inb(DATA))
}

/// Turns on the receive interrupt (the kernel programmed the UART without interrupts).
pub fn enable_rx_interrupt() {
    outb(MCR, MCR_DTR_RTS_OUT2);
    outb(IER, IER_RX);
}
