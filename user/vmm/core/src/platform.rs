//! The machine the guest is told about: ACPI tables for N vCPUs with local APICs and the
//! PC's 8259 pair (no I/O APIC, no PCI, no HPET), the ACPI power-management registers
//! that power it off, and the state the "firmware" leaves the local APICs in.
//!
//! Why this shape (`docs/vmm.md` gives the Linux functions behind each point):
//! - ACPI, not an MP table: Debian's kernels are built without `CONFIG_X86_MPPARSE`,
//!   and ACPI also carries the power-off (`\_S5` and PM1a control) and reset registers.
//! - Not hardware-reduced: hardware-reduced ACPI makes Linux replace the 8259 by a null
//!   PIC (`acpi_generic_reduced_hw_init`), and the 8259 is how COM1 and the PIT reach
//!   the guest here. So the FADT has PM1a event/control blocks and a PM timer, and the
//!   SCI is ISA IRQ 9 through the 8259.
//! - The local APICs start enabled in x2APIC mode, as firmware may leave them
//!   (`check_x2apic` then keeps x2APIC), and the FADT asks for physical destination mode.
//! - Time: CPUID offers KVM's kvmclock and nothing else (`cpuid`, `msr::Pvclock`), so
//!   Linux knows the TSC frequency without calibrating, runs its clock events on the
//!   local APICs' TSC-deadline timers and switches the PIT off (`apic_needs_pit`).
//! - The kernel needs `noapic` on its command line ([`KERNEL_PARAMETERS`]): with an MADT
//!   but no I/O APIC, only `skip_ioapic_setup` makes `setup_local_APIC` leave the boot
//!   CPU's LINT0 in ExtINT mode unmasked (the 8259's path in), and it also keeps
//!   `enable_IR_x2apic` from switching x2APIC off for lack of interrupt remapping.
//!
//! Tables live in the BIOS area at [`ACPI_TABLES`] (reserved in the e820 map, inside
//! the range Linux scans for the RSDP), so the RSDP is found with or without the zero
//! page's `acpi_rsdp_addr`.

mod acpi;
mod power;
#[cfg(test)]
mod tests;

pub use acpi::{checksum, FADT_FLAGS, IAPC_BOOT_ARCH};
pub use power::{
    dsdt_aml, PmAction, PmRegisters, PM1_SCI_EN, PM1_SLP_EN, PM_TIMER_HZ, S5_SLEEP_TYPE,
};

/// Where the ACPI tables go (guest-physical, in the reserved BIOS area).
pub const ACPI_TABLES: u64 = 0xe_0000;
/// Bytes the table area spans.
pub const ACPI_TABLES_SIZE: usize = 0x400;
/// vCPUs the generator describes at most.
pub const MAX_VCPUS: u8 = 8;

/// PM1a event block: status (2 bytes) at this port, enable (2 bytes) after it.
pub const PM1A_EVENT_PORT: u16 = 0x600;
/// PM1a control block (2 bytes): SCI_EN, SLP_TYP, SLP_EN.
pub const PM1A_CONTROL_PORT: u16 = 0x604;
/// The 32-bit ACPI PM timer (3.579545 MHz), read-only.
pub const PM_TIMER_PORT: u16 = 0x608;
/// Ports the PM registers occupy: 0x600..0x60c.
pub const PM_PORTS: core::ops::Range<u16> = 0x600..0x60c;
/// The SCI: ISA IRQ 9 on the 8259 (level-triggered, active high; Linux sets the ELCR).
pub const SCI_IRQ: u8 = 9;
/// The FADT reset register: the 8042's command port, with its "pulse reset" command;
/// Linux's keyboard-controller reset writes the same byte to the same port.
pub const RESET_PORT: u16 = 0x64;
pub const RESET_VALUE: u8 = 0xfe;
/// The local APICs' MMIO base the MADT names (unused in x2APIC mode).
pub const LOCAL_APIC_ADDRESS: u32 = 0xfee0_0000;
/// What the kernel's command line must contain for this machine (see the module doc;
/// `pci=off`: the machine has no PCI, and without it Linux reports a "fatal" lack of
/// configuration-space access).
pub const KERNEL_PARAMETERS: &str = "noapic pci=off";

