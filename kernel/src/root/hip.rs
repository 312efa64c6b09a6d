//! Building the Hypervisor Information Page for the roottask: the facts gathered here
//! (CPUs, I/O APICs, frequencies, ACPI, memory), placed by `facet_kcore::hip::fill`,
//! which has the layout and the order of the memory descriptors.

use facet_abi::config::NUM_CPU;
use facet_abi::hip::{self, IoapicDesc};
use facet_kcore::bootinfo::BootInfo;
use facet_kcore::hip::{fill, Cpu, Machine};

use crate::mem::init::Plan;

/// Fills `page` with the HIP.
#[link_section = ".init.text"]
pub fn build(page: &mut [u8], info: &BootInfo, plan: &Plan, image: (u64, u64)) {
    let mut cpus = [Cpu::default(); NUM_CPU];
    let count = (crate::smp::count() as usize).min(NUM_CPU);
    for (n, cpu) in cpus[..count].iter_mut().enumerate() {
        let apic_id = crate::smp::apic_id(n as u32);
        *cpu = Cpu {
            apic_id,
            acpi_id: crate::acpi::acpi_id(apic_id),
        };
    }
    let (list, ioapic_count) = crate::arch::ioapic::list();
    let mut ioapics = [IoapicDesc::default(); facet_abi::config::NUM_IOAPIC];
    for (d, io) in ioapics.iter_mut().zip(&list[..ioapic_count]) {
        *d = IoapicDesc {
            id: io.id,
            version: io.version,
            gsi_base: io.gsi_base,
            base: io.phys,
        };
    }
    let (per_package, cores) = crate::arch::cpu::package_counts();
    let (tsc_khz, bus_khz) = crate::arch::lapic::frequencies();
    let machine = Machine {
        features: crate::hip_features(),
        efi: info.efi,
        cpus: &cpus[..count],
        per_package,
        cores,
        ioapics: &ioapics[..ioapic_count],
        tsc_khz,
        bus_khz,
        acpi: crate::acpi::facts(),
        regions: info.regions(),
        modules: info.modules(),
        image,
        pool: (plan.pool.start, plan.pool.end),
    };
    if !fill(page, &machine) {
        crate::println!(
            "FACET WARNING: the HIP has room for {} memory descriptors; some were left out",
            hip::MAX_MEM_DESC
        );
    }
}
