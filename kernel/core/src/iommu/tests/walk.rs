//! The unit's walk through device page tables built by `paging::PageTable` the way
//! delegation builds them (4 KiB leaves, present = read, writable = write, user, never
//! executable): the device sees what the rights say, at 4 levels and at 3 (from slot 0
//! of the PML4), and no entry has a bit the unit reserves.

use crate::iommu::regs::Caps;
use crate::iommu::tables::domain_root;
use crate::iommu::walk::{translate, Translation, ADDRESS_BEYOND_WIDTH, READ, RESERVED, WRITE};
use crate::paging::{Attrs, PageSize, PageTable};
use crate::phys::{FrameSource, PhysMem};
use std::collections::HashMap;

#[derive(Default)]
struct Mem(HashMap<u64, u64>);

impl PhysMem for Mem {
    fn read_u64(&self, addr: u64) -> u64 {
        self.0.get(&addr).copied().unwrap_or(0)
    }
    fn write_u64(&mut self, addr: u64, value: u64) {
        self.0.insert(addr, value);
    }
}

struct Frames(u64);

impl FrameSource for Frames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        self.0 += 0x1000;
        Some(self.0)
    }

    fn free(&mut self, _: u64) {}
}

fn qemu(super_pages: u64) -> Caps {
    Caps {
        cap: 47 << 16 | 1 << 9 | 1 << 10 | super_pages << 34,
        ecap: 0,
    }
}

fn rights(write: bool) -> Attrs {
    Attrs {
        write,
        execute: false,
        user: true,
        global: false,
        uncached: false,
    }
}

/// A device table with a writable page at 0x20_0000, a read-only one at 0x20_1000, and
/// a writable one at 600 GiB (beyond what 3 levels reach).
fn table() -> (Mem, PageTable) {
    let (mut mem, mut frames) = (Mem::default(), Frames(0x100_0000));
    let pt = PageTable::new(&mut frames).unwrap();
    for (va, pa, w) in [
        (0x20_0000, 0x7654_3000, true),
        (0x20_1000, 0x7655_0000, false),
        (600 << 30, 0x1000, true),
    ] {
        pt.remap(
            &mut mem,
            &mut frames,
            va,
            Some((pa, rights(w))),
            PageSize::Size4K,
        )
        .unwrap();
    }
    (mem, pt)
}

#[test]
fn four_levels_translate_with_the_rights_delegation_gave() {
    let (mem, pt) = table();
    let c = qemu(0);
    let t = |addr, write| translate(&mem, &c, pt.root, 4, 48, addr, write);
    assert_eq!(
        t(0x20_0123, true),
        Ok(Translation {
            phys: 0x7654_3123,
            read: true,
            write: true,
            page: 0x1000
        })
    );
    assert_eq!(t(0x20_1ff8, false).map(|x| x.phys), Ok(0x7655_0ff8));
    assert_eq!(t(0x20_1000, true), Err(WRITE));
    assert_eq!(t(0x20_2000, true), Err(WRITE));
    assert_eq!(t(0x20_2000, false), Err(READ));
    assert_eq!(t(600 << 30, true).map(|x| x.phys), Ok(0x1000));
    assert_eq!(t(1 << 48, false), Err(ADDRESS_BEYOND_WIDTH));
}

#[test]
fn three_levels_walk_from_slot_zero() {
    let (mem, pt) = table();
    let c = qemu(0);
    let root = domain_root(pt.root, mem.read_u64(pt.root), 3).unwrap();
    let t = |addr, write| translate(&mem, &c, root, 3, 48, addr, write);
    assert_eq!(t(0x20_0008, true).map(|x| x.phys), Ok(0x7654_3008));
    assert_eq!(t(0x20_1000, true), Err(WRITE));
    // Beyond 39 bits: out of the domain's width.
    assert_eq!(t(600 << 30, true), Err(ADDRESS_BEYOND_WIDTH));
}

#[test]
fn unmapping_is_seen_by_the_walk() {
    let (mut mem, pt) = table();
    let mut frames = Frames(0x200_0000);
    pt.remap(&mut mem, &mut frames, 0x20_0000, None, PageSize::Size4K)
        .unwrap();
    let c = qemu(0);
    assert_eq!(
        translate(&mem, &c, pt.root, 4, 48, 0x20_0000, true),
        Err(WRITE)
    );
    assert_eq!(
        translate(&mem, &c, pt.root, 4, 48, 0x20_0000, false),
        Err(READ)
    );
}

#[test]
fn no_entry_has_a_reserved_bit() {
    // Every entry on every path: the x86 bits Facet writes (present, writable, user,
    // NX in the ignored bit 63) are all ones a unit accepts, without snoop control and
    // with a host width just wide enough.
    let (mem, pt) = table();
    let c = qemu(0);
    for addr in [0x20_0000u64, 0x20_1000, 600 << 30] {
        assert!(translate(&mem, &c, pt.root, 4, 32, addr, false).is_ok());
    }
    for (&at, &e) in &mem.0 {
        assert_eq!(e & (1 << 11 | 0xffe << 40), 0, "entry {e:#x} at {at:#x}");
    }
}

#[test]
fn super_pages_need_the_units_support() {
    let (mut mem, mut frames) = (Mem::default(), Frames(0x100_0000));
    let pt = PageTable::new(&mut frames).unwrap();
    pt.remap(
        &mut mem,
        &mut frames,
        0x4000_0000,
        Some((0x8000_0000, rights(true))),
        PageSize::Size2M,
    )
    .unwrap();
    assert_eq!(
        translate(&mem, &qemu(0), pt.root, 4, 48, 0x4000_1234, false),
        Err(RESERVED)
    );
    assert_eq!(
        translate(&mem, &qemu(1), pt.root, 4, 48, 0x401f_1234, true),
        Ok(Translation {
            phys: 0x801f_1234,
            read: true,
            write: true,
            page: 0x20_0000
        })
    );
}

#[test]
fn hostile_tables_end_in_a_fault_or_a_translation() {
    // Random entries everywhere the walk may look: it never loops or panics.
    let mut rng = crate::testrng::Rng(0x1234_5678_9abc_def1);
    for _ in 0..2000 {
        let mut mem = Mem::default();
        let mut table = 0x1000u64;
        for _ in 0..5 {
            let next = 0x1000 * (1 + rng.below(4));
            for i in 0..4u64 {
                mem.write_u64(
                    table + i * 8,
                    rng.next() & !0xfff | next | rng.below(0x1000),
                );
            }
            table = next;
        }
        let caps = Caps {
            cap: rng.next(),
            ecap: rng.next(),
        };
        let levels = rng.below(7) as u8;
        let _ = translate(
            &mem,
            &caps,
            0x1000,
            levels,
            39,
            rng.below(1 << 14),
            rng.next() & 1 == 0,
        );
    }
}
