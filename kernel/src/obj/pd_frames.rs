//! How many frames of the pool a Pd holds, part by part, for `machine_ctrl`'s
//! statistics: found by walking its tables, so that the figures cost nothing until asked
//! for and cannot drift from what the tables hold.

use facet_abi::hypercall::machine_ctrl::pd_frames as part;
use facet_kcore::paging::PageTable;

use super::pd::Pd;
use super::{with, Handle};
use crate::mem::cap_mem::CapMem;
use crate::mem::kspace;

/// The frames of Pd `pd` in `part` (`machine_ctrl::pd_frames`); `None` for a part there
/// is not.
pub fn frames(pd: Handle, which: u64) -> Option<u64> {
    let mem = kspace::phys();
    let (pml4, npt, dpt, obj, pio, access) =
        with::<Pd, _>(pd, |p| (p.pml4, p.npt, p.dpt, p.obj, p.pio, p.apic_access))?;
    // A table's root and the tables below it (the kernel half of a host table is the
    // kernel's, shared by every Pd).
    let table = |root: u64, last: usize| match root {
        0 => 0,
        root => 1 + PageTable { root }.tables_below(&mem, 0, last),
    };
    Some(match which {
        part::HOST => table(pml4, 255),
        part::GUEST => table(npt, 511),
        part::DEVICE => table(dpt, 511),
        part::OBJECT_SPACE => obj.frames(&CapMem),
        part::PORT_SPACE => pio.frames(&CapMem),
        // The two frames of the I/O bitmap, and the APIC-access page once made.
        part::OTHER => 2 + (access != 0) as u64,
        _ => return None,
    })
}
