//! Pt: a portal, an entry point into a local Ec of a server, with the message transfer
//! descriptor (MTD) that says what state a call carries, an instruction pointer and the
//! portal id the server receives.

use super::{get, put, with, Destroy, Handle, Header, Kind, Object};
use facet_abi::status::Status;

/// A portal.
#[repr(C)]
pub struct Pt {
    hdr: Header,
    /// The local Ec that handles calls (a counted reference).
    pub ec: Handle,
    pub mtd: u64,
    pub ip: u64,
    /// Set with `pt_ctrl`; given to the handler with each call.
    pub id: u64,
}

impl Pt {
    /// Creates a portal into `ec`.
    pub fn create(ec: Handle, mtd: u64, ip: u64) -> Result<Handle, Status> {
        let h = super::alloc(Pt {
            hdr: Header::new(Kind::Pt),
            ec,
            mtd,
            ip,
            id: 0,
        })?;
        get(ec);
        Ok(h)
    }
}

impl Object for Pt {
    const KIND: Kind = Kind::Pt;
}

impl Destroy for Pt {
    fn destroy(h: Handle) {
        if let Some(ec) = with::<Pt, _>(h, |p| p.ec) {
            put(ec);
        }
    }
}
