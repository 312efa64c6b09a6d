//! The roottask's initial state and the HIP.

use facet_abi::hip::{self, off};
use facet_abi::layout::{ROOT_HIP_ADDR, ROOT_UTCB_ADDR};

use super::{Fail, TestResult};
use crate::args::Args;
use crate::world::World;

pub fn initial_registers(w: &World) -> TestResult {
    ensure_eq!(w.cpu, 0u64);
    ensure_eq!(w.hip_addr, ROOT_HIP_ADDR);
    Ok(())
}

pub fn utcb_mapped_zeroed_writable() -> TestResult {
    let p = ROOT_UTCB_ADDR as *mut u64;
    for i in 0..512 {
        // SAFETY: the kernel maps the UTCB read-write at this address.
        let v = unsafe { p.add(i).read_volatile() };
        ensure!(v == 0, "UTCB word {} is {:#x}, not zero", i, v);
    }
    // SAFETY: as above; the word is restored right after.
    unsafe {
        p.add(7).write_volatile(0x1234_5678_9abc_def0);
        ensure_eq!(p.add(7).read_volatile(), 0x1234_5678_9abc_def0u64);
        p.add(7).write_volatile(0);
    }
    Ok(())
}

pub fn hip_valid(w: &World) -> TestResult {
    let h = &w.hip;
    ensure_eq!(h.u32(off::SIGNATURE), hip::SIGNATURE);
    ensure!(
        h.is_valid(),
        "checksum or length wrong (length {})",
        h.u16(off::LENGTH)
    );
    ensure_eq!(
        h.u16(off::LENGTH) as usize,
        hip::MEM_DESC_OFFSET + h.mem_count() * hip::MEM_DESC_SIZE
    );
    Ok(())
}

pub fn hip_constants(w: &World) -> TestResult {
    let h = &w.hip;
    ensure_eq!(h.u32(off::API_VER), 4003u32);
    ensure_eq!(h.u32(off::SEL_NUM), 0x400_0000u32);
    ensure_eq!(h.u32(off::SEL_EXC), 32u32);
    ensure_eq!(h.u32(off::SEL_VMI), 256u32);
    ensure_eq!(h.u32(off::SEL_GSI), 192u32);
    ensure_eq!(h.u32(off::CFG_PAGE), 4096u32);
    ensure_eq!(h.u32(off::CFG_UTCB), 4096u32);
    ensure_eq!(h.u16(off::CPU_OFFS), 0x88u16);
    ensure_eq!(h.u16(off::CPU_SIZE), 48u16);
    ensure_eq!(h.u16(off::IOAPIC_OFFS), 0xc88u16);
    ensure_eq!(h.u16(off::MEM_OFFS), 0xd18u16);
    ensure_eq!(h.u16(off::MEM_SIZE), 24u16);
    Ok(())
}

pub fn hip_memory(w: &World, args: &Args) -> TestResult {
    let h = &w.hip;
    let mut usable = 0;
    let (mut modules, mut hypervisor) = (0, 0);
    let mut first_module = None;
    let mut kernel_image = None;
    for i in 0..h.mem_count() {
        let m = h.mem(i);
        match m.mem_type {
            1 => usable += m.size,
            hip::MEM_MB_MODULE => {
                modules += 1;
                first_module.get_or_insert(m);
            }
            hip::MEM_HYPERVISOR => {
                hypervisor += 1;
                kernel_image.get_or_insert(m);
            }
            _ => {}
        }
    }
    if let Some(expected) = args.usable {
        ensure!(
            usable == expected,
            "usable memory {:#x}, expected {:#x}",
            usable,
            expected
        );
    } else {
        ensure!(usable > 256 << 20, "only {:#x} bytes usable", usable);
    }
    ensure_eq!(modules, 1);
    ensure_eq!(hypervisor, 2);
    let m = first_module.ok_or_else(|| Fail::new(format_args!("no module")))?;
    ensure!(
        m.addr % 4096 == 0 && m.size > 0,
        "module 0 at {:#x} size {:#x}",
        m.addr,
        m.size
    );
    ensure!(m.aux != 0, "module 0 has no command line address");
    let k = kernel_image.ok_or_else(|| Fail::new(format_args!("no kernel entry")))?;
    ensure_eq!(k.addr, 0x20_0000u64);
    Ok(())
}

