//! Steps many tests take: naming an object, revoking what a test made, mapping RAM or
//! device pages from the kernel into a window, making handler ECs with their portals,
//! semaphores and threads.

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::{EVENT_STARTUP, ROOT_SEL_PD};
use facet_abi::{mtd, perm};
use facet_rt::entry::{addr, Entry};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, pd_ctrl_delegate, revoke,
};
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::{ok, Fail, TestResult};
use crate::FROM_KERNEL;

/// The object capability at `sel`, with every right.
pub fn obj(sel: u64) -> Crd {
    Crd::new(Kind::Object, sel, 0, perm::ALL)
}

/// Revokes each of the roottask's objects `sels` (the capability itself included).
pub fn revoke_all(sels: impl IntoIterator<Item = u64>) -> TestResult {
    for sel in sels {
        ok(revoke(obj(sel), true, None), "revoke")?;
    }
    Ok(())
}

/// Maps the 2^`order` physical pages from page number `page` into the roottask at
/// `at` with `rights` (delegated from the kernel: RAM the kernel does not use, or a
/// device's pages).
pub fn map_from_kernel(page: u64, order: u8, rights: u8, at: Window, what: &str) -> TestResult {
    let from = Crd::new(Kind::Memory, page, order, rights);
    let to = Crd::new(Kind::Memory, at.page_number(), order, rights);
    ok(
        pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, from, FROM_KERNEL, to),
        what,
    )
    .map(|_| ())
}

/// A local EC of the roottask that serves portals (calls, exceptions, start-ups, VM
/// exits), on CPU 0 and without exception portals of its own.
#[derive(Clone, Copy)]
pub struct Handler {
    pub ec: u64,
    pub utcb: Utcb,
}

impl Handler {
    pub const fn new(ec: u64, utcb: Utcb) -> Handler {
        Handler { ec, utcb }
    }

    /// Creates the EC.
    pub fn create(&self) -> TestResult {
        create_ec(self.ec, ROOT_SEL_PD, 0, 0, self.utcb.addr(), 0, 0)
            .map_err(|s| Fail::new(format_args!("handler EC {}: {}", self.ec, s.name())))
    }

    /// A portal at `sel` into it, entered at `entry`, whose messages carry the state
    /// `m` selects.
    pub fn portal(&self, sel: u64, m: u32, entry: Entry) -> TestResult {
        create_pt(sel, ROOT_SEL_PD, self.ec, m as u64, addr(entry))
            .map_err(|s| Fail::new(format_args!("portal {}: {}", sel, s.name())))
    }

    /// The start-up portal of event base `evt`, whose reply sets RIP and RSP.
    pub fn startup_portal(&self, evt: u64, entry: Entry) -> TestResult {
        self.portal(evt + EVENT_STARTUP, mtd::RIP_LEN | mtd::RSP, entry)
    }
}

/// Creates the semaphores `sels`, each with count 0.
pub fn semaphores(sels: impl IntoIterator<Item = u64>) -> TestResult {
    for sel in sels {
        create_sm(sel, ROOT_SEL_PD, 0, 0)
            .map_err(|s| Fail::new(format_args!("semaphore {}: {}", sel, s.name())))?;
    }
    Ok(())
}

/// Creates a global EC of the roottask at `ec` on CPU 0 (its UTCB at `utcb`, its event
/// base `evt`) and its SC at `sc` with the roottask's priority and a 1 ms quantum.
pub fn thread(ec: u64, utcb: u64, evt: u64, sc: u64) -> TestResult {
    create_ec(ec, ROOT_SEL_PD, ec_flags::GLOBAL, 0, utcb, 0, evt)
        .map_err(|s| Fail::new(format_args!("thread EC {}: {}", ec, s.name())))?;
    create_sc(sc, ROOT_SEL_PD, ec, 1, 1000)
        .map_err(|s| Fail::new(format_args!("thread SC {}: {}", sc, s.name())))
}
