//! Which PCI functions of segment 0 exist and which remapping unit translates each,
//! found once at boot: a scan of configuration space, then the DMAR's device scopes.
//!
//! A unit's scopes name devices by a path from a start bus through bridges (each step a
//! device and function, each bridge's secondary bus the next step's bus), so resolving
//! them reads the bridges' bus numbers. A scope naming a bridge (sub-hierarchy) claims
//! everything on the buses behind it. Devices no scope names belong to the segment's
//! INCLUDE_PCI_ALL unit, if there is one. Everything here reads configuration space
//! through [`ConfigSpace`], trusts none of it, and is bounded: a scan reads each
//! function's first registers once, a path has at most `MAX_PATH` steps.

use crate::acpi::dmar::{DeviceScope, Drhd, SCOPE_PCI_ENDPOINT, SCOPE_PCI_SUB_HIERARCHY};

/// Configuration space of segment 0.
pub trait ConfigSpace {
    /// The 32-bit register at `offset` (a multiple of 4 below 4096) of function `rid`,
    /// or all ones where no function answers or the kernel cannot reach the bus.
    fn read32(&mut self, rid: u16, offset: u16) -> u32;
}

/// Entries of a device map: one per requester id.
pub const MAP_ENTRIES: usize = 1 << 16;
/// A device map entry: no function answers there.
pub const ABSENT: u8 = 0xff;
/// A device map entry: the function exists, no unit translates it.
pub const UNCLAIMED: u8 = 0xfe;

/// The requester id of bus, device, function.
pub const fn rid(bus: u8, dev: u8, func: u8) -> u16 {
    (bus as u16) << 8 | ((dev & 0x1f) as u16) << 3 | (func & 7) as u16
}

/// Whether function `rid` answers (its vendor id is not all ones).
pub fn exists(cfg: &mut impl ConfigSpace, rid: u16) -> bool {
    cfg.read32(rid, 0) & 0xffff != 0xffff
}

/// The header type byte of function `rid` (bit 7: multi-function; bits 6:0: 1 for a
/// PCI-to-PCI bridge).
fn header_type(cfg: &mut impl ConfigSpace, rid: u16) -> u8 {
    (cfg.read32(rid, 0x0c) >> 16) as u8
}

/// The buses behind bridge `rid` (secondary to subordinate), if it is a bridge whose
/// numbers make sense (secondary bus not 0, subordinate not below it).
pub fn bridge_buses(cfg: &mut impl ConfigSpace, rid: u16) -> Option<(u8, u8)> {
    if header_type(cfg, rid) & 0x7f != 1 {
        return None;
    }
    let r = cfg.read32(rid, 0x18);
    let (secondary, subordinate) = ((r >> 8) as u8, (r >> 16) as u8);
    (secondary != 0 && secondary <= subordinate).then_some((secondary, subordinate))
}

/// Marks every function that answers on buses `first..=last` in `map` (a
/// [`MAP_ENTRIES`]-entry table) as [`UNCLAIMED`] and everything else as [`ABSENT`];
/// returns how many answered. Functions 1 to 7 of a device are looked at only if
/// function 0 answers and says it has several.
pub fn scan(cfg: &mut impl ConfigSpace, first: u8, last: u8, map: &mut [u8]) -> u32 {
    map.fill(ABSENT);
    let mut found = 0;
    for bus in first..=last {
        for dev in 0..32 {
            let f0 = rid(bus, dev, 0);
            if !exists(cfg, f0) {
                continue;
            }
            mark(map, f0, UNCLAIMED, &mut found);
            if header_type(cfg, f0) & 0x80 == 0 {
                continue;
            }
            for func in 1..8 {
                let r = rid(bus, dev, func);
                if exists(cfg, r) {
                    mark(map, r, UNCLAIMED, &mut found);
                }
            }
        }
    }
    found
}

fn mark(map: &mut [u8], rid: u16, v: u8, found: &mut u32) {
    if let Some(e) = map.get_mut(rid as usize) {
        *e = v;
        *found += 1;
    }
}

/// The requester id a scope's path leads to: `None` for an empty path, a step outside
/// the device or function range, or a step before the last that is not a usable bridge.
pub fn resolve(cfg: &mut impl ConfigSpace, scope: &DeviceScope) -> Option<u16> {
    let path = scope.path();
    let mut bus = scope.start_bus;
    for (i, step) in path.iter().enumerate() {
        if step.dev >= 32 || step.func >= 8 {
            return None;
        }
        let r = rid(bus, step.dev, step.func);
        if i + 1 == path.len() {
            return Some(r);
        }
        bus = bridge_buses(cfg, r)?.0;
    }
    None
}

/// What [`claim`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    /// Functions some unit translates.
    pub claimed: u32,
    /// PCI scopes whose path leads nowhere (their devices, if any, stay with the
    /// INCLUDE_PCI_ALL unit or none).
    pub unresolved: u32,
}

/// Marks each function in `map` (after [`scan`]) with the index of the unit that
/// translates it: for segment 0, the INCLUDE_PCI_ALL unit takes every function, then the
/// other units take what their scopes name (an endpoint, or a bridge with everything on
/// its buses). `usable(i)` says whether DRHD `i` is turned on: a unit left off claims
/// nothing. Absent functions stay absent.
pub fn claim(
    cfg: &mut impl ConfigSpace,
    drhds: &[Drhd],
    usable: impl Fn(usize) -> bool,
    map: &mut [u8],
) -> Claims {
    let mut c = Claims::default();
    let units = drhds.iter().enumerate().take(UNCLAIMED as usize);
    for (i, u) in units.clone() {
        if u.segment == 0 && u.include_pci_all() && usable(i) {
            for e in map.iter_mut().filter(|e| **e != ABSENT) {
                *e = i as u8;
            }
        }
    }
    for (i, u) in units {
        if u.segment != 0 || u.include_pci_all() || !usable(i) {
            continue;
        }
        for s in u.scopes.as_slice() {
            if s.kind != SCOPE_PCI_ENDPOINT && s.kind != SCOPE_PCI_SUB_HIERARCHY {
                continue;
            }
            let Some(r) = resolve(cfg, s) else {
                c.unresolved += 1;
                continue;
            };
            set(map, r, i as u8);
            if s.kind == SCOPE_PCI_SUB_HIERARCHY {
                if let Some((first, last)) = bridge_buses(cfg, r) {
                    for bus in first..=last {
                        for devfn in 0..=255u8 {
                            set(map, (bus as u16) << 8 | devfn as u16, i as u8);
                        }
                    }
                }
            }
        }
    }
    c.claimed = map
        .iter()
        .filter(|&&e| e != ABSENT && e != UNCLAIMED)
        .count() as u32;
    c
}

/// Gives an existing function to unit `unit`.
fn set(map: &mut [u8], rid: u16, unit: u8) {
    if let Some(e) = map.get_mut(rid as usize).filter(|e| **e != ABSENT) {
        *e = unit;
    }
}

/// What the map says of requester id `rid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// No function answered there at boot.
    Absent,
    /// It exists, no unit translates it.
    Unclaimed,
    /// Unit `n` (a DRHD index) translates it.
    Unit(u8),
}

/// Looks `rid` up in a map built by [`scan`] and [`claim`] (a short map answers absent).
pub fn lookup(map: &[u8], rid: u16) -> Lookup {
    match map.get(rid as usize).copied().unwrap_or(ABSENT) {
        ABSENT => Lookup::Absent,
        UNCLAIMED => Lookup::Unclaimed,
        n => Lookup::Unit(n),
    }
}
