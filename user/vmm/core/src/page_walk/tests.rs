use super::*;
use std::collections::HashMap;
use std::vec::Vec;

/// Guest memory of `size` bytes holding the words of `entries`.
fn memory(size: u64, entries: &[(u64, u64)]) -> impl Fn(u64) -> Option<u64> {
    let words: HashMap<u64, u64> = entries.iter().copied().collect();
    move |gpa| (gpa + 8 <= size).then(|| words.get(&gpa).copied().unwrap_or(0))
}

const VA: u64 = 0xffff_fe00_0000_0080; // PML4 508, PDPT 0, PD 0, PT 0, offset 0x80

#[test]
fn a_four_level_walk_ends_at_the_page() {
    let mem = memory(
        0x10_0000,
        &[
            (0x1000 + 508 * 8, 0x2003),
            (0x2000, 0x3003),
            (0x3000, 0x4003),
            (0x4000, 0x8000_0000_0007_7063),
        ],
    );
    let w = walk(0x1000, VA, mem);
    assert_eq!(w.end, End::Mapped(0x7_7080));
    let levels: Vec<_> = w
        .steps
        .iter()
        .flatten()
        .map(|s| (s.level, s.entry_gpa))
        .collect();
    assert_eq!(levels, [(4, 0x1fe0), (3, 0x2000), (2, 0x3000), (1, 0x4000)]);
}

#[test]
fn large_pages_end_the_walk_early() {
    let two_mib = memory(
        0x10_0000,
        &[(0x1000, 0x2003), (0x2000, 0x3003), (0x3008, 0x60_0083)],
    );
    assert_eq!(walk(0x1000, 0x20_1234, two_mib).end, End::Mapped(0x60_1234));
    let one_gib = memory(0x10_0000, &[(0x1000, 0x2003), (0x2008, 0x4000_0083)]);
    assert_eq!(
        walk(0x1000, 0x4012_3456, one_gib).end,
        End::Mapped(0x4012_3456)
    );
}

#[test]
fn a_missing_entry_names_its_level() {
    let mem = memory(0x10_0000, &[(0x1000 + 508 * 8, 0x2003)]);
    let w = walk(0x1000, VA, mem);
    assert_eq!(w.end, End::NotPresent(3));
    assert_eq!(w.steps[1].unwrap().entry, Some(0));
    assert_eq!(w.steps[2], None);
}

#[test]
fn tables_outside_ram_end_the_walk() {
    // A CR3 beyond RAM, and an entry pointing beyond it, as hostile state may say.
    assert_eq!(
        walk(0x20_0000, VA, memory(0x10_0000, &[])).end,
        End::OutsideRam(4)
    );
    let mem = memory(0x10_0000, &[(0x1000 + 508 * 8, 0xffff_ffff_f003)]);
    assert_eq!(walk(0x1000, VA, mem).end, End::OutsideRam(3));
    // The top bits of CR3 (PCID, flags) are not part of the table's address.
    let mem = memory(0x10_0000, &[(0x1000 + 508 * 8, 0x2001)]);
    assert_eq!(walk(0x8000_0000_0000_1fff, VA, mem).end, End::NotPresent(3));
}
