//! Host tests: tables built byte by byte (modelled on what QEMU's pc and q35 machines
//! write) in simulated physical memory, hostile variants of each, and randomized
//! never-panic runs.
//!
//! Expected values are spelled as raw numbers from the specification's layouts, and the
//! builders write fields at their documented offsets, so a wrong parser offset cannot hide
//! behind a builder that shares it.

mod dmar;
mod facs;
mod fadt;
mod hpet;
mod machine;
mod madt;
mod mcfg;
mod random;
mod rsdp;
mod sdt;

use super::AcpiError;
use crate::phys::fake::Ram;
use crate::phys::PhysRead;
use std::vec::Vec;

/// Where QEMU puts the ACPI tables of a 128 MiB guest: [ACPI_BASE, ACPI_BASE + ACPI_SIZE).
const ACPI_BASE: u64 = 0x7fe_0000;
const ACPI_SIZE: usize = 0x2_0000;

/// Table addresses used throughout.
const DSDT: u64 = 0x7fe_0000;
const FACP: u64 = 0x7fe_1000;
const APIC: u64 = 0x7fe_2000;
const HPET: u64 = 0x7fe_3000;
const MCFG: u64 = 0x7fe_4000;
const DMAR: u64 = 0x7fe_5000;
const RSDT: u64 = 0x7fe_6000;
const XSDT: u64 = 0x7fe_7000;
const FACS: u64 = 0x7fe_9000;
/// A spare place for one-off tables.
const SPARE: u64 = 0x7fe_8000;

fn acpi_ram() -> Ram {
    Ram::new(ACPI_BASE, ACPI_SIZE)
}

/// Conventional memory and the BIOS area, for the RSDP scan: [0, 1 MiB).
fn low_ram() -> Ram {
    Ram::new(0, 0x10_0000)
}

/// Low memory plus the ACPI area, as in a real guest.
struct Machine {
    low: Ram,
    high: Ram,
}

impl Machine {
    fn new() -> Self {
        Machine {
            low: low_ram(),
            high: acpi_ram(),
        }
    }
    fn put(&mut self, addr: u64, bytes: &[u8]) {
        if addr >= ACPI_BASE {
            self.high.put(addr, bytes);
        } else {
            self.low.put(addr, bytes);
        }
    }
}

impl PhysRead for Machine {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        self.low.read(addr, buf) || self.high.read(addr, buf)
    }
}

/// Writes `bytes` at offset `off` of `t`, growing it if needed.
fn at(t: &mut Vec<u8>, off: usize, bytes: &[u8]) {
    if t.len() < off + bytes.len() {
        t.resize(off + bytes.len(), 0);
    }
    t[off..off + bytes.len()].copy_from_slice(bytes);
}

fn sum(b: &[u8]) -> u8 {
    b.iter().fold(0u8, |s, &x| s.wrapping_add(x))
}

/// A table of `len` bytes (at least the header) with the given signature and revision, a
/// QEMU-like OEM part, and its length and checksum already set; fill fields with [`at`]
/// and call [`seal`] again afterwards.
fn header(sig: &[u8; 4], revision: u8, len: usize) -> Vec<u8> {
    let mut t = std::vec![0u8; len.max(36)];
    at(&mut t, 0, sig);
    t[8] = revision;
    at(&mut t, 10, b"BOCHS ");
    at(&mut t, 16, b"BXPC");
    at(&mut t, 20, sig);
    at(&mut t, 24, &1u32.to_le_bytes());
    at(&mut t, 28, b"BXPC");
    at(&mut t, 32, &1u32.to_le_bytes());
    seal(&mut t);
    t
}

/// Sets the length field to the table's size and fixes the checksum.
fn seal(t: &mut [u8]) {
    let len = t.len() as u32;
    t[4..8].copy_from_slice(&len.to_le_bytes());
    fix(t);
}

/// Fixes the checksum only (keeps whatever the length field says).
fn fix(t: &mut [u8]) {
    t[9] = 0;
    t[9] = 0u8.wrapping_sub(sum(t));
}

