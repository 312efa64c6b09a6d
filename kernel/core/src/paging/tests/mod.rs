//! Host tests over simulated memory that records every write.
//!
//! Expected entry values are spelled as raw numbers from the SDM's bit layout, not through
//! the `Entry` constants, so a wrong constant cannot hide behind itself.

use super::*;
use crate::phys::{FrameSource, PhysMem};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::vec;
use std::vec::Vec;

/// Where the fake frame source hands out frames, in order.
const POOL: u64 = 0x100_0000;
/// Leaf targets live far away from the pool, so following one as a table would be caught.
const RAM: u64 = 0x10_0000_0000;
const NX: u64 = 1 << 63;
/// A count of one present entry in a table entry (bits 61:52).
const ONE: u64 = 1 << 52;

/// Table memory: only frames handed out and not given back may be touched; every write
/// is logged.
struct Mem {
    words: HashMap<u64, u64>,
    writes: Vec<(u64, u64)>,
    /// The frame source's next frame: everything below it has been handed out.
    handed_end: Rc<Cell<u64>>,
    /// Frames given back to the frame source.
    freed: Rc<RefCell<HashSet<u64>>>,
}

impl Mem {
    fn check(&self, addr: u64) {
        assert!(addr.is_multiple_of(8), "unaligned access at {addr:#x}");
        assert!(
            (POOL..self.handed_end.get()).contains(&addr),
            "access at {addr:#x} outside the table frames handed out"
        );
        assert!(
            !self.freed.borrow().contains(&(addr & !0xfff)),
            "access at {addr:#x} in a frame given back"
        );
    }
    /// Changes a word behind the code's back (standing in for the CPU or another writer)
    /// without logging it.
    fn poke(&mut self, addr: u64, value: u64) {
        self.check(addr);
        self.words.insert(addr, value);
    }
    fn word(&self, addr: u64) -> u64 {
        self.read_u64(addr)
    }
}

impl PhysMem for Mem {
    fn read_u64(&self, addr: u64) -> u64 {
        self.check(addr);
        self.words.get(&addr).copied().unwrap_or(0)
    }
    fn write_u64(&mut self, addr: u64, value: u64) {
        self.check(addr);
        self.words.insert(addr, value);
        self.writes.push((addr, value));
    }
}

/// Hands out consecutive frames from `POOL` until `limit` frames have gone (frames
/// given back are not handed out again, so that a use after the free is caught).
struct Frames {
    next: Rc<Cell<u64>>,
    limit: u64,
    handed: Vec<u64>,
    freed: Rc<RefCell<HashSet<u64>>>,
}

impl Frames {
    fn grant(&mut self, more: u64) {
        self.limit += more;
    }
}

impl FrameSource for Frames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        if self.handed.len() as u64 >= self.limit {
            return None;
        }
        let frame = self.next.get();
        self.next.set(frame + PAGE_4K);
        self.handed.push(frame);
        Some(frame)
    }

    fn free(&mut self, frame: u64) {
        assert!(
            self.handed.contains(&frame),
            "{frame:#x} was never handed out"
        );
        assert!(
            self.freed.borrow_mut().insert(frame),
            "{frame:#x} given back twice"
        );
    }
}

struct Sim {
    mem: Mem,
    frames: Frames,
    pt: PageTable,
}

type Leaf = (u64, u64, PageSize, Attrs);

impl Sim {
    /// A fresh table (its root is `POOL`) with `spare` more frames available.
    fn new(spare: u64) -> Sim {
        let next = Rc::new(Cell::new(POOL));
        let freed = Rc::new(RefCell::new(HashSet::new()));
        let mut frames = Frames {
            next: next.clone(),
            limit: spare + 1,
            handed: Vec::new(),
            freed: freed.clone(),
        };
        let pt = PageTable::new(&mut frames).unwrap();
        let mem = Mem {
            words: HashMap::new(),
            writes: Vec::new(),
            handed_end: next,
            freed,
        };
        Sim { mem, frames, pt }
    }
    /// Another empty table in the same memory.
    fn new_table(&mut self) -> PageTable {
        PageTable::new(&mut self.frames).unwrap()
    }
    fn map(&mut self, virt: u64, phys: u64, size: PageSize, attrs: Attrs) -> Result<(), MapError> {
        self.pt
            .map(&mut self.mem, &mut self.frames, virt, phys, size, attrs)
    }
    fn map_range(
        &mut self,
        virt: u64,
        phys: u64,
        len: u64,
        attrs: Attrs,
        g: bool,
    ) -> Result<(), MapError> {
        self.pt
            .map_range(&mut self.mem, &mut self.frames, virt, phys, len, attrs, g)
    }
    fn remap(
        &mut self,
        virt: u64,
        target: Option<(u64, Attrs)>,
        size: PageSize,
    ) -> Result<Option<Entry>, MapError> {
        self.pt
            .remap(&mut self.mem, &mut self.frames, virt, target, size)
    }
    fn translate(&self, virt: u64) -> Option<(u64, Attrs, PageSize)> {
        self.pt.translate(&self.mem, virt)
    }
    fn leaves(&self, from: u64, to: u64) -> Vec<Leaf> {
        leaves_of(&self.pt, &self.mem, from, to)
    }
    fn clear_log(&mut self) {
        self.mem.writes.clear();
    }
    /// The address of the entry for `virt` in the table at `table`, `level` 4..=1.
    fn slot(table: u64, level: u32, virt: u64) -> u64 {
        table + ((virt >> (12 + 9 * (level - 1))) & 511) * 8
    }
    /// The addresses of the entries on the path to `virt`, from the PML4 down.
    fn path(&self, virt: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut table = self.pt.root;
        for level in (1..=4).rev() {
            let slot = Self::slot(table, level, virt);
            out.push(slot);
            let e = self.mem.word(slot);
            if e & 1 == 0 || (level < 4 && e & 0x80 != 0) {
                break;
            }
            table = e & 0x000f_ffff_ffff_f000;
        }
        out
    }
}

