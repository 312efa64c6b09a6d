//! The edu driver's service: what a client's call carries and what the answer holds,
//! and what the roottask gives the driver (`docs/init.md`, role `edu`).
//!
//! A call's untyped words are `[op, …]`; the answer's word 0 is a status ([`answer`]),
//! then the result:
//!
//! - [`OP_FACTORIAL`] `[op, n]` → `[OK, n! mod 2^32]` (the device computes it, and
//!   raises its MSI when done).
//! - [`OP_COPY`] `[op, bytes, words…]` → `[OK, bytes, words…]`: the driver puts the bytes
//!   into its first DMA page, the device copies them into its buffer and from there into
//!   the second DMA page, and the answer carries the second page's bytes: a copy between
//!   two buffers by the device's DMA, each leg ending in an MSI.

/// Operations.
pub const OP_FACTORIAL: u64 = 1;
pub const OP_COPY: u64 = 2;

/// Answer word 0.
pub mod answer {
    pub const OK: u64 = 0;
    /// No such operation.
    pub const BAD_OP: u64 = 1;
    /// A length or count out of range.
    pub const BAD_LEN: u64 = 2;
    /// The device did not finish (no interrupt came).
    pub const DEVICE: u64 = 3;
}

/// Bytes one copy carries at most: what fits in a message after two words (a UTCB
/// holds 508 words), and in the device's 4 KiB buffer.
pub const MAX_COPY: u64 = 500 * 8;
/// Largest n the device is asked for (its factorial loop runs n times).
pub const MAX_FACTORIAL: u64 = 1000;

/// A decoded request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Factorial(u32),
    /// Copy `bytes` bytes, which follow in words 2 and on.
    Copy {
        bytes: u64,
    },
}

/// Decodes a call of `untyped` words whose first two are `w0` and `w1`; the answer
/// status for a bad one.
pub fn decode(untyped: u64, w0: u64, w1: u64) -> Result<Request, u64> {
    if untyped < 2 {
        return Err(if untyped == 0 {
            answer::BAD_OP
        } else {
            answer::BAD_LEN
        });
    }
    match w0 {
        OP_FACTORIAL if w1 <= MAX_FACTORIAL => Ok(Request::Factorial(w1 as u32)),
        OP_FACTORIAL => Err(answer::BAD_LEN),
        OP_COPY if w1 > 0 && w1 <= MAX_COPY && words(w1) <= untyped - 2 => {
            Ok(Request::Copy { bytes: w1 })
        }
        OP_COPY => Err(answer::BAD_LEN),
        _ => Err(answer::BAD_OP),
    }
}

/// Words that carry `bytes` bytes.
pub const fn words(bytes: u64) -> u64 {
    bytes.div_ceil(8)
}

/// What the roottask gives the driver and where.
pub mod layout {
    /// Regions (start-info page): the device's configuration page, the first page of its
    /// BAR 0, and its two DMA pages (read-write in its address space, and at
    /// [`DMA_DEVICE`] in its device page table).
    pub const CONFIG: &str = "config";
    pub const REGS: &str = "regs";
    pub const DMA: &str = "dma";
    pub const CONFIG_VA: u64 = 0x2000_0000;
    pub const REGS_VA: u64 = 0x2000_1000;
    pub const DMA_VA: u64 = 0x2001_0000;
    /// Where the device finds the DMA pages: below 256 MiB, as its 28-bit DMA addresses
    /// need.
    pub const DMA_DEVICE: u64 = 0x0010_0000;
    pub const DMA_PAGES: u64 = 2;
    /// The GSI of the device's MSI: the roottask hands its semaphore to the driver at
    /// `start_info::sel::GSIS + MSI_GSI`.
    pub const MSI_GSI: u64 = 120;
    /// Where a client finds the driver's portal (delegated by the roottask, with the
    /// call right).
    pub const CLIENT_PORTAL: u64 = 0x1050;
    /// The service id in the driver's registration (`start_info::parent`).
    pub const SERVICE: u64 = 1;
}
