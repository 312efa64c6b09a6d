//! Host tests over simulated physical memory, plus an invariant checker that walks every
//! used slot of every space.
//!
//! Expected stored words are spelled as raw numbers from the documented layout, not
//! through the encoders, so a wrong encoder cannot hide behind itself.

mod mdb;
mod random;
mod table;

use super::*;
use crate::phys::{FrameSource, PhysMem};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::vec::Vec;

/// Where the fake frame source hands out frames, in order.
const POOL: u64 = 0x40_0000;
const FRAME: u64 = 4096;
/// Where the shared empty frames lie (below the pool: no frame source hands them out).
const EMPTY_AREA: u64 = 0x10_0000;

/// Table memory: only frames handed out and not given back may be touched, and the
/// empty frames only read; writes are counted.
struct Mem {
    /// The words from `POOL` on, grown as they are written.
    words: Vec<u64>,
    /// The empty frames' words, from `EMPTY_AREA` on, level 0 first.
    empty_words: Vec<u64>,
    writes: usize,
    /// The frame source's next frame: everything below it has been handed out.
    handed_end: Rc<Cell<u64>>,
    /// Frames given back (never handed out again).
    freed: Rc<RefCell<BTreeSet<u64>>>,
}

impl Mem {
    fn check(&self, addr: u64) {
        assert!(addr.is_multiple_of(8), "unaligned access at {addr:#x}");
        assert!(
            (POOL..self.handed_end.get()).contains(&addr),
            "access at {addr:#x} outside the frames handed out"
        );
        assert!(
            !self.freed.borrow().contains(&(addr & !(FRAME - 1))),
            "access at {addr:#x} in a frame given back"
        );
    }
    fn word(&self, addr: u64) -> u64 {
        self.read_u64(addr)
    }
}

impl Mem {
    fn empty_at(addr: u64) -> Option<usize> {
        (EMPTY_AREA..EMPTY_AREA + EMPTY_LEVELS as u64 * FRAME)
            .contains(&addr)
            .then(|| ((addr - EMPTY_AREA) / 8) as usize)
    }
}

impl TableMem for Mem {
    fn empty(&self, level: u32) -> u64 {
        assert!(
            (level as usize) < EMPTY_LEVELS,
            "no empty frame of level {level}"
        );
        EMPTY_AREA + level as u64 * FRAME
    }
}

impl PhysMem for Mem {
    fn read_u64(&self, addr: u64) -> u64 {
        if let Some(at) = Mem::empty_at(addr) {
            assert!(addr.is_multiple_of(8), "unaligned access at {addr:#x}");
            return self.empty_words[at];
        }
        self.check(addr);
        let at = ((addr - POOL) / 8) as usize;
        self.words.get(at).copied().unwrap_or(0)
    }
    fn write_u64(&mut self, addr: u64, value: u64) {
        assert!(
            Mem::empty_at(addr).is_none(),
            "write at {addr:#x} in a shared empty frame"
        );
        self.check(addr);
        let at = ((addr - POOL) / 8) as usize;
        if at >= self.words.len() {
            self.words.resize(at + 1, 0);
        }
        self.words[at] = value;
        self.writes += 1;
    }
}

/// Hands out consecutive frames from `POOL` until `limit` frames are in use; `handed`
/// holds those in use.
struct Frames {
    next: Rc<Cell<u64>>,
    limit: usize,
    handed: Vec<u64>,
    freed: Rc<RefCell<BTreeSet<u64>>>,
}

impl FrameSource for Frames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        if self.handed.len() >= self.limit {
            return None;
        }
        let frame = self.next.get();
        self.next.set(frame + FRAME);
        self.handed.push(frame);
        Some(frame)
    }

    fn free(&mut self, frame: u64) {
        let at = self.handed.iter().position(|&f| f == frame);
        self.handed
            .swap_remove(at.expect("a frame given back that was not handed out"));
        self.freed.borrow_mut().insert(frame);
    }
}

/// The spaces, as the kernel would keep them, recording every hook call.
#[derive(Default)]
struct World {
    tables: BTreeMap<u32, Table>,
    /// What `changed` reported last for each slot; must always equal the tables.
    shadow: BTreeMap<(u32, u64), Cap>,
    changes: Vec<(u32, u64, Option<Cap>)>,
    added: BTreeMap<u64, u64>,
    dropped: BTreeMap<u64, u64>,
    drop_log: Vec<u64>,
    /// Frames a revoke gave back, for the frame source.
    freed: Vec<u64>,
}