fn leaves_of(pt: &PageTable, mem: &Mem, from: u64, to: u64) -> Vec<Leaf> {
    let mut out = Vec::new();
    pt.for_each_leaf(mem, from, to, |v, p, s, a| out.push((v, p, s, a)));
    out
}

/// The virtual address with these table indices, sign-extended.
fn va(i4: u64, i3: u64, i2: u64, i1: u64) -> u64 {
    let v = (i4 << 39) | (i3 << 30) | (i2 << 21) | (i1 << 12);
    if i4 >= 256 {
        v | 0xffff_0000_0000_0000
    } else {
        v
    }
}

const USER_RW: Attrs = Attrs {
    write: true,
    execute: false,
    user: true,
    global: false,
    uncached: false,
};
const KERNEL_RW: Attrs = Attrs {
    write: true,
    execute: false,
    user: false,
    global: false,
    uncached: false,
};
const KERNEL_RX_GLOBAL: Attrs = Attrs {
    write: false,
    execute: true,
    user: false,
    global: true,
    uncached: false,
};

use PageSize::{Size1G, Size2M, Size4K};

#[test]
fn canonical_addresses_and_indices() {
    assert!(is_canonical(0));
    assert!(is_canonical(0x0000_7fff_ffff_ffff));
    assert!(!is_canonical(0x0000_8000_0000_0000));
    assert!(!is_canonical(0x0001_0000_0000_0000));
    assert!(!is_canonical(0xffff_7fff_ffff_ffff));
    assert!(!is_canonical(0x7fff_ffff_ffff_ffff));
    assert!(is_canonical(0xffff_8000_0000_0000));
    assert!(is_canonical(u64::MAX));
    assert_eq!(pml4_index(0xffff_8000_0000_0000), 256);
    assert_eq!(pml4_index(0xffff_ffff_8000_0000), 511);
    assert_eq!(pml4_index(0x0000_7fff_ffff_f000), 255);
    assert_eq!(
        (Size4K.bytes(), Size2M.bytes(), Size1G.bytes()),
        (4096, 2 << 20, 1 << 30)
    );
}

#[test]
fn entry_accessors_decode_the_sdm_layout() {
    let e = Entry(0x8000_0000_1234_5067);
    assert!(e.present() && e.writable() && e.user() && e.nx());
    assert!(!e.huge() && !e.global() && !e.uncached());
    assert_eq!(e.addr(), 0x1234_5000);
    assert_eq!(e.flags(), 0x8000_0000_0000_0067);
    // A 1 GiB leaf with PAT (bit 12) and a stray bit 20: neither is part of the frame.
    let e = Entry(0x0000_0040_0010_1181);
    assert!(e.huge() && e.global() && !e.nx() && !e.writable());
    assert_eq!(e.frame(Size1G), 0x40_0000_0000);
    assert_eq!(e.frame(Size2M), 0x40_0000_0000);
    assert_eq!(e.frame(Size4K), 0x40_0010_1000);
    assert_eq!(e.addr(), 0x40_0010_1000);
    // Bits above 51 are flags, not address.
    assert_eq!(Entry(0x7ff0_0000_0000_1001).addr(), 0x1000);
    assert_eq!(Entry::table(0xabc_d000, true).0, 0xabc_d007);
    assert_eq!(Entry::table(0xabc_d000, false).0, 0xabc_d003);
    let uc = Attrs {
        uncached: true,
        ..KERNEL_RW
    };
    assert_eq!(Entry::leaf(0x2000, Size4K, uc).0, NX | 0x2000 | 0x1b);
    assert_eq!(Entry::leaf(0x2000, Size4K, uc).attrs(), uc);
    assert_eq!(Entry::leaf(0x20_0000, Size2M, USER_RW).0, NX | 0x20_0087);
}

#[test]
fn four_k_user_rw_nx_writes_exactly_four_words() {
    let mut s = Sim::new(8);
    let root = s.pt.root;
    let v = va(1, 2, 3, 4);
    let p = RAM + 0x5000;
    s.map(v, p, Size4K, USER_RW).unwrap();
    let (pdpt, pd, pt) = (POOL + 0x1000, POOL + 0x2000, POOL + 0x3000);
    assert_eq!(
        s.mem.writes,
        vec![
            (root + 8, pdpt | 0x7 | ONE),
            (pdpt + 2 * 8, pd | 0x7 | ONE),
            (pd + 3 * 8, pt | 0x7 | ONE),
            (pt + 4 * 8, p | 0x7 | NX),
        ]
    );
    assert_eq!(s.translate(v + 0x123), Some((p + 0x123, USER_RW, Size4K)));
    assert_eq!(s.translate(v + PAGE_4K), None);
    assert_eq!(s.translate(v - 1), None);
}

#[test]
fn kernel_rx_global_leaf_has_no_rw_us_or_nx() {
    let mut s = Sim::new(8);
    let root = s.pt.root;
    let v = 0xffff_ffff_8010_0000;
    assert_eq!(v, va(511, 510, 0, 256));
    let p = RAM + 0x10_0000;
    s.map(v, p, Size4K, KERNEL_RX_GLOBAL).unwrap();
    let (pdpt, pd, pt) = (POOL + 0x1000, POOL + 0x2000, POOL + 0x3000);
    assert_eq!(
        s.mem.writes,
        vec![
            (root + 511 * 8, pdpt | 0x3 | ONE),
            (pdpt + 510 * 8, pd | 0x3 | ONE),
            (pd, pt | 0x3 | ONE),
            (pt + 256 * 8, p | 0x101),
        ]
    );
    assert_eq!(
        s.translate(v + 0xfff),
        Some((p + 0xfff, KERNEL_RX_GLOBAL, Size4K))
    );
}

#[test]
fn uncached_sets_pcd_and_pwt() {
    let mut s = Sim::new(8);
    let uc = Attrs {
        uncached: true,
        ..KERNEL_RW
    };
    s.map(va(0, 0, 0, 9), 0xfee0_0000, Size4K, uc).unwrap();
    assert_eq!(s.mem.writes[3].1, 0xfee0_0000 | 0x1b | NX);
    assert_eq!(s.translate(va(0, 0, 0, 9)).unwrap().1, uc);
}

