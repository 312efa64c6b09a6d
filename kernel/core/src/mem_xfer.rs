//! The arithmetic of a memory delegation (`map_pages` in the kernel's
//! `cap/delegation.rs`): which pages of a range are mapped where, and with which rights.
//!
//! A delegation maps `2^order` pages (at most [`MAX_UNITS`]) of the sender from page
//! `sb` on to the receiver from page `rb` on. Each page either maps, is skipped, or ends
//! the delegation ([`page`]); the rights a receiver gets are those asked for that the
//! sender has ([`grant`]), and rights only ever shrink: no bit is granted that the
//! source mapping lacks. Host addresses stay below `USER_ADDR`; guest-physical ones may
//! use 47 bits ([`GUEST_PAGES`]); from the kernel (the hypervisor flag) the source is a
//! physical page below 2^52 (`1 << 40` pages).

use facet_abi::layout::USER_ADDR;
use facet_abi::perm;

/// Largest number of pages, ports or selectors one transfer touches. Bigger requests are
/// cut to this many (from their start): a hypercall must finish in bounded time.
pub const MAX_UNITS: u64 = 1 << 20;

/// Pages of user space (host addresses below `USER_ADDR`).
pub const HOST_PAGES: u64 = USER_ADDR >> 12;

/// Pages of a guest-physical (or DMA) address space: 47 bits.
pub const GUEST_PAGES: u64 = 1 << 35;

/// Physical pages a delegation from the kernel may name: 52 bits.
pub const PHYS_PAGES: u64 = 1 << 40;

/// The units `2^order` names, cut to [`MAX_UNITS`].
pub fn units(order: u32) -> u64 {
    1u64.checked_shl(order).unwrap_or(u64::MAX).min(MAX_UNITS)
}

/// Where the pages of a delegation come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Physical memory, from the kernel (the hypervisor flag).
    Kernel,
    /// The sender's own address space.
    Pd,
}

/// What page `i` of a delegation does: `None` ends it, `Some(None)` skips the page,
/// `Some(Some((s, d)))` maps sender page `s` (physical for [`Source::Kernel`]) at
/// receiver page `d`. `guest`: the receiver's space is guest-physical (or DMA).
pub fn page(sb: u64, rb: u64, i: u64, guest: bool, source: Source) -> Option<Option<(u64, u64)>> {
    let (s, d) = (sb.checked_add(i)?, rb.checked_add(i)?);
    if d >= HOST_PAGES && (!guest || d >= GUEST_PAGES) {
        return None;
    }
    match source {
        Source::Kernel if s >= PHYS_PAGES => Some(None),
        Source::Pd if s >= HOST_PAGES => None,
        _ => Some(Some((s, d))),
    }
}

/// The first `count` pages of a delegation (`units(order)` for `2^order` pages) in
/// order, as [`page`] decides: each item is a page pair to map, or `None` for one to
/// skip; the iteration ends where the delegation ends.
pub fn pages(
    sb: u64,
    rb: u64,
    count: u64,
    guest: bool,
    source: Source,
) -> impl Iterator<Item = Option<(u64, u64)>> {
    (0..count).map_while(move |i| page(sb, rb, i, guest, source))
}

/// The rights (`perm::MEM_*`) of a present mapping: readable, and writable or
/// executable as its attributes say.
pub fn rights_of(write: bool, execute: bool) -> u8 {
    perm::MEM_R | if write { perm::MEM_W } else { 0 } | if execute { perm::MEM_X } else { 0 }
}

/// The mapping a receiver gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub write: bool,
    pub execute: bool,
}

/// What a receiver gets when `asked` rights are delegated from a page with rights
/// `have`: `None` (no right in common) unmaps the receiver's page.
pub fn grant(asked: u8, have: u8) -> Option<Grant> {
    let r = asked & have;
    (r != 0).then_some(Grant {
        write: r & perm::MEM_W != 0,
        execute: r & perm::MEM_X != 0,
    })
}

#[cfg(test)]
mod tests;