pub fn hip_cpu(w: &World) -> TestResult {
    let c = w.hip.cpu(0);
    ensure_eq!(c.flags & 1, 1u8);
    let apic_id = facet_rt_cpuid(1).1 >> 24;
    ensure_eq!(c.lapic[0], apic_id);
    Ok(())
}

/// CPUID leaf `leaf` as (eax, ebx, ecx, edx).
pub fn facet_rt_cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    super::cpu::cpuid(leaf, 0)
}

pub fn hip_cpus_online(w: &World, args: &Args) -> TestResult {
    let online: usize = (0..facet_abi::config::NUM_CPU)
        .filter(|&i| w.hip.cpu(i).flags & 1 != 0)
        .count();
    if let Some(n) = args.cpus {
        ensure_eq!(online, n);
    }
    // Every online CPU has a distinct local APIC id and a distinct place (package,
    // core, thread).
    let place = |i: usize| {
        let c = w.hip.cpu(i);
        (c.package, c.core, c.thread)
    };
    for i in 0..online {
        for j in 0..i {
            ensure!(
                w.hip.cpu(i).lapic[0] != w.hip.cpu(j).lapic[0],
                "CPUs {} and {} share an APIC id",
                i,
                j
            );
            ensure!(
                place(i) != place(j),
                "CPUs {} and {} share the place {:?}",
                i,
                j,
                place(i)
            );
        }
    }
    Ok(())
}

/// Reads the 4-byte signature of the ACPI table at physical `addr` by mapping its page.
fn table_signature(addr: u64) -> Result<[u8; 4], Fail> {
    use facet_abi::crd::{Crd, Kind};
    let va = crate::world::SCRATCH + 0x60_0000;
    let crd = Crd::new(Kind::Memory, addr >> 12, 0, facet_abi::perm::MEM_R);
    let window = Crd::new(Kind::Memory, va >> 12, 0, facet_abi::perm::MEM_R);
    facet_rt::hypercall::pd_ctrl_delegate(
        facet_abi::layout::ROOT_SEL_PD,
        facet_abi::layout::ROOT_SEL_PD,
        crd,
        crate::FROM_KERNEL,
        window,
    )
    .map_err(|s| Fail::new(format_args!("map {:#x}: {}", addr, s.name())))?;
    let at = va + (addr & 0xfff);
    ensure!(addr & 0xfff <= 0xffc, "table header crosses a page");
    // SAFETY: the page was just mapped readable at `va`.
    Ok(unsafe { (at as *const [u8; 4]).read_volatile() })
}

pub fn hip_acpi(w: &World, args: &Args) -> TestResult {
    let h = &w.hip;
    let root = h.u64(off::XSDT_RSDT_TABLE);
    ensure!(root != 0, "no root table in the HIP");
    let sig = table_signature(root)?;
    ensure!(
        &sig == b"RSDT" || &sig == b"XSDT",
        "root table signature {:?}",
        sig
    );
    // PM1a control block: a system-I/O register with an address.
    let gas = h.u32(off::PM1A_CNT);
    ensure!(
        gas & 0xff == 1 && h.u64(off::PM1A_CNT + 4) != 0,
        "PM1a_CNT {:#x} at {:#x}",
        gas,
        h.u64(off::PM1A_CNT + 4)
    );
    if args.q35 {
        ensure_eq!(h.u64(off::MCFG_BASE), 0xb000_0000u64);
        ensure_eq!(h.u64(off::MCFG_SIZE), 0x1000_0000u64);
        let dmar = h.u64(off::DMAR_TABLE);
        ensure!(dmar != 0, "no DMAR table with an IOMMU present");
        ensure_eq!(&table_signature(dmar)?, b"DMAR");
    } else if args.cpus.is_some() {
        // QEMU's pc machine has no MCFG and no DMAR.
        ensure_eq!(h.u64(off::MCFG_SIZE), 0u64);
        ensure_eq!(h.u64(off::DMAR_TABLE), 0u64);
    }
    Ok(())
}

pub fn hip_frequencies(w: &World) -> TestResult {
    let tsc = w.hip.u32(off::FREQ_TSC) as u64;
    let bus = w.hip.u32(off::FREQ_BUS) as u64;
    // Plausible machines: a TSC between 100 MHz and 10 GHz, an APIC timer clock below it.
    ensure!(
        (100_000..10_000_000).contains(&tsc),
        "TSC frequency {} kHz",
        tsc
    );
    ensure!(bus > 0 && bus <= 10_000_000, "bus frequency {} kHz", bus);
    Ok(())
}
