//! Running code in a child protection domain: each attempt is a call through a new
//! portal of the roottask to a new handler Ec in the child (a handler that faults is
//! gone, so every attempt gets its own). The code is a page of hand-written assembly
//! that the child gets at the same address.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::entry::{addr, Entry};
use facet_rt::hypercall::{call, create_ec, create_pd, create_pt, ec_flags, pd_ctrl_delegate};
use facet_rt::utcb::Utcb;

use super::fixture::{Pages, Sels, NO_PORTALS};
use super::tools::revoke_all;
use super::{ok, TestResult};

/// A child PD at the first of `sels`; attempt `i` has its handler Ec at `1 + 2i` and
/// its portal (in the roottask) at `2 + 2i`, and the handler's UTCB at page `i` of
/// `utcbs` (addresses in the child).
pub struct Child {
    sels: Sels,
    utcbs: Pages,
}

impl Child {
    pub const fn new(sels: Sels, utcbs: Pages) -> Child {
        Child { sels, utcbs }
    }

    /// The child's PD.
    pub const fn pd(&self) -> u64 {
        self.sels.at(0)
    }

    /// Creates the PD (no capabilities) and hands it the code page of `code` at the
    /// same address, readable and executable.
    pub fn create(&self, code: Entry) -> TestResult {
        ok(
            create_pd(self.pd(), ROOT_SEL_PD, Crd::NULL, false),
            "create_pd",
        )?;
        let page = Crd::new(Kind::Memory, addr(code) >> 12, 0, perm::MEM_R | perm::MEM_X);
        ok(
            pd_ctrl_delegate(ROOT_SEL_PD, self.pd(), page, DELEGATE, page).map(|_| ()),
            "code into the child",
        )
    }

    /// The handler Ec of attempt `i` at `entry` (no exception portals) and its portal;
    /// the portal's selector.
    pub fn prepare(&self, i: u64, entry: Entry) -> Result<u64, Status> {
        let (ec, pt) = (self.sels.at(1 + 2 * i), self.sels.at(2 + 2 * i));
        create_ec(
            ec,
            self.pd(),
            0,
            0,
            self.utcbs.addr(i),
            0,
            NO_PORTALS.base(0),
        )?;
        create_pt(pt, ROOT_SEL_PD, ec, 0, addr(entry))?;
        Ok(pt)
    }

    /// Like [`prepare`](Self::prepare), but the handler's UTCB lies in the roottask at
    /// `utcb` (`ec_flags::UTCB_IN_CALLER`), where the roottask reads and writes it.
    pub fn prepare_utcb_in_roottask(
        &self,
        i: u64,
        utcb: Utcb,
        entry: Entry,
    ) -> Result<u64, Status> {
        let (ec, pt) = (self.sels.at(1 + 2 * i), self.sels.at(2 + 2 * i));
        create_ec(
            ec,
            self.pd(),
            ec_flags::UTCB_IN_CALLER,
            0,
            utcb.addr(),
            0,
            NO_PORTALS.base(0),
        )?;
        create_pt(pt, ROOT_SEL_PD, ec, 0, addr(entry))?;
        Ok(pt)
    }

    /// Attempt `i`: calls `entry` in the child. SUCCESS if the handler replied, ABORT if
    /// it faulted.
    pub fn call(&self, i: u64, entry: Entry) -> Result<(), Status> {
        call(self.prepare(i, entry)?)
    }

    /// Revokes the portals and handlers of `attempts` attempts, then the PD.
    pub fn revoke(&self, attempts: u64) -> TestResult {
        let pts = (0..attempts).map(|i| self.sels.at(2 + 2 * i));
        let ecs = (0..attempts).map(|i| self.sels.at(1 + 2 * i));
        revoke_all(pts.chain(ecs).chain([self.pd()]))
    }
}
