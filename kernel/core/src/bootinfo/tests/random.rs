//! Robustness: random bytes and random tag lists never make the parser panic, and every
//! successful parse keeps what [`BootInfo`] promises.

use super::*;

use crate::testrng::Rng;

/// Test-only extras on the shared generator.
trait Sizes {
    fn size(&mut self) -> u32;
    fn addr(&mut self) -> u32;
}

impl Sizes for Rng {
    /// Mostly small values, sometimes anything: sizes and counts near the limits.
    fn size(&mut self) -> u32 {
        match self.below(4) {
            0 => self.next() as u32,
            1 => self.below(64) as u32,
            _ => self.below(0x200) as u32,
        }
    }
    /// An address inside the fake RAM most of the time.
    fn addr(&mut self) -> u32 {
        match self.below(8) {
            0 => self.next() as u32,
            _ => (RAM_BASE + self.below(RAM_SIZE as u64)) as u32,
        }
    }
}

/// Checks what a successful parse promises.
fn check_invariants(bi: &BootInfo) {
    assert!(bi.region_count <= MAX_REGIONS && bi.module_count <= MAX_MODULES);
    assert!(!bi.regions().is_empty());
    for r in bi.regions() {
        assert!(r.len != 0 && r.addr.checked_add(r.len).is_some());
    }
    for m in bi.modules() {
        assert!(m.end >= m.start);
    }
    let _ = bi.usable_bytes();
}

#[test]
fn random_mb1_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0;
    for _ in 0..3000 {
        let mut r = ram();
        rng.fill(&mut r.bytes[..0x4000]);
        // Point the pointers into RAM often enough to reach the inner loops.
        if rng.below(2) == 0 {
            let flags = rng.next() as u32 | MB1_FLAG_MMAP;
            r.put(INFO, &le32(flags));
            r.put(INFO + 20, &le32(rng.size()));
            r.put(INFO + 24, &le32(rng.addr()));
            r.put(INFO + 44, &le32(rng.size()));
            r.put(INFO + 48, &le32(rng.addr()));
            // Plausible map entries at the start of the map.
            for i in 0..rng.below(6) {
                let mut e = Vec::new();
                mb1_entry(
                    &mut e,
                    20 + rng.below(3) as u32 * 4,
                    rng.next() >> rng.below(64),
                    rng.next() >> rng.below(64),
                    rng.next() as u32 % 6,
                );
                r.put(MMAP + i * 28, &e);
            }
            r.put(INFO + 48, &le32(MMAP as u32));
        }
        let at = match rng.below(4) {
            0 => rng.next(),
            _ => INFO,
        };
        if let Ok(bi) = parse(MB1_MAGIC, at, &r) {
            check_invariants(&bi);
            ok += 1;
        }
    }
    assert!(ok > 0, "the generator never produced a valid info");
}

#[test]
fn random_mb2_never_panics() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut ok = 0;
    for _ in 0..3000 {
        let mut r = ram();
        rng.fill(&mut r.bytes[..0x2000]);
        if rng.below(4) != 0 {
            // Mostly plausible tags with random fields, to get past the header checks.
            let mut m = Mb2::new();
            for _ in 0..rng.below(10) {
                let ty = match rng.below(3) {
                    0 => rng.next() as u32,
                    _ => [1, 3, 4, 6, 11, 12, 14, 15, 21][rng.below(9) as usize],
                };
                let mut payload = std::vec![0u8; rng.size().min(0x400) as usize];
                rng.fill(&mut payload);
                if ty == TAG_MMAP && payload.len() >= 8 && rng.below(2) == 0 {
                    payload[..4].copy_from_slice(&le32(24));
                }
                if rng.below(8) == 0 {
                    m.tag_sized(ty, rng.size(), &payload);
                } else {
                    m.tag(ty, &payload);
                }
            }
            if rng.below(4) != 0 {
                m.end();
            }
            if rng.below(8) == 0 {
                m.set_total(rng.size());
            }
            if m.bytes.len() <= 0x8000 {
                r.put(INFO, &m.bytes);
            }
        }
        let at = match rng.below(8) {
            0 => rng.next(),
            1 => INFO + rng.below(16),
            _ => INFO,
        };
        if let Ok(bi) = parse(MB2_MAGIC, at, &r) {
            check_invariants(&bi);
            ok += 1;
        }
    }
    assert!(ok > 0, "the generator never produced a valid info");
}
