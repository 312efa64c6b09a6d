//! `assign_pci`: give a PCI device's DMA to a Pd's device page table (IOMMU).
//!
//! ARG1[63:8] names the Pd, ARG2 the address where that Pd maps the device's PCI
//! configuration page (the proof of ownership, as for MSIs), ARG3 the reference's hint:
//! the requester id of a device whose remapping unit takes the assignment (a driver
//! passes its device's own). The checks and statuses are the reference's: BAD_CAP for a
//! non-Pd, BAD_DEV unless the Pd maps a configuration page of the MCFG region at ARG2,
//! BAD_DEV unless DMA remapping is on and the hint names a device a unit translates.
//! Then the device joins the Pd's domain (made on first use: its device page table and
//! a domain id), leaving any domain it was in; ABORT when memory or domain ids run out.

use facet_abi::hypercall::arg1_selector;
use facet_abi::status::Status;

use super::HcResult;
use crate::cap::lookup::object_out_of_line;
use crate::exec::CurrentFrame;
use crate::obj::pd::Pd;
use crate::obj::{with, Kind};

pub fn assign_pci(f: &mut CurrentFrame) -> HcResult {
    let pd = object_out_of_line(arg1_selector(f.rdi), Kind::Pd, 0)?;
    let rid = super::assign_gsi::device_rid(pd, f.rsi).ok_or(Status::BadDev)?;
    crate::iommu::unit_for(f.rdx).ok_or(Status::BadDev)?;
    let (table, did) = with::<Pd, _>(pd, |p| p.device_domain())
        .flatten()
        .ok_or(Status::Abort)?;
    crate::iommu::attach(rid as u16, table, did)
}
