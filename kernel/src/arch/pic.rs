//! The legacy 8259 interrupt controllers: remapped away from the exception vectors and
//! masked, so that a stray legacy interrupt can never look like a CPU exception.

use super::io::outb;

/// Remaps both PICs to vectors 0x20..0x2f and masks every line.
pub fn disable() {
    outb(0x20, 0x11);
    outb(0xa0, 0x11);
    outb(0x21, 0x20);
    outb(0xa1, 0x28);
    outb(0x21, 0x04);
    outb(0xa1, 0x02);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}
