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

/// One node: the `2^cap.order` slots from `base` of `space`, all holding `cap`,
/// delegated from the slots from `parent.1` of node `parent.0`.
struct Node {
    space: u32,
    base: u64,
    len: u64,
    cap: Cap,
    parent: Option<(usize, u64)>,
    /// Newest first, as the MDB keeps each slot's children.
    children: Vec<usize>,
}

/// The delegation trees as the reference kernel keeps them: whole nodes with parent
/// indices. Written from the reference's algorithm, not from the MDB's slot walks.
#[derive(Default)]
struct Model {
    nodes: Vec<Node>,
    /// The live nodes of each space by their first slot.
    at: BTreeMap<(u32, u64), usize>,
    bits: BTreeMap<u32, u32>,
}

fn aligned(base: u64, order: u32) -> Result<(), CapError> {
    if order < 64 && base & ((1 << order) - 1) != 0 {
        return Err(CapError::Misaligned);
    }
    Ok(())
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

    /// The first live node of `space` overlapping `[from, to)`.
    fn first(&self, space: u32, from: u64, to: u64) -> Option<usize> {
        if from >= to {
            return None;
        }
        if let Some((_, &n)) = self.at.range((space, 0)..=(space, from)).next_back() {
            if self.nodes[n].base + self.nodes[n].len > from {
                return Some(n);
            }
        }
        self.at
            .range((space, from)..(space, to))
            .next()
            .map(|(_, &n)| n)
    }

    fn add(&mut self, space: u32, base: u64, cap: Cap, parent: Option<(usize, u64)>) -> usize {
        let id = self.nodes.len();
        self.nodes.push(Node {
            space,
            base,
            len: 1 << cap.order,
            cap,
            parent,
            children: Vec::new(),
        });
        if let Some((p, _)) = parent {
            self.nodes[p].children.insert(0, id);
        }
        assert!(self.at.insert((space, base), id).is_none());
        id
    }

    fn insert(&mut self, space: u32, index: u64, cap: Cap) -> Result<(), CapError> {
        self.end(space, index, 0)?;
        if !cap.is_valid() {
            return Err(CapError::Malformed);
        }
        if cap.perms == 0 {
            return Err(CapError::NoPermissions);
        }
        aligned(index, cap.order as u32)?;
        let end = self.end(space, index, cap.order as u32)?;
        if self.first(space, index, end).is_some() {
            return Err(CapError::Occupied);
        }
        self.add(space, index, cap, None);
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
        aligned(src_base, order)?;
        aligned(dst_base, order)?;
        let mut out = DelegateOutcome::default();
        let mut from = src_base;
        while let Some(n) = self.first(src, from, end) {
            let node = &self.nodes[n];
            let (first, last) = (node.base.max(src_base), (node.base + node.len).min(end));
            from = last;
            let (d_first, d_last) = (dst_base + (first - src_base), dst_base + (last - src_base));
            let perms = node.cap.perms & mask & PERMS;
            if perms == 0 || self.first(dst, d_first, d_last).is_some() {
                out.skipped += last - first;
                continue;
            }
            let copy = node
                .cap
                .with_perms(perms)
                .with_order(node.cap.order.min(order as u8));
            assert_eq!(
                1 << copy.order,
                last - first,
                "aligned parts are whole nodes"
            );
            self.add(dst, d_first, copy, Some((n, first)));
            out.delegated += last - first;
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
        aligned(base, order)?;
        let perms = perms & PERMS;
        let mut out = RevokeOutcome::default();
        if perms == 0 {
            return Ok(out);
        }
        let mut from = base;
        while let Some(n) = self.first(space, from, end) {
            let (first, last) = (self.nodes[n].base, self.nodes[n].base + self.nodes[n].len);
            from = last;
            if include_self {
                self.strip(n, perms, &mut out);
                continue;
            }
            // Children whose source part overlaps the range (the reference's `demote` at
            // depth + 1) lose the rights whole.
            let (r_first, r_last) = (first.max(base), last.min(end));
            for c in self.nodes[n].children.clone() {
                let (_, src_first) = self.nodes[c].parent.unwrap();
                if src_first < r_last && src_first + self.nodes[c].len > r_first {
                    self.strip(c, perms, &mut out);
                }
            }
        }
        Ok(out)
    }

    /// What the sender's capability at `base` (range of order `order`) translates to in
    /// `rcv` inside the window: the nearest ancestor node there that overlaps the window,
    /// else (within one space) the sender's own node; the answer is where the ranges meet.
    #[allow(clippy::too_many_arguments)]
    fn translate(
        &self,
        snd: u32,
        base: u64,
        order: u32,
        rcv: u32,
        win: u64,
        win_order: u32,
    ) -> Option<(u64, u32, u8)> {
        self.bits.get(&snd)?;
        let n = self.first(snd, base, base + 1)?;
        let node = &self.nodes[n];
        let (mut at, mut index, mut found) = (n, base, None);
        while let Some((p, first)) = self.nodes[at].parent {
            index = first + (index - self.nodes[at].base);
            at = p;
            let a = &self.nodes[at];
            if a.space == rcv {
                if let Some(w) = meet(a.base, win, a.cap.order as u32, win_order) {
                    found = Some((index, w));
                    break;
                }
            }
        }
        if found.is_none() && snd == rcv {
            found = meet(node.base, win, node.cap.order as u32, win_order).map(|w| (base, w));
        }
        let (index, (w, w_order)) = found?;
        let sender = base | node.base;
        let carried = sender.wrapping_sub(base).wrapping_add(index);
        let (b, o) = meet(carried, w, order.min(node.cap.order as u32), w_order)?;
        Some((b, o, node.cap.perms))
    }

    /// Takes `perms` from node `n` and everything below it; deletes what is left
    /// without rights.
    fn strip(&mut self, n: usize, perms: u8, out: &mut RevokeOutcome) {
        let mut stack = std::vec![n];
        let mut doomed = Vec::new();
        while let Some(d) = stack.pop() {
            let old = self.nodes[d].cap.perms;
            let left = old & !perms;
            if left == old {
                continue;
            }
            stack.extend(self.nodes[d].children.iter().copied());
            if left != 0 {
                self.nodes[d].cap.perms = left;
                out.changed += self.nodes[d].len;
            } else {
                doomed.push(d);
            }
        }
        for d in doomed {
            if let Some((p, _)) = self.nodes[d].parent {
                self.nodes[p].children.retain(|&c| c != d);
            }
            let at = (self.nodes[d].space, self.nodes[d].base);
            assert_eq!(self.at.remove(&at), Some(d));
            out.deleted += self.nodes[d].len;
        }
    }
}

/// The MDB's slots agree with the model's nodes: capabilities, parents and child-list
/// orders, slot by slot.
fn compare(used: &BTreeMap<SlotRef, Slot>, model: &Model, what: &str) {
    let slots: u64 = model.at.values().map(|&n| model.nodes[n].len).sum();
    assert_eq!(used.len() as u64, slots, "{what}: number of capabilities");
    for &n in model.at.values() {
        let node = &model.nodes[n];
        for k in 0..node.len {
            let index = node.base + k;
            let at = r(node.space, index as u32);
            let slot = used
                .get(&at)
                .unwrap_or_else(|| panic!("{what}: {at:?} missing"));
            assert_eq!(slot.cap, Some(node.cap), "{what}: cap at {at:?}");
            let parent = node
                .parent
                .map(|(p, first)| r(model.nodes[p].space, (first + k) as u32));
            assert_eq!(slot.parent, parent, "{what}: parent of {at:?}");
            let children: Vec<_> = (node.children.iter())
                .filter_map(|&c| {
                    let child = &model.nodes[c];
                    let (_, first) = child.parent.unwrap();
                    (first..first + child.len)
                        .contains(&index)
                        .then(|| r(child.space, (child.base + index - first) as u32))
                })
                .collect();
            let mut listed = Vec::new();
            let mut next = slot.first_child;
            while let Some(c) = next {
                listed.push(c);
                next = used[&c].next_sibling;
            }
            assert_eq!(listed, children, "{what}: children of {at:?}");
        }
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

/// `index` aligned to `order`, except now and then (to see the refusal).
fn align(rng: &mut Rng, index: u64, order: u32) -> u64 {
    if order >= 64 || rng.chance(5) {
        return index;
    }
    index & !((1 << order) - 1)
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
    let (mut delegated, mut deleted, mut translated) = (0, 0, 0);
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
                // Some root capabilities stand for a range (as the kernel's ports do),
                // mostly at a base aligned to it.
                let c = c.with_order(rng.below(4) as u8 * 3);
                let i = align(&mut rng, i, c.order as u32);
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
                    let (sb, db) = (index(&mut rng, bits), index(&mut rng, bits));
                    (align(&mut rng, sb, ord), align(&mut rng, db, ord))
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
            70..=89 => {
                let s = space(&mut rng, ports);
                let bits = bits_of(&model, s);
                let ord = order(&mut rng, bits);
                let base = if ord == bits {
                    0
                } else {
                    let base = index(&mut rng, bits);
                    align(&mut rng, base, ord)
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
            _ => {
                let (snd, rcv) = (space(&mut rng, ports), space(&mut rng, ports));
                // Mostly a slot that holds something.
                let nodes: Vec<(u64, u64)> = (model.at.range((snd, 0)..(snd, u64::MAX)))
                    .map(|(&(_, b), &n)| (b, model.nodes[n].len))
                    .collect();
                let used: Vec<u64> = nodes.iter().map(|&(b, len)| b + rng.below(len)).collect();
                let base = if !used.is_empty() && rng.chance(80) {
                    used[rng.below(used.len() as u64) as usize]
                } else {
                    index(&mut rng, bits_of(&model, snd))
                };
                let ord = rng.below(5) as u32;
                let bits = bits_of(&model, rcv);
                let (win, win_order) = if rng.chance(60) {
                    (0, bits)
                } else {
                    let o = order(&mut rng, bits).min(bits);
                    let at = index(&mut rng, bits);
                    (align(&mut rng, at, o), o)
                };
                what = format!(
                    "seed {seed} step {step}: translate({snd}, {base}, {ord}, {rcv}, {win}, {win_order})"
                );
                let want = model.translate(snd, base, ord, rcv, win, win_order);
                let got = translate(&sim.world, &sim.mem, snd, base, ord, rcv, win, win_order)
                    .map(|(b, o, c)| (b, o, c.perms));
                assert_eq!(got, want, "{what}");
                translated += want.is_some() as u64;
            }
        }
        let used = sim.check_all();
        compare(&used, &model, &what);
        if step % 16 == 0 {
            sim.check_frames();
        }
    }
    // Taking everything back leaves each space its root frame and nothing else.
    for (&id, &bits) in &model.bits.clone() {
        sim.revoke(id, 0, bits, PERMS, true).unwrap();
    }
    assert_eq!(sim.check(), 0);
    assert_eq!(
        sim.frames.handed.len(),
        OBJ_SPACES.len() + PORT_SPACES.len()
    );
    // The run did exercise the interesting paths.
    assert!(
        delegated > 100 && deleted > 100 && translated > 20,
        "seed {seed}: {delegated} / {deleted} / {translated}"
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