/// A table holding `body` after the header.
fn table(sig: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = header(sig, revision, 36);
    t.extend_from_slice(body);
    seal(&mut t);
    t
}

/// A GAS as 12 bytes.
fn gas(space: u8, width: u8, offset: u8, access: u8, addr: u64) -> Vec<u8> {
    let mut g = std::vec![space, width, offset, access];
    g.extend_from_slice(&addr.to_le_bytes());
    g
}

fn le16(v: u16) -> [u8; 2] {
    v.to_le_bytes()
}
fn le32(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}
fn le64(v: u64) -> [u8; 8] {
    v.to_le_bytes()
}

// ---- RSDP ----

/// An ACPI 1.0 RSDP (revision 0, 20 bytes).
fn rsdp_v1(rsdt: u32) -> Vec<u8> {
    let mut r = b"RSD PTR ".to_vec();
    r.push(0);
    r.extend_from_slice(b"BOCHS ");
    r.push(0);
    r.extend_from_slice(&le32(rsdt));
    r[8] = 0u8.wrapping_sub(sum(&r));
    r
}

/// An ACPI 2.0+ RSDP (revision 2, 36 bytes).
fn rsdp_v2(rsdt: u32, xsdt: u64) -> Vec<u8> {
    let mut r = rsdp_v1(rsdt);
    r[15] = 2;
    r.extend_from_slice(&le32(36));
    r.extend_from_slice(&le64(xsdt));
    r.extend_from_slice(&[0, 0, 0, 0]);
    rsdp_fix(&mut r);
    r
}

/// Recomputes both RSDP checksums.
fn rsdp_fix(r: &mut [u8]) {
    r[8] = 0;
    r[8] = 0u8.wrapping_sub(sum(&r[..20]));
    if r.len() > 32 {
        r[32] = 0;
        r[32] = 0u8.wrapping_sub(sum(r));
    }
}

// ---- root tables ----

fn rsdt(entries: &[u32]) -> Vec<u8> {
    let body: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
    table(b"RSDT", 1, &body)
}

fn xsdt(entries: &[u64]) -> Vec<u8> {
    let body: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
    table(b"XSDT", 1, &body)
}

// ---- QEMU-like tables ----

/// A small DSDT (the AML is not looked at).
fn dsdt() -> Vec<u8> {
    table(b"DSDT", 1, &[0x10, 0x05, b'\\', b'_', b'S', b'B', b'_'])
}

/// MADT entry builders.
fn lapic(uid: u8, apic_id: u8, flags: u32) -> Vec<u8> {
    let mut e = std::vec![0, 8, uid, apic_id];
    e.extend_from_slice(&le32(flags));
    e
}
fn ioapic(id: u8, addr: u32, gsi_base: u32) -> Vec<u8> {
    let mut e = std::vec![1, 12, id, 0];
    e.extend_from_slice(&le32(addr));
    e.extend_from_slice(&le32(gsi_base));
    e
}
fn iso(irq: u8, gsi: u32, flags: u16) -> Vec<u8> {
    let mut e = std::vec![2, 10, 0, irq];
    e.extend_from_slice(&le32(gsi));
    e.extend_from_slice(&le16(flags));
    e
}
fn lapic_nmi(uid: u8, flags: u16, lint: u8) -> Vec<u8> {
    let mut e = std::vec![4, 6, uid];
    e.extend_from_slice(&le16(flags));
    e.push(lint);
    e
}
fn x2apic(uid: u32, x2apic_id: u32, flags: u32) -> Vec<u8> {
    let mut e = std::vec![9, 16, 0, 0];
    e.extend_from_slice(&le32(x2apic_id));
    e.extend_from_slice(&le32(flags));
    e.extend_from_slice(&le32(uid));
    e
}

/// A MADT with the given local APIC address, flags and entries.
fn madt_with(lapic_addr: u32, flags: u32, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&le32(lapic_addr));
    body.extend_from_slice(&le32(flags));
    for e in entries {
        body.extend_from_slice(e);
    }
    table(b"APIC", 3, &body)
}

