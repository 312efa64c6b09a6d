//! Run queues against a model (a deque per priority) under random operations, and the
//! chain walks against a walk that remembers where it has been, on random Ec graphs
//! with cycles, broken links and chains around the bound.

use std::collections::{BTreeSet, VecDeque};
use std::vec::Vec;

use super::*;
use crate::testrng::Rng;

const P: usize = 8;
const SCS: usize = 40;

/// Sc links in arrays, by handle 1..SCS (0 is none).
struct Scs {
    next: Vec<u64>,
    queued: Vec<bool>,
}

impl ScLinks for Scs {
    fn next(&self, sc: u64) -> u64 {
        self.next[sc as usize]
    }
    fn set_next(&mut self, sc: u64, next: u64) {
        self.next[sc as usize] = next;
    }
    fn enter(&mut self, sc: u64) {
        self.next[sc as usize] = 0;
        self.queued[sc as usize] = true;
    }
    fn leave(&mut self, sc: u64) -> u64 {
        self.queued[sc as usize] = false;
        self.next[sc as usize]
    }
}

/// The queues as the model has them: each walked from its head, its tail checked.
fn check(q: &RunQueues<P>, s: &Scs, model: &[VecDeque<u64>]) {
    let mut queued = BTreeSet::new();
    for (prio, want) in model.iter().enumerate() {
        let mut walked = Vec::new();
        let mut cur = q.head[prio];
        while cur != 0 {
            walked.push(cur);
            assert!(walked.len() <= SCS, "queue {prio} loops");
            cur = s.next[cur as usize];
        }
        assert_eq!(walked, want.iter().copied().collect::<Vec<_>>());
        assert_eq!(q.tail[prio], walked.last().copied().unwrap_or(0));
        queued.extend(walked);
    }
    for sc in 1..SCS as u64 {
        assert_eq!(s.queued[sc as usize], queued.contains(&sc), "sc {sc}");
    }
    for prio in 0..P {
        let above = model[prio + 1..].iter().any(|m| !m.is_empty());
        assert_eq!(q.any_above(prio), above);
    }
}

#[test]
fn run_queues_follow_the_model() {
    let mut rng = Rng(0x5eed_005c);
    for _ in 0..50 {
        let mut q = RunQueues::<P>::new();
        let mut s = Scs {
            next: std::vec![0; SCS],
            queued: std::vec![false; SCS],
        };
        let mut model: Vec<VecDeque<u64>> = (0..P).map(|_| VecDeque::new()).collect();
        let prio_of: Vec<usize> = (0..SCS).map(|_| rng.below(P as u64) as usize).collect();
        for _ in 0..2_000 {
            let sc = 1 + rng.below(SCS as u64 - 1);
            let prio = prio_of[sc as usize];
            match rng.below(5) {
                0 | 1 => {
                    if !s.queued[sc as usize] {
                        q.append(&mut s, prio, sc);
                        model[prio].push_back(sc);
                    }
                }
                3 => {
                    if !s.queued[sc as usize] {
                        q.prepend(&mut s, prio, sc);
                        model[prio].push_front(sc);
                    }
                }
                2 => {
                    // Removal from its own queue, or (a stale priority) from another.
                    let from = if rng.below(4) == 0 {
                        rng.below(P as u64) as usize
                    } else {
                        prio
                    };
                    let pos = model[from].iter().position(|&x| x == sc);
                    assert_eq!(q.remove(&mut s, from, sc), pos.is_some());
                    if let Some(pos) = pos {
                        model[from].remove(pos);
                    }
                }
                _ => {
                    let want = model.iter_mut().rev().find_map(|m| m.pop_front());
                    assert_eq!(q.pop_highest(&mut s), want);
                }
            }
            check(&q, &s, &model);
        }
    }
}

