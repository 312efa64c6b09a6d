//! Invalidation: what a unit may have cached (context entries, IOTLB translations,
//! interrupt entries) must be dropped after the kernel changes a table, before the
//! change is relied on. Units with queued invalidation take 128-bit descriptors in a ring
//! and report completion by writing a status word; others take register commands.

use super::tables::Entry128;

/// Descriptors in Facet's invalidation queue: one page of 16-byte descriptors (IQA
/// queue size 0).
pub const QUEUE_ENTRIES: usize = 256;

/// Invalidation granularities.
const GLOBAL: u64 = 1;
const DOMAIN: u64 = 2;
const DEVICE: u64 = 3;

/// Context-cache invalidation of every entry.
pub const fn context_global() -> Entry128 {
    [0x1 | GLOBAL << 4, 0]
}

/// Context-cache invalidation of one device's entry (`did` is the domain it was in).
pub const fn context_device(did: u16, rid: u16) -> Entry128 {
    [
        0x1 | DEVICE << 4 | (did as u64) << 16 | (rid as u64) << 32,
        0,
    ]
}

/// IOTLB invalidation of every translation; with `drain`, the unit first finishes the
/// writes and reads it has taken (where it can: [`super::regs::Caps::drain`]).
pub const fn iotlb_global(drain: (bool, bool)) -> Entry128 {
    [0x2 | GLOBAL << 4 | drain_bits(drain), 0]
}

/// IOTLB invalidation of one domain's translations.
pub const fn iotlb_domain(did: u16, drain: (bool, bool)) -> Entry128 {
    [
        0x2 | DOMAIN << 4 | drain_bits(drain) | (did as u64) << 16,
        0,
    ]
}

/// Drain writes (bit 6) and reads (bit 7).
const fn drain_bits(drain: (bool, bool)) -> u64 {
    (drain.0 as u64) << 6 | (drain.1 as u64) << 7
}

/// Interrupt entry cache invalidation of every entry.
pub const fn iec_global() -> Entry128 {
    [0x4, 0]
}

/// Interrupt entry cache invalidation of entry `index` (index mask 0).
pub const fn iec_index(index: u16) -> Entry128 {
    [0x4 | 1 << 4 | (index as u64) << 32, 0]
}

/// Invalidation wait: once every descriptor before it is done, the unit writes `data`
/// (32 bits) to the 4-byte-aligned physical address `status`.
pub const fn wait(status: u64, data: u32) -> Entry128 {
    [0x5 | 1 << 5 | (data as u64) << 32, status & !3]
}

/// The invalidation queue address register: the queue's page, 128-bit descriptors, one
/// page (256 descriptors).
pub const fn queue_address(page: u64) -> u64 {
    page & !0xfff
}

/// The tail register's value for descriptor `index` (descriptors are 16 bytes).
pub const fn tail(index: usize) -> u64 {
    ((index % QUEUE_ENTRIES) as u64) << 4
}

/// Register-based invalidation without queued invalidation: the context command
/// register's global invalidation (ICC set; the unit clears it when done).
pub const fn ccmd_global() -> u64 {
    1 << 63 | GLOBAL << 61
}

/// The IOTLB invalidate register's global invalidation (IVT set; cleared when done).
pub const fn iotlb_reg_global(drain: (bool, bool)) -> u64 {
    1 << 63 | GLOBAL << 60 | (drain.1 as u64) << 49 | (drain.0 as u64) << 48
}

/// The IOTLB invalidate register's invalidation of one domain.
pub const fn iotlb_reg_domain(did: u16, drain: (bool, bool)) -> u64 {
    1 << 63 | DOMAIN << 60 | (drain.1 as u64) << 49 | (drain.0 as u64) << 48 | (did as u64) << 32
}

/// Bit 63 of both command registers: the command is still running.
pub const RUNNING: u64 = 1 << 63;
