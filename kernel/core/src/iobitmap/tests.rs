//! Bitmaps against a set of allowed ports under random range changes, and TSS copies
//! of several Pds' bitmaps in turn against what each Pd allows.

use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

use super::*;
use crate::testrng::Rng;

fn allowed(map: &[u8], port: u64) -> bool {
    map[(port / 8) as usize] & (1 << (port % 8)) == 0
}

/// A Pd's bitmap, its extent, and the model: the ports it allows.
struct Pd {
    map: Vec<u8>,
    extent: usize,
    ports: BTreeSet<u64>,
}

impl Pd {
    fn new() -> Pd {
        Pd {
            map: vec![0xff; BYTES],
            extent: 0,
            ports: BTreeSet::new(),
        }
    }

    fn change(&mut self, rng: &mut Rng) {
        let base = match rng.below(4) {
            0 => PORTS - rng.below(64),
            1 => PORTS + rng.below(64),
            _ => rng.below(PORTS),
        };
        let order = if rng.below(10) == 0 {
            rng.below(70) as u32
        } else {
            rng.below(6) as u32
        };
        let allow = rng.below(3) != 0;
        let need = set_range(&mut self.map, base, order, allow);
        self.extent = self.extent.max(need);
        let end = base
            .saturating_add(1u64.checked_shl(order).unwrap_or(u64::MAX))
            .min(PORTS);
        for p in base..end {
            if allow {
                self.ports.insert(p);
            } else {
                self.ports.remove(&p);
            }
        }
        if allow && end > base {
            assert_eq!(need, ((end - 1) / 8 + 1) as usize);
        } else {
            assert_eq!(need, 0);
        }
    }

    fn check(&self) {
        for p in 0..PORTS {
            assert_eq!(
                allowed(&self.map, p),
                self.ports.contains(&p),
                "port {p:#x}"
            );
        }
        // Every allowed port lies within the extent.
        if let Some(&last) = self.ports.last() {
            assert!(extent_of(last) <= self.extent);
        }
        assert!(self.map[self.extent..].iter().all(|&b| b == 0xff));
    }
}

#[test]
fn ranges_follow_the_set_of_allowed_ports() {
    let mut rng = Rng(0x5eed_0010);
    for _ in 0..20 {
        let mut pd = Pd::new();
        for _ in 0..50 {
            pd.change(&mut rng);
        }
        pd.check();
    }
}

#[test]
fn a_tss_copying_only_the_extents_holds_each_bitmap_exactly() {
    let mut rng = Rng(0x5eed_0011);
    let mut pds: Vec<Pd> = (0..4).map(|_| Pd::new()).collect();
    // A TSS as the CPU sees it, and how far it may allow ports.
    let (mut tss, mut loaded) = (vec![0xffu8; BYTES], 0usize);
    for _ in 0..300 {
        let i = rng.below(pds.len() as u64) as usize;
        if rng.below(3) == 0 {
            pds[i].change(&mut rng);
        }
        let pd = &pds[i];
        let n = copy_len(pd.extent, loaded, BYTES);
        tss[..n].copy_from_slice(&pd.map[..n]);
        loaded = pd.extent;
        assert_eq!(tss, pd.map, "the TSS holds the Pd's bitmap");
        assert!(tss[loaded..].iter().all(|&b| b == 0xff));
    }
}

#[test]
fn positions_and_bits() {
    assert_eq!(position(0), Some((0, 1)));
    assert_eq!(position(0x3f8), Some((0x7f, 1)));
    assert_eq!(position(0xffff), Some((BYTES - 1, 0x80)));
    assert_eq!(position(PORTS), None);
    assert_eq!(extent_of(0), 1);
    assert_eq!(extent_of(0xffff), BYTES);
    assert_eq!(with_bits(0xff, 0x10, true), 0xef);
    assert_eq!(with_bits(0x00, 0x10, false), 0x10);
    assert_eq!(copy_len(3, 10, 8192), 10);
    assert_eq!(copy_len(9000, 0, 8192), 8192);
    let mut map = vec![0xffu8; BYTES];
    assert_eq!(
        set_range(&mut map, PORTS, 3, true),
        0,
        "nothing beyond the space"
    );
    assert_eq!(
        set_range(&mut map, 0xfffe, 4, true),
        BYTES,
        "clipped at the end"
    );
    assert_eq!(map[BYTES - 1], 0x3f);
}
