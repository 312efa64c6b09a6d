//! Running code in a child protection domain: each attempt is a call through a new
//! portal of the roottask to a new handler Ec in the child (a handler that faults is
//! gone, so every attempt gets its own).

use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::status::Status;
use facet_rt::hypercall::{call, create_ec, create_pt};

/// An event base under which a child has no portals: a fault of its handler kills it,
/// and the call answers ABORT.
pub const NO_PORTALS: u64 = 60_000;

/// Calls `entry` in PD `child` through a new handler Ec at selector `ec` (its UTCB at
/// `utcb` in the child) and a new portal at selector `pt` in the roottask. SUCCESS if
/// the handler replied, ABORT if it faulted.
pub fn call_in_child(
    child: u64,
    ec: u64,
    pt: u64,
    utcb: u64,
    entry: unsafe extern "C" fn(),
) -> Result<(), Status> {
    create_ec(ec, child, 0, 0, utcb, 0, NO_PORTALS)?;
    create_pt(pt, ROOT_SEL_PD, ec, 0, entry as *const () as u64)?;
    call(pt)
}