#[test]
fn two_mib_leaf_sets_ps_and_address_bits() {
    let mut s = Sim::new(8);
    let root = s.pt.root;
    let v = va(0, 1, 5, 0);
    let p = RAM + 3 * PAGE_2M;
    s.map(v, p, Size2M, KERNEL_RW).unwrap();
    let (pdpt, pd) = (POOL + 0x1000, POOL + 0x2000);
    assert_eq!(
        s.mem.writes,
        vec![
            (root, pdpt | 0x3 | ONE),
            (pdpt + 8, pd | 0x3 | ONE),
            (pd + 5 * 8, p | 0x83 | NX)
        ]
    );
    assert_eq!(s.frames.handed.len(), 3, "no PT for a 2 MiB leaf");
    assert_eq!(
        s.translate(v + 0x1f_fff8),
        Some((p + 0x1f_fff8, KERNEL_RW, Size2M))
    );
    assert_eq!(s.translate(v + PAGE_2M), None);
}

#[test]
fn one_gib_leaf_sets_ps_and_address_bits() {
    let mut s = Sim::new(8);
    let root = s.pt.root;
    let v = va(3, 7, 0, 0);
    let p = 0x40_0000_0000;
    let rwx_uc_user = Attrs {
        write: true,
        execute: true,
        user: true,
        global: false,
        uncached: true,
    };
    s.map(v, p, Size1G, rwx_uc_user).unwrap();
    let pdpt = POOL + 0x1000;
    assert_eq!(
        s.mem.writes,
        vec![(root + 3 * 8, pdpt | 0x7 | ONE), (pdpt + 7 * 8, p | 0x9f)]
    );
    assert_eq!(
        s.translate(v + 0x3fff_ffff),
        Some((p + 0x3fff_ffff, rwx_uc_user, Size1G))
    );
}

#[test]
fn map_range_picks_the_largest_pages_alignment_allows() {
    // 3 small pages up to a 2 MiB boundary, one 2 MiB page up to 1 GiB, a 1 GiB page,
    // one more 2 MiB page and 2 small pages.
    let virt = PAGE_1G - PAGE_2M - 3 * PAGE_4K;
    let len = 3 * PAGE_4K + PAGE_2M + PAGE_1G + PAGE_2M + 2 * PAGE_4K;
    let phys = virt + 4 * PAGE_1G; // same offset within every page size
    for (allow_1g, counts) in [(true, (5, 2, 1)), (false, (5, 514, 0))] {
        let mut s = Sim::new(16);
        s.map_range(virt, phys, len, KERNEL_RW, allow_1g).unwrap();
        let leaves = s.leaves(0, u64::MAX);
        let count = |size| leaves.iter().filter(|l| l.2 == size).count();
        assert_eq!((count(Size4K), count(Size2M), count(Size1G)), counts);
        // Contiguous, identity-offset, covering exactly the range.
        let mut next = virt;
        for &(v, p, size, attrs) in &leaves {
            assert_eq!((v, p, attrs), (next, v + 4 * PAGE_1G, KERNEL_RW));
            next += size.bytes();
        }
        assert_eq!(next, virt + len);
        assert_eq!(s.translate(virt - 1), None);
        assert_eq!(s.translate(virt + len), None);
        assert_eq!(
            s.translate(PAGE_1G + 0x1234_5678).map(|t| t.0),
            Some(PAGE_1G + 0x1234_5678 + 4 * PAGE_1G)
        );
    }
}

#[test]
fn map_range_with_differently_aligned_phys_uses_small_pages() {
    let mut s = Sim::new(16);
    s.map_range(PAGE_2M, RAM + PAGE_4K, 2 * PAGE_2M, USER_RW, true)
        .unwrap();
    let leaves = s.leaves(0, u64::MAX);
    assert_eq!(leaves.len(), 1024);
    assert!(leaves.iter().all(|l| l.2 == Size4K));
    assert!(!s.mem.writes.is_empty());
    // Zero length maps nothing and needs no alignment check to pass.
    s.clear_log();
    s.map_range(PAGE_1G, 0, 0, USER_RW, true).unwrap();
    assert!(s.mem.writes.is_empty());
}

#[test]
fn map_range_reaching_the_top_of_the_address_space() {
    let mut s = Sim::new(8);
    s.map_range(0xffff_ffff_ffe0_0000, RAM, PAGE_2M, KERNEL_RW, true)
        .unwrap();
    assert_eq!(
        s.leaves(0, u64::MAX),
        vec![(0xffff_ffff_ffe0_0000, RAM, Size2M, KERNEL_RW)]
    );
}

#[test]
fn misaligned_addresses_are_refused_without_writes() {
    let mut s = Sim::new(8);
    let a = KERNEL_RW;
    assert_eq!(s.map(0x1001, RAM, Size4K, a), Err(MapError::Misaligned));
    assert_eq!(s.map(0x1000, RAM + 8, Size4K, a), Err(MapError::Misaligned));
    assert_eq!(s.map(0x1000, RAM, Size2M, a), Err(MapError::Misaligned));
    assert_eq!(
        s.map(PAGE_2M, RAM + 0x1000, Size2M, a),
        Err(MapError::Misaligned)
    );
    assert_eq!(s.map(PAGE_2M, RAM, Size1G, a), Err(MapError::Misaligned));
    assert_eq!(
        s.map(PAGE_1G, RAM + PAGE_2M, Size1G, a),
        Err(MapError::Misaligned)
    );
    assert_eq!(
        s.map_range(0, RAM, 0x1800, a, true),
        Err(MapError::Misaligned)
    );
    assert_eq!(
        s.map_range(0x10, RAM, 0x1000, a, true),
        Err(MapError::Misaligned)
    );
    assert_eq!(
        s.map_range(0, RAM + 0x10, 0x1000, a, true),
        Err(MapError::Misaligned)
    );
    assert_eq!(s.remap(0x1000, None, Size2M), Err(MapError::Misaligned));
    assert_eq!(
        s.remap(PAGE_2M, Some((RAM + PAGE_4K, a)), Size2M),
        Err(MapError::Misaligned)
    );
    assert!(s.mem.writes.is_empty());
    assert_eq!(s.frames.handed.len(), 1);
}

