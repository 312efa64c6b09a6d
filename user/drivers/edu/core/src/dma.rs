//! One DMA transfer between the device's buffer and RAM (device addresses), checked
//! before the device sees it.

use crate::regs::{BUFFER, BUFFER_SIZE, CMD_IRQ, CMD_START, CMD_TO_RAM, DMA_MASK};

/// A checked transfer: what to write to the source, destination, count and command
/// registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transfer {
    pub src: u64,
    pub dst: u64,
    pub count: u64,
    pub cmd: u64,
}

/// Why a transfer is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No bytes, or more than the buffer holds from that offset.
    Length,
    /// The RAM range leaves the device's 28-bit DMA addresses (or wraps).
    Address,
}

/// A transfer of `len` bytes between offset `at` of the device's buffer and device
/// address `ram`; `to_ram`: from the buffer to RAM (else from RAM into the buffer);
/// `irq`: raise the DMA interrupt when done.
pub fn transfer(at: u64, ram: u64, len: u64, to_ram: bool, irq: bool) -> Result<Transfer, Refused> {
    if len == 0 || at >= BUFFER_SIZE || len > BUFFER_SIZE - at {
        return Err(Refused::Length);
    }
    let last = ram.checked_add(len - 1).ok_or(Refused::Address)?;
    if last & !DMA_MASK != 0 {
        return Err(Refused::Address);
    }
    let buffer = BUFFER + at;
    let (src, dst) = if to_ram { (buffer, ram) } else { (ram, buffer) };
    Ok(Transfer {
        src,
        dst,
        count: len,
        cmd: CMD_START | if to_ram { CMD_TO_RAM } else { 0 } | if irq { CMD_IRQ } else { 0 },
    })
}