/// IA32_APIC_BASE bits: bootstrap processor, x2APIC mode, global enable.
const APIC_BASE_BSP: u64 = 1 << 8;
const APIC_BASE_EXTD: u64 = 1 << 10;
const APIC_BASE_EN: u64 = 1 << 11;

/// IA32_APIC_BASE of vCPU `index` at reset: enabled, in x2APIC mode (as firmware may
/// leave it), the BSP flag on vCPU 0 only. APIC IDs are the vCPU indices.
pub fn initial_apic_base(index: u32) -> u64 {
    let bsp = if index == 0 { APIC_BASE_BSP } else { 0 };
    LOCAL_APIC_ADDRESS as u64 | APIC_BASE_EN | APIC_BASE_EXTD | bsp
}

/// Why the tables could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// The vCPU count is outside 1..=[`MAX_VCPUS`].
    BadVcpuCount(u8),
    /// Guest memory ends before the table area does.
    MemoryTooSmall(u64),
}

impl core::fmt::Display for PlatformError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Self::BadVcpuCount(n) => {
                write!(
                    f,
                    "platform: {n} vCPUs, the tables describe 1 to {MAX_VCPUS}"
                )
            }
            Self::MemoryTooSmall(n) => {
                write!(
                    f,
                    "platform: {n:#x} bytes of memory end before the ACPI tables"
                )
            }
        }
    }
}

/// Guest-physical addresses of the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcpiLayout {
    pub rsdp: u64,
    pub xsdt: u64,
    pub facs: u64,
    pub dsdt: u64,
    pub fadt: u64,
    pub madt: u64,
}

impl AcpiLayout {
    /// Fixed offsets in the area: RSDP first (16-byte aligned for the scan), FACS
    /// 64-byte aligned as it must be.
    pub const fn at(base: u64) -> Self {
        AcpiLayout {
            rsdp: base,
            xsdt: base + 0x40,
            facs: base + 0x80,
            dsdt: base + 0xc0,
            fadt: base + 0x100,
            madt: base + 0x240,
        }
    }
}

/// The table area's bytes for `vcpus` vCPUs, with the tables' addresses for `base`.
pub fn acpi_tables(vcpus: u8, base: u64) -> Result<[u8; ACPI_TABLES_SIZE], PlatformError> {
    if !(1..=MAX_VCPUS).contains(&vcpus) {
        return Err(PlatformError::BadVcpuCount(vcpus));
    }
    let layout = AcpiLayout::at(base);
    let mut area = [0u8; ACPI_TABLES_SIZE];
    acpi::rsdp(&mut slot(&mut area, base, layout.rsdp), &layout);
    acpi::xsdt(&mut slot(&mut area, base, layout.xsdt), &layout);
    acpi::facs(&mut slot(&mut area, base, layout.facs));
    acpi::dsdt(&mut slot(&mut area, base, layout.dsdt));
    acpi::fadt(&mut slot(&mut area, base, layout.fadt), &layout);
    acpi::madt(&mut slot(&mut area, base, layout.madt), vcpus);
    Ok(area)
}

/// The part of the area from the table at `address` on.
fn slot(area: &mut [u8], base: u64, address: u64) -> acpi::Table<'_> {
    acpi::Table(&mut area[(address - base) as usize..])
}

/// Writes the ACPI tables for `vcpus` vCPUs at [`ACPI_TABLES`] in `mem` (guest-physical
/// 0..mem.len()) and returns the RSDP's address, for the zero page.
pub fn write_acpi_tables(mem: &mut [u8], vcpus: u8) -> Result<u64, PlatformError> {
    let area = acpi_tables(vcpus, ACPI_TABLES)?;
    let start = ACPI_TABLES as usize;
    let too_small = PlatformError::MemoryTooSmall(mem.len() as u64);
    mem.get_mut(start..start + ACPI_TABLES_SIZE)
        .ok_or(too_small)?
        .copy_from_slice(&area);
    Ok(AcpiLayout::at(ACPI_TABLES).rsdp)
}
