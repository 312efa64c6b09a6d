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
mod tests {
    use super::*;
    use std::vec::Vec;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    fn set(ranges: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::new();
        for &(a, b) in ranges {
            s.insert(r(a, b)).unwrap();
        }
        s
    }

    fn pairs(s: &RangeSet) -> Vec<(u64, u64)> {
        s.ranges().iter().map(|x| (x.start, x.end)).collect()
    }

    /// Checks the structural invariants the module promises.
    fn check(s: &RangeSet) {
        for x in s.ranges() {
            assert!(x.start < x.end, "empty member {x:?}");
        }
        for w in s.ranges().windows(2) {
            assert!(w[0].end < w[1].start, "members overlap or touch: {w:?}");
        }
    }

    #[test]
    fn insert_merges_overlapping_and_adjacent() {
        let mut s = set(&[(10, 20), (30, 40), (50, 60)]);
        assert_eq!(pairs(&s), [(10, 20), (30, 40), (50, 60)]);
        s.insert(r(20, 30)).unwrap(); // touches both neighbours
        assert_eq!(pairs(&s), [(10, 40), (50, 60)]);
        s.insert(r(5, 55)).unwrap(); // swallows one, overlaps another
        assert_eq!(pairs(&s), [(5, 60)]);
        s.insert(r(0, 1)).unwrap();
        s.insert(r(70, 80)).unwrap();
        s.insert(r(62, 64)).unwrap();
        assert_eq!(pairs(&s), [(0, 1), (5, 60), (62, 64), (70, 80)]);
        s.insert(r(7, 9)).unwrap(); // already contained
        s.insert(r(40, 30)).unwrap(); // empty
        s.insert(r(60, 62)).unwrap(); // fills the gap exactly
        assert_eq!(pairs(&s), [(0, 1), (5, 64), (70, 80)]);
        assert_eq!(s.total(), 1 + 59 + 10);
        check(&s);
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut s = set(&[(0, 100)]);
        s.remove(r(40, 60)).unwrap();
        assert_eq!(pairs(&s), [(0, 40), (60, 100)]);
        s.remove(r(0, 10)).unwrap();
        s.remove(r(90, 100)).unwrap();
        assert_eq!(pairs(&s), [(10, 40), (60, 90)]);
        s.remove(r(10, 40)).unwrap(); // exactly one member
        assert_eq!(pairs(&s), [(60, 90)]);
        check(&s);
    }

    #[test]
    fn remove_across_several_ranges() {
        let mut s = set(&[(0, 10), (20, 30), (40, 50), (60, 70)]);
        s.remove(r(5, 65)).unwrap();
        assert_eq!(pairs(&s), [(0, 5), (65, 70)]);
        let mut s = set(&[(0, 10), (20, 30), (40, 50), (60, 70)]);
        s.remove(r(10, 60)).unwrap(); // boundaries touch, do not overlap
        assert_eq!(pairs(&s), [(0, 10), (60, 70)]);
        s.remove(r(0, u64::MAX)).unwrap();
        assert!(s.ranges().is_empty());
        assert_eq!(s.total(), 0);
    }

    #[test]
    fn remove_non_overlapping_is_a_no_op() {
        let mut s = set(&[(10, 20), (30, 40)]);
        for x in [
            r(0, 10),
            r(20, 30),
            r(40, 1000),
            r(25, 26),
            r(15, 15),
            r(18, 12),
        ] {
            s.remove(x).unwrap();
        }
        assert_eq!(pairs(&s), [(10, 20), (30, 40)]);
        let mut e = RangeSet::new();
        e.remove(r(0, 100)).unwrap();
        assert!(e.ranges().is_empty());
    }

    #[test]
    fn full_set_refuses_without_change() {
        let mut s = RangeSet::new();
        for k in 0..MAX_RANGES as u64 {
            s.insert(r(k * 10, k * 10 + 5)).unwrap();
        }
        assert_eq!(s.ranges().len(), MAX_RANGES);
        let before = pairs(&s);
        assert_eq!(s.insert(r(10_000, 10_001)), Err(Full));
        assert_eq!(s.insert(r(7, 8)), Err(Full));
        assert_eq!(s.remove(r(1, 2)), Err(Full)); // would split
        assert_eq!(pairs(&s), before);
        // What needs no extra slot still works on a full set.
        s.insert(r(5, 10)).unwrap(); // merges two members
        s.remove(r(0, 1)).unwrap(); // trims
        s.remove(r(20, 25)).unwrap(); // deletes
        assert_eq!(pairs(&s)[..2], [(1, 15), (30, 35)]);
        s.insert(r(100_000, 100_001)).unwrap(); // room again
        check(&s);
    }

