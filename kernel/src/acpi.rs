//! Reading the firmware's ACPI tables at boot (parsers in `facet_kcore::acpi`): which
//! CPUs and I/O APICs exist, how ISA interrupts are wired, and the addresses the HIP
//! passes on to the roottask (root table, PM1 control blocks, PCI configuration space,
//! DMAR table, HPET).
//!
//! Every table is read through [`MappedPhys`], which refuses addresses the direct map
//! does not cover, so a firmware pointer into a hole yields a message, not a fault.

use facet_kcore::acpi::{facs, fadt, hpet, madt, mcfg, rsdp, sdt, AcpiError, Gas};
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

/// What entering a sleep state needs from the FADT: the FACS and the PM1 registers.
#[derive(Clone, Copy)]
struct SleepRegs {
    facs: Option<facs::Facs>,
    pm1a_evt: Option<Gas>,
    pm1b_evt: Option<Gas>,
    pm1a_cnt: Option<Gas>,
    pm1b_cnt: Option<Gas>,
}

static SLEEP: SpinLock<SleepRegs> = SpinLock::new(SleepRegs {
    facs: None,
    pm1a_evt: None,
    pm1b_evt: None,
    pm1a_cnt: None,
    pm1b_cnt: None,
});

/// The FACS's first 64 bytes as they were before a suspend wrote the waking vector.
static SAVED_FACS: SpinLock<[u8; facs::MIN_LEN as usize]> =
    SpinLock::new([0; facs::MIN_LEN as usize]);

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

