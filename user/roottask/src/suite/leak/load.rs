//! Random load, then everything taken back: the pool must be where it was.
//!
//! The roottask makes objects of every kind at random selectors of one range, in its
//! own PD and in child PDs (whose proxies, `proxy.rs`, make objects, delegations and
//! revokes in the children's own spaces, with the children's capabilities to
//! themselves); maps UTCBs and memory at random addresses anywhere in the children and
//! around random hot spots all over its own address space; delegates objects, memory and
//! ports into, out of and between the children; revokes random ranges of each kind;
//! and calls everything else a test may (semaphores up, SC times, portal ids, recalls).
//! Then it revokes its range (the children with it: their last capabilities go), the
//! memory around its hot spots and its ports, and compares the pool's figures with those
//! from before: equal, but for the SC slot frames the most SCs at once needed
//! (`ledger.rs`).

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::machine_ctrl::{frames, objects};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::hypercall::{arg1, Hypercall};
use facet_abi::layout::{ROOT_SEL_PD, USER_ADDR};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{
    create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, ec_recall, lookup,
    pd_ctrl_delegate, pt_ctrl, revoke, sc_time, sm_up,
};

use super::ledger::Figures;
use super::proxy::{self, CHILDREN, CHILD_EVENTS, CHILD_SELF, CHILD_SELS, RESERVED};
use crate::suite::fixture::{LOAD, LOAD_FAR, LOAD_PAGES, LOAD_RAM, NO_PORTALS};
use crate::suite::rng::Rng;
use crate::suite::tools::map_from_kernel;
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;
use facet_rt::println;

const PD: u64 = ROOT_SEL_PD;
/// Hypercalls in the suite's run (the roottask's `leak-calls=N` asks for more).
pub const CALLS: u64 = 20_000;
/// Hot spots in the roottask's address space: 64 pages each.
const SPOTS: usize = 32;
const SPOT_ORDER: u8 = 6;
/// Ports the roottask takes from the kernel to hand on (and gives back at the end).
const PORTS: (u64, u8) = (0x2000, 8);

/// Hypercalls the load made (in the roottask and through the proxies), and how many
/// succeeded: for the run's summary line.
static MADE: AtomicU64 = AtomicU64::new(0);
static SUCCEEDED: AtomicU64 = AtomicU64::new(0);

