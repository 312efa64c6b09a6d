//! `assign_pci`: give a PCI device's DMA to a Pd's device page table (IOMMU).
//!
//! ARG1[63:8] names the Pd, ARG2 the address where that Pd maps the device's PCI
//! configuration page (the proof of ownership, as for MSIs), ARG3 a hint naming the
//! device for the IOMMU. The checks are the reference's; with no IOMMU unit driving the
//! device (Facet drives none yet) the reference answers BAD_DEV after them, and so does
//! Facet.

use facet_abi::hypercall::arg1_selector;
use facet_abi::status::Status;

use super::HcResult;
use crate::cap::lookup::object;
use crate::exec::CurrentFrame;
use crate::obj::Kind;

pub fn assign_pci(f: &mut CurrentFrame) -> HcResult {
    let pd = object(arg1_selector(f.rdi), Kind::Pd, 0)?;
    super::assign_gsi::device_rid(pd, f.rsi).ok_or(Status::BadDev)?;
    // No IOMMU unit covers the device.
    Err(Status::BadDev)
}
