//! The scheduler's portable half: per-priority run queues of scheduling contexts, and
//! the walks along call and helping chains of execution contexts.
//!
//! Scs and Ecs are named by handle (0: none), and their links are read and written
//! through small traits, [`ScLinks`], [`ParkLinks`] and [`EcLinks`], which the kernel
//! implements over its object store and host tests over arrays. The queues hold no lock
//! of their own: the kernel keeps them per CPU under one. Besides the run queues, an Sc
//! whose chain stops at a waiting Ec may be parked on that Ec ([`park`]), to look again
//! when it wakes.
//!
//! Invariants [`RunQueues`] keeps: an Sc is in at most one queue, exactly when its
//! `queued` flag is set; each queue's tail is its last Sc (0 for an empty queue), whose
//! link is 0. Chains are walked at most [`CHAIN_BOUND`] steps, so that a cycle, or a
//! chain longer than any a program builds, ends a walk instead of the kernel.

/// The longest chain a walk follows.
pub const CHAIN_BOUND: usize = 1024;

/// The run-queue links of Scs. Every operation is one access to one Sc.
pub trait ScLinks {
    /// The Sc after `sc` in its queue (0: last, or `sc` is gone).
    fn next(&self, sc: u64) -> u64;
    /// Links `next` after `sc`.
    fn set_next(&mut self, sc: u64, next: u64);
    /// `sc` joins a queue at its end: its link becomes 0 and it is marked queued.
    fn enter(&mut self, sc: u64);
    /// `sc` leaves its queue: it is marked not queued. Returns its link (0 if gone).
    fn leave(&mut self, sc: u64) -> u64;
}

/// One run queue per priority, `P` priorities, highest first.
pub struct RunQueues<const P: usize> {
    head: [u64; P],
    tail: [u64; P],
}

impl<const P: usize> Default for RunQueues<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const P: usize> RunQueues<P> {
    /// Every queue empty.
    pub const fn new() -> Self {
        RunQueues {
            head: [0; P],
            tail: [0; P],
        }
    }

    /// Puts `sc` (priority `prio`, below `P`; not queued) at the end of its queue.
    pub fn append(&mut self, s: &mut impl ScLinks, prio: usize, sc: u64) {
        let tail = self.tail[prio];
        s.enter(sc);
        if tail == 0 {
            self.head[prio] = sc;
        } else {
            s.set_next(tail, sc);
        }
        self.tail[prio] = sc;
    }

    /// Puts `sc` (priority `prio`, below `P`; not queued) at the head of its queue: an
    /// Sc that a higher priority preempted runs on first once that is done, with what is
    /// left of its quantum (as in NOVA).
    pub fn prepend(&mut self, s: &mut impl ScLinks, prio: usize, sc: u64) {
        let head = self.head[prio];
        s.enter(sc);
        s.set_next(sc, head);
        if head == 0 {
            self.tail[prio] = sc;
        }
        self.head[prio] = sc;
    }

    /// Takes `sc` out of queue `prio`. Returns whether it was there.
    pub fn remove(&mut self, s: &mut impl ScLinks, prio: usize, sc: u64) -> bool {
        let (mut prev, mut cur) = (0, self.head[prio]);
        while cur != 0 && cur != sc {
            prev = cur;
            cur = s.next(cur);
        }
        if cur == 0 {
            return false;
        }
        let next = s.leave(sc);
        if prev == 0 {
            self.head[prio] = next;
        } else {
            s.set_next(prev, next);
        }
        if self.tail[prio] == sc {
            self.tail[prio] = prev;
        }
        true
    }

    /// Takes the first Sc of the highest non-empty queue.
    pub fn pop_highest(&mut self, s: &mut impl ScLinks) -> Option<u64> {
        for prio in (0..P).rev() {
            let sc = self.head[prio];
            if sc != 0 {
                let next = s.leave(sc);
                self.head[prio] = next;
                if next == 0 {
                    self.tail[prio] = 0;
                }
                return Some(sc);
            }
        }
        None
    }

    /// Whether an Sc of a priority above `prio` is queued.
    pub fn any_above(&self, prio: usize) -> bool {
        self.head
            .get(prio + 1..)
            .is_some_and(|h| h.iter().any(|&sc| sc != 0))
    }
}

/// The links of the lists of Scs parked on an Ec (`park`): each Ec heads a doubly
/// linked list, newest first, through the Scs' `next` and `prev`; each parked Sc names
/// its Ec. Every operation is one access to one object.
pub trait ParkLinks {
    /// Makes `sc` the head of Ec `on`'s list; returns the old head (0: none), `None` if
    /// `on` is not an Ec.
    fn push_head(&mut self, on: u64, sc: u64) -> Option<u64>;
    /// Sets the head of Ec `on`'s list.
    fn set_head(&mut self, on: u64, sc: u64);
    /// Links `sc` as parked on `on` before `next` (first in the list), not queued.
    fn link_parked(&mut self, sc: u64, on: u64, next: u64);
    /// Sets the Sc before `sc` in its list.
    fn set_prev(&mut self, sc: u64, prev: u64);
    /// Sets the Sc after `sc` in its list.
    fn set_next(&mut self, sc: u64, next: u64);
    /// `sc`'s Ec and neighbours (on, prev, next), cleared if it is parked; `None` if
    /// `sc` is not an Sc.
    fn take_parked(&mut self, sc: u64) -> Option<(u64, u64, u64)>;
}

