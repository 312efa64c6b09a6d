//! Range arithmetic of capability transfers: how a sent range and a receive window
//! combine into what is actually delegated.
//!
//! Both functions follow the reference (API 4.3). For memory and object capabilities
//! the smaller of the two ranges is placed inside the larger one at the position the
//! hotspot names; for I/O ports, whose numbers cannot be moved, the ranges must overlap
//! and the delegated range is the smaller one at its own position.

/// Combines a send range (`snd_base`, `snd_order`) and a receive window (`rcv_base`,
/// `rcv_order`) using the hotspot `hot`. Returns (send base, receive base, order): the
/// range `[send base, +2^order)` of the sender appears at `[receive base, +2^order)`.
/// Orders must be below 64 (callers take them from 5-bit CRD fields).
pub fn clamp_hotspot(
    snd_base: u64,
    rcv_base: u64,
    snd_order: u32,
    rcv_order: u32,
    hot: u64,
) -> (u64, u64, u32) {
    let s = (1u64 << snd_order.min(63)) - 1;
    let r = (1u64 << rcv_order.min(63)) - 1;
    let (mut sb, mut rb) = (snd_base & !s, rcv_base & !r);
    if s < r {
        rb |= hot & r & !s;
        (sb, rb, snd_order)
    } else {
        sb |= hot & s & !r;
        (sb, rb, rcv_order)
    }
}

/// Combines ranges that must not move (I/O ports). Returns (base, order) of the
/// intersection or `None` if the two ranges do not overlap.
pub fn clamp_fixed(
    snd_base: u64,
    rcv_base: u64,
    snd_order: u32,
    rcv_order: u32,
) -> Option<(u64, u32)> {
    let max = snd_order.max(rcv_order);
    if max < 64 && (snd_base ^ rcv_base) >> max != 0 {
        return None;
    }
    let order = snd_order.min(rcv_order);
    let mask = (1u64 << order.min(63)) - 1;
    // The smaller range keeps its own position; align it to its order.
    let base = if snd_order < rcv_order {
        snd_base
    } else {
        rcv_base
    } & !mask;
    Some((base, order))
}

#[cfg(test)]
mod tests;
