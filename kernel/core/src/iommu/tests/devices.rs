//! Device maps from a simulated configuration space: the scan, scopes through bridges,
//! sub-hierarchies, the catch-all unit, and hostile bridges and scopes.

use crate::acpi::dmar::{
    DeviceScope, Drhd, PathEntry, Scopes, DRHD_INCLUDE_PCI_ALL, MAX_PATH, SCOPE_IOAPIC,
    SCOPE_PCI_ENDPOINT, SCOPE_PCI_SUB_HIERARCHY,
};
use crate::iommu::devices::*;
use std::collections::HashMap;
use std::vec;
use std::vec::Vec;

/// Configuration space: registers by (requester id, offset); absent functions read all
/// ones. Counts reads, to check that the scan stays bounded.
#[derive(Default)]
struct Config {
    regs: HashMap<(u16, u16), u32>,
    reads: u64,
}

impl Config {
    fn function(&mut self, rid: u16, multi: bool) {
        self.regs.insert((rid, 0), 0x1234_8086);
        self.regs
            .insert((rid, 0x0c), if multi { 0x80 << 16 } else { 0 });
    }
    fn bridge(&mut self, rid: u16, secondary: u8, subordinate: u8) {
        self.regs.insert((rid, 0), 0x2448_8086);
        self.regs.insert((rid, 0x0c), 1 << 16);
        self.regs.insert(
            (rid, 0x18),
            (subordinate as u32) << 16 | (secondary as u32) << 8 | (rid >> 8) as u32,
        );
    }
}

impl ConfigSpace for Config {
    fn read32(&mut self, rid: u16, offset: u16) -> u32 {
        self.reads += 1;
        self.regs.get(&(rid, offset)).copied().unwrap_or(u32::MAX)
    }
}

fn scope(kind: u8, bus: u8, path: &[(u8, u8)]) -> DeviceScope {
    let mut s = DeviceScope {
        kind,
        enumeration_id: 0,
        start_bus: bus,
        path: [PathEntry::default(); MAX_PATH],
        path_len: path.len() as u8,
    };
    for (i, &(dev, func)) in path.iter().enumerate() {
        s.path[i] = PathEntry { dev, func };
    }
    s
}

fn unit(flags: u8, base: u64, scopes: &[DeviceScope]) -> Drhd {
    let mut s = Scopes::default();
    for (i, x) in scopes.iter().enumerate() {
        s.items[i] = *x;
    }
    s.count = scopes.len();
    Drhd {
        flags,
        size: 0,
        segment: 0,
        base,
        scopes: s,
    }
}

/// A client platform: host bridge 00:00.0, graphics 00:02.0, the edu device 00:03.0, a
/// root port 00:1c.0 to bus 1 (a bridge 01:00.0 to bus 2 with 02:05.0 behind it), the
/// LPC/SATA/SMBus functions 00:1f.0-3.
fn platform() -> Config {
    let mut c = Config::default();
    c.function(rid(0, 0, 0), false);
    c.function(rid(0, 2, 0), false);
    c.function(rid(0, 3, 0), false);
    c.bridge(rid(0, 0x1c, 0), 1, 2);
    c.bridge(rid(1, 0, 0), 2, 2);
    c.function(rid(2, 5, 0), false);
    c.function(rid(0, 0x1f, 0), true);
    for f in 2..4 {
        c.function(rid(0, 0x1f, f), false);
    }
    c
}

fn map() -> Vec<u8> {
    vec![0; MAP_ENTRIES]
}

#[test]
fn the_scan_finds_every_function() {
    let mut c = platform();
    let mut m = map();
    assert_eq!(scan(&mut c, 0, 255, &mut m), 9);
    assert_eq!(lookup(&m, rid(0, 3, 0)), Lookup::Unclaimed);
    assert_eq!(lookup(&m, rid(2, 5, 0)), Lookup::Unclaimed);
    assert_eq!(lookup(&m, rid(0, 0x1f, 1)), Lookup::Absent);
    assert_eq!(lookup(&m, rid(0, 4, 0)), Lookup::Absent);
    // Per bus: 32 vendor ids, the header types of what answered, and the functions of
    // the one multi-function device.
    assert!(c.reads < 256 * 32 + 32, "{} reads", c.reads);
    // Buses outside the range are not read.
    let mut m = map();
    assert_eq!(scan(&mut c, 1, 1, &mut m), 1);
    assert_eq!(lookup(&m, rid(0, 0, 0)), Lookup::Absent);
}