/// Reads the tables; reports what it found or why it could not. Boot only.
#[link_section = ".init.text"]
pub fn init(info: &BootInfo) {
    let mem = MappedPhys;
    let found = info
        .rsdp
        .map(|r| r.addr)
        .and_then(|hint| rsdp::find(&mem, Some(hint)).ok());
    // UEFI firmware has no EBDA or BIOS area to scan: its RSDP comes from the tags.
    let scan = || {
        if info.efi {
            Err(AcpiError::RsdpNotFound)
        } else {
            rsdp::find(&mem, None)
        }
    };
    let r = match found.map_or_else(scan, Ok) {
        Ok(r) => r,
        Err(AcpiError::RsdpNotFound) if info.efi => {
            crate::println!(
                "acpi: no valid RSDP from the UEFI boot loader; continuing without ACPI tables"
            );
            return;
        }
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
                let found = x.facs.map(|a| facs::read(&mem, a));
                if let Some(Err(e)) = found {
                    crate::println!("acpi: {e}");
                }
                *SLEEP.lock() = SleepRegs {
                    facs: found.and_then(Result::ok),
                    pm1a_evt: x.pm1a_evt,
                    pm1b_evt: x.pm1b_evt,
                    pm1a_cnt: x.pm1a_cnt,
                    pm1b_cnt: x.pm1b_cnt,
                };
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
#[link_section = ".init.text"]
pub fn dmar() -> Option<facet_kcore::acpi::dmar::Dmar> {
    let at = FACTS.lock().dmar;
    if at == 0 {
        return None;
    }
    facet_kcore::acpi::dmar::parse(&MappedPhys, at).ok()
}

/// The APIC ids of the usable CPUs the MADT lists, and how many more it lists than
/// `out` (the HIP's CPU count) holds (None without a MADT). The bootstrap CPU is always
/// among them.
#[link_section = ".init.text"]
pub fn cpu_apic_ids(out: &mut [u32; 64]) -> Option<(usize, usize)> {
    let m = MADT.lock();
    let m = m.as_ref()?;
    let bsp = crate::arch::lapic::id();
    let usable = m.cpus().iter().filter(|c| c.enabled).map(|c| c.apic_id);
    let listed = m.cpus().iter().any(|c| c.enabled && c.apic_id == bsp);
    let (n, dropped) = facet_kcore::topology::pick_cpus(usable, bsp, out);
    // The table's CPUs past what its parser keeps include the boot CPU if it was not
    // among the kept ones; it runs anyway.
    Some((
        n,
        dropped + m.dropped_cpus.saturating_sub(usize::from(!listed)),
    ))
}

/// The ACPI processor id of the CPU with this APIC id.
#[link_section = ".init.text"]
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
#[link_section = ".init.text"]
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

/// A PM1 register: system I/O, or system memory the direct map covers (others are not
/// supported, and a machine that has them cannot sleep through Facet).
fn reg_usable(g: &Gas) -> bool {
    match g.space_id {
        Gas::SYSTEM_IO => g.address <= 0xfffe,
        Gas::SYSTEM_MEMORY => crate::mem::kspace::is_mapped(g.address, g.address + 2),
        _ => false,
    }
}

fn reg_read(g: &Gas) -> u16 {
    match g.space_id {
        Gas::SYSTEM_IO => crate::arch::io::inw(g.address as u16),
        // SAFETY: `reg_usable` checked that the direct map covers the register.
        _ => unsafe {
            core::ptr::read_volatile(crate::mem::direct_map::virt(g.address) as *const u16)
        },
    }
}

fn reg_write(g: &Gas, v: u16) {
    match g.space_id {
        Gas::SYSTEM_IO => crate::arch::io::outw(g.address as u16, v),
        // SAFETY: as for `reg_read`; the PM1 registers are the firmware's to the kernel.
        _ => unsafe {
            core::ptr::write_volatile(crate::mem::direct_map::virt(g.address) as *mut u16, v)
        },
    }
}

/// Whether the machine can enter a sleep state the way the reference does: a FACS, and
/// PM1a control and status registers (and PM1b's, where there are) the kernel can reach.
pub fn can_sleep() -> bool {
    let s = *SLEEP.lock();
    let present = |g: Option<Gas>| g.is_none_or(|g| reg_usable(&g));
    s.facs
        .is_some_and(|f| crate::mem::kspace::is_mapped(f.addr, f.addr + 64))
        && s.pm1a_cnt.is_some_and(|g| reg_usable(&g))
        && s.pm1a_evt.is_some_and(|g| reg_usable(&g))
        && present(s.pm1b_cnt)
        && present(s.pm1b_evt)
}

/// The FACS's FIRMWARE_WAKING_VECTOR now (0 without a FACS).
pub fn waking_vector() -> u32 {
    let Some(f) = SLEEP.lock().facs else { return 0 };
    // SAFETY: `can_sleep` (which callers check first) found the FACS direct-mapped; a
    // u32 read at offset 12 stays inside its 64 bytes.
    unsafe {
        core::ptr::read_volatile(
            crate::mem::direct_map::virt(f.addr + facs::WAKING_VECTOR) as *const u32
        )
    }
}

/// Keeps a copy of the FACS and points its waking vector at `page` (real mode, below
/// 1 MiB); the 64-bit vector is cleared so that firmware uses this one.
pub fn set_waking_vector(page: u64) {
    let Some(f) = SLEEP.lock().facs else { return };
    let base = crate::mem::direct_map::virt(f.addr);
    // SAFETY: the FACS's 64 bytes are direct-mapped (`can_sleep`); the kernel is the only
    // writer (firmware reads it when the machine wakes).
    unsafe {
        core::ptr::copy_nonoverlapping(base as *const u8, SAVED_FACS.lock().as_mut_ptr(), 64);
        core::ptr::write_volatile((base + facs::WAKING_VECTOR) as *mut u32, page as u32);
        if f.version >= 1 {
            core::ptr::write_volatile((base + facs::X_WAKING_VECTOR) as *mut u64, 0);
        }
    }
}

/// Puts back the FACS as [`set_waking_vector`] found it (the roottask may read it).
pub fn restore_facs() {
    let Some(f) = SLEEP.lock().facs else { return };
    // SAFETY: as for `set_waking_vector`.
    unsafe {
        core::ptr::copy_nonoverlapping(
            SAVED_FACS.lock().as_ptr(),
            crate::mem::direct_map::virt(f.addr) as *mut u8,
            64,
        )
    };
}

/// Enters the sleep state SLP_TYPa/SLP_TYPb through PM1a and PM1b control (the caller
/// has checked [`can_sleep`] and flushed the caches). S3 turns the CPUs off here; a
/// sleep state that keeps them (S1) returns once WAK_STS says the machine woke. Returns
/// false if the machine did neither within about five seconds (`tsc_khz` ticks per ms).
pub fn enter_sleep(slp_typa: u8, slp_typb: u8, tsc_khz: u64) -> bool {
    let s = *SLEEP.lock();
    let (Some(cnt_a), Some(evt_a)) = (s.pm1a_cnt, s.pm1a_evt) else {
        return false;
    };
    // WAK_STS is write-one-to-clear.
    reg_write(&evt_a, facs::WAK_STS);
    if let Some(evt_b) = s.pm1b_evt {
        reg_write(&evt_b, facs::WAK_STS);
    }
    let a = facs::sleep_control(reg_read(&cnt_a), slp_typa);
    let b = s
        .pm1b_cnt
        .map(|g| (g, facs::sleep_control(reg_read(&g), slp_typb)));
    reg_write(&cnt_a, a);
    if let Some((g, v)) = b {
        reg_write(&g, v);
    }
    let end = crate::arch::cpu::tsc() + tsc_khz.max(1) * 5000;
    while crate::arch::cpu::tsc() < end {
        if reg_read(&evt_a) & facs::WAK_STS != 0 {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}