/// QEMU's MADT for `-smp 2`: two local APICs, one I/O APIC, the ISA overrides (IRQ 0 to
/// GSI 2; the PCI IRQs 5, 9, 10, 11 level triggered, active high) and a LINT1 NMI for all.
fn qemu_madt() -> Vec<u8> {
    madt_with(
        0xfee0_0000,
        1,
        &[
            lapic(0, 0, 1),
            lapic(1, 1, 1),
            ioapic(0, 0xfec0_0000, 0),
            iso(0, 2, 0),
            iso(5, 5, 0xd),
            iso(9, 9, 0xd),
            iso(10, 10, 0xd),
            iso(11, 11, 0xd),
            lapic_nmi(0xff, 0, 1),
        ],
    )
}

/// QEMU's ACPI 1.0 FADT (`pc` machine, PIIX4 PM at 0x600): 116 bytes.
fn qemu_fadt_v1(dsdt: u32) -> Vec<u8> {
    let mut t = header(b"FACP", 1, 116);
    at(&mut t, 36, &le32(0)); // FACS: none here
    at(&mut t, 40, &le32(dsdt));
    at(&mut t, 46, &le16(9)); // SCI_INT
    at(&mut t, 48, &le32(0xb2)); // SMI_CMD
    at(&mut t, 52, &[0xf1, 0xf0]); // ACPI_ENABLE, ACPI_DISABLE
    at(&mut t, 56, &le32(0x600)); // PM1a_EVT_BLK
    at(&mut t, 64, &le32(0x604)); // PM1a_CNT_BLK
    at(&mut t, 76, &le32(0x608)); // PM_TMR_BLK
    at(&mut t, 80, &le32(0xafe0)); // GPE0_BLK
    at(&mut t, 88, &[4, 2, 0, 4, 4]); // PM1_EVT_LEN, PM1_CNT_LEN, PM2, PM_TMR, GPE0
    at(&mut t, 96, &le16(0xfff)); // P_LVL2_LAT: C2 not supported
    at(&mut t, 98, &le16(0xfff)); // P_LVL3_LAT
    at(&mut t, 108, &[0x32]); // CENTURY
    at(&mut t, 109, &le16(0xffff)); // reserved in 1.0: must not be read as boot flags
    at(&mut t, 112, &le32(0x80a5)); // WBINVD, PROC_C1, SLP_BUTTON, RTC_S4, PLATFORM_CLOCK
    seal(&mut t);
    t
}

/// QEMU's ACPI 5 FADT (`q35` machine, ICH9 PM at 0x600): 268 bytes with the X_ fields and
/// the reset register at 0xcf9.
fn qemu_fadt_v5(dsdt: u64) -> Vec<u8> {
    let mut t = header(b"FACP", 5, 268);
    at(&mut t, 36, &le32(FACS as u32)); // FIRMWARE_CTRL
    at(&mut t, 40, &le32(dsdt as u32));
    at(&mut t, 46, &le16(9));
    at(&mut t, 48, &le32(0xb2));
    at(&mut t, 52, &[0x02, 0x03]);
    at(&mut t, 56, &le32(0x600));
    at(&mut t, 64, &le32(0x604));
    at(&mut t, 76, &le32(0x608));
    at(&mut t, 80, &le32(0x620));
    at(&mut t, 88, &[4, 2, 0, 4, 16]);
    at(&mut t, 109, &le16(0x0002)); // IAPC_BOOT_ARCH: 8042
    at(&mut t, 112, &le32(0x84a5)); // as for revision 1, plus RESET_REG_SUP
    at(&mut t, 116, &gas(1, 8, 0, 0, 0xcf9)); // RESET_REG
    at(&mut t, 128, &[0x0f]); // RESET_VALUE
    at(&mut t, 131, &[1]); // minor version
    at(&mut t, 140, &le64(dsdt)); // X_DSDT
    at(&mut t, 148, &gas(1, 32, 0, 0, 0x600)); // X_PM1a_EVT_BLK
    at(&mut t, 172, &gas(1, 16, 0, 2, 0x604)); // X_PM1a_CNT_BLK
    at(&mut t, 208, &gas(1, 32, 0, 0, 0x608)); // X_PM_TMR_BLK
    at(&mut t, 220, &gas(1, 128, 0, 0, 0x620)); // X_GPE0_BLK
    seal(&mut t);
    t
}