#[test]
fn scopes_claim_devices_and_the_catch_all_the_rest() {
    let mut c = platform();
    let mut m = map();
    scan(&mut c, 0, 255, &mut m);
    let units = [
        // Graphics alone.
        unit(0, 0xfed9_0000, &[scope(SCOPE_PCI_ENDPOINT, 0, &[(2, 0)])]),
        // Everything behind the root port, named through it.
        unit(
            0,
            0xfed9_1000,
            &[scope(SCOPE_PCI_SUB_HIERARCHY, 0, &[(0x1c, 0)])],
        ),
        // The rest, with the I/O APIC (not a PCI function: claims nothing).
        unit(
            DRHD_INCLUDE_PCI_ALL,
            0xfed9_2000,
            &[scope(SCOPE_IOAPIC, 0xf0, &[(0x1f, 0)])],
        ),
    ];
    let claims = claim(&mut c, &units, |_| true, &mut m);
    assert_eq!(
        claims,
        Claims {
            claimed: 9,
            unresolved: 0
        }
    );
    assert_eq!(lookup(&m, rid(0, 2, 0)), Lookup::Unit(0));
    assert_eq!(lookup(&m, rid(0, 0x1c, 0)), Lookup::Unit(1));
    assert_eq!(lookup(&m, rid(1, 0, 0)), Lookup::Unit(1));
    assert_eq!(lookup(&m, rid(2, 5, 0)), Lookup::Unit(1));
    assert_eq!(lookup(&m, rid(0, 3, 0)), Lookup::Unit(2));
    assert_eq!(lookup(&m, rid(0, 0x1f, 3)), Lookup::Unit(2));
    assert_eq!(lookup(&m, rid(3, 0, 0)), Lookup::Absent);
    // An endpoint two bridges down, named by its path.
    let s = scope(SCOPE_PCI_ENDPOINT, 0, &[(0x1c, 0), (0, 0), (5, 0)]);
    assert_eq!(resolve(&mut c, &s), Some(rid(2, 5, 0)));
}

#[test]
fn units_left_off_claim_nothing() {
    let mut c = platform();
    let mut m = map();
    scan(&mut c, 0, 255, &mut m);
    let units = [
        unit(0, 0xfed9_0000, &[scope(SCOPE_PCI_ENDPOINT, 0, &[(2, 0)])]),
        unit(DRHD_INCLUDE_PCI_ALL, 0xfed9_2000, &[]),
    ];
    let claims = claim(&mut c, &units, |i| i == 0, &mut m);
    assert_eq!(claims.claimed, 1);
    assert_eq!(lookup(&m, rid(0, 2, 0)), Lookup::Unit(0));
    assert_eq!(lookup(&m, rid(0, 3, 0)), Lookup::Unclaimed);
    // Another segment's unit claims nothing here either.
    let mut other = units[1];
    other.segment = 1;
    let mut m = map();
    scan(&mut c, 0, 255, &mut m);
    assert_eq!(claim(&mut c, &[other], |_| true, &mut m).claimed, 0);
}

