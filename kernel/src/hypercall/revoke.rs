//! `revoke`: take capabilities back.
//!
//! Object and port capabilities: the named permissions are removed from everything
//! delegated from the range, recursively, and from the range itself with the `self`
//! flag; capabilities left with no permission disappear (their objects die with the last
//! one). Memory: the range is unmapped from the named Pd only (API 4.3). With the
//! `remote` flag the range is taken from the Pd named by ARG3 instead of the caller. A
//! semaphore in ARG1[63:8] is signalled when the revocation is complete, which in Facet
//! is before the hypercall returns.

use facet_abi::args::Revoke;
use facet_abi::crd::Kind as CrdKind;
use facet_abi::perm;
use facet_kcore::capspace::{self, OBJECT_BITS, PORT_BITS};

use super::HcResult;
use crate::cap::delegation::unmap_memory;
use crate::cap::lookup::object;
use crate::exec::CurrentFrame;
use crate::obj::pd;
use crate::obj::spaces::{obj_space, pio_space, tools};
use crate::obj::Kind;

pub fn revoke(f: &mut CurrentFrame) -> HcResult {
    let a: Revoke = f.args();
    let (crd, include_self) = (a.crd, a.include_self);
    let target = match a.remote {
        Some(pd) => object(pd, Kind::Pd, 0)?,
        None => pd::current(),
    };
    let (mut spaces, mut mem, _) = tools();
    let (space, bits) = match crd.kind() {
        CrdKind::Object => (Some(obj_space(target)), OBJECT_BITS),
        CrdKind::Pio => (Some(pio_space(target)), PORT_BITS),
        CrdKind::Memory => {
            unmap_memory(target, crd.base(), crd.order() as u32);
            (None, 0)
        }
        CrdKind::Null => (None, 0),
    };
    if let Some(space) = space {
        // The range, clipped to the space (a CRD may name more than the space holds).
        let order = (crd.order() as u32).min(bits);
        let base = crd.base() & !((1u64 << order) - 1);
        if base < 1 << bits {
            let _ = capspace::revoke(
                &mut spaces,
                &mut mem,
                space,
                base,
                order,
                crd.perms(),
                include_self,
            );
        }
    }
    if a.sm != 0 {
        if let Ok(sm) = object(a.sm, Kind::Sm, perm::SM_UP) {
            // An `up`, as in the reference: a waiter wakes, or the counter counts it.
            crate::exec::semaphore::up(sm);
        }
    }
    Ok(())
}