impl Spaces for World {
    fn table(&self, space: u32) -> Option<Table> {
        assert_ne!(space, 0, "asked for space 0");
        self.tables.get(&space).copied()
    }
    fn changed(&mut self, space: u32, index: u64, cap: Option<Cap>) {
        self.changes.push((space, index, cap));
        match cap {
            Some(c) => self.shadow.insert((space, index), c),
            None => self.shadow.remove(&(space, index)),
        };
    }
    fn added(&mut self, obj: u64) {
        *self.added.entry(obj).or_default() += 1;
    }
    fn dropped(&mut self, obj: u64) {
        *self.dropped.entry(obj).or_default() += 1;
        self.drop_log.push(obj);
    }
    fn free_frame(&mut self, frame: u64) {
        self.freed.push(frame);
    }
}

struct Sim {
    mem: Mem,
    frames: Frames,
    world: World,
}

/// The words of the empty frames at `EMPTY_AREA`, as [`build_empty`] makes them there.
fn empty_frames() -> Vec<u64> {
    let mut mem = Mem {
        words: Vec::new(),
        empty_words: Vec::new(),
        writes: 0,
        handed_end: Rc::new(Cell::new(POOL)),
        freed: Rc::new(RefCell::new(BTreeSet::new())),
    };
    let mut frames = Frames {
        next: mem.handed_end.clone(),
        limit: EMPTY_LEVELS,
        handed: Vec::new(),
        freed: mem.freed.clone(),
    };
    let empty = build_empty(&mut mem, &mut frames).unwrap();
    // Built in the pool, moved to their own area: entries name the frames there.
    let moved = |w: u64| match empty.iter().position(|&f| f == w) {
        Some(level) => EMPTY_AREA + level as u64 * FRAME,
        None => w,
    };
    (0..EMPTY_LEVELS as u64 * FRAME / 8)
        .map(|i| moved(mem.read_u64(empty[(i * 8 / FRAME) as usize] + i * 8 % FRAME)))
        .collect()
}

fn r(space: u32, index: u32) -> SlotRef {
    SlotRef::new(space, index)
}

fn cap(obj: u64, kind: u8, perms: u8) -> Cap {
    Cap::new(obj, kind, perms)
}

