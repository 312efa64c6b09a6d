//! The edu device's registers (BAR 0, 32-bit accesses below 0x80, 32 or 64 above).

/// Vendor 0x1234, device 0x11e8 (configuration space offset 0).
pub const ID: u32 = 0x11e8_1234;
/// BAR 0 reads `0x010000ed`: version 1.0, "ed".
pub const IDENT: u64 = 0x00;
/// Liveness: reads back the complement of what was written.
pub const LIVENESS: u64 = 0x04;
/// Factorial: writing n starts n!, reading gives the result once done.
pub const FACTORIAL: u64 = 0x08;
/// Status: bit 0 busy computing (read-only), bit 7 raise an interrupt when done.
pub const STATUS: u64 = 0x20;
pub const STATUS_BUSY: u32 = 1;
pub const STATUS_IRQ: u32 = 0x80;
/// Interrupt status (which causes are raised), raise (write: set causes), acknowledge
/// (write: clear causes).
pub const IRQ_STATUS: u64 = 0x24;
pub const IRQ_RAISE: u64 = 0x60;
pub const IRQ_ACK: u64 = 0x64;
/// Interrupt causes: a factorial finished, a DMA transfer finished.
pub const IRQ_FACTORIAL: u32 = 0x1;
pub const IRQ_DMA: u32 = 0x100;
/// DMA source, destination and byte count (64-bit registers), and command.
pub const DMA_SRC: u64 = 0x80;
pub const DMA_DST: u64 = 0x88;
pub const DMA_COUNT: u64 = 0x90;
pub const DMA_CMD: u64 = 0x98;
/// Command bits: start (cleared by the device when done), direction (set: from the
/// device's buffer to RAM), raise [`IRQ_DMA`] when done.
pub const CMD_START: u64 = 1;
pub const CMD_TO_RAM: u64 = 2;
pub const CMD_IRQ: u64 = 4;
/// The device's buffer, as DMA addresses on the device side name it.
pub const BUFFER: u64 = 0x4_0000;
pub const BUFFER_SIZE: u64 = 4096;
/// The device masks its DMA addresses to 28 bits: device addresses stay below 256 MiB.
pub const DMA_MASK: u64 = (1 << 28) - 1;
