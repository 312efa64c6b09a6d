//! The ACPI tables themselves (ACPI 6.0 layouts), each built as bytes at a fixed offset
//! of one table area: RSDP, XSDT, FACS, DSDT, FADT and MADT. Builders write every field
//! the table has (reserved ones zero) and finish with the checksum, so that a table is
//! only ever seen complete.

use super::{
    dsdt_aml, AcpiLayout, MAX_VCPUS, PM1A_CONTROL_PORT, PM1A_EVENT_PORT, PM_TIMER_PORT, RESET_PORT,
    RESET_VALUE, SCI_IRQ,
};

const OEM_ID: &[u8; 6] = b"FACET ";
const OEM_TABLE_ID: &[u8; 8] = b"FACETVMM";
const CREATOR_ID: &[u8; 4] = b"FCET";
pub const HEADER_LEN: usize = 36;
pub const RSDP_LEN: usize = 36;
pub const FACS_LEN: usize = 64;
/// FADT of ACPI 6.0 (major revision 6), up to the hypervisor vendor identity.
pub const FADT_LEN: usize = 276;
/// MADT header: the common header, the local APIC address and the flags.
const MADT_FIXED_LEN: usize = HEADER_LEN + 8;

/// Little-endian field writes into a table.
pub struct Table<'a>(pub &'a mut [u8]);

impl Table<'_> {
    pub fn u8(&mut self, at: usize, v: u8) {
        self.0[at] = v;
    }
    pub fn u16(&mut self, at: usize, v: u16) {
        self.0[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }
    pub fn u32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    pub fn u64(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }
    pub fn bytes(&mut self, at: usize, v: &[u8]) {
        self.0[at..at + v.len()].copy_from_slice(v);
    }

    /// The common 36-byte header; the checksum comes last, from [`Table::seal`].
    fn header(&mut self, signature: &[u8; 4], length: usize, revision: u8) {
        self.bytes(0, signature);
        self.u32(4, length as u32);
        self.u8(8, revision);
        self.bytes(10, OEM_ID);
        self.bytes(16, OEM_TABLE_ID);
        self.u32(24, 1);
        self.bytes(28, CREATOR_ID);
        self.u32(32, 1);
    }

    /// Sets the byte at `at` so that the first `len` bytes sum to zero.
    fn seal(&mut self, at: usize, len: usize) {
        self.0[at] = 0;
        self.0[at] = checksum(&self.0[..len]);
    }

    /// A Generic Address Structure for system I/O space.
    fn io_gas(&mut self, at: usize, port: u16, bit_width: u8, access_size: u8) {
        self.u8(at, 1); // system I/O
        self.u8(at + 1, bit_width);
        self.u8(at + 2, 0);
        self.u8(at + 3, access_size);
        self.u64(at + 4, port as u64);
    }
}

/// The byte that makes `bytes` sum to zero (mod 256).
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)))
}

/// RSDP revision 2: points at the XSDT (no RSDT; every ACPI 2.0+ OS takes the XSDT).
pub fn rsdp(t: &mut Table, layout: &AcpiLayout) {
    t.bytes(0, b"RSD PTR ");
    t.bytes(9, OEM_ID);
    t.u8(15, 2);
    t.u32(16, 0);
    t.u32(20, RSDP_LEN as u32);
    t.u64(24, layout.xsdt);
    t.seal(8, 20);
    t.seal(32, RSDP_LEN);
}

/// XSDT: the FADT and the MADT (the DSDT and FACS hang off the FADT).
pub fn xsdt(t: &mut Table, layout: &AcpiLayout) {
    let len = HEADER_LEN + 16;
    t.header(b"XSDT", len, 1);
    t.u64(HEADER_LEN, layout.fadt);
    t.u64(HEADER_LEN + 8, layout.madt);
    t.seal(9, len);
}

/// FACS: required outside hardware-reduced ACPI; no waking vector (no S3), global lock
/// free. It has no checksum.
pub fn facs(t: &mut Table) {
    t.bytes(0, b"FACS");
    t.u32(4, FACS_LEN as u32);
    t.u8(32, 2);
}

/// DSDT: just the `\_S5` package (see [`dsdt_aml`]).
pub fn dsdt(t: &mut Table) {
    let aml = dsdt_aml();
    let len = HEADER_LEN + aml.len();
    t.header(b"DSDT", len, 2);
    t.bytes(HEADER_LEN, &aml);
    t.seal(9, len);
}