impl Sim {
    /// Memory and frames with `limit` frames available, and no spaces.
    fn with_limit(limit: usize) -> Sim {
        let next = Rc::new(Cell::new(POOL));
        let freed = Rc::new(RefCell::new(BTreeSet::new()));
        Sim {
            mem: Mem {
                words: Vec::new(),
                empty_words: empty_frames(),
                writes: 0,
                handed_end: next.clone(),
                freed: freed.clone(),
            },
            frames: Frames {
                next,
                limit,
                handed: Vec::new(),
                freed,
            },
            world: World::default(),
        }
    }
    fn new() -> Sim {
        Sim::with_limit(usize::MAX)
    }
    /// Adds space `id` with `bits` index bits. The writes that fill its root with the
    /// empty frames' addresses are not counted: tests count what operations write.
    fn space(&mut self, id: u32, bits: u32) -> Table {
        let writes = self.mem.writes;
        let t = Table::new(&mut self.mem, &mut self.frames, bits).unwrap();
        self.mem.writes = writes;
        self.world.tables.insert(id, t);
        t
    }
    fn insert(&mut self, space: u32, index: u64, c: Cap) -> Result<(), CapError> {
        insert_root(
            &mut self.world,
            &mut self.mem,
            &mut self.frames,
            space,
            index,
            c,
        )
    }
    #[allow(clippy::too_many_arguments)]
    fn delegate(
        &mut self,
        src: u32,
        src_base: u64,
        dst: u32,
        dst_base: u64,
        order: u32,
        mask: u8,
    ) -> Result<DelegateOutcome, CapError> {
        delegate(
            &mut self.world,
            &mut self.mem,
            &mut self.frames,
            src,
            src_base,
            dst,
            dst_base,
            order,
            mask,
        )
    }
    fn revoke(
        &mut self,
        space: u32,
        base: u64,
        order: u32,
        perms: u8,
        include_self: bool,
    ) -> Result<RevokeOutcome, CapError> {
        let r = revoke(
            &mut self.world,
            &mut self.mem,
            space,
            base,
            order,
            perms,
            include_self,
        );
        // What the revoke gave back goes to the frame source.
        for f in core::mem::take(&mut self.world.freed) {
            self.frames.free(f);
        }
        r
    }
    fn slot(&self, space: u32, index: u64) -> Slot {
        self.world.tables[&space].get(&self.mem, index)
    }
    fn cap(&self, space: u32, index: u64) -> Option<Cap> {
        lookup(&self.world, &self.mem, space, index)
    }
    fn perms(&self, space: u32, index: u64) -> Option<u8> {
        self.cap(space, index).map(|c| c.perms)
    }
    /// The child list of a slot, newest first, by following the links.
    fn children(&self, space: u32, index: u64) -> Vec<SlotRef> {
        let mut out = Vec::new();
        let mut next = self.slot(space, index).first_child;
        while let Some(c) = next {
            out.push(c);
            next = self.slot(c.space, c.index as u64).next_sibling;
        }
        out
    }
    /// Everything the operations can change: memory words and frames handed out.
    fn state(&self) -> (Vec<(u64, u64)>, usize) {
        let words = (self.mem.words.iter().enumerate())
            .filter(|(_, &v)| v != 0)
            .map(|(at, &v)| (POOL + at as u64 * 8, v))
            .collect();
        (words, self.frames.handed.len())
    }
    /// Every used slot of every space.
    fn used(&self) -> BTreeMap<SlotRef, Slot> {
        let mut all = BTreeMap::new();
        for (&id, t) in &self.world.tables {
            let mut last = None;
            t.for_each_used(&self.mem, |index, slot| {
                assert!(last < Some(index), "for_each_used out of order");
                last = Some(index);
                all.insert(r(id, index as u32), slot);
            });
        }
        all
    }
    /// Checks every invariant of the MDB, of the hooks and of the tables' frames; returns
    /// the number of capabilities.
    fn check(&self) -> usize {
        self.check_frames();
        self.check_all().len()
    }
    /// Every frame in use belongs to exactly one table; each leaf's count is its number of
    /// used slots and no leaf or directory but a root is empty.
    fn check_frames(&self) {
        let mut frames = 0;
        for t in self.world.tables.values() {
            let n = self.check_frame(t.root, t.levels() - 1, true);
            assert_eq!(
                t.frames(&self.mem) as usize,
                n,
                "frames of the table at {:#x}",
                t.root
            );
            frames += n;
        }
        assert_eq!(
            frames,
            self.frames.handed.len(),
            "frames in use outside the tables"
        );
    }
    /// Checks the frame at `frame` of `level` (0: a leaf) and those below; returns their
    /// number.
    fn check_frame(&self, frame: u64, level: u32, root: bool) -> usize {
        if level == 0 {
            let used = (0..LEAF_SLOTS)
                .filter(|i| super::table::used(&self.mem, frame + i * SLOT_BYTES))
                .count() as u64;
            assert_eq!(
                super::table::leaf_count(&self.mem, frame),
                used,
                "count of the leaf at {frame:#x}"
            );
            assert!(root || used > 0, "an empty leaf at {frame:#x} stayed");
            return 1;
        }
        let mut n = 1;
        let mut entries = 0;
        let empty = self.mem.empty(level - 1);
        for i in 0..DIR_ENTRIES {
            let next = self.mem.word(frame + i * 8);
            // Below the root every entry names a frame (a lookup follows it untested);
            // the root's entries that no index reaches may be 0.
            assert!(
                root || next != 0,
                "entry {i} of the directory at {frame:#x} is 0"
            );
            if next != 0 && next != empty {
                entries += 1;
                n += self.check_frame(next, level - 1, false);
            }
        }
        assert!(
            root || entries > 0,
            "an empty directory at {frame:#x} stayed"
        );
        n
    }
    /// [`Sim::check`], returning every used slot.
    fn check_all(&self) -> BTreeMap<SlotRef, Slot> {
        let all = self.used();
        let get = |at: SlotRef, what: &str| -> Slot {
            *all.get(&at)
                .unwrap_or_else(|| panic!("{what} {at:?} is not a used slot"))
        };
        let mut with_parent = 0;
        let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
        for (&at, slot) in &all {
            let c = slot
                .cap
                .unwrap_or_else(|| panic!("{at:?} has links but no cap"));
            assert!(c.is_valid(), "{at:?} holds malformed {c:?}");
            assert_ne!(c.perms, 0, "{at:?} holds a cap without permissions");
            *counts.entry(c.obj).or_default() += 1;
            if let Some(p) = slot.parent {
                with_parent += 1;
                let pc = get(p, "parent").cap.unwrap();
                assert_eq!(c.perms & !pc.perms, 0, "{at:?} has rights its parent lacks");
                assert_eq!(
                    (c.obj, c.kind),
                    (pc.obj, pc.kind),
                    "{at:?} differs from parent"
                );
            }
        }
        // Nodes are whole: every slot of a node holds the same capability, and they were
        // delegated together from consecutive slots of one node.
        for (&at, slot) in &all {
            let c = slot.cap.unwrap();
            let first = c.range_base(at.index as u64);
            if first == at.index as u64 {
                // No holes: every slot of the node is there.
                for i in first..first + (1 << c.order) {
                    get(r(at.space, i as u32), "slot of the node at");
                }
            }
            let node_slot = get(r(at.space, first as u32), "first slot of the node of");
            assert_eq!(
                node_slot.cap,
                Some(c),
                "{at:?}: node differs at its first slot"
            );
            let offset = |s: &Slot, i: u64| {
                s.parent
                    .map(|p| (p.space, (p.index as u64).wrapping_sub(i)))
            };
            assert_eq!(
                offset(slot, at.index as u64),
                offset(&node_slot, first),
                "{at:?}: not delegated with its node"
            );
            if let (Some(p), Some(p0)) = (slot.parent, node_slot.parent) {
                let pc = get(p, "parent").cap.unwrap();
                assert_eq!(
                    pc.range_base(p.index as u64),
                    pc.range_base(p0.index as u64),
                    "{at:?}: delegated from two nodes"
                );
            }
        }
        // Child lists: every entry names its owner as parent, each child is listed once.
        let mut listed = BTreeSet::new();
        for (&at, slot) in &all {
            let mut next = slot.first_child;
            while let Some(c) = next {
                let cs = get(c, "child");
                assert_eq!(cs.parent, Some(at), "{c:?} is listed under {at:?}");
                assert!(listed.insert(c), "{c:?} is listed twice (or a list loops)");
                next = cs.next_sibling;
            }
            if slot.parent.is_none() {
                assert_eq!(slot.next_sibling, None, "root {at:?} has a sibling");
            }
        }
        assert_eq!(
            listed.len(),
            with_parent,
            "a child is missing from its parent's list"
        );
        // No cycles: everything is reachable from the roots.
        let mut stack: Vec<SlotRef> = all
            .iter()
            .filter(|(_, s)| s.parent.is_none())
            .map(|(&at, _)| at)
            .collect();
        let mut reached = 0;
        while let Some(at) = stack.pop() {
            reached += 1;
            let mut next = all[&at].first_child;
            while let Some(c) = next {
                stack.push(c);
                next = all[&c].next_sibling;
            }
        }
        assert_eq!(reached, all.len(), "parent links form a cycle");
        // Hooks: `changed` kept the shadow exact, added - dropped = live count.
        let caps: BTreeMap<(u32, u64), Cap> = all
            .iter()
            .map(|(at, s)| ((at.space, at.index as u64), s.cap.unwrap()))
            .collect();
        assert_eq!(self.world.shadow, caps, "`changed` missed a change");
        let objs: BTreeSet<u64> = self.world.added.keys().copied().collect();
        for obj in objs.iter().chain(self.world.dropped.keys()) {
            let added = self.world.added.get(obj).copied().unwrap_or(0);
            let dropped = self.world.dropped.get(obj).copied().unwrap_or(0);
            let live = counts.get(obj).copied().unwrap_or(0);
            assert_eq!(added, dropped + live, "object {obj:#x}: added/dropped/live");
        }
        for obj in counts.keys() {
            assert!(objs.contains(obj), "object {obj:#x} was never `added`");
        }
        all
    }
}