#[test]
fn non_canonical_addresses_are_refused_without_writes() {
    let mut s = Sim::new(8);
    let a = KERNEL_RW;
    for v in [
        0x0000_8000_0000_0000,
        0xffff_7fff_ffff_f000,
        0x0001_0000_0000_0000,
    ] {
        assert_eq!(s.map(v, RAM, Size4K, a), Err(MapError::NonCanonical));
        assert_eq!(s.remap(v, None, Size4K), Err(MapError::NonCanonical));
        assert_eq!(s.translate(v), None);
    }
    // Into the hole from below, and wrapping past the top.
    assert_eq!(
        s.map_range(0x7fff_ffff_f000, RAM, 2 * PAGE_4K, a, true),
        Err(MapError::NonCanonical)
    );
    assert_eq!(
        s.map_range(0xffff_ffff_ffff_f000, RAM, 2 * PAGE_4K, a, true),
        Err(MapError::NonCanonical)
    );
    // Both ends canonical, but in different halves.
    assert_eq!(
        s.map_range(0, 0, 0xffff_8000_0000_1000, a, true),
        Err(MapError::NonCanonical)
    );
    assert!(s.mem.writes.is_empty());
    // The very last page is fine.
    s.map_range(0xffff_ffff_ffff_f000, RAM, PAGE_4K, a, true)
        .unwrap();
    assert_eq!(s.translate(u64::MAX), Some((RAM + 0xfff, a, Size4K)));
}

#[test]
fn physical_addresses_beyond_52_bits_are_refused() {
    let mut s = Sim::new(16);
    let a = KERNEL_RW;
    assert_eq!(
        s.map(0, PHYS_LIMIT, Size4K, a),
        Err(MapError::AddressTooLarge)
    );
    assert_eq!(s.map(0, 1 << 63, Size4K, a), Err(MapError::AddressTooLarge));
    assert_eq!(
        s.map(0, PHYS_LIMIT, Size1G, a),
        Err(MapError::AddressTooLarge)
    );
    assert_eq!(
        s.map_range(0, PHYS_LIMIT - PAGE_4K, 2 * PAGE_4K, a, true),
        Err(MapError::AddressTooLarge)
    );
    assert_eq!(
        s.map_range(0, u64::MAX - 0xfff, PAGE_4K, a, true),
        Err(MapError::AddressTooLarge)
    );
    assert_eq!(
        s.remap(0, Some((PHYS_LIMIT, a)), Size4K),
        Err(MapError::AddressTooLarge)
    );
    assert!(s.mem.writes.is_empty());
    // The highest pages that fit.
    s.map(0, PHYS_LIMIT - PAGE_4K, Size4K, a).unwrap();
    s.map(PAGE_1G, PHYS_LIMIT - PAGE_2M, Size2M, a).unwrap();
    assert_eq!(s.translate(0xfff).unwrap().0, PHYS_LIMIT - 1);
    assert_eq!(
        s.translate(PAGE_1G + PAGE_2M - 1).unwrap().0,
        PHYS_LIMIT - 1
    );
}

#[test]
fn present_leaves_are_not_overwritten_by_map() {
    let mut s = Sim::new(16);
    let v = va(0, 0, 0, 1);
    s.map(v, RAM, Size4K, USER_RW).unwrap();
    s.map(va(0, 1, 0, 0), RAM, Size2M, USER_RW).unwrap();
    s.map(va(1, 0, 0, 0), 0, Size1G, KERNEL_RW).unwrap();
    s.clear_log();
    let frames = s.frames.handed.len();
    let refused = [
        // Other frame, then other rights, for the same 4 KiB page.
        (v, RAM + PAGE_4K, Size4K, USER_RW),
        (v, RAM, Size4K, KERNEL_RW),
        // A 2 MiB leaf where the PT of `v` is.
        (0, RAM, Size2M, USER_RW),
        // A 1 GiB leaf where the PD of `v` is.
        (0, 0, Size1G, USER_RW),
        // Small pages inside huge ones, even with the same target.
        (va(0, 1, 0, 7), RAM + 7 * PAGE_4K, Size4K, USER_RW),
        (va(1, 0, 3, 0), 3 * PAGE_2M, Size2M, KERNEL_RW),
        (va(1, 0, 3, 5), 3 * PAGE_2M + 5 * PAGE_4K, Size4K, KERNEL_RW),
    ];
    for (v, p, size, attrs) in refused {
        assert_eq!(
            s.map(v, p, size, attrs),
            Err(MapError::AlreadyMapped),
            "{v:#x}"
        );
    }
    assert!(s.mem.writes.is_empty());
    assert_eq!(s.frames.handed.len(), frames);
    // Identical mappings are accepted and write nothing, even after the CPU set A and D.
    s.map(v, RAM, Size4K, USER_RW).unwrap();
    let leaf = *s.path(v).last().unwrap();
    s.mem.poke(leaf, s.mem.word(leaf) | 0x60);
    s.map(v, RAM, Size4K, USER_RW).unwrap();
    s.map(va(1, 0, 0, 0), 0, Size1G, KERNEL_RW).unwrap();
    s.map_range(va(0, 1, 0, 0), RAM, PAGE_2M, USER_RW, true)
        .unwrap();
    assert!(s.mem.writes.is_empty());
}

#[test]
fn map_range_conflict_is_found_before_anything_is_written() {
    let mut s = Sim::new(16);
    s.map(va(0, 0, 2, 0) + 5 * PAGE_4K, RAM, Size4K, KERNEL_RW)
        .unwrap();
    s.clear_log();
    let frames = s.frames.handed.len();
    // Pieces in an empty region come first; the conflict is in the third 2 MiB.
    assert_eq!(
        s.map_range(0, 0, 4 * PAGE_2M, KERNEL_RW, true),
        Err(MapError::AlreadyMapped)
    );
    assert!(s.mem.writes.is_empty());
    assert_eq!(s.frames.handed.len(), frames);
    assert_eq!(s.leaves(0, u64::MAX).len(), 1);
}

