//! Random operations over several spaces against a plain model of the delegation trees,
//! with the invariant checker after every step.

use super::*;
use std::format;
use std::string::String;

use crate::testrng::Rng;

/// Test-only extras on the shared generator.
trait Chance {
    fn chance(&mut self, percent: u64) -> bool;
}

impl Chance for Rng {
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Node {
    at: (u32, u64),
    cap: Cap,
    parent: Option<usize>,
    /// Newest first, as the MDB keeps them.
    children: Vec<usize>,
}

/// The delegation trees as a vector of nodes with parent indices.
#[derive(Default)]
struct Model {
    nodes: Vec<Node>,
    /// The live node in each slot.
    at: BTreeMap<(u32, u64), usize>,
    bits: BTreeMap<u32, u32>,
}

impl Model {
    fn end(&self, space: u32, base: u64, order: u32) -> Result<u64, CapError> {
        let bits = *self.bits.get(&space).ok_or(CapError::UnknownSpace)?;
        if order >= 64 {
            return Err(CapError::IndexOutOfRange);
        }
        match base.checked_add(1 << order) {
            Some(end) if end <= 1 << bits => Ok(end),
            _ => Err(CapError::IndexOutOfRange),
        }
    }

    /// The first live slot of `space` in `[from, to)`.
    fn first(&self, space: u32, from: u64, to: u64) -> Option<(u64, usize)> {
        self.at
            .range((space, from)..(space, to))
            .next()
            .map(|(&(_, i), &n)| (i, n))
    }

    fn add(&mut self, at: (u32, u64), cap: Cap, parent: Option<usize>) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            at,
            cap,
            parent,
            children: Vec::new(),
        });
        if let Some(p) = parent {
            self.nodes[p].children.insert(0, id);
        }
        assert!(self.at.insert(at, id).is_none());
        id
    }

    fn insert(&mut self, space: u32, index: u64, cap: Cap) -> Result<(), CapError> {
        self.end(space, index, 0)?;
        if self.at.contains_key(&(space, index)) {
            return Err(CapError::Occupied);
        }
        self.add((space, index), cap, None);
        Ok(())
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
        // The MDB looks up both spaces before checking either range.
        self.bits.get(&src).ok_or(CapError::UnknownSpace)?;
        self.bits.get(&dst).ok_or(CapError::UnknownSpace)?;
        let end = self.end(src, src_base, order)?;
        self.end(dst, dst_base, order)?;
        let mut out = DelegateOutcome::default();
        let mut from = src_base;
        while let Some((s, n)) = self.first(src, from, end) {
            from = s + 1;
            let perms = self.nodes[n].cap.perms & mask & PERMS;
            let d = (dst, dst_base + (s - src_base));
            if perms == 0 || self.at.contains_key(&d) {
                out.skipped += 1;
                continue;
            }
            let cap = self.nodes[n].cap;
            let copy = cap.with_perms(perms).with_order(cap.order.min(order as u8));
            self.add(d, copy, Some(n));
            out.delegated += 1;
        }
        Ok(out)
    }

    fn revoke(
        &mut self,
        space: u32,
        base: u64,
        order: u32,
        perms: u8,
        include_self: bool,
    ) -> Result<RevokeOutcome, CapError> {
        let end = self.end(space, base, order)?;
        let perms = perms & PERMS;
        let mut out = RevokeOutcome::default();
        let mut from = base;
        while let Some((i, n)) = self.first(space, from, end) {
            from = i + 1;
            if include_self && self.strip(n, perms, &mut out) {
                continue;
            }
            let mut stack = self.nodes[n].children.clone();
            while let Some(d) = stack.pop() {
                if !self.strip(d, perms, &mut out) {
                    stack.extend(self.nodes[d].children.iter().copied());
                }
            }
        }
        Ok(out)
    }

    /// Takes `perms` from node `n`; true if that deleted it (with its subtree).
    fn strip(&mut self, n: usize, perms: u8, out: &mut RevokeOutcome) -> bool {
        let old = self.nodes[n].cap.perms;
        let left = old & !perms;
        if left == old {
            return false;
        }
        if left != 0 {
            self.nodes[n].cap.perms = left;
            out.changed += 1;
            return false;
        }
        if let Some(p) = self.nodes[n].parent {
            self.nodes[p].children.retain(|&c| c != n);
        }
        let mut stack = std::vec![n];
        while let Some(d) = stack.pop() {
            stack.append(&mut self.nodes[d].children);
            let at = self.nodes[d].at;
            assert_eq!(self.at.remove(&at), Some(d));
            out.deleted += 1;
        }
        true
    }

    fn slot_ref(&self, n: usize) -> SlotRef {
        let (space, index) = self.nodes[n].at;
        r(space, index as u32)
    }
}

/// The MDB's slots agree with the model: capabilities, parents and child-list orders.
fn compare(used: &BTreeMap<SlotRef, Slot>, model: &Model, what: &str) {
    assert_eq!(used.len(), model.at.len(), "{what}: number of capabilities");
    for (&(space, index), &n) in &model.at {
        let node = &model.nodes[n];
        let at = r(space, index as u32);
        let slot = used
            .get(&at)
            .unwrap_or_else(|| panic!("{what}: {at:?} missing"));
        assert_eq!(slot.cap, Some(node.cap), "{what}: cap at {at:?}");
        assert_eq!(
            slot.parent,
            node.parent.map(|p| model.slot_ref(p)),
            "{what}: parent of {at:?}"
        );
        let children: Vec<_> = node.children.iter().map(|&c| model.slot_ref(c)).collect();
        let mut listed = Vec::new();
        let mut next = slot.first_child;
        while let Some(c) = next {
            listed.push(c);
            next = used[&c].next_sibling;
        }
        assert_eq!(listed, children, "{what}: children of {at:?}");
    }
}

