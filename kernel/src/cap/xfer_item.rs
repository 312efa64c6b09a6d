//! One typed item: what a message or `pd_ctrl delegate` does with a capability range,
//! as the reference's `xfer_item`: translate it (name the receiver's own capability it
//! derives from), delegate it, or translate and delegate when there is nothing to
//! translate.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::{delegate as dflag, xfer};
use facet_kcore::capspace;

use super::delegation::{delegate_memory, delegate_objects, delegate_ports, ports_from_kernel};
use crate::obj::pd::Pd;
use crate::obj::spaces::{obj_space, pio_space, tools};
use crate::obj::{with, Handle};

/// Carries out the item `crd` with metadata `meta` from Pd `src` to Pd `dst`, with the
/// receiver's translate window `xlt` and delegate window `del`. Returns the resulting CRD
/// and metadata (the item's flags; bit 0 set where a translate-or-delegate delegated).
pub fn xfer_item(src: Handle, dst: Handle, crd: Crd, meta: u64, xlt: Crd, del: Crd) -> (Crd, u64) {
    let flags = meta & 0xfff;
    match meta & 3 {
        xfer::TRANSLATE => (translate(src, dst, crd, xlt), flags),
        xfer::TRANS_DELEGATE => {
            let t = translate(src, dst, crd, xlt);
            if t.kind() != Kind::Null {
                (t, flags)
            } else {
                (delegate(src, dst, crd, meta, del), flags | 1)
            }
        }
        xfer::DELEGATE => (delegate(src, dst, crd, meta, del), flags),
        _ => (Crd::NULL, flags),
    }
}

/// Delegation of `crd` into the window `del`; the hypervisor flag of a privileged sender
/// delegates from the kernel instead.
fn delegate(src: Handle, dst: Handle, crd: Crd, meta: u64, del: Crd) -> Crd {
    if crd.kind() != del.kind() {
        return Crd::NULL;
    }
    let from_kernel =
        meta & dflag::HYPERVISOR != 0 && with::<Pd, _>(src, |p| p.privileged).unwrap_or(false);
    match crd.kind() {
        Kind::Memory => delegate_memory((!from_kernel).then_some(src), dst, crd, del, meta),
        Kind::Pio if from_kernel => ports_from_kernel(dst, crd, del),
        Kind::Pio => delegate_ports(src, dst, crd, del),
        Kind::Object if from_kernel => {
            delegate_objects(crate::obj::kern::pd(), dst, crd, del, meta >> 12)
        }
        Kind::Object => delegate_objects(src, dst, crd, del, meta >> 12),
        Kind::Null => Crd::NULL,
    }
}

/// Translation of the capability at `crd`'s base (object and port capabilities; memory
/// is not translated in API 4.3): the receiver's capability, inside the window `xlt`,
/// that it derives from, with the sender's permissions (see `capspace::translate` for
/// the range answered).
fn translate(src: Handle, dst: Handle, crd: Crd, xlt: Crd) -> Crd {
    // A memory window translates nothing and hands the item back as it came, whatever
    // its kind: the reference's code does so since memory translation was removed (so a
    // translate-or-delegate into a memory window never delegates either).
    if xlt.kind() == Kind::Memory {
        return crd;
    }
    if crd.kind() != xlt.kind() {
        return Crd::NULL;
    }
    let (snd, rcv) = match crd.kind() {
        Kind::Object => (obj_space(src), obj_space(dst)),
        Kind::Pio => (pio_space(src), pio_space(dst)),
        _ => return Crd::NULL,
    };
    let (spaces, mem, _) = tools();
    match capspace::translate(
        &spaces,
        &mem,
        snd,
        crd.base(),
        crd.order() as u32,
        rcv,
        xlt.base(),
        xlt.order() as u32,
    ) {
        Some((base, order, cap)) => Crd::new(crd.kind(), base, order as u8, cap.perms),
        None => Crd::NULL,
    }
}