#[test]
fn running_out_of_frames_hands_the_new_tables_back() {
    let mut s = Sim::new(2);
    let v = va(4, 5, 6, 7);
    assert_eq!(s.map(v, RAM, Size4K, USER_RW), Err(MapError::OutOfMemory));
    // The PDPT and PD got linked, each counting the entry about to come, then went again
    // (the deeper first) when the PT could not be had.
    let (root, pdpt, pd) = (s.pt.root, POOL + 0x1000, POOL + 0x2000);
    assert_eq!(
        s.mem.writes,
        vec![
            (root + 4 * 8, pdpt | 0x7 | ONE),
            (pdpt + 5 * 8, pd | 0x7 | ONE),
            (pdpt + 5 * 8, 0),
            (root + 4 * 8, 0),
        ]
    );
    assert_eq!(*s.mem.freed.borrow(), HashSet::from([pdpt, pd]));
    assert_eq!(s.translate(v), None);
    assert!(s.leaves(0, u64::MAX).is_empty());
    // With three more frames the same call completes on new tables.
    s.clear_log();
    s.frames.grant(3);
    s.map(v, RAM, Size4K, USER_RW).unwrap();
    assert_eq!(s.mem.writes.len(), 4);
    assert_eq!(s.translate(v), Some((RAM, USER_RW, Size4K)));
}

#[test]
fn out_of_frames_below_an_existing_table_keeps_it() {
    let mut s = Sim::new(4);
    s.map(va(4, 5, 6, 7), RAM, Size4K, USER_RW).unwrap();
    let pdpt_slot = s.path(va(4, 5, 6, 7))[1];
    s.clear_log();
    // A new PD under the PDPT gets linked and counted, and goes again.
    assert_eq!(
        s.map(va(4, 6, 0, 0), RAM, Size4K, USER_RW),
        Err(MapError::OutOfMemory)
    );
    let pdpt = POOL + 0x1000;
    let root_slot = s.pt.root + 4 * 8;
    assert_eq!(s.mem.word(root_slot), pdpt | 0x7 | ONE);
    assert_eq!(s.mem.word(pdpt_slot + 8), 0);
    assert_eq!(
        s.mem.writes,
        vec![
            (pdpt_slot + 8, (POOL + 0x4000) | 0x7 | ONE),
            (root_slot, pdpt | 0x7 | (2 * ONE)),
            (pdpt_slot + 8, 0),
            (root_slot, pdpt | 0x7 | ONE),
        ]
    );
    assert_eq!(s.translate(va(4, 5, 6, 7)), Some((RAM, USER_RW, Size4K)));
}

#[test]
fn map_range_out_of_memory_keeps_the_pieces_before() {
    let mut s = Sim::new(3);
    // The first page fits in the frames left; the second needs a new PT.
    let start = va(0, 0, 1, 0) - PAGE_4K;
    assert_eq!(
        s.map_range(start, RAM, 2 * PAGE_4K, KERNEL_RW, true),
        Err(MapError::OutOfMemory)
    );
    assert_eq!(s.leaves(0, u64::MAX), vec![(start, RAM, Size4K, KERNEL_RW)]);
}

#[test]
fn remap_replaces_and_removes_leaves() {
    let mut s = Sim::new(16);
    let v = va(0, 0, 0, 3);
    s.map(v, RAM, Size4K, USER_RW).unwrap();
    let slot = *s.path(v).last().unwrap();
    s.clear_log();
    let old = s
        .remap(v, Some((RAM + PAGE_4K, KERNEL_RW)), Size4K)
        .unwrap();
    assert_eq!(old, Some(Entry(RAM | 0x7 | NX)));
    assert_eq!(s.mem.writes, vec![(slot, (RAM + PAGE_4K) | 0x3 | NX)]);
    assert_eq!(s.translate(v), Some((RAM + PAGE_4K, KERNEL_RW, Size4K)));
    s.clear_log();
    let path = s.path(v);
    let old = s.remap(v, None, Size4K).unwrap();
    assert_eq!(old, Some(Entry((RAM + PAGE_4K) | 0x3 | NX)));
    // The PT, PD and PDPT held nothing else: they go, the deepest first.
    assert_eq!(
        s.mem.writes,
        vec![(slot, 0), (path[2], 0), (path[1], 0), (path[0], 0)]
    );
    assert_eq!(s.mem.freed.borrow().len(), 3);
    assert_eq!(s.translate(v), None);
    // Removing again, or where no table exists, does nothing at all.
    s.clear_log();
    let frames = s.frames.handed.len();
    assert_eq!(s.remap(v, None, Size4K), Ok(None));
    assert_eq!(s.remap(va(9, 0, 0, 0), None, Size4K), Ok(None));
    assert_eq!(s.remap(va(9, 0, 0, 0), None, Size1G), Ok(None));
    assert!(s.mem.writes.is_empty());
    assert_eq!(s.frames.handed.len(), frames);
    // Replacing nothing maps, like `map`.
    assert_eq!(
        s.remap(va(9, 0, 0, 0), Some((0, USER_RW)), Size1G),
        Ok(None)
    );
    assert_eq!(s.translate(va(9, 0, 0, 0)), Some((0, USER_RW, Size1G)));
    // Same size huge leaves are replaced in place.
    assert_eq!(
        s.remap(va(9, 0, 0, 0), Some((PAGE_1G, KERNEL_RW)), Size1G),
        Ok(Some(Entry(0x87 | NX)))
    );
    // A table where a huge leaf is wanted is refused, for removal too.
    s.map(v, RAM, Size4K, USER_RW).unwrap();
    s.clear_log();
    assert_eq!(s.remap(0, None, Size2M), Err(MapError::AlreadyMapped));
    assert_eq!(
        s.remap(0, Some((0, KERNEL_RW)), Size1G),
        Err(MapError::AlreadyMapped)
    );
    assert!(s.mem.writes.is_empty());
}

