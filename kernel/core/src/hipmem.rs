//! Fitting the firmware's memory map into the HIP's memory descriptors.
//!
//! The HIP is one page and holds at most 31 memory descriptors (the reference's
//! layout), and the modules and the kernel's own memory must follow the map there. A
//! UEFI firmware's map can be longer than what is left, so [`fit`] first merges
//! neighbouring entries of one type (which loses nothing), and only then leaves out
//! whole entries, those that matter least first: other types before ACPI NVS, NVS
//! before ACPI tables, and usable RAM last, the smallest of a kind first. What it kept
//! stays in map order. Nothing here panics, whatever the map holds.

use crate::bootinfo::MemRegion;

/// What [`fit`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fitted {
    /// Entries written to `out`.
    pub count: usize,
    /// Entries merged into a neighbour of the same type.
    pub merged: usize,
    /// Entries left out for want of room.
    pub dropped: usize,
}

/// How much an entry of type `kind` matters to the roottask (higher: kept longer).
fn rank(kind: u32) -> u8 {
    match kind {
        1 => 3,
        3 => 2,
        4 => 1,
        _ => 0,
    }
}

/// Writes `regions` into `out`, at most `room` entries (and no more than `out` holds),
/// merging touching entries of the same type and leaving out the least important
/// entries when there are still too many.
pub fn fit(regions: &[MemRegion], room: usize, out: &mut [MemRegion]) -> Fitted {
    let room = room.min(out.len());
    let mut f = Fitted::default();
    let mut n = 0usize;
    for r in regions {
        if n > 0 {
            let last = &mut out[n - 1];
            if last.kind == r.kind && last.addr.checked_add(last.len) == Some(r.addr) {
                last.len = last.len.saturating_add(r.len);
                f.merged += 1;
                continue;
            }
        }
        if n < out.len() {
            out[n] = *r;
            n += 1;
        } else {
            // `out` itself is full: the least important entry kept so far, or this one,
            // makes way.
            f.dropped += 1;
            if let Some(i) = least(&out[..n]) {
                if key(r) > key(&out[i]) {
                    out.copy_within(i + 1..n, i);
                    out[n - 1] = *r;
                }
            }
        }
    }
    while n > room {
        let Some(i) = least(&out[..n]) else { break };
        out.copy_within(i + 1..n, i);
        n -= 1;
        f.dropped += 1;
    }
    f.count = n;
    f
}

fn key(r: &MemRegion) -> (u8, u64) {
    (rank(r.kind), r.len)
}

/// The index of the least important entry (the first of equals).
fn least(list: &[MemRegion]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in list.iter().enumerate() {
        if best.is_none_or(|b| key(r) < key(&list[b])) {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testrng::Rng;

    fn r(addr: u64, len: u64, kind: u32) -> MemRegion {
        MemRegion { addr, len, kind }
    }

    #[test]
    fn a_short_map_is_copied() {
        let map = [
            r(0, 0xa0000, 1),
            r(0x100000, 0x1000, 2),
            r(0x200000, 0x1000, 1),
        ];
        let mut out = [MemRegion::default(); 31];
        let f = fit(&map, 28, &mut out);
        assert_eq!(
            f,
            Fitted {
                count: 3,
                merged: 0,
                dropped: 0
            }
        );
        assert_eq!(&out[..3], &map);
    }

    #[test]
    fn touching_entries_of_one_type_merge() {
        let map = [
            r(0, 0x1000, 1),
            r(0x1000, 0x1000, 1),
            r(0x2000, 0x1000, 2),
            r(0x3000, 0x1000, 2),
            r(0x5000, 0x1000, 2),
        ];
        let mut out = [MemRegion::default(); 8];
        let f = fit(&map, 8, &mut out);
        assert_eq!(
            f,
            Fitted {
                count: 3,
                merged: 2,
                dropped: 0
            }
        );
        assert_eq!(
            &out[..3],
            &[r(0, 0x2000, 1), r(0x2000, 0x2000, 2), r(0x5000, 0x1000, 2)]
        );
    }

    #[test]
    fn the_least_important_entries_go_first() {
        // A UEFI-like map: usable, NVS, reserved, ACPI, runtime code, interleaved.
        let map = [
            r(0, 0xa0000, 1),
            r(0x100000, 0x1000, 4),
            r(0x102000, 0x1000, 1),
            r(0x104000, 0x1000, 2),
            r(0x106000, 0x8000, 1),
            r(0x110000, 0x1000, 20),
            r(0x112000, 0x1000, 3),
            r(0x114000, 0x2000, 2),
        ];
        let mut out = [MemRegion::default(); 31];
        let f = fit(&map, 5, &mut out);
        assert_eq!(f.count, 5);
        assert_eq!(f.dropped, 3);
        assert_eq!(
            &out[..5],
            &[
                r(0, 0xa0000, 1),
                r(0x100000, 0x1000, 4),
                r(0x102000, 0x1000, 1),
                r(0x106000, 0x8000, 1),
                r(0x112000, 0x1000, 3),
            ]
        );
        // Room for the usable entries alone: the largest stay.
        let f = fit(&map, 2, &mut out);
        assert_eq!((f.count, f.dropped), (2, 6));
        assert_eq!(&out[..2], &[r(0, 0xa0000, 1), r(0x106000, 0x8000, 1)]);
        let f = fit(&map, 0, &mut out);
        assert_eq!((f.count, f.dropped), (0, 8));
    }

    #[test]
    fn a_small_output_buffer_keeps_the_best() {
        let map = [
            r(0, 0x1000, 2),
            r(0x2000, 0x1000, 1),
            r(0x4000, 0x1000, 2),
            r(0x6000, 0x9000, 1),
        ];
        let mut out = [MemRegion::default(); 2];
        let f = fit(&map, 31, &mut out);
        assert_eq!((f.count, f.dropped), (2, 2));
        assert_eq!(&out[..2], &[r(0x2000, 0x1000, 1), r(0x6000, 0x9000, 1)]);
    }

    #[test]
    fn random_maps_keep_every_usable_byte_that_fits() {
        let mut rng = Rng(17);
        for _ in 0..2000 {
            let len = rng.below(64) as usize;
            let mut map = [MemRegion::default(); 64];
            let mut at = 0u64;
            for m in map.iter_mut().take(len) {
                at += rng.below(3) * 0x1000;
                let size = (1 + rng.below(16)) * 0x1000;
                let kind = [1, 1, 2, 3, 4, 5, 20, u32::MAX][rng.below(8) as usize];
                *m = r(at, size, kind);
                at += size;
            }
            // Hostile entries too: one that wraps, out of order.
            let hostile = len > 0 && rng.below(4) == 0;
            if hostile {
                map[0] = r(u64::MAX - 5, 100, 1);
            }
            let room = rng.below(40) as usize;
            let mut out = [MemRegion::default(); 31];
            let f = fit(&map[..len], room, &mut out);
            assert!(f.count <= room.min(31));
            assert_eq!(f.count + f.merged + f.dropped, len);
            let usable = |l: &[MemRegion]| {
                l.iter()
                    .filter(|m| m.kind == 1)
                    .map(|m| m.len as u128)
                    .sum::<u128>()
            };
            if f.dropped == 0 {
                assert_eq!(usable(&out[..f.count]), usable(&map[..len]));
            }
            // Kept entries stay in map order.
            if !hostile {
                for w in out[..f.count].windows(2) {
                    assert!(w[0].addr < w[1].addr);
                }
            }
        }
    }
}