/// Parks `sc` (neither queued nor running) on Ec `on`, first in its list.
pub fn park(l: &mut impl ParkLinks, sc: u64, on: u64) {
    let Some(head) = l.push_head(on, sc) else {
        return;
    };
    l.link_parked(sc, on, head);
    if head != 0 {
        l.set_prev(head, sc);
    }
}

/// Takes `sc` off the Ec it is parked on, if any.
pub fn unpark(l: &mut impl ParkLinks, sc: u64) {
    let Some((on, prev, next)) = l.take_parked(sc) else {
        return;
    };
    if on == 0 {
        return;
    }
    if prev == 0 {
        l.set_head(on, next);
    } else {
        l.set_next(prev, next);
    }
    if next != 0 {
        l.set_prev(next, prev);
    }
}

/// What an Ec's state means to a chain walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// It waits for the reply of the Ec it called.
    Reply,
    /// It waits for a busy handler to become free.
    Handler,
    /// It can run (ready, or about to send its start-up message).
    Runs,
    /// It waits for something else (a semaphore, its next call, or it is dead).
    Other,
}

/// An Ec's state and the links a chain follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcChain {
    pub wait: Wait,
    /// The Ec it called (while [`Wait::Reply`]).
    pub callee: u64,
    /// The handler it waits for (while [`Wait::Handler`]).
    pub waiting_on: u64,
}

/// Reads the chain links of Ecs.
pub trait EcLinks {
    /// Ec `ec`'s state and links, `None` if it is not an Ec.
    fn chain(&self, ec: u64) -> Option<EcChain>;
}

/// Where a chain goes from one Ec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// On to the Ec it called (waiting for the reply) or the busy handler it waits for.
    Next(u64),
    /// It can run.
    Runs,
    /// It waits for something else.
    Waits,
    /// It is not an Ec.
    Gone,
}

/// The step a chain takes from `ec`.
pub fn link(e: &impl EcLinks, ec: u64) -> Link {
    match e.chain(ec) {
        Some(EcChain {
            wait: Wait::Reply,
            callee,
            ..
        }) if callee != 0 => Link::Next(callee),
        Some(EcChain {
            wait: Wait::Handler,
            waiting_on,
            ..
        }) if waiting_on != 0 => Link::Next(waiting_on),
        Some(EcChain {
            wait: Wait::Runs, ..
        }) => Link::Runs,
        Some(_) => Link::Waits,
        None => Link::Gone,
    }
}

/// The Ec that time lent to `ec` runs (`Ok`: `ec` itself if it can run; while it waits
/// for a reply, the end of the call chain it lent its time along; while it waits for a
/// busy handler, the end of that handler's chain), or the Ec where the chain stops
/// (`Err`: the waiting Ec, 0 if the chain is broken or longer than [`CHAIN_BOUND`]).
pub fn chain_stop(e: &impl EcLinks, mut ec: u64) -> Result<u64, u64> {
    for _ in 0..CHAIN_BOUND {
        match link(e, ec) {
            Link::Next(next) => ec = next,
            Link::Runs => return Ok(ec),
            Link::Waits => return Err(ec),
            Link::Gone => return Err(0),
        }
    }
    Err(0)
}

/// Whether the chain from `from` passes through `ec`, or is longer than
/// [`CHAIN_BOUND`]: `ec` waiting for `from` would then wait for itself.
pub fn chain_reaches(e: &impl EcLinks, mut from: u64, ec: u64) -> bool {
    for _ in 0..CHAIN_BOUND {
        if from == ec {
            return true;
        }
        match link(e, from) {
            Link::Next(next) => from = next,
            Link::Runs | Link::Waits | Link::Gone => return false,
        }
    }
    true
}

/// Whether the time of the Sc whose own Ec is `own` reaches `ec` by donation: `own` is
/// `ec` or called along a chain of replies to it (rather than helping a handler on the
/// way).
pub fn lent_to(e: &impl EcLinks, own: u64, ec: u64) -> bool {
    let mut cur = own;
    for _ in 0..CHAIN_BOUND {
        if cur == ec {
            return true;
        }
        match e.chain(cur) {
            Some(EcChain {
                wait: Wait::Reply,
                callee,
                ..
            }) if callee != 0 => cur = callee,
            _ => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests;