#[test]
fn splitting_a_2m_page_preserves_the_other_511() {
    let mut s = Sim::new(16);
    let v = va(0, 2, 9, 0);
    let attrs = Attrs {
        global: true,
        ..USER_RW
    };
    s.map(v, RAM, Size2M, attrs).unwrap();
    let pd_slot = *s.path(v).last().unwrap();
    // Pretend the CPU used the page and that PAT (bit 12 in a huge leaf) was chosen.
    s.mem.poke(pd_slot, s.mem.word(pd_slot) | 0x60 | 0x1000);
    s.clear_log();
    let new = Some((RAM + PAGE_1G, KERNEL_RW));
    let old = s.remap(v + 5 * PAGE_4K, new, Size4K).unwrap();
    // Every piece keeps P|RW|US|A|D|G and NX; PAT moves to bit 7.
    let flags = NX | 0x1e7;
    assert_eq!(old, Some(Entry((RAM + 5 * PAGE_4K) | flags)));
    let pt = POOL + 3 * PAGE_4K;
    assert_eq!(s.mem.writes.len(), 512 + 2);
    assert_eq!(s.mem.writes[512], (pd_slot, pt | 0x7 | (512 * ONE)));
    assert_eq!(s.mem.writes[513], (pt + 5 * 8, (RAM + PAGE_1G) | 0x3 | NX));
    for i in 0..512 {
        let (p, a) = if i == 5 {
            (RAM + PAGE_1G, KERNEL_RW)
        } else {
            assert_eq!(s.mem.word(pt + i * 8), (RAM + i * PAGE_4K) | flags);
            (RAM + i * PAGE_4K, attrs)
        };
        assert_eq!(
            s.translate(v + i * PAGE_4K + 0x10),
            Some((p + 0x10, a, Size4K))
        );
    }
    assert_eq!(s.leaves(v, v + PAGE_2M).len(), 512);
}

#[test]
fn splitting_a_1g_page_twice_preserves_every_other_page() {
    let mut s = Sim::new(16);
    let v = va(2, 3, 0, 0);
    let p = 5 * PAGE_1G;
    s.map(v, p, Size1G, KERNEL_RW).unwrap();
    let hole = v + 3 * PAGE_2M + 7 * PAGE_4K;
    s.clear_log();
    let old = s.remap(hole, None, Size4K).unwrap();
    assert_eq!(old, Some(Entry((p + 3 * PAGE_2M + 7 * PAGE_4K) | 0x3 | NX)));
    // PD filled and linked, PT filled and linked (each counting 512 entries), the hole
    // cleared and counted; no US anywhere.
    assert_eq!(s.mem.writes.len(), 512 + 1 + 512 + 1 + 1 + 1);
    let pd = s.mem.writes[512].1 & Entry::ADDR_MASK;
    assert_eq!(s.mem.writes[512].1 & !Entry::ADDR_MASK, 0x3 | (512 * ONE));
    assert_eq!(s.mem.writes[3], (pd + 3 * 8, (p + 3 * PAGE_2M) | 0x83 | NX));
    let pt = s.mem.writes[1025].1 & Entry::ADDR_MASK;
    assert_eq!(s.mem.writes[1025], (pd + 3 * 8, pt | 0x3 | (512 * ONE)));
    assert_eq!(
        s.mem.writes[513 + 8],
        (pt + 8 * 8, (p + 3 * PAGE_2M + 8 * PAGE_4K) | 0x3 | NX)
    );
    assert_eq!(s.mem.writes[1026], (pt + 7 * 8, 0));
    assert_eq!(s.mem.writes[1027], (pd + 3 * 8, pt | 0x3 | (511 * ONE)));
    // 511 large pages and 511 small ones, each still at its old frame.
    let leaves = s.leaves(v, v + PAGE_1G);
    let count = |size| leaves.iter().filter(|l| l.2 == size).count();
    assert_eq!((count(Size2M), count(Size4K), count(Size1G)), (511, 511, 0));
    let mut covered = 0;
    for &(lv, lp, size, attrs) in &leaves {
        assert_eq!((lp, attrs), (lv - v + p, KERNEL_RW));
        covered += size.bytes();
    }
    assert_eq!(covered, PAGE_1G - PAGE_4K);
    assert_eq!(s.translate(hole), None);
    assert_eq!(s.translate(hole - 1).map(|t| t.0), Some(hole - 1 - v + p));
    assert_eq!(
        s.translate(hole + PAGE_4K).map(|t| t.0),
        Some(hole + PAGE_4K - v + p)
    );
}

#[test]
fn splitting_a_1g_page_into_2m_pages() {
    let mut s = Sim::new(16);
    let v = va(2, 3, 0, 0);
    s.map(v, 0, Size1G, USER_RW).unwrap();
    let old = s.remap(v + PAGE_2M, Some((RAM, KERNEL_RX_GLOBAL)), Size2M);
    assert_eq!(old, Ok(Some(Entry(PAGE_2M | 0x87 | NX))));
    let leaves = s.leaves(v, v + PAGE_1G);
    assert_eq!(leaves.len(), 512);
    assert!(leaves.iter().all(|l| l.2 == Size2M));
    assert_eq!(leaves[0], (v, 0, Size2M, USER_RW));
    // The PD pointer keeps US for the user pages; the new kernel leaf has no US itself.
    assert_eq!(leaves[1], (v + PAGE_2M, RAM, Size2M, KERNEL_RX_GLOBAL));
    assert_eq!(
        leaves[511],
        (v + 511 * PAGE_2M, 511 * PAGE_2M, Size2M, USER_RW)
    );
}

#[test]
fn a_failed_split_changes_nothing() {
    let mut s = Sim::new(2);
    let v = va(0, 0, 1, 0);
    s.map(v, RAM, Size2M, USER_RW).unwrap();
    s.clear_log();
    assert_eq!(
        s.remap(v + PAGE_4K, None, Size4K),
        Err(MapError::OutOfMemory)
    );
    assert!(s.mem.writes.is_empty());
    assert_eq!(
        s.translate(v + PAGE_4K),
        Some((RAM + PAGE_4K, USER_RW, Size2M))
    );
}