/// Counts one hypercall of the load (or one step of several, such as making a child).
fn note<T>(r: Result<T, Status>) {
    MADE.fetch_add(1, Ordering::Relaxed);
    if r.is_ok() {
        SUCCEEDED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The selectors of the range the load named last: where it most likely made objects.
const RECENT: usize = 32;

/// The state of one run: the generator, the hot spots, the CPUs, the recent selectors.
struct Load {
    rng: Rng,
    spots: [u64; SPOTS],
    cpus: u64,
    vcpus: bool,
    recent: [u64; RECENT],
    next_recent: usize,
}

impl Load {
    /// A selector of the roottask's range where random objects go (remembered, so that
    /// later steps can name what was made there).
    fn sel(&mut self) -> u64 {
        let sel = LOAD.at(RESERVED + self.rng.below(LOAD.len() - RESERVED));
        self.recent[self.next_recent % RECENT] = sel;
        self.next_recent += 1;
        sel
    }

    /// A selector named lately, a fresh one of the range, a child or its proxy, or
    /// anything.
    fn any_sel(&mut self) -> u64 {
        match self.rng.below(8) {
            0 => LOAD.at(self.rng.below(RESERVED)),
            1 => self.rng.next() >> self.rng.below(64),
            2..=4 => self.recent[self.rng.below(RECENT as u64) as usize],
            _ => self.sel(),
        }
    }

    /// An aligned range of the roottask's selectors (order 0 to `max`).
    fn sel_range(&mut self, perms: u8, max: u8) -> Crd {
        let order = self.rng.below(max as u64 + 1) as u8;
        let base = self.sel() & !((1 << order) - 1);
        Crd::new(Kind::Object, base.max(LOAD.at(0)), order, perms)
    }

    /// An aligned range of a child's selectors (order 0 to 5).
    fn child_range(&mut self, perms: u8) -> Crd {
        let order = self.rng.below(6) as u8;
        let span = CHILD_SELS.1 - CHILD_SELS.0;
        let base = (CHILD_SELS.0 + self.rng.below(span)) & !((1 << order) - 1);
        Crd::new(Kind::Object, base.max(CHILD_SELS.0), order, perms)
    }

    /// A child.
    fn child(&mut self) -> u64 {
        self.rng.below(CHILDREN)
    }

    /// A page of the roottask near a hot spot.
    fn near_spot(&mut self) -> u64 {
        let spot = self.spots[self.rng.below(SPOTS as u64) as usize];
        spot + self.rng.below(1 << SPOT_ORDER) * 4096
    }

    /// A page anywhere in a child but its proxy's two.
    fn child_page(&mut self) -> u64 {
        loop {
            let page = (1 + self.rng.below((USER_ADDR >> 12) - 1)) << 12;
            if proxy::free_in_child(page) {
                return page;
            }
        }
    }

    /// A CPU that is online.
    fn cpu(&mut self) -> u64 {
        self.rng.below(self.cpus)
    }

    /// Random rights of `kind`.
    fn perms(&mut self) -> u8 {
        if self.rng.one_in(2) {
            perm::ALL
        } else {
            self.rng.below(32) as u8
        }
    }

    /// One random step.
    fn step(&mut self) {
        // Whatever each step answers is fine: what counts is the pool at the end.
        match self.rng.below(24) {
            0 => {
                let i = self.child();
                note(proxy::make(i));
            }
            1 => {
                // Its capabilities go to its selectors 0 onwards: not as far as the event
                // base of its threads.
                let perms = self.perms();
                let crd = self.sel_range(perms, 6);
                note(create_pd(self.sel(), PD, crd, false));
            }
            2 | 3 => self.create_ec(),
            4 => {
                let (sel, ec) = (self.sel(), self.any_sel());
                let prio = 1 + self.rng.below(126) as u8;
                note(create_sc(sel, PD, ec, prio, 1 + self.rng.below(20_000)));
            }
            5 => {
                let (sel, ec) = (self.sel(), self.any_sel());
                note(create_pt(sel, PD, ec, self.rng.next(), 0x1000));
            }
            6 => {
                let chain = if self.rng.one_in(4) {
                    self.any_sel()
                } else {
                    0
                };
                note(create_sm(self.sel(), PD, self.rng.below(4), chain));
            }
            7 => {
                let perms = self.perms();
                let crd = self.sel_range(perms, 8);
                note(revoke(crd, self.rng.one_in(2), None));
            }
            8 => {
                // In a child's space, from outside.
                let perms = self.perms();
                let crd = self.child_range(perms);
                note(revoke(
                    crd,
                    self.rng.one_in(2),
                    Some(proxy::pd(self.child())),
                ));
            }
            9 => {
                let order = self.rng.below(10) as u8;
                let page = self.near_spot() >> 12 & !((1 << order) - 1);
                note(revoke(
                    Crd::new(Kind::Memory, page, order, perm::ALL),
                    true,
                    None,
                ));
            }
            10 => {
                // Anything in a child, up to 2^20 pages (skipping what has no tables).
                let order = self.rng.below(21) as u8;
                let page = self.child_page() >> 12 & !((1 << order) - 1);
                let crd = Crd::new(Kind::Memory, page, order, perm::ALL);
                note(revoke(crd, true, Some(proxy::pd(self.child()))));
            }
            11 => self.objects_between(),
            12 | 13 => self.memory_into_child(),
            14 => self.memory_out_of_child(),
            15 => self.ports(),
            16..=20 => self.by_child(),
            21 => {
                note(sm_up(self.any_sel()));
                note(sc_time(self.any_sel()));
            }
            22 => {
                // Not the proxies' portals: their ids are their UTCBs' addresses.
                note(pt_ctrl(self.sel(), self.rng.next()));
                note(ec_recall(self.any_sel()));
            }
            _ => {
                note(lookup(Crd::new(Kind::Object, self.any_sel(), 0, perm::ALL)));
            }
        }
    }

    /// An EC in the roottask or a child: local or global, maybe a vCPU (in a child),
    /// its UTCB at a random address of its PD or near a hot spot of the roottask.
    fn create_ec(&mut self) {
        let sel = self.sel();
        let global = if self.rng.one_in(2) {
            ec_flags::GLOBAL
        } else {
            0
        };
        let cpu = self.cpu();
        if self.rng.one_in(4) {
            // In the roottask: it stops as it starts or faults (no portals).
            let utcb = self.near_spot();
            note(create_ec(sel, PD, global, cpu, utcb, 0, NO_PORTALS.base(0)));
            return;
        }
        let child = proxy::pd(self.child());
        let (flags, utcb) = match self.rng.below(8) {
            0 => (ec_flags::UTCB_IN_CALLER, self.near_spot()),
            1 if self.vcpus => (ec_flags::VCPU, 0),
            2 if self.vcpus => (ec_flags::VCPU, self.child_page()),
            3 => (0, 0),
            _ => (0, self.child_page()),
        };
        let flags = if flags == ec_flags::VCPU {
            flags
        } else {
            flags | global
        };
        note(create_ec(sel, child, flags, cpu, utcb, 0, CHILD_EVENTS));
    }

    /// Object capabilities from the roottask into a child, back, or between children.
    fn objects_between(&mut self) {
        let (a, b) = (proxy::pd(self.child()), proxy::pd(self.child()));
        let perms = self.perms();
        note(match self.rng.below(3) {
            0 => {
                let (from, to) = (self.sel_range(perms, 5), self.child_range(perms));
                pd_ctrl_delegate(PD, a, from, DELEGATE, to)
            }
            1 => {
                let (from, to) = (self.child_range(perms), self.sel_range(perms, 5));
                pd_ctrl_delegate(a, PD, from, DELEGATE, to)
            }
            _ => {
                let (from, to) = (self.child_range(perms), self.child_range(perms));
                pd_ctrl_delegate(a, b, from, DELEGATE, to)
            }
        });
    }

    /// Pages of the roottask's RAM into a child anywhere (its guest or device space
    /// too), with a random hot spot.
    fn memory_into_child(&mut self) {
        let order = self.rng.below(4) as u8;
        let first = LOAD_PAGES.addr(self.rng.below(16) & !((1 << order) - 1)) >> 12;
        let from = Crd::new(Kind::Memory, first, order, perm::MEM_ALL);
        let at = self.child_page();
        let order_to = order + self.rng.below(3) as u8;
        let rights = self.perms();
        let to_page = at >> 12 & !((1 << order_to) - 1);
        let to = Crd::new(Kind::Memory, to_page, order_to, rights);
        // Not over the proxy's pages.
        let span = (to.base() << 12, (to.base() + (1 << order_to)) << 12);
        let code = proxy::code_page();
        if (span.0..span.1).contains(&code) || (span.0..span.1).contains(&proxy::PROXY_UTCB) {
            return;
        }
        let hot = self.rng.below(1 << (order_to + 12));
        let sub = self.rng.below(8) << 8 & 0x700;
        let meta = DELEGATE | hot & !0xfff | sub;
        note(pd_ctrl_delegate(
            PD,
            proxy::pd(self.child()),
            from,
            meta,
            to,
        ));
    }

    /// A child's pages (whatever it has there) back into the roottask near a hot spot.
    fn memory_out_of_child(&mut self) {
        let order = self.rng.below(4) as u8;
        let from = Crd::new(Kind::Memory, self.child_page() >> 12, order, perm::MEM_ALL);
        let to_page = self.near_spot() >> 12 & !((1 << order) - 1);
        let to = Crd::new(Kind::Memory, to_page, order, perm::MEM_ALL);
        note(pd_ctrl_delegate(
            proxy::pd(self.child()),
            PD,
            from,
            DELEGATE,
            to,
        ));
    }

    /// Ports of the roottask into a child, between children, or taken back.
    fn ports(&mut self) {
        let order = self.rng.below(PORTS.1 as u64 + 1) as u8;
        let base = (PORTS.0 + self.rng.below(1 << PORTS.1)) & !((1 << order) - 1);
        let crd = Crd::new(Kind::Pio, base, order, self.rng.below(8) as u8);
        let (a, b) = (proxy::pd(self.child()), proxy::pd(self.child()));
        note(match self.rng.below(3) {
            0 => pd_ctrl_delegate(PD, a, crd, DELEGATE, crd).map(|_| ()),
            1 => pd_ctrl_delegate(a, b, crd, DELEGATE, crd).map(|_| ()),
            _ => revoke(crd, self.rng.one_in(2), Some(a)),
        });
    }

    /// A hypercall a child makes in its own space, with its capability to itself.
    fn by_child(&mut self) {
        let i = self.child();
        let sel = self.child_range(0).base();
        let other = self.child_range(0).base();
        let cpu = self.cpu();
        let args = match self.rng.below(10) {
            0 => [arg1(Hypercall::CreatePd, 0, sel), CHILD_SELF, 0, 0, 0],
            1 | 2 => {
                // A thread of its own (and its UTCB anywhere in it), or a vCPU.
                let global = self.rng.below(2);
                let utcb = self.child_page();
                let a1 = arg1(Hypercall::CreateEc, global, sel);
                [a1, CHILD_SELF, utcb | cpu, 0, CHILD_EVENTS]
            }
            3 => {
                let prio = 1 + self.rng.below(126);
                let a1 = arg1(Hypercall::CreateSc, 0, sel);
                [a1, CHILD_SELF, other, 1000 << 12 | prio, 0]
            }
            4 => [
                arg1(Hypercall::CreatePt, 0, sel),
                CHILD_SELF,
                other,
                0,
                0x1000,
            ],
            5 => [arg1(Hypercall::CreateSm, 0, sel), CHILD_SELF, 1, 0, 0],
            6 => {
                let perms = self.perms();
                let crd = self.child_range(perms);
                [arg1(Hypercall::Revoke, 1, 0), crd.0, 0, 0, 0]
            }
            7 => {
                // Its capabilities to itself, or to a PD it holds, elsewhere in its space.
                let perms = self.perms();
                let (from, to) = (self.child_range(perms), self.child_range(perm::ALL));
                let dst = if self.rng.one_in(2) {
                    CHILD_SELF
                } else {
                    other
                };
                [
                    arg1(Hypercall::PdCtrl, 2, CHILD_SELF),
                    dst,
                    from.0,
                    DELEGATE,
                    to.0,
                ]
            }
            8 => {
                // Its pages to another place in it.
                let (a, b) = (self.child_page(), self.child_page());
                let from = Crd::new(Kind::Memory, a >> 12, 0, perm::MEM_ALL);
                let to = Crd::new(Kind::Memory, b >> 12, 0, perm::MEM_ALL);
                [
                    arg1(Hypercall::PdCtrl, 2, CHILD_SELF),
                    CHILD_SELF,
                    from.0,
                    DELEGATE,
                    to.0,
                ]
            }
            _ => {
                let order = self.rng.below(21) as u8;
                let page = self.child_page() >> 12 & !((1 << order) - 1);
                let crd = Crd::new(Kind::Memory, page, order, perm::ALL);
                [arg1(Hypercall::Revoke, 1, 0), crd.0, 0, 0, 0]
            }
        };
        note(proxy::hypercall(i, args).and_then(|(s, _)| match s {
            Status::Success => Ok(()),
            s => Err(s),
        }));
    }
}

/// Random load of `calls` steps with `seed`, then everything revoked: the pool's figures
/// must be back where they were.
pub fn run(e: &Env, calls: u64, seed: u64) -> TestResult {
    let before = Figures::now()?;
    ensure!(
        before.unaccounted() == 0,
        "{} frames of no use",
        before.unaccounted()
    );
    map_from_kernel(
        LOAD_RAM.page(0),
        4,
        perm::MEM_ALL,
        LOAD_PAGES.window(),
        "RAM",
    )?;
    let ports = Crd::new(Kind::Pio, PORTS.0, PORTS.1, perm::ALL);
    ok(pd_ctrl_delegate(PD, PD, ports, FROM_KERNEL, ports), "ports")?;
    let mut rng = Rng(seed);
    let mut spots = [0; SPOTS];
    let far = LOAD_FAR.window();
    for s in spots.iter_mut() {
        let page = (far.page_number() + rng.below(far.len() >> 12)) & !((1 << SPOT_ORDER) - 1);
        *s = page.max(far.page_number()) << 12;
    }
    let mut load = Load {
        rng,
        spots,
        cpus: e.cpus(16),
        vcpus: e.vmx().is_some(),
        recent: [LOAD.at(RESERVED); RECENT],
        next_recent: 0,
    };
    for i in 0..CHILDREN {
        let _ = proxy::make(i);
    }
    MADE.store(0, Ordering::Relaxed);
    SUCCEEDED.store(0, Ordering::Relaxed);
    // The most the load held at once, sampled every thousand steps.
    let (mut most_used, mut most_pds, mut most_ecs) = (0, 0, 0);
    for n in 1..=calls {
        load.step();
        if n % 1000 == 0 || n == calls {
            let now = Figures::now()?;
            most_used = most_used.max(before.free.saturating_sub(now.free));
            most_pds = most_pds.max(now.live[objects::PD as usize]);
            most_ecs = most_ecs.max(now.live[objects::EC as usize]);
            if n % 100_000 == 0 {
                println!(
                    "leak: {n} steps, {} frames in use beyond the start, {} PDs alive",
                    before.free.saturating_sub(now.free),
                    now.live[objects::PD as usize]
                );
            }
        }
    }
    // Everything back: the range (the children with their last capabilities), the
    // memory around the hot spots, the RAM and the ports.
    ok(revoke(LOAD.crd(), true, None), "revoke the range")?;
    for &s in &load.spots {
        let crd = Crd::new(Kind::Memory, s >> 12, SPOT_ORDER, perm::ALL);
        ok(revoke(crd, true, None), "revoke a hot spot")?;
    }
    let ram = Crd::new(
        Kind::Memory,
        LOAD_PAGES.window().page_number(),
        4,
        perm::ALL,
    );
    ok(revoke(ram, true, None), "revoke the RAM")?;
    ok(revoke(ports, true, None), "revoke the ports")?;
    let after = Figures::now()?;
    println!(
        "leak: {calls} steps (seed {seed:#x}): {} hypercalls, {} succeeded; at most {most_used} \
         frames, {most_pds} PDs and {most_ecs} ECs at once; afterwards {} free frames of {} \
         ({} before), SC slot frames {} -> {} (for at most {} SCs at once)",
        MADE.load(Ordering::Relaxed),
        SUCCEEDED.load(Ordering::Relaxed),
        after.free,
        after.total,
        before.free,
        before.uses[frames::SC_SLOTS as usize],
        after.uses[frames::SC_SLOTS as usize],
        after.sc_peak,
    );
    after.back_to(&before)?;
    // Still healthy: a call through a fresh child's proxy answers.
    ok(proxy::make(0), "a child afterwards")?;
    let s = ok(
        proxy::hypercall(0, [arg1(Hypercall::CreateSm, 0, 0x40), CHILD_SELF, 0, 0, 0]),
        "its proxy",
    )?;
    ensure_eq!(s.0, facet_abi::status::Status::Success);
    ok(revoke(LOAD.crd(), true, None), "revoke the child")?;
    Figures::now()?.back_to(&before)
}
