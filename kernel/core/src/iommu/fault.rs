//! Fault recording: a unit that blocks a request records its requester, what it wanted
//! and why in a fault recording register and raises its fault event interrupt.

/// One decoded fault record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// The requester id (bus << 8 | device << 3 | function).
    pub source: u16,
    /// The reason code (VT-d's table of fault reasons; see [`reason`]).
    pub reason: u8,
    /// A DMA write (else a read); meaningless for interrupt faults.
    pub write: bool,
    /// The page address of a DMA fault, or the interrupt index of an interrupt
    /// remapping fault.
    pub info: u64,
}

impl Record {
    /// Whether the fault is an interrupt remapping fault (reasons 0x20 to 0x2f).
    pub const fn interrupt(&self) -> bool {
        self.reason & 0xf0 == 0x20
    }
}

/// Bit 127 of a fault recording register: it holds a fault. Writing 1 there (to the
/// high word) clears it.
pub const RECORDED: u64 = 1 << 63;

/// Decodes a fault recording register (`low` = bits 63:0, `high` = bits 127:64);
/// `None` if it holds no fault.
pub const fn decode(low: u64, high: u64) -> Option<Record> {
    if high & RECORDED == 0 {
        return None;
    }
    let reason = (high >> 32) as u8;
    let interrupt = reason & 0xf0 == 0x20;
    Some(Record {
        source: high as u16,
        reason,
        // T (bit 126): 0 write, 1 read.
        write: high & (1 << 62) == 0,
        info: if interrupt { low >> 48 } else { low & !0xfff },
    })
}

/// What a reason code means.
pub const fn reason(code: u8) -> &'static str {
    match code {
        0x01 => "root entry not present",
        0x02 => "context entry not present",
        0x03 => "context entry invalid",
        0x04 => "address beyond the domain's width",
        0x05 => "write to a page not mapped writable",
        0x06 => "read from a page not mapped",
        0x07 => "table address beyond the host width",
        0x08 => "root table unreadable",
        0x09 => "context table unreadable",
        0x0a => "root entry reserved bits",
        0x0b => "context entry reserved bits",
        0x0c => "paging entry reserved bits",
        0x0d => "translation type blocked",
        0x20 => "interrupt request reserved bits",
        0x21 => "interrupt index beyond the table",
        0x22 => "interrupt entry not present",
        0x23 => "interrupt table unreadable",
        0x24 => "interrupt entry reserved bits",
        0x25 => "compatibility-format interrupt blocked",
        0x26 => "interrupt from a requester the entry does not name",
        0x27 => "posted interrupt blocked",
        _ => "unknown reason",
    }
}

/// Formats a requester id as bus:device.function.
pub struct Bdf(pub u16);

impl core::fmt::Display for Bdf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{:02x}:{:02x}.{}",
            self.0 >> 8,
            (self.0 >> 3) & 0x1f,
            self.0 & 7
        )
    }
}