/// QEMU q35's MCFG: one ECAM window at 0xb0000000 for buses 0..=255 of segment 0.
fn qemu_mcfg() -> Vec<u8> {
    mcfg_with(&[(0xb000_0000, 0, 0, 255)])
}

fn mcfg_with(entries: &[(u64, u16, u8, u8)]) -> Vec<u8> {
    let mut body = std::vec![0u8; 8];
    for &(base, seg, start, end) in entries {
        body.extend_from_slice(&le64(base));
        body.extend_from_slice(&le16(seg));
        body.extend_from_slice(&[start, end, 0, 0, 0, 0]);
    }
    table(b"MCFG", 1, &body)
}

/// QEMU's HPET table: one HPET at 0xfed00000.
fn qemu_hpet() -> Vec<u8> {
    let mut t = header(b"HPET", 1, 56);
    at(&mut t, 36, &le32(0x8086_a201));
    at(&mut t, 40, &gas(0, 0, 0, 0, 0xfed0_0000));
    at(&mut t, 52, &[0]);
    at(&mut t, 53, &le16(0));
    seal(&mut t);
    t
}

/// A DMAR device scope: type, enumeration ID, start bus, (device, function) path.
fn scope(kind: u8, enum_id: u8, bus: u8, path: &[(u8, u8)]) -> Vec<u8> {
    let mut s = std::vec![kind, 6 + 2 * path.len() as u8, 0, 0, enum_id, bus];
    for &(d, f) in path {
        s.extend_from_slice(&[d, f]);
    }
    s
}

fn drhd(flags: u8, segment: u16, base: u64, scopes: &[Vec<u8>]) -> Vec<u8> {
    let mut s = std::vec![0u8; 16];
    s[4] = flags;
    s[6..8].copy_from_slice(&le16(segment));
    s[8..16].copy_from_slice(&le64(base));
    for sc in scopes {
        s.extend_from_slice(sc);
    }
    let len = s.len() as u16;
    s[0..2].copy_from_slice(&le16(0));
    s[2..4].copy_from_slice(&le16(len));
    s
}

fn rmrr(segment: u16, base: u64, limit: u64, scopes: &[Vec<u8>]) -> Vec<u8> {
    let mut s = std::vec![0u8; 24];
    s[6..8].copy_from_slice(&le16(segment));
    s[8..16].copy_from_slice(&le64(base));
    s[16..24].copy_from_slice(&le64(limit));
    for sc in scopes {
        s.extend_from_slice(sc);
    }
    let len = s.len() as u16;
    s[0..2].copy_from_slice(&le16(1));
    s[2..4].copy_from_slice(&le16(len));
    s
}

fn dmar_with(haw: u8, flags: u8, structs: &[Vec<u8>]) -> Vec<u8> {
    let mut body = std::vec![haw, flags, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    for s in structs {
        body.extend_from_slice(s);
    }
    table(b"DMAR", 1, &body)
}

/// QEMU's DMAR with `-device intel-iommu,intremap=on`: 39-bit host address width,
/// interrupt remapping, one DRHD at 0xfed90000 with INCLUDE_PCI_ALL and the I/O APIC's
/// scope (ID 0, on the pseudo bus 0xff at device 0x1e function 7).
fn qemu_dmar() -> Vec<u8> {
    dmar_with(
        38,
        1,
        &[drhd(1, 0, 0xfed9_0000, &[scope(3, 0, 0xff, &[(0x1e, 7)])])],
    )
}

/// Places `t` at `addr` in a fresh ACPI area.
fn ram_with(addr: u64, t: &[u8]) -> Ram {
    let mut r = acpi_ram();
    r.put(addr, t);
    r
}

/// Every error must print as one non-empty line.
fn check_display(e: &AcpiError) {
    let s = std::format!("{e}");
    assert!(!s.is_empty() && !s.contains('\n'), "{s:?}");
}
