//! Sets of physical address ranges: turning the firmware's memory map and the ranges the
//! kernel must keep (its image, boot information, modules) into the memory it may hand out.
//!
//! A [`RangeSet`] holds at most [`MAX_RANGES`] half-open ranges in a fixed array, because it
//! is used before any allocator exists. Invariants, kept by every operation: the stored
//! ranges are non-empty, sorted by start, and neither overlap nor touch (a range ending
//! where the next begins is merged with it). An operation that would need more than
//! [`MAX_RANGES`] ranges returns [`Full`] and leaves the set exactly as it was.
//!
//! Addresses are `u64` and ranges are half-open, so the last byte, `u64::MAX`, can never be
//! part of a set. Callers building a range from a base and a length whose sum overflows
//! should clamp the end to `u64::MAX` (`addr.saturating_add(len)`), which loses only that
//! byte. Ranges with `start >= end` are empty and ignored. No operation here can overflow.

/// A half-open range of addresses, `[start, end)`; empty if `start >= end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Range {
    /// First address in the range.
    pub start: u64,
    /// First address after the range.
    pub end: u64,
}

impl Range {
    /// Whether the range contains no address.
    pub const fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Number of addresses in the range (0 if empty).
    pub const fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
}

/// Most ranges a [`RangeSet`] holds. Real memory maps have a few dozen entries; reserved
/// ranges can each split one, so this leaves ample room.
pub const MAX_RANGES: usize = 128;

/// The set would need more than [`MAX_RANGES`] ranges; it was not changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// A set of disjoint, sorted, non-empty ranges with fixed capacity.
#[derive(Clone, Debug)]
pub struct RangeSet {
    /// `ranges[..len]` are the members; the rest is unused.
    ranges: [Range; MAX_RANGES],
    len: usize,
}

impl Default for RangeSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RangeSet {
    /// The empty set.
    pub const fn new() -> Self {
        RangeSet {
            ranges: [Range { start: 0, end: 0 }; MAX_RANGES],
            len: 0,
        }
    }

    /// Adds every address of `r` to the set, merging it with ranges it overlaps or touches.
    /// Fails only if `r` touches no existing range and the set is already full.
    pub fn insert(&mut self, r: Range) -> Result<(), Full> {
        if r.is_empty() {
            return Ok(());
        }
        let v = self.ranges();
        // v[i..j] are the ranges that overlap or touch r; both predicates are monotone
        // over the sorted, disjoint members, so binary search applies.
        let i = v.partition_point(|x| x.end < r.start);
        let j = v.partition_point(|x| x.start <= r.end);
        if i == j {
            return self.splice(i, j, &[r]);
        }
        let merged = Range {
            start: v[i].start.min(r.start),
            end: v[j - 1].end.max(r.end),
        };
        self.splice(i, j, &[merged])
    }

    /// Removes every address of `r` from the set. Fails only if `r` lies strictly inside
    /// one range, splitting it in two, and the set is already full.
    pub fn remove(&mut self, r: Range) -> Result<(), Full> {
        if r.is_empty() {
            return Ok(());
        }
        let v = self.ranges();
        // v[i..j] are the ranges that share at least one address with r.
        let i = v.partition_point(|x| x.end <= r.start);
        let j = v.partition_point(|x| x.start < r.end);
        if i >= j {
            return Ok(());
        }
        // Only the first and last overlapped ranges can stick out of r.
        let mut pieces = [Range::default(); 2];
        let mut n = 0;
        if v[i].start < r.start {
            pieces[n] = Range {
                start: v[i].start,
                end: r.start,
            };
            n += 1;
        }
        if v[j - 1].end > r.end {
            pieces[n] = Range {
                start: r.end,
                end: v[j - 1].end,
            };
            n += 1;
        }
        self.splice(i, j, &pieces[..n])
    }

    /// The members, sorted by address.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges[..self.len]
    }

    /// Number of addresses in the set.
    pub fn total(&self) -> u64 {
        // The members are disjoint subranges of [0, u64::MAX), so the sum fits.
        self.ranges().iter().map(Range::len).sum()
    }

    /// Shrinks each range to multiples of `align` (start rounded up, end rounded down) and
    /// drops ranges left empty, so that every member is made of whole `align`-sized units.
    /// `align` need not be a power of two; 0 and 1 leave the set unchanged.
    pub fn align_inward(&mut self, align: u64) {
        if align <= 1 {
            return;
        }
        let mut kept = 0;
        for k in 0..self.len {
            let r = self.ranges[k];
            // A start that cannot be rounded up without overflow has no aligned address
            // above it, so the range goes.
            let Some(start) = r.start.checked_next_multiple_of(align) else {
                continue;
            };
            let end = r.end - r.end % align;
            // Shrinking keeps the members sorted and apart, so compacting in place is enough.
            if start < end {
                self.ranges[kept] = Range { start, end };
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Carves `size` bytes starting at a multiple of `align` out of the set and returns
    /// their start. The highest-addressed range that can hold them is used, and the highest
    /// suitable address within it, so that low memory stays free for devices limited to
    /// low DMA addresses and for the application-processor trampoline. An `align` of 0
    /// counts as 1. Returns `None` if `size` is 0 or nothing fits. When the set is full, a
    /// carve that would split a range in two is impossible, so lower ranges are tried.
    pub fn take(&mut self, size: u64, align: u64) -> Option<u64> {
        if size == 0 {
            return None;
        }
        let align = align.max(1);
        for k in (0..self.len).rev() {
            let r = self.ranges[k];
            if r.len() < size {
                continue;
            }
            let top = r.end - size;
            let start = top - top % align;
            if start < r.start {
                continue;
            }
            // start + size <= top + size == r.end, so this cannot overflow.
            let piece = Range {
                start,
                end: start + size,
            };
            if self.remove(piece).is_ok() {
                return Some(start);
            }
        }
        None
    }

    /// Replaces members `i..j` with `with` (which must keep the invariants), or fails
    /// without change if the result would exceed the capacity.
    fn splice(&mut self, i: usize, j: usize, with: &[Range]) -> Result<(), Full> {
        let new_len = self.len - (j - i) + with.len();
        if new_len > MAX_RANGES {
            return Err(Full);
        }
        self.ranges.copy_within(j..self.len, i + with.len());
        self.ranges[i..i + with.len()].copy_from_slice(with);
        self.len = new_len;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