#[test]
fn hostile_scopes_and_bridges() {
    let mut c = platform();
    // A "bridge" whose secondary bus is 0, and one whose subordinate lies below it.
    c.bridge(rid(0, 0x1d, 0), 0, 5);
    c.bridge(rid(0, 0x1e, 0), 9, 4);
    // A bridge that names its own bus behind itself.
    c.bridge(rid(4, 1, 0), 4, 4);
    let mut m = map();
    scan(&mut c, 0, 255, &mut m);
    let bad = [
        scope(SCOPE_PCI_ENDPOINT, 0, &[]),
        scope(SCOPE_PCI_ENDPOINT, 0, &[(32, 0)]),
        scope(SCOPE_PCI_ENDPOINT, 0, &[(2, 8)]),
        // Through a device that is no bridge, through a missing one, through the bad
        // bridges.
        scope(SCOPE_PCI_ENDPOINT, 0, &[(3, 0), (0, 0)]),
        scope(SCOPE_PCI_ENDPOINT, 0, &[(9, 0), (0, 0)]),
        scope(SCOPE_PCI_ENDPOINT, 0, &[(0x1d, 0), (0, 0)]),
        scope(SCOPE_PCI_SUB_HIERARCHY, 0, &[(0x1e, 0), (1, 0)]),
    ];
    for s in &bad {
        assert_eq!(resolve(&mut c, s), None);
    }
    let units = [
        unit(0, 0xfed9_0000, &bad),
        unit(
            0,
            0xfed9_1000,
            &[
                // The self-naming bridge resolves and claims its own bus once; the bad ranges
                // claim nothing past the bridge itself.
                scope(SCOPE_PCI_SUB_HIERARCHY, 4, &[(1, 0)]),
                scope(SCOPE_PCI_SUB_HIERARCHY, 0, &[(0x1e, 0)]),
                // A scope naming a function that does not exist.
                scope(SCOPE_PCI_ENDPOINT, 0, &[(0x10, 0)]),
            ],
        ),
    ];
    let claims = claim(&mut c, &units, |_| true, &mut m);
    assert_eq!(claims.unresolved, bad.len() as u32);
    assert_eq!(lookup(&m, rid(4, 1, 0)), Lookup::Unit(1));
    assert_eq!(lookup(&m, rid(0, 0x1e, 0)), Lookup::Unit(1));
    assert_eq!(lookup(&m, rid(0, 0x10, 0)), Lookup::Absent);
    assert_eq!(lookup(&m, rid(0, 3, 0)), Lookup::Unclaimed);
    // More than 254 units: the map cannot name them, they claim nothing.
    let many = vec![unit(DRHD_INCLUDE_PCI_ALL, 0x1000, &[]); 300];
    let mut m = map();
    scan(&mut c, 0, 255, &mut m);
    claim(&mut c, &many, |i| i >= 254, &mut m);
    assert_eq!(lookup(&m, rid(0, 3, 0)), Lookup::Unclaimed);
    // A short map answers absent and is written only within its length.
    let mut short = vec![0u8; 16];
    scan(&mut c, 0, 0, &mut short);
    assert_eq!(lookup(&short, rid(0, 3, 0)), Lookup::Absent);
    assert_eq!(lookup(&short, rid(0, 0, 0)), Lookup::Unclaimed);
}

#[test]
fn random_configuration_space() {
    // Whatever the registers hold, scans and claims end, and every claimed function is
    // one the scan found.
    let mut rng = crate::testrng::Rng(0xdead_beef_1234_5678);
    for round in 0..40 {
        let mut c = Config::default();
        for _ in 0..300 {
            let r = rng.below(1 << 16) as u16 & 0x0fff;
            let off = [0u16, 0x0c, 0x18][rng.below(3) as usize];
            c.regs.insert((r, off), rng.next() as u32);
        }
        let mut m = map();
        let found = scan(&mut c, 0, 15, &mut m);
        let mut scopes = Vec::new();
        for _ in 0..12 {
            let n = rng.below(MAX_PATH as u64 + 1) as usize;
            let path: Vec<(u8, u8)> = (0..n)
                .map(|_| (rng.below(40) as u8, rng.below(10) as u8))
                .collect();
            let kind = [SCOPE_PCI_ENDPOINT, SCOPE_PCI_SUB_HIERARCHY][rng.below(2) as usize];
            scopes.push(scope(kind, rng.below(16) as u8, &path));
        }
        let units = [
            unit(0, 0x1000, &scopes[..6]),
            unit(0, 0x2000, &scopes[6..]),
            unit((round & 1) as u8, 0x3000, &[]),
        ];
        let claims = claim(&mut c, &units, |_| true, &mut m);
        assert!(claims.claimed <= found);
        assert!(claims.unresolved <= 12);
    }
}
