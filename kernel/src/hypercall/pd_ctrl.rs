//! `pd_ctrl`: lookup, map_access_page, delegate and msr_access.

use facet_abi::args::{
    Delegate, DelegateOut, Lookup, LookupOut, MapAccessPage, MsrAccess, MsrAccessOut, PdCtrl,
};
use facet_abi::crd::{Crd, Kind as CrdKind};
use facet_abi::status::Status;
use facet_kcore::capspace;

use super::HcResult;
use crate::cap::lookup::object;
use crate::exec::CurrentFrame;
use crate::obj::pd::{self, Pd};
use crate::obj::spaces::{pio_space, tools};
use crate::obj::{with, Kind};

pub fn pd_ctrl(f: &mut CurrentFrame) -> HcResult {
    match f.args() {
        PdCtrl::Lookup(a) => lookup(f, a),
        PdCtrl::Delegate(a) => delegate(f, a),
        PdCtrl::MsrAccess(a) => msr_access(f, a),
        PdCtrl::MapAccessPage(a) => map_access_page(a),
    }
}

/// Maps the running Pd's APIC-access page into its guest-physical space at the page ARG2
/// names: a memory CRD of order 0 with exactly read and write rights, else BAD_PAR (the
/// reference's rule). Guest accesses to that page become APIC-access exits on VMX once
/// the VMM turns on APIC-access virtualization (MTD CTRL).
fn map_access_page(a: MapAccessPage) -> HcResult {
    let crd = a.crd;
    let rw = facet_abi::perm::MEM_R | facet_abi::perm::MEM_W;
    if crd.kind() != CrdKind::Memory || crd.perms() != rw || crd.order() != 0 {
        return Err(Status::BadPar);
    }
    let gpa = crd.base();
    if gpa >= 1 << 35 {
        return Err(Status::BadPar);
    }
    let cur = pd::current();
    let (page, table) =
        with::<Pd, _>(cur, |p| (p.apic_access_page(), p.guest_table())).ok_or(Status::BadCap)?;
    let (Some(page), Some(table)) = (page, table) else {
        return Err(crate::obj::OUT_OF_MEMORY);
    };
    let attrs = facet_kcore::paging::Attrs {
        write: true,
        execute: false,
        user: true,
        global: false,
        uncached: false,
    };
    let mut mem = crate::mem::kspace::phys();
    let mut frames = crate::mem::frames::PoolFrames::new(crate::mem::usage::Use::GuestTables);
    let mapped = table.remap(
        &mut mem,
        &mut frames,
        gpa << 12,
        Some((page, attrs)),
        facet_kcore::paging::PageSize::Size4K,
    );
    crate::vcpu::guest_tables_changed();
    frames.flushed();
    mapped.map(|_| ()).map_err(|_| crate::obj::OUT_OF_MEMORY)
}

/// ARG2 is a CRD; the answer replaces it: the capability found at its base (order 0:
/// Facet records single capabilities), or a null CRD. Memory is not recorded in API 4.3,
/// so a memory lookup is always null.
fn lookup(f: &mut CurrentFrame, a: Lookup) -> HcResult {
    let crd = a.crd;
    let found = match crd.kind() {
        // The running Pd's object space, as every hypercall's own lookup reaches it.
        CrdKind::Object => crate::cap::lookup::lookup(crd.base()),
        CrdKind::Pio if crd.base() < 1 << 16 => {
            let (spaces, mem, _) = tools();
            capspace::lookup(&spaces, &mem, pio_space(pd::current()), crd.base())
        }
        _ => None,
    };
    let crd = match found {
        // The range the capability was delegated in, as the reference answers its node.
        Some(c) => Crd::new(crd.kind(), c.range_base(crd.base()), c.order, c.perms),
        None => Crd::NULL,
    };
    f.answer(&LookupOut { crd });
    Ok(())
}

fn delegate(f: &mut CurrentFrame, a: Delegate) -> HcResult {
    let src = object(a.src, Kind::Pd, 0)?;
    let dst = object(a.dst, Kind::Pd, 0)?;
    // The destination CRD is both the translate and the delegate window, as in the
    // reference.
    let (crd, meta) = crate::cap::xfer_item::xfer_item(src, dst, a.crd, a.meta, a.window, a.window);
    f.answer(&DelegateOut { crd, meta });
    Ok(())
}

fn msr_access(f: &mut CurrentFrame, a: MsrAccess) -> HcResult {
    if !pd::current_is_passthrough() {
        return Err(Status::BadCap);
    }
    let (index, write) = (a.index, a.write);
    // Only what a driver or monitor on the host needs (`msr_policy`).
    if !facet_kcore::msr_policy::allowed(index, write) {
        return Err(Status::BadPar);
    }
    let r = if write {
        crate::arch::msr::write_checked(index, a.value)
    } else {
        crate::arch::msr::read_checked(index)
    };
    match r {
        Some(v) => {
            if !write {
                f.answer(&MsrAccessOut { value: v });
            }
            Ok(())
        }
        None => Err(Status::BadPar),
    }
}
