//! The 16550 UART on COM1, 115200 baud, 8 data bits, no parity, 1 stop bit.

use crate::arch::io::{inb, outb};

const COM1: u16 = 0x3f8;

/// COM1 after initialisation.
pub struct Serial {
    base: u16,
}

impl Serial {
    /// Programs COM1 for 115200 8N1 with FIFOs and no interrupts.
    pub fn init_com1() -> Serial {
        let b = COM1;
        outb(b + 1, 0x00); // no interrupts
        outb(b + 3, 0x80); // divisor latch access
        outb(b, 0x01); // divisor 1: 115200 baud
        outb(b + 1, 0x00);
        outb(b + 3, 0x03); // 8N1
        outb(b + 2, 0xc7); // FIFOs on, cleared, 14-byte threshold
        outb(b + 4, 0x03); // DTR, RTS
        Serial { base: b }
    }

    /// COM1 as it already is (for the fatal paths).
    pub fn assume_com1() -> Serial {
        Serial { base: COM1 }
    }

    fn put(&mut self, byte: u8) {
        // Wait for the transmit holding register, but not forever: a missing UART
        // reads as 0xff and must not hang the kernel.
        for _ in 0..100_000 {
            let lsr = inb(self.base + 5);
            if lsr & 0x20 != 0 {
                break;
            }
            core::hint::spin_loop();
        }
        outb(self.base, byte);
    }

    /// Writes text, turning `\n` into CR LF.
    pub fn write_str(&mut self, s: &str) {
        for b in s.bytes() {
            if b == b'\n' {
                self.put(b'\r');
            }
            self.put(b);
        }
    }
}