#[test]
fn translate_combines_the_rights_of_every_level() {
    let mut s = Sim::new(16);
    let v = va(0, 1, 2, 3);
    let rwx_user = Attrs {
        execute: true,
        ..USER_RW
    };
    s.map(v, RAM, Size4K, rwx_user).unwrap();
    let path = s.path(v);
    assert_eq!(path.len(), 4);
    let check = |s: &Sim, want: Attrs| {
        assert_eq!(s.translate(v), Some((RAM, want, Size4K)));
        assert_eq!(s.leaves(0, u64::MAX), vec![(v, RAM, Size4K, want)]);
    };
    check(&s, rwx_user);
    // A PD entry without US hides the page from user mode.
    let pd_slot = path[2];
    let saved = s.mem.word(pd_slot);
    s.mem.poke(pd_slot, saved & !0x4);
    check(
        &s,
        Attrs {
            user: false,
            ..rwx_user
        },
    );
    s.mem.poke(pd_slot, saved);
    // A PDPT entry without RW makes it read-only.
    s.mem.poke(path[1], s.mem.word(path[1]) & !0x2);
    check(
        &s,
        Attrs {
            write: false,
            ..rwx_user
        },
    );
    // NX in the PML4 entry forbids execution; caching bits above the leaf do not count.
    s.mem.poke(path[0], s.mem.word(path[0]) | NX | 0x18);
    check(
        &s,
        Attrs {
            write: false,
            execute: false,
            ..rwx_user
        },
    );
}

#[test]
fn a_user_leaf_opens_existing_tables_but_not_kernel_leaves() {
    let mut s = Sim::new(16);
    let kernel = va(0, 0, 0, 1);
    let user = va(0, 0, 0, 2);
    s.map(kernel, RAM, Size4K, KERNEL_RW).unwrap();
    let path = s.path(kernel);
    s.clear_log();
    s.map(user, RAM + PAGE_4K, Size4K, USER_RW).unwrap();
    let (pdpt, pd, pt) = (POOL + 0x1000, POOL + 0x2000, POOL + 0x3000);
    assert_eq!(
        s.mem.writes,
        vec![
            (path[0], pdpt | 0x7 | ONE),
            (path[1], pd | 0x7 | ONE),
            (path[2], pt | 0x7 | ONE),
            (pt + 2 * 8, (RAM + PAGE_4K) | 0x7 | NX),
            (path[2], pt | 0x7 | (2 * ONE)),
        ]
    );
    assert_eq!(s.translate(kernel), Some((RAM, KERNEL_RW, Size4K)));
    assert_eq!(s.translate(user), Some((RAM + PAGE_4K, USER_RW, Size4K)));
}

#[test]
fn for_each_leaf_is_ordered_and_filtered_across_both_halves() {
    let mut s = Sim::new(32);
    let a = (0x1000, RAM, Size4K, USER_RW);
    let b = (0x20_0000, RAM + PAGE_2M, Size2M, USER_RW);
    let c = (0x4000_0000, PAGE_1G, Size1G, KERNEL_RW);
    let d = (0xffff_8000_0000_0000, RAM, Size4K, KERNEL_RW);
    let e = (0xffff_ffff_8000_0000, RAM, Size2M, KERNEL_RX_GLOBAL);
    let g = (0xffff_ffff_ffff_f000, RAM, Size4K, KERNEL_RW);
    for (v, p, size, attrs) in [g, c, d, a, e, b] {
        s.map(v, p, size, attrs).unwrap();
    }
    assert_eq!(s.leaves(0, u64::MAX), vec![a, b, c, d, e, g]);
    assert_eq!(s.leaves(0x2000, 0xffff_ffff_8000_0000), vec![b, c, d]);
    // `b` covers `from` but starts below it.
    assert_eq!(s.leaves(0x20_1000, 0xffff_8000_0000_0001), vec![c, d]);
    assert_eq!(s.leaves(0xffff_8000_0000_0000, u64::MAX), vec![d, e, g]);
    assert_eq!(s.leaves(0x8000_0000_0000, 0xffff_8000_0000_0000), vec![]);
    assert_eq!(s.leaves(0x4000_0000, 0x4000_0001), vec![c]);
    assert_eq!(s.leaves(0x4000_0000, 0x4000_0000), vec![]);
    assert_eq!(s.leaves(u64::MAX, 0), vec![]);
    assert_eq!(s.leaves(0xffff_ffff_ffff_f000, u64::MAX), vec![g]);
}

#[test]
fn share_top_level_copies_the_kernel_half() {
    let mut s = Sim::new(600);
    let kernel = s.new_table();
    kernel
        .populate_top_level(&mut s.mem, &mut s.frames, 256, 511)
        .unwrap();
    kernel
        .map(
            &mut s.mem,
            &mut s.frames,
            0xffff_ffff_8000_0000,
            RAM,
            Size2M,
            KERNEL_RX_GLOBAL,
        )
        .unwrap();
    s.map(0x40_0000, RAM, Size4K, USER_RW).unwrap();
    let user_slot0 = s.mem.word(s.pt.root);
    s.clear_log();
    s.pt.share_top_level(&mut s.mem, &kernel, 256, 511);
    assert_eq!(s.mem.writes.len(), 256);
    for (n, i) in (256..512u64).enumerate() {
        let want = s.mem.word(kernel.root + i * 8);
        assert_eq!(want & 0xfff, 0x3, "kernel PML4 entries have no US");
        assert_eq!(s.mem.writes[n], (s.pt.root + i * 8, want));
    }
    assert_eq!(s.mem.word(s.pt.root), user_slot0);
    assert_eq!(
        s.translate(0xffff_ffff_8000_1234),
        Some((RAM + 0x1234, KERNEL_RX_GLOBAL, Size2M))
    );
    // Later kernel mappings show through the shared tables.
    kernel
        .map(
            &mut s.mem,
            &mut s.frames,
            0xffff_8000_1234_5000,
            RAM,
            Size4K,
            KERNEL_RW,
        )
        .unwrap();
    assert_eq!(s.translate(0xffff_8000_1234_5000).map(|t| t.0), Some(RAM));
    // Sharing again writes nothing; odd ranges are clamped or empty.
    s.clear_log();
    s.pt.share_top_level(&mut s.mem, &kernel, 256, 9999);
    s.pt.share_top_level(&mut s.mem, &kernel, 300, 299);
    s.pt.share_top_level(&mut s.mem, &kernel, 600, 700);
    assert!(s.mem.writes.is_empty());
    assert_eq!(leaves_of(&kernel, &s.mem, 0, 0x8000_0000_0000), vec![]);
}

