//! `assign_gsi`: route a global system interrupt to its semaphore on a CPU.
//!
//! ARG1[63:8] names one of the kernel's interrupt semaphores (obtained by delegation
//! from the kernel), ARG3[31:0] the CPU, ARG3 bit 32 level-triggered and bit 33
//! active-low (applied with the override flag, ARG1 bit 4). ARG4 may name a semaphore to
//! chain to (~0: none; the interrupt semaphore itself: unchain). ARG2 names the device
//! for MSIs, which come with the IOMMU and PCI work: a GSI no I/O APIC serves is BAD_DEV.
//! The MSI address and data (zero for I/O APIC pins) come back in ARG2 and ARG3.

use facet_abi::hypercall::{arg1_flags, arg1_selector};
use facet_abi::status::Status;

use super::caps::object;
use super::HcResult;
use crate::arch::ioapic;
use crate::arch::regs::Frame;
use crate::obj::sm::Sm;
use crate::obj::{with, Kind};

pub fn assign_gsi(f: &mut Frame) -> HcResult {
    let cpu = f.rdx as u32;
    if !crate::cpu_online(cpu) {
        return Err(Status::BadCpu);
    }
    let sm = object(arg1_selector(f.rdi), Kind::Sm, 0)?;
    let gsi = match with::<Sm, _>(sm, |s| s.gsi) {
        Some(g) if g != 0 => g - 1,
        _ => return Err(Status::BadCap),
    };
    if f.rax != u64::MAX {
        let si = object(f.rax, Kind::Sm, 0)?;
        if si == sm {
            with::<Sm, _>(sm, |s| s.chained = 0);
            return Ok(());
        }
        if with::<Sm, _>(si, |s| s.gsi != 0).unwrap_or(true) {
            return Err(Status::BadCap);
        }
        // Chaining to a semaphore takes a reference, as creation with a chain does.
        crate::obj::get(si);
        let old = with::<Sm, _>(sm, |s| core::mem::replace(&mut s.chained, si)).unwrap_or(0);
        if old != 0 {
            crate::obj::put(old);
        }
    }
    if arg1_flags(f.rdi) & 1 != 0 {
        ioapic::set_mode(gsi, f.rdx & (1 << 32) != 0, f.rdx & (1 << 33) != 0);
    }
    if !ioapic::route(gsi, crate::smp::apic_id(cpu)) {
        return Err(Status::BadDev);
    }
    f.rsi = 0;
    f.rdx = 0;
    Ok(())
}