    #[test]
    fn addresses_near_the_top() {
        let mut s = RangeSet::new();
        s.insert(r(u64::MAX - 100, u64::MAX)).unwrap();
        s.insert(r(0, 0x1000u64.saturating_add(u64::MAX))).unwrap();
        assert_eq!(pairs(&s), [(0, u64::MAX)]);
        assert_eq!(s.total(), u64::MAX);
        s.remove(r(u64::MAX - 1, u64::MAX)).unwrap();
        s.align_inward(4096);
        assert_eq!(pairs(&s), [(0, u64::MAX - 4095)]);
        assert_eq!(s.take(4096, 4096), Some(u64::MAX - 8191));
        let mut s = set(&[(u64::MAX - 10, u64::MAX)]);
        s.align_inward(4096); // start cannot be rounded up
        assert!(s.ranges().is_empty());
        let mut s = set(&[(u64::MAX - 10, u64::MAX)]);
        assert_eq!(s.take(u64::MAX, 1), None);
        assert_eq!(s.take(10, u64::MAX), None);
        assert_eq!(s.take(10, 0), Some(u64::MAX - 10));
    }

    #[test]
    fn align_inward_shrinks_and_drops() {
        let mut s = set(&[
            (0x0, 0x9fc00),
            (0x100000, 0x7fee0000),
            (0x7fee0100, 0x7fee0f00),
        ]);
        s.insert(r(0x8000_0001, 0x8000_2fff)).unwrap();
        s.align_inward(0x1000);
        assert_eq!(
            pairs(&s),
            [
                (0x0, 0x9f000),
                (0x100000, 0x7fee0000),
                (0x8000_1000, 0x8000_2000)
            ]
        );
        s.align_inward(0x200000);
        assert_eq!(pairs(&s), [(0x200000, 0x7fe00000)]);
        s.align_inward(0);
        s.align_inward(1);
        assert_eq!(pairs(&s), [(0x200000, 0x7fe00000)]);
        let mut s = set(&[(1, 20)]);
        s.align_inward(6); // not a power of two
        assert_eq!(pairs(&s), [(6, 18)]);
    }

    #[test]
    fn take_is_aligned_and_top_down() {
        let mut s = set(&[
            (0x1000, 0x10_0000),
            (0x20_0000, 0x50_0000),
            (0x68_0000, 0x68_8000),
        ]);
        // The top range is too small; the next one is used from its top.
        assert_eq!(s.take(0x10_0000, 0x10_0000), Some(0x40_0000));
        assert_eq!(
            pairs(&s),
            [
                (0x1000, 0x10_0000),
                (0x20_0000, 0x40_0000),
                (0x68_0000, 0x68_8000)
            ]
        );
        // Alignment forces a gap above the piece, splitting the range.
        assert_eq!(s.take(0x1000, 0x10_0000), Some(0x30_0000));
        assert_eq!(
            pairs(&s),
            [
                (0x1000, 0x10_0000),
                (0x20_0000, 0x30_0000),
                (0x30_1000, 0x40_0000),
                (0x68_0000, 0x68_8000)
            ]
        );
        assert_eq!(s.take(0x1000, 0x1000), Some(0x68_7000));
        // Nothing fits: state unchanged.
        let before = pairs(&s);
        assert_eq!(s.take(0x20_0000, 0x1000), None);
        assert_eq!(s.take(0x8000, 0x100_0000), None);
        assert_eq!(s.take(0, 0x1000), None);
        assert_eq!(pairs(&s), before);
        // Exactly the whole range.
        assert_eq!(s.take(0xff000, 0x1000), Some(0x30_1000));
        assert_eq!(
            pairs(&s),
            [
                (0x1000, 0x10_0000),
                (0x20_0000, 0x30_0000),
                (0x68_0000, 0x68_7000)
            ]
        );
        check(&s);
    }

