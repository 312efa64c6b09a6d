//! Memory delegation arithmetic against a plain model of the rules, on random and
//! boundary ranges, and the rights lattice exhaustively.

use std::vec::Vec;

use facet_abi::perm;

use super::*;
use crate::testrng::Rng;

/// The rules, spelt out one page at a time.
fn model(sb: u64, rb: u64, order: u32, guest: bool, source: Source) -> Vec<Option<(u64, u64)>> {
    let n = if order >= 64 { u64::MAX } else { 1u64 << order }.min(MAX_UNITS);
    let mut out = Vec::new();
    for i in 0..n {
        let (Some(s), Some(d)) = (sb.checked_add(i), rb.checked_add(i)) else {
            break;
        };
        let d_limit = if guest {
            GUEST_PAGES.max(HOST_PAGES)
        } else {
            HOST_PAGES
        };
        if d >= d_limit {
            break;
        }
        match source {
            Source::Pd if s >= HOST_PAGES => break,
            Source::Kernel if s >= PHYS_PAGES => out.push(None),
            _ => out.push(Some((s, d))),
        }
    }
    out
}

/// A page number near one of the bounds, or anywhere.
fn near(rng: &mut Rng) -> u64 {
    let bounds = [0, HOST_PAGES, GUEST_PAGES, PHYS_PAGES, u64::MAX];
    let b = bounds[rng.below(bounds.len() as u64) as usize];
    match rng.below(3) {
        0 => rng.next(),
        1 => b.wrapping_sub(rng.below(40)),
        _ => b.wrapping_add(rng.below(40)),
    }
}

#[test]
fn pages_follow_the_model() {
    let mut rng = Rng(0x5eed_03e3);
    for _ in 0..5_000 {
        let (sb, rb) = (near(&mut rng), near(&mut rng));
        let order = if rng.below(8) == 0 {
            rng.below(70) as u32
        } else {
            rng.below(7) as u32
        };
        let guest = rng.below(2) == 0;
        let source = [Source::Kernel, Source::Pd][rng.below(2) as usize];
        if units(order) > 4096 && rng.below(4) != 0 {
            continue;
        }
        let got: Vec<_> = pages(sb, rb, units(order), guest, source).collect();
        assert_eq!(
            got,
            model(sb, rb, order, guest, source),
            "{sb:#x} {rb:#x} {order}"
        );
    }
}

#[test]
fn the_bounds_themselves() {
    // The last host page maps; the next one ends the delegation, unless the receiver's
    // space is guest-physical.
    let last = HOST_PAGES - 1;
    assert_eq!(page(0, last, 0, false, Source::Pd), Some(Some((0, last))));
    assert_eq!(page(0, last, 1, false, Source::Pd), None);
    assert_eq!(
        page(0, last, 1, true, Source::Pd),
        Some(Some((1, HOST_PAGES)))
    );
    assert_eq!(page(0, GUEST_PAGES, 0, true, Source::Pd), None);
    // A sender's page beyond user space ends it; a physical page beyond 52 bits is
    // skipped.
    assert_eq!(page(HOST_PAGES, 0, 0, false, Source::Pd), None);
    assert_eq!(
        page(HOST_PAGES, 0, 0, false, Source::Kernel),
        Some(Some((HOST_PAGES, 0)))
    );
    assert_eq!(page(PHYS_PAGES, 0, 0, false, Source::Kernel), Some(None));
    // Overflow ends it.
    assert_eq!(page(u64::MAX, 0, 1, true, Source::Kernel), None);
    assert_eq!(page(0, u64::MAX, 1, true, Source::Kernel), None);
    // Orders beyond the cap touch MAX_UNITS pages.
    assert_eq!(units(0), 1);
    assert_eq!(units(20), MAX_UNITS);
    assert_eq!(units(63), MAX_UNITS);
    assert_eq!(units(64), MAX_UNITS);
    assert_eq!(
        pages(0, 0, units(40), false, Source::Pd).count() as u64,
        MAX_UNITS
    );
}

#[test]
fn rights_only_shrink() {
    for asked in 0..=255u8 {
        for (w, x) in [(false, false), (true, false), (false, true), (true, true)] {
            let have = rights_of(w, x);
            assert!(have & perm::MEM_R != 0);
            match grant(asked, have) {
                None => assert_eq!(asked & have, 0),
                Some(g) => {
                    assert_ne!(asked & have, 0);
                    assert_eq!(g.write, w && asked & perm::MEM_W != 0);
                    assert_eq!(g.execute, x && asked & perm::MEM_X != 0);
                }
            }
        }
        // From the kernel the source has every right.
        let all = grant(asked, perm::MEM_ALL);
        assert_eq!(all.is_some(), asked & perm::MEM_ALL != 0);
    }
}
