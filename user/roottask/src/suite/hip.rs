//! The HIP as the kernel filled it: its header and checksum, the interface constants,
//! the memory map, the CPUs, ACPI and the clocks.

use facet_abi::hip::{self, off};
use facet_abi::perm;
use facet_rt::cpu::cpuid;

use super::fixture::{ACPI_PAGE, HIGH_PAGE};
use super::tools::map_from_kernel;
use super::{Env, Fail, TestResult};

pub fn signature_length_checksum(e: &Env) -> TestResult {
    let h = e.hip();
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

pub fn interface_constants(e: &Env) -> TestResult {
    let h = e.hip();
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

pub fn memory_descriptors(e: &Env) -> TestResult {
    let h = e.hip();
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
    if let Some(expected) = e.args.usable {
        ensure!(
            usable == expected,
            "usable memory {:#x}, expected {:#x}",
            usable,
            expected
        );
    } else {
        ensure!(usable > 256 << 20, "only {:#x} bytes usable", usable);
    }
    ensure_eq!(modules, e.args.modules);
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

/// Usable RAM above 4 GiB is in the HIP and works: its last page, delegated from the
/// kernel, keeps what is written to it. Required with `above4g`; without, the test
/// passes on a machine that has none.
pub fn memory_above_4g(e: &Env) -> TestResult {
    const G4: u64 = 1 << 32;
    let h = e.hip();
    let mut high = 0;
    let mut last = None;
    for i in 0..h.mem_count() {
        let m = h.mem(i);
        let end = m.addr.saturating_add(m.size) & !0xfff;
        if m.mem_type == hip::MEM_AVAILABLE && end > G4 {
            high += end - m.addr.max(G4);
            last = Some(end - 4096);
        }
    }
    let Some(page) = last else {
        ensure!(!e.args.above4g, "no usable memory above 4 GiB in the HIP");
        return Ok(());
    };
    let w = HIGH_PAGE.window();
    map_from_kernel(
        page >> 12,
        0,
        perm::MEM_R | perm::MEM_W,
        w,
        "map the last page above 4 GiB",
    )?;
    for (i, off) in [0u64, 8, 0x800, 0xff8].into_iter().enumerate() {
        w.write::<u64>(off, page ^ (0x5a5a_0000 + i as u64));
    }
    for (i, off) in [0u64, 8, 0x800, 0xff8].into_iter().enumerate() {
        ensure_eq!(w.read::<u64>(off), page ^ (0x5a5a_0000 + i as u64));
    }
    facet_rt::println!(
        "roottask: {} MiB usable above 4 GiB; page {:#x} read back",
        high >> 20,
        page
    );
    Ok(())
}

/// The HIP says whether the kernel was booted through UEFI firmware (`uefi`), as the
/// reference's feature flag does.
pub fn uefi_flag(e: &Env) -> TestResult {
    let features = e.hip().u32(off::API_FLG);
    ensure_eq!(features & hip::FEAT_UEFI != 0, e.args.uefi);
    Ok(())
}

pub fn boot_cpu_descriptor(e: &Env) -> TestResult {
    let c = e.hip().cpu(0);
    ensure_eq!(c.flags & 1, 1u8);
    let apic_id = cpuid(1, 0).1 >> 24;
    ensure_eq!(c.lapic[0], apic_id);
    Ok(())
}

pub fn cpus_online(e: &Env) -> TestResult {
    let online: usize = (0..facet_abi::config::NUM_CPU)
        .filter(|&i| e.hip().cpu(i).flags & 1 != 0)
        .count();
    if let Some(n) = e.args.cpus {
        ensure_eq!(online, n);
    }
    // Every online CPU has a distinct local APIC id and a distinct place (package,
    // core, thread).
    let place = |i: usize| {
        let c = e.hip().cpu(i);
        (c.package, c.core, c.thread)
    };
    for i in 0..online {
        for j in 0..i {
            ensure!(
                e.hip().cpu(i).lapic[0] != e.hip().cpu(j).lapic[0],
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
    let page = ACPI_PAGE.window();
    map_from_kernel(addr >> 12, 0, perm::MEM_R, page, "map an ACPI table")
        .map_err(|f| Fail::new(format_args!("at {:#x}: {}", addr, f.as_str())))?;
    ensure!(addr & 0xfff <= 0xffc, "table header crosses a page");
    let at = addr & 0xfff;
    Ok(core::array::from_fn(|i| page.read::<u8>(at + i as u64)))
}

pub fn acpi_tables(e: &Env) -> TestResult {
    let h = e.hip();
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
    if e.args.q35 {
        ensure_eq!(h.u64(off::MCFG_BASE), 0xb000_0000u64);
        ensure_eq!(h.u64(off::MCFG_SIZE), 0x1000_0000u64);
        let dmar = h.u64(off::DMAR_TABLE);
        ensure!(dmar != 0, "no DMAR table with an IOMMU present");
        ensure_eq!(&table_signature(dmar)?, b"DMAR");
    } else if e.args.uefi || e.args.s3 {
        // OVMF runs on q35, here without an IOMMU, as does the S3 tier.
        ensure_eq!(h.u64(off::MCFG_BASE), 0xb000_0000u64);
        ensure_eq!(h.u64(off::MCFG_SIZE), 0x1000_0000u64);
        ensure_eq!(h.u64(off::DMAR_TABLE), 0u64);
    } else if e.args.cpus.is_some() {
        // QEMU's pc machine has no MCFG and no DMAR.
        ensure_eq!(h.u64(off::MCFG_SIZE), 0u64);
        ensure_eq!(h.u64(off::DMAR_TABLE), 0u64);
    }
    Ok(())
}

pub fn frequencies(e: &Env) -> TestResult {
    let tsc = e.per_ms();
    let bus = e.hip().u32(off::FREQ_BUS) as u64;
    // Plausible machines: a TSC between 100 MHz and 10 GHz, an APIC timer clock below it.
    ensure!(
        (100_000..10_000_000).contains(&tsc),
        "TSC frequency {} kHz",
        tsc
    );
    ensure!(bus > 0 && bus <= 10_000_000, "bus frequency {} kHz", bus);
    Ok(())
}
