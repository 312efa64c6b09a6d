//! Typed items: capabilities a message carries. Each item in the sender's UTCB is a CRD
//! and a metadata word (kind in bits 1:0, flags, hotspot in bits 63:12); a delegation
//! lands in the receiver's delegate window (its UTCB header), and the receiver finds the
//! outcome of each item in its own UTCB's typed-item area, as in the reference. A
//! translation names, inside the receiver's translate window (UTCB word 1), the
//! receiver's own capability from which the sent one derives.

use facet_abi::crd::Crd;
use facet_abi::hypercall::delegate;

use crate::cap::xfer_item::xfer_item;
use crate::obj::Handle;
use crate::utcb;

/// Carries out the typed items of `src_utcb` (sent by Pd `src`) into Pd `dst`, writing
/// the results into `dst_utcb`.
#[inline(always)]
pub fn transfer(src: Handle, dst: Handle, src_utcb: u64, dst_utcb: u64) {
    let n = utcb::typed_count(src_utcb);
    if n != 0 && dst_utcb != 0 {
        transfer_items(src, dst, src_utcb, dst_utcb, n);
    }
}

#[inline(never)]
fn transfer_items(src: Handle, dst: Handle, src_utcb: u64, dst_utcb: u64, n: usize) {
    let xlt = Crd(utcb::translate_window(dst_utcb));
    let del = Crd(utcb::delegate_window(dst_utcb));
    for i in 0..n {
        let (c, meta) = utcb::typed_item(src_utcb, i);
        let (result, flags) = xfer_item(src, dst, Crd(c), meta, xlt, del);
        // The hypervisor flag is the sender's authority, never the receiver's: a
        // receiver that forwards or echoes what it got must not delegate from the kernel
        // because an unprivileged sender set the bit (the reference passes it on).
        utcb::set_typed_item(dst_utcb, i, result.0, flags & !delegate::HYPERVISOR);
    }
}
