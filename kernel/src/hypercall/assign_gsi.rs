//! `assign_gsi`: route a global system interrupt to its semaphore on a CPU.
//!
//! ARG1[63:8] names one of the kernel's interrupt semaphores (obtained by delegation
//! from the kernel), ARG3[31:0] the CPU, ARG3 bit 32 level-triggered and bit 33
//! active-low (applied with the override flag, ARG1 bit 4). ARG4 may name a semaphore to
//! chain to (~0: none; the interrupt semaphore itself: unchain).
//!
//! A GSI no I/O APIC serves is an MSI: ARG2 names the device by the address where the
//! caller mapped its PCI configuration page (from the MCFG region), which proves that
//! the caller owns the device, as in the reference; anything else is BAD_DEV. The MSI
//! address and data come back in ARG2 and ARG3 for the driver to program; for an I/O
//! APIC pin both are zero.
//!
//! Without interrupt remapping the MSI names the CPU's local APIC (physical destination)
//! and the GSI's vector (edge-triggered), and the pin's redirection entry the CPU. With
//! it (`iommu`), the GSI's entry in the interrupt remapping table names vector and CPU
//! and the one requester allowed to use it (the device, or the pin's I/O APIC); the MSI
//! (and the redirection entry) only name the entry, in the remappable format, as the
//! reference's do.

use facet_abi::hypercall::{arg1_flags, arg1_selector};
use facet_abi::status::Status;

use super::HcResult;
use crate::arch::ioapic;
use crate::cap::lookup::object_out_of_line;
use crate::exec::CurrentFrame;
use crate::obj::sm::Sm;
use crate::obj::{with, Kind};

pub fn assign_gsi(f: &mut CurrentFrame) -> HcResult {
    let cpu = f.rdx as u32;
    if !crate::smp::online(cpu) {
        return Err(Status::BadCpu);
    }
    let sm = object_out_of_line(arg1_selector(f.rdi), Kind::Sm, 0)?;
    let gsi = match with::<Sm, _>(sm, |s| s.gsi) {
        Some(g) if g != 0 => g - 1,
        _ => return Err(Status::BadCap),
    };
    // Every check comes before any change: a call that fails changes nothing.
    let chain = match f.rax {
        u64::MAX => None,
        sel => {
            let si = object_out_of_line(sel, Kind::Sm, 0)?;
            // The interrupt semaphore itself unchains; any other must be an ordinary
            // semaphore that is not chained itself: chains stay one level deep, as
            // `create_sm` keeps them (the reference does not check here, and an
            // interrupt semaphore and one created chained to it could hold each other
            // for good).
            if si != sm && with::<Sm, _>(si, |s| s.gsi != 0 || s.chained != 0).unwrap_or(true) {
                return Err(Status::BadCap);
            }
            Some(si)
        }
    };
    // Naming the interrupt semaphore itself unchains it and is all the call does, as in
    // the reference.
    if chain == Some(sm) {
        rechain(sm, 0);
        return Ok(());
    }
    let apic_id = crate::smp::apic_id(cpu);
    let pin = ioapic::serves(gsi);
    let rid = if pin {
        0
    } else {
        device_rid(crate::obj::pd::current(), f.rsi).ok_or(Status::BadDev)?
    };
    let remapped = crate::iommu::remaps_interrupts();
    if remapped && apic_id > 0xff && !crate::arch::lapic::x2apic() {
        return Err(Status::BadCpu);
    }
    if let Some(si) = chain {
        rechain(sm, si);
    }
    if !pin {
        (f.rsi, f.rdx) = if remapped {
            // Cannot fail: interrupt remapping is on, the GSI has an entry and the CPU's
            // APIC id fits the entries' format (checked above).
            crate::iommu::route_msi(gsi, rid as u16, apic_id).unwrap_or((0, 0))
        } else {
            (
                MSI_ADDRESS | (apic_id as u64 & 0xff) << 12,
                ioapic::VECTOR_BASE as u64 + gsi as u64,
            )
        };
        return Ok(());
    }
    if arg1_flags(f.rdi) & 1 != 0 {
        ioapic::set_mode(gsi, f.rdx & (1 << 32) != 0, f.rdx & (1 << 33) != 0);
    }
    if remapped {
        // The entry first, then the pin that names it is unmasked.
        let _ =
            crate::iommu::route_pin(gsi, ioapic::id_serving(gsi), apic_id, ioapic::is_level(gsi));
        ioapic::route_remapped(gsi);
    } else {
        // Cannot fail: an I/O APIC serves the GSI.
        ioapic::route(gsi, apic_id);
    }
    f.rsi = 0;
    f.rdx = 0;
    Ok(())
}

/// Chains interrupt semaphore `sm` to `to` (0: unchains). The chain holds a reference
/// to the semaphore it signals, as creation with a chain does; the old one's goes.
fn rechain(sm: crate::obj::Handle, to: crate::obj::Handle) {
    if to != 0 {
        crate::obj::get(to);
    }
    let old = with::<Sm, _>(sm, |s| core::mem::replace(&mut s.chained, to)).unwrap_or(0);
    if old != 0 {
        crate::obj::put(old);
    }
}

/// The base of the MSI address window (local APIC interrupts).
const MSI_ADDRESS: u64 = 0xfee0_0000;

/// The PCI requester id (bus, device, function) of the device whose configuration page
/// Pd `pd` has mapped at `va`, if it has.
pub fn device_rid(pd: crate::obj::Handle, va: u64) -> Option<u32> {
    let facts = crate::acpi::facts();
    let pt = with::<crate::obj::pd::Pd, _>(pd, |p| p.page_table())?;
    let mem = crate::mem::kspace::phys();
    if va >= facet_abi::layout::USER_ADDR {
        return None;
    }
    let (phys, attrs, _) = pt.translate(&mem, va & !0xfff)?;
    if !attrs.user {
        return None;
    }
    let offset = (phys & !0xfff).checked_sub(facts.mcfg_base)?;
    (offset < facts.mcfg_size).then(|| (facts.pci_bus_start << 8) + (offset / 4096) as u32)
}