const OBJ_SPACES: [u32; 3] = [1, 2, 3];
const PORT_SPACES: [u32; 2] = [7, 8];

fn pick(rng: &mut Rng, of: &[u32]) -> u32 {
    of[rng.below(of.len() as u64) as usize]
}

/// A space: mostly of the given class, sometimes any, rarely an unknown id.
fn space(rng: &mut Rng, ports: bool) -> u32 {
    if rng.chance(2) {
        return [0, 5, 99][rng.below(3) as usize];
    }
    let any = rng.chance(5);
    if (ports && !any) || (any && rng.chance(40)) {
        pick(rng, &PORT_SPACES)
    } else {
        pick(rng, &OBJ_SPACES)
    }
}

/// An index: crowded low ones, around the first leaf boundary, near the top.
fn index(rng: &mut Rng, bits: u32) -> u64 {
    let top = 1u64 << bits;
    match rng.below(10) {
        0..=5 => rng.below(48),
        6 | 7 => 120 + rng.below(16),
        8 => top - 1 - rng.below(16),
        _ => rng.below(top + 4),
    }
}

fn order(rng: &mut Rng, bits: u32) -> u32 {
    match rng.below(20) {
        0..=11 => rng.below(3) as u32,
        12..=17 => 3 + rng.below(4) as u32,
        18 => bits,
        _ => bits + 1 + rng.below(40) as u32,
    }
}

fn bits_of(model: &Model, space: u32) -> u32 {
    model.bits.get(&space).copied().unwrap_or(OBJECT_BITS)
}

fn run(seed: u64, steps: usize) {
    let mut rng = Rng(seed);
    let mut sim = Sim::new();
    let mut model = Model::default();
    for id in OBJ_SPACES {
        sim.space(id, OBJECT_BITS);
        model.bits.insert(id, OBJECT_BITS);
    }
    for id in PORT_SPACES {
        sim.space(id, PORT_BITS);
        model.bits.insert(id, PORT_BITS);
    }
    let mut next_obj = 1;
    let (mut delegated, mut deleted) = (0, 0);
    for step in 0..steps {
        let ports = rng.chance(30);
        let what: String;
        match rng.below(100) {
            0..=24 => {
                let s = space(&mut rng, ports);
                let i = index(&mut rng, bits_of(&model, s));
                let c = if ports {
                    cap(next_obj, 1, 1)
                } else {
                    cap(next_obj, 1 + rng.below(7) as u8, 1 + rng.below(31) as u8)
                };
                // Some root capabilities stand for a range (as the kernel's ports do).
                let c = c.with_order(rng.below(4) as u8 * 3);
                next_obj += 1;
                what = format!("seed {seed} step {step}: insert_root({s}, {i}, {c:?})");
                let want = model.insert(s, i, c);
                assert_eq!(sim.insert(s, i, c), want, "{what}");
            }
            25..=69 => {
                let (src, dst) = (space(&mut rng, ports), space(&mut rng, ports));
                let bits = bits_of(&model, src).min(bits_of(&model, dst));
                let ord = order(&mut rng, bits);
                let (sb, db) = if ord == bits && rng.chance(80) {
                    (0, 0)
                } else {
                    (index(&mut rng, bits), index(&mut rng, bits))
                };
                let mask = if rng.chance(50) {
                    PERMS
                } else {
                    rng.below(256) as u8
                };
                what = format!(
                    "seed {seed} step {step}: delegate({src}, {sb}, {dst}, {db}, {ord}, {mask:#x})"
                );
                let want = model.delegate(src, sb, dst, db, ord, mask);
                assert_eq!(sim.delegate(src, sb, dst, db, ord, mask), want, "{what}");
                delegated += want.map_or(0, |o| o.delegated);
            }
            _ => {
                let s = space(&mut rng, ports);
                let bits = bits_of(&model, s);
                let ord = order(&mut rng, bits);
                let base = if ord == bits {
                    0
                } else {
                    index(&mut rng, bits)
                };
                let perms = if rng.chance(30) {
                    PERMS
                } else {
                    rng.below(64) as u8
                };
                let include_self = rng.chance(50);
                what = format!("seed {seed} step {step}: revoke({s}, {base}, {ord}, {perms:#x}, {include_self})");
                let want = model.revoke(s, base, ord, perms, include_self);
                assert_eq!(
                    sim.revoke(s, base, ord, perms, include_self),
                    want,
                    "{what}"
                );
                deleted += want.map_or(0, |o| o.deleted);
            }
        }
        let used = sim.check_all();
        compare(&used, &model, &what);
    }
    // The run did exercise the interesting paths.
    assert!(
        delegated > 100 && deleted > 100,
        "seed {seed}: {delegated} / {deleted}"
    );
}

#[test]
fn random_operations_match_the_model_1() {
    for seed in [1, 2] {
        run(seed, 1500);
    }
}

#[test]
fn random_operations_match_the_model_2() {
    for seed in [3, 42] {
        run(seed, 1500);
    }
}

#[test]
fn random_operations_match_the_model_3() {
    for seed in [0x9e37_79b9_7f4a_7c15, 0xdead_beef] {
        run(seed, 1500);
    }
}

#[test]
fn random_operations_match_the_model_4() {
    for seed in [7777, 31337] {
        run(seed, 1500);
    }
}