#[test]
fn a_queue_is_round_robin_within_a_priority() {
    let mut q = RunQueues::<P>::new();
    let mut s = Scs {
        next: std::vec![0; SCS],
        queued: std::vec![false; SCS],
    };
    for sc in [3, 1, 2] {
        q.append(&mut s, 2, sc);
    }
    q.append(&mut s, 5, 9);
    q.append(&mut s, 0, 7);
    assert!(q.any_above(2) && q.any_above(4) && !q.any_above(5) && !q.any_above(P));
    let order: Vec<_> = core::iter::from_fn(|| q.pop_highest(&mut s)).collect();
    assert_eq!(order, [9, 3, 1, 2, 7]);
    assert!(!q.any_above(0));
    // A preempted Sc goes back first.
    q.append(&mut s, 2, 3);
    q.append(&mut s, 2, 1);
    q.prepend(&mut s, 2, 2);
    let order: Vec<_> = core::iter::from_fn(|| q.pop_highest(&mut s)).collect();
    assert_eq!(order, [2, 3, 1]);
}

/// Ecs by handle 1..n with their chains (`None`: not an Ec).
struct Ecs(Vec<Option<EcChain>>);

impl EcLinks for Ecs {
    fn chain(&self, ec: u64) -> Option<EcChain> {
        self.0.get(ec as usize).copied().flatten()
    }
}

fn random_ecs(rng: &mut Rng, n: usize) -> Ecs {
    let mut v = std::vec![None];
    for _ in 1..n {
        if rng.below(12) == 0 {
            v.push(None);
            continue;
        }
        let wait = [Wait::Reply, Wait::Handler, Wait::Runs, Wait::Other][rng.below(4) as usize];
        // Links mostly to Ecs, sometimes to nothing or past the end.
        let mut target = || match rng.below(10) {
            0 => 0,
            1 => n as u64 + rng.below(4),
            _ => 1 + rng.below(n as u64 - 1),
        };
        v.push(Some(EcChain {
            wait,
            callee: target(),
            waiting_on: target(),
        }));
    }
    Ecs(v)
}

/// The next Ec of a chain, as the model reads it.
fn step(e: &Ecs, ec: u64) -> Link {
    match e.chain(ec) {
        None => Link::Gone,
        Some(c) => match c.wait {
            Wait::Reply if c.callee != 0 => Link::Next(c.callee),
            Wait::Handler if c.waiting_on != 0 => Link::Next(c.waiting_on),
            Wait::Runs => Link::Runs,
            _ => Link::Waits,
        },
    }
}

/// The path from `ec` until it stops or comes back to an Ec it passed.
fn path(e: &Ecs, mut ec: u64) -> (Vec<u64>, Link) {
    let mut seen = Vec::new();
    loop {
        seen.push(ec);
        match step(e, ec) {
            Link::Next(n) if seen.contains(&n) => return (seen, Link::Next(n)),
            Link::Next(n) => ec = n,
            end => return (seen, end),
        }
    }
}

#[test]
fn chain_walks_follow_the_model() {
    let mut rng = Rng(0x5eed_c4a1);
    for _ in 0..300 {
        let n = 2 + rng.below(30) as usize;
        let e = random_ecs(&mut rng, n);
        for from in 0..n as u64 + 2 {
            let (seen, end) = path(&e, from);
            let want = match end {
                Link::Runs => Ok(*seen.last().unwrap()),
                Link::Waits => Err(*seen.last().unwrap()),
                // A cycle never ends within the bound; a broken link stops nowhere.
                Link::Next(_) | Link::Gone => Err(0),
            };
            assert_eq!(chain_stop(&e, from), want, "from {from}");
            for ec in 0..n as u64 + 2 {
                let want = seen.contains(&ec) || matches!(end, Link::Next(_));
                assert_eq!(chain_reaches(&e, from, ec), want, "{from} -> {ec}");
                // Donation follows reply links only.
                let mut cur = from;
                let mut passed = Vec::new();
                let lent = loop {
                    if cur == ec {
                        break true;
                    }
                    passed.push(cur);
                    match e.chain(cur) {
                        Some(c) if c.wait == Wait::Reply && c.callee != 0 => cur = c.callee,
                        _ => break false,
                    }
                    if passed.contains(&cur) {
                        break false;
                    }
                };
                assert_eq!(lent_to(&e, from, ec), lent, "lent {from} -> {ec}");
            }
        }
    }
}

