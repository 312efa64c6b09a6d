//! Tables go with their last entry: the counts in table entries against the tables they
//! point at, after every step of random mapping and unmapping, and nothing but the root
//! left once everything is unmapped.

use super::*;
use crate::testrng::Rng;

impl Sim {
    /// Frames handed out and not given back.
    fn live_frames(&self) -> usize {
        self.frames.handed.len() - self.mem.freed.borrow().len()
    }

    /// Checks every count below the user half of the root and that no table but the
    /// root is empty; returns the number of tables (the root included).
    fn check_counts(&self) -> usize {
        let mut tables = 1;
        for i in 0..256 {
            let e = Entry(self.mem.word(self.pt.root + i * 8));
            if e.present() {
                tables += self.check_table(e, 3);
            }
        }
        tables
    }

    /// Checks the table `e` points at (of `level`, 3 to 1) and those below it.
    fn check_table(&self, e: Entry, level: u32) -> usize {
        let table = e.addr();
        let mut present = 0;
        let mut tables = 1;
        for i in 0..512 {
            let child = Entry(self.mem.word(table + i * 8));
            if !child.present() {
                continue;
            }
            present += 1;
            let leaf = level == 1 || child.huge();
            if !leaf {
                tables += self.check_table(child, level - 1);
            } else {
                assert_eq!(child.count(), 0, "a leaf with count bits at {table:#x}/{i}");
            }
        }
        assert_eq!(e.count(), present, "count of the table at {table:#x}");
        assert!(present > 0, "an empty table at {table:#x} stayed linked");
        tables
    }
}

/// Addresses in a few clusters, so that tables fill and empty at every level.
fn random_page(rng: &mut Rng) -> u64 {
    let cluster = rng.below(6);
    va(cluster % 3, cluster, rng.below(3), rng.below(40))
}

#[test]
fn random_maps_and_unmaps_keep_exact_counts_and_free_every_table() {
    let mut s = Sim::new(100_000);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut mapped = HashSet::new();
    for step in 0..3_000 {
        let v = random_page(&mut rng);
        match rng.below(8) {
            0..=3 => {
                s.remap(v, Some((RAM + v % PAGE_1G, USER_RW)), Size4K)
                    .unwrap();
                mapped.insert(v);
            }
            4 | 5 => {
                let was = s.remap(v, None, Size4K).unwrap();
                assert_eq!(was.is_some(), mapped.remove(&v), "step {step}");
            }
            6 => {
                // A 2 MiB leaf where no table is: replaces nothing that is mapped.
                let big = v & !(PAGE_2M - 1);
                if !mapped.iter().any(|&m| m & !(PAGE_2M - 1) == big)
                    && s.remap(big, None, Size2M).is_ok()
                {
                    s.remap(big, Some((0, USER_RW)), Size2M).unwrap();
                    for i in 0..512 {
                        mapped.insert(big + i * PAGE_4K);
                    }
                }
            }
            _ => {
                // A range, maybe across tables and huge leaves.
                let len = (1 + rng.below(700)) * PAGE_4K;
                let gone = s.pt.unmap(&mut s.mem, &mut s.frames, v, len).unwrap();
                let before = mapped.len();
                mapped.retain(|&m| m < v || m >= v + len);
                assert_eq!(gone as usize, before - mapped.len(), "step {step}");
            }
        }
        let tables = s.check_counts();
        assert_eq!(s.pt.tables_below(&s.mem, 0, 255) as usize + 1, tables);
        assert_eq!(
            tables,
            s.live_frames(),
            "step {step}: frames not in a table"
        );
    }
    // Everything goes: only the root is left.
    let gone = s.pt.unmap(&mut s.mem, &mut s.frames, 0, 1 << 47).unwrap();
    assert_eq!(gone as usize, mapped.len());
    assert_eq!(s.check_counts(), 1);
    assert_eq!(s.live_frames(), 1);
    assert!(s.leaves(0, u64::MAX).is_empty());
}

#[test]
fn unmap_skips_what_is_absent_and_splits_what_reaches_out() {
    let mut s = Sim::new(64);
    s.map(va(1, 0, 0, 0), 0, Size1G, USER_RW).unwrap();
    s.map(va(3, 4, 5, 6), RAM, Size4K, USER_RW).unwrap();
    // The whole lower half: a handful of reads per absent PML4 slot, not 2^35 steps.
    s.mem.writes.clear();
    let all = s.pt.unmap(&mut s.mem, &mut s.frames, 0, 1 << 47).unwrap();
    assert_eq!(all, (PAGE_1G / PAGE_4K) + 1);
    assert_eq!(s.live_frames(), 1);
    // Part of a 1 GiB leaf: split down to what stays.
    s.map(va(1, 0, 0, 0), 0, Size1G, USER_RW).unwrap();
    let from = va(1, 0, 0, 0) + PAGE_2M - PAGE_4K;
    let gone =
        s.pt.unmap(&mut s.mem, &mut s.frames, from, PAGE_2M + 2 * PAGE_4K)
            .unwrap();
    assert_eq!(gone, 512 + 2);
    assert_eq!(
        s.translate(from - PAGE_4K).map(|t| t.0),
        Some(PAGE_2M - 2 * PAGE_4K)
    );
    assert_eq!(s.translate(from), None);
    assert_eq!(s.translate(from + PAGE_2M + PAGE_4K), None);
    assert_eq!(
        s.translate(from + PAGE_2M + 2 * PAGE_4K).map(|t| t.2),
        Some(Size4K)
    );
    assert_eq!(
        s.translate(va(1, 0, 9, 0)).map(|t| t.2),
        Some(Size2M),
        "the rest of the 1 GiB stays in 2 MiB pieces"
    );
    s.check_counts();
    // Bad ranges change nothing.
    assert_eq!(
        s.pt.unmap(&mut s.mem, &mut s.frames, 0x7fff_ffff_f000, 2 * PAGE_4K),
        Err(MapError::NonCanonical)
    );
    assert_eq!(
        s.pt.unmap(&mut s.mem, &mut s.frames, 0x1234, PAGE_4K),
        Err(MapError::Misaligned)
    );
    assert_eq!(s.pt.unmap(&mut s.mem, &mut s.frames, 0, 0), Ok(0));
}

#[test]
fn tables_of_the_kernel_half_stay_when_they_empty() {
    let mut s = Sim::new(16);
    let v = 0xffff_ffff_8000_0000;
    s.map(v, RAM, Size4K, KERNEL_RW).unwrap();
    let frames = s.live_frames();
    assert_eq!(s.remap(v, None, Size4K), Ok(Some(Entry(RAM | 0x3 | NX))));
    assert_eq!(s.live_frames(), frames, "shared tables are never unlinked");
    let path = s.path(v);
    assert_eq!(Entry(s.mem.word(path[2])).count(), 0);
    assert_eq!(s.pt.unmap(&mut s.mem, &mut s.frames, v, PAGE_2M), Ok(0));
    assert_eq!(s.live_frames(), frames);
    // Mapping there again reuses them and counts again.
    s.map(v, RAM, Size4K, KERNEL_RW).unwrap();
    assert_eq!(Entry(s.mem.word(path[2])).count(), 1);
    assert_eq!(s.live_frames(), frames);
}