#[test]
fn populate_top_level_fills_empty_slots_and_pins_them_all() {
    const PIN: u64 = 1 << 62;
    let mut s = Sim::new(3);
    s.map(va(300, 0, 0, 0), 0, Size1G, KERNEL_RW).unwrap();
    let taken = s.mem.word(s.pt.root + 300 * 8);
    s.clear_log();
    assert_eq!(
        s.pt.populate_top_level(&mut s.mem, &mut s.frames, 299, 302),
        Err(MapError::OutOfMemory)
    );
    let root = s.pt.root;
    assert_eq!(
        s.mem.writes,
        vec![
            (root + 299 * 8, (POOL + 0x2000) | 0x3 | PIN),
            (root + 300 * 8, taken | PIN),
            (root + 301 * 8, (POOL + 0x3000) | 0x3 | PIN)
        ]
    );
    // A pinned table stays when its last entry goes.
    assert_eq!(
        s.remap(va(300, 0, 0, 0), None, Size1G),
        Ok(Some(Entry(0x83 | NX)))
    );
    assert_eq!(
        s.mem.word(root + 300 * 8),
        (taken | PIN) & !Entry::COUNT_MASK
    );
    s.map(va(300, 0, 0, 0), 0, Size1G, KERNEL_RW).unwrap();
    s.frames.grant(1);
    s.pt.populate_top_level(&mut s.mem, &mut s.frames, 299, 302)
        .unwrap();
    assert!(s.leaves(0, u64::MAX).len() == 1);
}

/// A user space with tables at every level and a shared kernel half.
fn user_space() -> (Sim, PageTable, Vec<u64>) {
    let mut s = Sim::new(600);
    let kernel = s.new_table();
    kernel
        .populate_top_level(&mut s.mem, &mut s.frames, 256, 511)
        .unwrap();
    kernel
        .map(
            &mut s.mem,
            &mut s.frames,
            0xffff_ffff_8000_0000,
            RAM,
            Size4K,
            KERNEL_RW,
        )
        .unwrap();
    let first = s.frames.handed.len();
    let user = s.new_table();
    let mappings = [
        (va(0, 0, 0, 1), Size4K),
        (va(0, 0, 1, 0), Size4K),
        (va(0, 1, 0, 0), Size2M),
        (va(1, 0, 0, 0), Size1G),
        (va(255, 511, 511, 511), Size4K),
    ];
    for (v, size) in mappings {
        user.map(&mut s.mem, &mut s.frames, v, RAM, size, USER_RW)
            .unwrap();
    }
    // A split table too.
    user.map(
        &mut s.mem,
        &mut s.frames,
        va(2, 0, 0, 0),
        0,
        Size2M,
        USER_RW,
    )
    .unwrap();
    user.remap(&mut s.mem, &mut s.frames, va(2, 0, 0, 1), None, Size4K)
        .unwrap();
    user.share_top_level(&mut s.mem, &kernel, 256, 511);
    let owned = s.frames.handed[first..].to_vec();
    // root, PDPTs for slots 0, 1, 2, 255; PDs 0/0, 0/1, 2/0, 255/511; PTs 0/0/0, 0/0/1,
    // 2/0/0, 255/511/511.
    assert_eq!(owned.len(), 13);
    (s, user, owned)
}

#[test]
fn free_tables_returns_every_table_frame_once() {
    let (mut s, user, owned) = user_space();
    let kernel_frames: HashSet<u64> = s
        .frames
        .handed
        .iter()
        .copied()
        .filter(|f| !owned.contains(f))
        .collect();
    let mut freed = Vec::new();
    user.free_tables(&mut s.mem, 0, 255, |f| freed.push(f), true);
    assert_eq!(freed.last(), Some(&user.root), "root last");
    let unique: HashSet<u64> = freed.iter().copied().collect();
    assert_eq!(unique.len(), freed.len(), "a frame was freed twice");
    let mut want = owned.clone();
    want.sort();
    freed.sort();
    assert_eq!(freed, want);
    assert!(unique.is_disjoint(&kernel_frames));
    assert!(!unique.contains(&RAM) && !unique.contains(&0));
}

#[test]
fn free_tables_can_keep_the_root() {
    let (mut s, user, owned) = user_space();
    s.clear_log();
    let mut freed = Vec::new();
    user.free_tables(&mut s.mem, 0, 255, |f| freed.push(f), false);
    freed.sort();
    let mut want: Vec<u64> = owned.into_iter().filter(|&f| f != user.root).collect();
    want.sort();
    assert_eq!(freed, want);
    // Exactly the four used user slots were cleared; the kernel half still works.
    let root = user.root;
    let mut cleared: Vec<(u64, u64)> = s.mem.writes.clone();
    cleared.sort();
    assert_eq!(
        cleared,
        vec![
            (root, 0),
            (root + 8, 0),
            (root + 16, 0),
            (root + 255 * 8, 0)
        ]
    );
    assert_eq!(leaves_of(&user, &s.mem, 0, 0x8000_0000_0000), vec![]);
    assert_eq!(
        user.translate(&s.mem, 0xffff_ffff_8000_0000).map(|t| t.0),
        Some(RAM)
    );
    // A clamped range reaches the (shared) kernel half only.
    let mut more = 0;
    user.free_tables(&mut s.mem, 0, 9999, |_| more += 1, false);
    // The kernel PDPTs and the PD and PT of its one page are all that is left.
    assert_eq!(more, 256 + 2);
}

mod counts;
