//! Reading the firmware's ACPI tables at boot (parsers in `facet_kcore::acpi`): which
//! CPUs and I/O APICs exist, how ISA interrupts are wired, and the addresses the HIP
//! passes on to the roottask (root table, PM1 control blocks, PCI configuration space,
//! DMAR table, HPET).
//!
//! Every table is read through [`MappedPhys`], which refuses addresses the direct map
//! does not cover, so a firmware pointer into a hole yields a message, not a fault.

use facet_kcore::acpi::{fadt, hpet, madt, mcfg, rsdp, sdt};
use facet_kcore::bootinfo::BootInfo;
use facet_kcore::phys::PhysRead;

use crate::sync::SpinLock;

/// What the roottask learns through the HIP (`facet_kcore::hip`).
pub use facet_kcore::hip::AcpiFacts as HipFacts;

static FACTS: SpinLock<HipFacts> = SpinLock::new(HipFacts {
    root_table: 0,
    pm1a_cnt: None,
    pm1b_cnt: None,
    pci_bus_start: 0,
    mcfg_base: 0,
    mcfg_size: 0,
    dmar: 0,
    hpet: 0,
});

static MADT: SpinLock<Option<madt::Madt>> = SpinLock::new(None);

/// The facts for the HIP.
pub fn facts() -> HipFacts {
    *FACTS.lock()
}

/// Physical memory the kernel's direct map covers.
pub struct MappedPhys;

impl PhysRead for MappedPhys {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else {
            return false;
        };
        crate::mem::kspace::is_mapped(addr, end) && crate::mem::kspace::phys().read(addr, buf)
    }
}

/// Reads the tables; reports what it found or why it could not.
pub fn init(info: &BootInfo) {
    let mem = MappedPhys;
    let found = info
        .rsdp
        .map(|r| r.addr)
        .and_then(|hint| rsdp::find(&mem, Some(hint)).ok());
    let r = match found.map_or_else(|| rsdp::find(&mem, None), Ok) {
        Ok(r) => r,
        Err(e) => {
            crate::println!("acpi: {e}; continuing without ACPI tables");
            return;
        }
    };
    let tables = match sdt::Tables::new(&mem, &r) {
        Ok(t) => t,
        Err(e) => {
            crate::println!("acpi: {e}; continuing without ACPI tables");
            return;
        }
    };
    let mut f = HipFacts {
        root_table: tables.root_addr(),
        ..HipFacts::default()
    };
    crate::println!(
        "acpi: RSDP revision {} at {:#x}, {} at {:#x} with {} tables",
        r.revision,
        r.addr,
        if tables.is_xsdt() { "XSDT" } else { "RSDT" },
        tables.root_addr(),
        tables.count()
    );
    if let Some(a) = tables.find(&mem, madt::SIGNATURE) {
        match madt::parse(&mem, a) {
            Ok(m) => {
                crate::println!(
                    "acpi: MADT: {} CPU(s), {} I/O APIC(s), {} override(s)",
                    m.cpus().len(),
                    m.ioapics().len(),
                    m.overrides().len()
                );
                *MADT.lock() = Some(m);
            }
            Err(e) => crate::println!("acpi: {e}"),
        }
    }
    if let Some(a) = tables.find(&mem, fadt::SIGNATURE) {
        match fadt::parse(&mem, a) {
            Ok(x) => {
                f.pm1a_cnt = x.pm1a_cnt;
                f.pm1b_cnt = x.pm1b_cnt;
            }
            Err(e) => crate::println!("acpi: {e}"),
        }
    }
    if let Some(a) = tables.find(&mem, mcfg::SIGNATURE) {
        match mcfg::parse(&mem, a) {
            Ok(m) => {
                if let Some(e) = m.entries().iter().find(|e| e.segment == 0) {
                    f.pci_bus_start = e.start_bus as u32;
                    f.mcfg_base = e.base + ((e.start_bus as u64) << 20);
                    f.mcfg_size = ((e.end_bus as u64 - e.start_bus as u64 + 1) << 8) * 4096;
                }
            }
            Err(e) => crate::println!("acpi: {e}"),
        }
    }
    if let Some(a) = tables.find(&mem, facet_kcore::acpi::dmar::SIGNATURE) {
        f.dmar = a;
        // The remapping units' registers are the kernel's, whether or not `iommu` turns
        // them on: a Pd that could program them would undo DMA isolation.
        match facet_kcore::acpi::dmar::parse(&mem, a) {
            Ok(d) => {
                for unit in d.drhds() {
                    for page in 0..1u64 << unit.size.min(4) {
                        crate::mem::claim_mmio(unit.base + page * 4096, "IOMMU unit");
                    }
                }
            }
            Err(e) => crate::println!("acpi: {e}"),
        }
    }
    if let Some(a) = tables.find(&mem, hpet::SIGNATURE) {
        if let Ok(h) = hpet::parse(&mem, a) {
            f.hpet = h.base;
        }
    }
    *FACTS.lock() = f;
}

/// The DMAR table, parsed again from where `init` found it (`None` without one, or if it
/// is malformed: `init` said why).
pub fn dmar() -> Option<facet_kcore::acpi::dmar::Dmar> {
    let at = FACTS.lock().dmar;
    if at == 0 {
        return None;
    }
    facet_kcore::acpi::dmar::parse(&MappedPhys, at).ok()
}

/// The APIC ids of the usable CPUs the MADT lists (None without a MADT).
pub fn cpu_apic_ids(out: &mut [u32; 64]) -> Option<usize> {
    let m = MADT.lock();
    let m = m.as_ref()?;
    let mut n = 0;
    for c in m.cpus().iter().filter(|c| c.enabled) {
        if n < out.len() {
            out[n] = c.apic_id;
            n += 1;
        }
    }
    Some(n)
}

/// The ACPI processor id of the CPU with this APIC id.
pub fn acpi_id(apic_id: u32) -> u32 {
    MADT.lock()
        .as_ref()
        .and_then(|m| {
            m.cpus()
                .iter()
                .find(|c| c.apic_id == apic_id)
                .map(|c| c.acpi_id)
        })
        .unwrap_or(0)
}

/// Registers the I/O APICs and ISA interrupt routing the MADT describes. Returns
/// `false` if there is no MADT (the caller then assumes the PC defaults).
pub fn setup_ioapics() -> bool {
    let m = MADT.lock();
    let Some(m) = m.as_ref() else { return false };
    for io in m.ioapics() {
        if crate::arch::ioapic::add(io.addr, io.id as u32, io.gsi_base).is_none() {
            crate::println!("acpi: I/O APIC at {:#x} could not be mapped", io.addr);
        }
    }
    for irq in 0..16u8 {
        let r = m.isa_irq(irq);
        crate::arch::ioapic::set_mode(r.gsi, r.level, r.active_low);
    }
    true
}