    #[test]
    fn take_on_a_full_set_avoids_splitting() {
        let mut s = RangeSet::new();
        for k in 0..MAX_RANGES as u64 {
            s.insert(r(k * 100 + 10, k * 100 + 50)).unwrap();
        }
        // Member k is [100k + 10, 100k + 50). With alignment 30 the highest carve in
        // members 127 and 126 (at 12720 and 12630) would leave pieces on both sides, so
        // member 125 is used, whose top 10 addresses start at a multiple of 30.
        assert_eq!(s.take(10, 30), Some(12540));
        assert_eq!(s.take(10, 10), Some(12740));
        assert_eq!(s.take(100, 1), None);
        assert_eq!(s.ranges().len(), MAX_RANGES);
        check(&s);
    }

    use crate::testrng::Rng;

    const SPACE: usize = 4096;

    /// Maximal runs of set bits, i.e. what the RangeSet should contain.
    fn runs(model: &[bool]) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut k = 0;
        while k < model.len() {
            if model[k] {
                let s = k;
                while k < model.len() && model[k] {
                    k += 1;
                }
                out.push((s as u64, k as u64));
            } else {
                k += 1;
            }
        }
        out
    }

    fn random_range(rng: &mut Rng) -> Range {
        let a = rng.below(SPACE as u64 + 1);
        // Mostly short ranges, so the set fragments and reaches its capacity.
        let len = if rng.below(40) == 0 {
            rng.below(SPACE as u64)
        } else {
            1 + rng.below(4)
        };
        r(a, (a + len).min(SPACE as u64))
    }

    #[test]
    fn randomized_against_a_bitmap() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut fulls = 0;
        let mut takes = 0;
        for _round in 0..20 {
            let mut s = RangeSet::new();
            let mut model = [false; SPACE];
            for _ in 0..3000 {
                let before = pairs(&s);
                match rng.below(100) {
                    0..=44 => {
                        let x = random_range(&mut rng);
                        match s.insert(x) {
                            Ok(()) => (x.start..x.end).for_each(|k| model[k as usize] = true),
                            Err(Full) => {
                                fulls += 1;
                                assert_eq!(pairs(&s), before);
                            }
                        }
                    }
                    45..=89 => {
                        let x = random_range(&mut rng);
                        match s.remove(x) {
                            Ok(()) => (x.start..x.end).for_each(|k| model[k as usize] = false),
                            Err(Full) => {
                                fulls += 1;
                                assert_eq!(pairs(&s), before);
                            }
                        }
                    }
                    90..=98 => {
                        let size = 1 + rng.below(40);
                        let align = [0, 1, 2, 4, 8, 16, 3, 7][rng.below(8) as usize];
                        let step = align.max(1) as usize;
                        // The model's answer: the highest aligned start with `size` set bits.
                        let expect = (0..=SPACE - size as usize)
                            .rev()
                            .filter(|c| c % step == 0)
                            .find(|&c| model[c..c + size as usize].iter().all(|&b| b));
                        let got = s.take(size, align);
                        // A full set may skip carves that would split a range, so
                        // only a set with room must agree with the model exactly.
                        if before.len() < MAX_RANGES {
                            assert_eq!(
                                got,
                                expect.map(|c| c as u64),
                                "take({size}, {align}) on {before:?}"
                            );
                        }
                        if let Some(c) = got {
                            takes += 1;
                            assert_eq!(c % align.max(1), 0);
                            for k in c..c + size {
                                assert!(model[k as usize], "took an address not in the set");
                                model[k as usize] = false;
                            }
                        }
                    }
                    _ => {
                        let align = 1 + rng.below(8);
                        s.align_inward(align);
                        for x in runs(&model) {
                            let start = x.0.next_multiple_of(align);
                            let end = x.1 - x.1 % align;
                            for k in x.0..x.1 {
                                if k < start || k >= end {
                                    model[k as usize] = false;
                                }
                            }
                        }
                    }
                }
                check(&s);
                assert_eq!(pairs(&s), runs(&model));
                assert_eq!(s.total(), model.iter().filter(|&&b| b).count() as u64);
            }
        }
        // Make sure the interesting paths were exercised.
        assert!(fulls > 0, "capacity never reached");
        assert!(takes > 0);
    }
}
