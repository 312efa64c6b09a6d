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
