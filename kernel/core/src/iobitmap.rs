//! I/O permission bitmap arithmetic: one bit per port (set: denied), 65,536 ports in
//! 8 KiB, and the *extent* that keeps switching bitmaps cheap.
//!
//! Each Pd keeps its own bitmap and each CPU's TSS a copy of the Pd running there
//! (`kernel/src/arch/ports.rs`, `obj/pd.rs`). The extent of a bitmap is the number of
//! bytes at its start that may allow a port: past it every bit is set. A Pd records
//! its extent as it gains ports, a TSS the extent of what it holds, and a copy from one
//! to the other needs only the larger of the two ([`copy_len`]): the Pd's bytes beyond
//! its extent deny everything, as do the TSS's beyond its own. Ports beyond 0xffff do
//! not exist and are ignored.

/// Ports of the I/O space.
pub const PORTS: u64 = 1 << 16;

/// Bytes of a whole bitmap.
pub const BYTES: usize = (PORTS / 8) as usize;

/// The byte of `port` and its bit mask, `None` beyond the I/O space.
pub fn position(port: u64) -> Option<(usize, u8)> {
    (port < PORTS).then(|| ((port / 8) as usize, 1u8 << (port % 8)))
}

/// The extent a bitmap needs to allow `port` (below [`PORTS`]): bytes up to and
/// including its byte.
pub fn extent_of(port: u64) -> usize {
    (port / 8 + 1) as usize
}

/// Byte `v` of a bitmap with the bits of `mask` allowed (cleared) or denied (set).
pub fn with_bits(v: u8, mask: u8, allow: bool) -> u8 {
    if allow {
        v & !mask
    } else {
        v | mask
    }
}

/// Allows (or denies) the `2^order` ports from `base` on in `map` (at least
/// [`BYTES`] long), clipped to the I/O space. Returns the extent the bitmap needs
/// afterwards for them: the bytes up to the last port allowed, 0 when denying or when
/// nothing is left after clipping.
pub fn set_range(map: &mut [u8], base: u64, order: u32, allow: bool) -> usize {
    let count = 1u64.checked_shl(order).unwrap_or(u64::MAX);
    let end = base.saturating_add(count).min(PORTS);
    for port in base..end {
        if let Some((byte, mask)) = position(port) {
            map[byte] = with_bits(map[byte], mask, allow);
        }
    }
    if allow && end > base {
        extent_of(end - 1)
    } else {
        0
    }
}

/// How many bytes a TSS whose bitmap may allow ports in its first `loaded` bytes needs
/// to copy from a bitmap with extent `extent` to hold exactly that bitmap; `room`
/// bounds it (the shorter of the two buffers).
pub fn copy_len(extent: usize, loaded: usize, room: usize) -> usize {
    extent.max(loaded).min(room)
}

#[cfg(test)]
mod tests;
