//! Typed items: capabilities a message carries. Each item in the sender's UTCB is a CRD
//! and a metadata word (kind in bits 1:0, flags, hotspot in bits 63:12); a delegation
//! lands in the receiver's delegate window (its UTCB header), and the receiver finds the
//! outcome of each item in its own UTCB's typed-item area, as in the reference.
//! Translation (finding the receiver's own selector for a sent capability) is not built
//! yet and transfers nothing.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer;

use super::utcb;
use crate::hypercall::delegation::{delegate_memory, delegate_objects, delegate_ports};
use crate::obj::Handle;

/// Carries out the typed items of `src_utcb` (sent by Pd `src`) into Pd `dst`, writing
/// the results into `dst_utcb`.
pub fn transfer(src: Handle, dst: Handle, src_utcb: u64, dst_utcb: u64) {
    let n = utcb::typed_count(src_utcb);
    if n == 0 || dst_utcb == 0 {
        return;
    }
    let window = Crd(utcb::delegate_window(dst_utcb));
    for i in 0..n {
        let (c, meta) = utcb::typed_item(src_utcb, i);
        let crd = Crd(c);
        let result = if meta & 3 == xfer::DELEGATE && crd.kind() == window.kind() {
            match crd.kind() {
                Kind::Object => delegate_objects(src, dst, crd, window, meta >> 12),
                Kind::Pio => delegate_ports(src, dst, crd, window),
                Kind::Memory => delegate_memory(Some(src), dst, crd, window, meta),
                Kind::Null => Crd::NULL,
            }
        } else {
            Crd::NULL
        };
        utcb::set_typed_item(dst_utcb, i, result.0, meta & 0xfff);
    }
}