#[test]
fn chains_are_walked_up_to_the_bound() {
    // Ec i calls Ec i + 1; the last one runs.
    for len in [CHAIN_BOUND - 1, CHAIN_BOUND, CHAIN_BOUND + 1] {
        let mut v = std::vec![None];
        for i in 1..=len as u64 {
            v.push(Some(EcChain {
                wait: Wait::Reply,
                callee: i + 1,
                waiting_on: 0,
            }));
        }
        v.push(Some(EcChain {
            wait: Wait::Runs,
            callee: 0,
            waiting_on: 0,
        }));
        let e = Ecs(v);
        let last = len as u64 + 1;
        // `len` steps reach the end: within the bound only while len < CHAIN_BOUND.
        let within = len < CHAIN_BOUND;
        assert_eq!(chain_stop(&e, 1), if within { Ok(last) } else { Err(0) });
        assert_eq!(lent_to(&e, 1, last), within);
        assert!(chain_reaches(&e, 1, last));
        assert_eq!(chain_reaches(&e, 1, last + 1), !within);
    }
}

/// Sc and Ec park links in arrays: Scs 1..SCS, Ecs 1..ECS (handle 0 and those past
/// the end are not Ecs).
struct Parks {
    next: Vec<u64>,
    prev: Vec<u64>,
    on: Vec<u64>,
    queued: Vec<bool>,
    head: Vec<u64>,
}

const ECS: usize = 6;

impl ParkLinks for Parks {
    fn push_head(&mut self, on: u64, sc: u64) -> Option<u64> {
        let h = self.head.get_mut(on as usize).filter(|_| on != 0)?;
        Some(core::mem::replace(h, sc))
    }
    fn set_head(&mut self, on: u64, sc: u64) {
        self.head[on as usize] = sc;
    }
    fn link_parked(&mut self, sc: u64, on: u64, next: u64) {
        let i = sc as usize;
        (self.next[i], self.prev[i], self.on[i], self.queued[i]) = (next, 0, on, false);
    }
    fn set_prev(&mut self, sc: u64, prev: u64) {
        self.prev[sc as usize] = prev;
    }
    fn set_next(&mut self, sc: u64, next: u64) {
        self.next[sc as usize] = next;
    }
    fn take_parked(&mut self, sc: u64) -> Option<(u64, u64, u64)> {
        let i = sc as usize;
        let links = (self.on[i], self.prev[i], self.next[i]);
        if self.on[i] != 0 {
            (self.on[i], self.prev[i], self.next[i]) = (0, 0, 0);
        }
        Some(links)
    }
}

#[test]
fn park_lists_follow_the_model() {
    let mut rng = Rng(0x5eed_0a4c);
    for _ in 0..50 {
        let mut l = Parks {
            next: std::vec![0; SCS],
            prev: std::vec![0; SCS],
            on: std::vec![0; SCS],
            queued: std::vec![false; SCS],
            head: std::vec![0; ECS],
        };
        // Per Ec, its parked Scs newest first.
        let mut model: Vec<VecDeque<u64>> = (0..ECS).map(|_| VecDeque::new()).collect();
        for _ in 0..2_000 {
            let sc = 1 + rng.below(SCS as u64 - 1);
            if rng.below(2) == 0 && l.on[sc as usize] == 0 {
                let on = rng.below(ECS as u64 + 1);
                l.queued[sc as usize] = true;
                park(&mut l, sc, on);
                if on != 0 && (on as usize) < ECS {
                    model[on as usize].push_front(sc);
                    assert!(!l.queued[sc as usize]);
                } else {
                    assert_eq!(l.on[sc as usize], 0, "not parked on a non-Ec");
                }
            } else {
                unpark(&mut l, sc);
                for m in model.iter_mut() {
                    m.retain(|&x| x != sc);
                }
                assert_eq!((l.on[sc as usize], l.prev[sc as usize]), (0, 0));
            }
            // Each list forwards and backwards.
            for (ec, want) in model.iter().enumerate().skip(1) {
                let mut fwd = Vec::new();
                let (mut prev, mut cur) = (0, l.head[ec]);
                while cur != 0 {
                    assert_eq!(l.prev[cur as usize], prev);
                    assert_eq!(l.on[cur as usize], ec as u64);
                    fwd.push(cur);
                    assert!(fwd.len() < SCS);
                    (prev, cur) = (cur, l.next[cur as usize]);
                }
                assert_eq!(fwd, want.iter().copied().collect::<Vec<_>>());
            }
        }
    }
}
