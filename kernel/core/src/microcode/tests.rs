use super::*;
use crate::testrng::Rng;
use std::vec;
use std::vec::Vec;

const SKYLAKE: u32 = 0x506e3;

fn put(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn get(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Makes the checksum word at 16 right for header and data.
fn seal(b: &mut [u8], body: usize) {
    put(b, 16, 0);
    let s = (0..body / 4).fold(0u32, |s, i| s.wrapping_add(get(b, i * 4)));
    put(b, 16, s.wrapping_neg());
}

/// An update of `total` bytes with `data` bytes of data for `sig`/`flags`.
fn update(rev: u32, sig: u32, flags: u32, data: u32, total: u32) -> Vec<u8> {
    let mut b = vec![0u8; total as usize];
    put(&mut b, 0, 1);
    put(&mut b, 4, rev);
    put(&mut b, 8, 0x0105_2024);
    put(&mut b, 12, sig);
    put(&mut b, 20, 1);
    put(&mut b, 24, flags);
    put(&mut b, 28, data);
    put(&mut b, 32, total);
    for i in 0..data as usize / 4 {
        put(&mut b, 48 + i * 4, (i as u32).wrapping_mul(0x9e37_79b9));
    }
    seal(&mut b, 48 + data as usize);
    b
}

/// Appends an extended table with `sigs` to an update (its total grows to a KiB
/// multiple, padding counted in the data).
fn with_extended(rev: u32, sig: u32, flags: u32, sigs: &[(u32, u32)]) -> Vec<u8> {
    let ext = 20 + 12 * sigs.len() as u32;
    let total = (48 + 1024 + ext).next_multiple_of(1024);
    let data = total - 48 - ext;
    let mut b = update(rev, sig, flags, data, total);
    let cks = get(&b, 16);
    let base = (48 + data) as usize;
    put(&mut b, base, sigs.len() as u32);
    for (i, &(s, f)) in sigs.iter().enumerate() {
        let e = base + 20 + i * 12;
        put(&mut b, e, s);
        put(&mut b, e + 4, f);
        put(
            &mut b,
            e + 8,
            sig.wrapping_add(flags)
                .wrapping_add(cks)
                .wrapping_sub(s)
                .wrapping_sub(f),
        );
    }
    let s = (base / 4..total as usize / 4).fold(0u32, |s, i| s.wrapping_add(get(&b, i * 4)));
    put(&mut b, base + 4, s.wrapping_neg());
    b
}

#[test]
fn a_good_update_is_accepted_and_matched() {
    let b = update(0x42, SKYLAKE, 0b10, 1024 - 48, 1024);
    let u = check(&b).unwrap();
    assert_eq!((u.revision, u.signature, u.flags), (0x42, SKYLAKE, 0b10));
    assert_eq!((u.data_size, u.total_size), (976, 1024));
    assert!(u.matches(&b, SKYLAKE, 1));
    assert!(!u.matches(&b, SKYLAKE, 0), "other platform");
    assert!(!u.matches(&b, SKYLAKE + 1, 1), "other stepping");
    // More bytes given than the update holds: fine, the rest is not looked at.
    let mut longer = b.clone();
    longer.extend_from_slice(&[0xee; 100]);
    assert_eq!(check(&longer), Ok(u));
}

#[test]
fn the_oldest_format_means_2000_bytes_of_data() {
    let mut b = vec![0u8; 2048];
    put(&mut b, 0, 1);
    put(&mut b, 12, SKYLAKE);
    put(&mut b, 20, 1);
    seal(&mut b, 2048);
    let u = check(&b).unwrap();
    assert_eq!((u.data_size, u.total_size), (2000, 2048));
    // Platform flags 0 on both sides match.
    assert!(u.matches(&b, SKYLAKE, 0));
    assert!(check(&b[..2047]).is_err());
}

#[test]
fn every_bad_field_is_refused() {
    let good = update(7, SKYLAKE, 1, 2048 - 48, 2048);
    let broken = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        check(&b)
    };
    assert_eq!(check(&good[..47]), Err(McError::TooShort { len: 47 }));
    assert_eq!(check(&[]), Err(McError::TooShort { len: 0 }));
    assert_eq!(
        check(&vec![0u8; MAX_LEN as usize + 1]),
        Err(McError::TooLong { len: MAX_LEN + 1 })
    );
    assert_eq!(broken(&|b| put(b, 0, 2)), Err(McError::HeaderVersion(2)));
    assert_eq!(broken(&|b| put(b, 20, 0)), Err(McError::LoaderRevision(0)));
    // The checksum covers header and data.
    assert_eq!(broken(&|b| b[100] ^= 1), Err(McError::Checksum));
    assert_eq!(broken(&|b| put(b, 4, 8)), Err(McError::Checksum));
    // Sizes: data not a word multiple, total not a KiB multiple, total below header and
    // data, total beyond what was given.
    let sizes = |data: u32, total: u32| {
        let mut b = good.clone();
        put(&mut b, 28, data);
        put(&mut b, 32, total);
        check(&b)
    };
    assert!(matches!(sizes(1002, 2048), Err(McError::Sizes { .. })));
    assert!(matches!(sizes(976, 1000), Err(McError::Sizes { .. })));
    assert!(matches!(sizes(2048, 1024), Err(McError::Sizes { .. })));
    assert!(matches!(sizes(976, 4096), Err(McError::Sizes { .. })));
    assert!(matches!(
        sizes(u32::MAX - 3, 2048),
        Err(McError::Sizes { .. })
    ));
    assert!(check(&good[..2047]).is_err());
}

#[test]
fn extended_signatures_are_checked_and_matched() {
    let b = with_extended(9, SKYLAKE, 0b1, &[(0x906ea, 0b100), (0x806ec, 0x80)]);
    let u = check(&b).unwrap();
    assert!(u.matches(&b, SKYLAKE, 0));
    assert!(u.matches(&b, 0x906ea, 2));
    assert!(u.matches(&b, 0x806ec, 7));
    assert!(!u.matches(&b, 0x906ea, 0));
    assert!(!u.matches(&b, 0x806ed, 7));
    let total = u.total_size as usize;
    let base = 48 + u.data_size as usize;
    // A wrong entry checksum, a wrong table checksum, a count that does not fit.
    let mut e = b.clone();
    let (c, t) = (get(&e, base + 20 + 8), get(&e, base + 4));
    put(&mut e, base + 20 + 8, c.wrapping_add(1));
    put(&mut e, base + 4, t.wrapping_sub(1)); // keeps the table sum at zero
    assert_eq!(check(&e), Err(McError::ExtendedTable));
    let mut e = b.clone();
    let t = get(&e, base + 4);
    put(&mut e, base + 4, t ^ 1);
    assert_eq!(check(&e), Err(McError::ExtendedTable));
    for count in [0u32, 1, 3, u32::MAX, 0x1555_5556] {
        let mut e = b.clone();
        put(&mut e, base, count);
        assert_eq!(check(&e), Err(McError::ExtendedTable), "count {count}");
    }
    assert!(check(&b[..total - 4]).is_err());
}

#[test]
fn revisions_by_vendor() {
    assert_eq!(revision_from_sign_id(0x0000_00f0_0000_0000, true), 0xf0);
    assert_eq!(revision_from_sign_id(0x0100_0065, false), 0x0100_0065);
}

#[test]
fn random_and_hostile_input_never_panics() {
    let mut rng = Rng(0x5eed);
    let good = with_extended(3, SKYLAKE, 1, &[(1, 2), (3, 4)]);
    for round in 0..20_000 {
        let mut b = if round % 2 == 0 {
            good.clone()
        } else {
            let mut v = vec![0u8; rng.below(4200) as usize];
            rng.fill(&mut v);
            v
        };
        // Flip a few words, often in the header's size fields.
        for _ in 0..rng.below(4) {
            if b.len() >= 4 {
                let at = if rng.below(2) == 0 {
                    [0usize, 20, 28, 32][rng.below(4) as usize]
                } else {
                    rng.below(b.len() as u64 - 3) as usize
                };
                if at + 4 <= b.len() {
                    put(&mut b, at, rng.next() as u32);
                }
            }
        }
        let len = rng.below(b.len() as u64 + 1) as usize;
        if let Ok(u) = check(&b[..len]) {
            assert!(u.total_size as usize <= len);
            let _ = u.matches(&b[..len], rng.next() as u32, rng.below(9) as u32);
        }
    }
}
