//! Host tests: inserting, removing, aligning and taking ranges, a full set, addresses near
//! the top, and a randomized check against a bitmap.

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