/// FADT flags: WBINVD works; C1 on every CPU; power and sleep buttons are not fixed
/// features (there are none); the RTC alarm is not a fixed wake event; the PM timer is
/// 32 bits; the reset register is valid; x2APIC (and xAPIC) physical destination mode.
pub const FADT_FLAGS: u32 = 1 | 1 << 2 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 10 | 1 << 19;
/// IA-PC boot architecture flags: legacy (ISA) devices, an 8042, no VGA, no MSIs.
pub const IAPC_BOOT_ARCH: u16 = 1 | 1 << 1 | 1 << 2 | 1 << 3;

/// FADT 6.0, not hardware-reduced: PM1a event and control blocks, the PM timer, SCI on
/// ISA IRQ 9, the reset register, no GPE blocks, no SMI command port (the machine is
/// always in ACPI mode), no C2/C3.
pub fn fadt(t: &mut Table, layout: &AcpiLayout) {
    t.header(b"FACP", FADT_LEN, 6);
    t.u32(36, layout.facs as u32);
    t.u32(40, layout.dsdt as u32);
    t.u16(46, SCI_IRQ as u16);
    t.u32(56, PM1A_EVENT_PORT as u32);
    t.u32(64, PM1A_CONTROL_PORT as u32);
    t.u32(76, PM_TIMER_PORT as u32);
    t.u8(88, 4); // PM1_EVT_LEN
    t.u8(89, 2); // PM1_CNT_LEN
    t.u8(91, 4); // PM_TMR_LEN
    t.u16(96, 101); // P_LVL2_LAT > 100: no C2
    t.u16(98, 1001); // P_LVL3_LAT > 1000: no C3
    t.u16(109, IAPC_BOOT_ARCH);
    t.u32(112, FADT_FLAGS);
    t.io_gas(116, RESET_PORT, 8, 1);
    t.u8(128, RESET_VALUE);
    t.u8(131, 0); // FADT minor version: 6.0
    t.u64(132, layout.facs);
    t.u64(140, layout.dsdt);
    t.io_gas(148, PM1A_EVENT_PORT, 32, 2);
    t.io_gas(172, PM1A_CONTROL_PORT, 16, 2);
    t.io_gas(208, PM_TIMER_PORT, 32, 3);
    t.seal(9, FADT_LEN);
}

/// MADT flag: the machine also has the PC-AT dual 8259 setup.
pub const MADT_PCAT_COMPAT: u32 = 1;
/// Processor Local APIC entry type and length.
const LOCAL_APIC: (u8, u8) = (0, 8);
/// Local APIC NMI entry type and length.
const LOCAL_APIC_NMI: (u8, u8) = (4, 6);

/// The MADT's length for `vcpus` processors.
pub fn madt_len(vcpus: u8) -> usize {
    MADT_FIXED_LEN + vcpus as usize * LOCAL_APIC.1 as usize + LOCAL_APIC_NMI.1 as usize
}

/// MADT: one enabled local APIC per vCPU (processor UID = APIC ID = index), NMI on
/// every processor's LINT1, the 8259s present; no I/O APIC.
pub fn madt(t: &mut Table, vcpus: u8) {
    debug_assert!((1..=MAX_VCPUS).contains(&vcpus));
    let len = madt_len(vcpus);
    t.header(b"APIC", len, 4);
    t.u32(36, super::LOCAL_APIC_ADDRESS);
    t.u32(40, MADT_PCAT_COMPAT);
    let mut at = MADT_FIXED_LEN;
    for id in 0..vcpus {
        t.u8(at, LOCAL_APIC.0);
        t.u8(at + 1, LOCAL_APIC.1);
        t.u8(at + 2, id); // ACPI processor UID
        t.u8(at + 3, id); // APIC ID
        t.u32(at + 4, 1); // enabled
        at += LOCAL_APIC.1 as usize;
    }
    t.u8(at, LOCAL_APIC_NMI.0);
    t.u8(at + 1, LOCAL_APIC_NMI.1);
    t.u8(at + 2, 0xff); // all processors
    t.u16(at + 3, 0); // polarity and trigger as the bus defines
    t.u8(at + 5, 1); // LINT1
    t.seal(9, len);
}
