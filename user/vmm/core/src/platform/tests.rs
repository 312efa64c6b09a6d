use super::*;
use std::vec;
use std::vec::Vec;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn sums_to_zero(b: &[u8]) -> bool {
    b.iter().fold(0u8, |s, x| s.wrapping_add(*x)) == 0
}

/// Guest memory with the tables of `vcpus` written, and the RSDP address returned.
fn machine(vcpus: u8) -> (Vec<u8>, u64) {
    let mut mem = vec![0u8; 0x10_0000];
    let rsdp = write_acpi_tables(&mut mem, vcpus).unwrap();
    (mem, rsdp)
}

/// A table at `address`: checks signature, length bounds and checksum, returns it.
fn table<'a>(mem: &'a [u8], address: u64, signature: &[u8; 4]) -> &'a [u8] {
    let t = &mem[address as usize..];
    assert_eq!(&t[..4], signature);
    let len = u32_at(t, 4) as usize;
    assert!(len >= 36);
    assert!(
        sums_to_zero(&t[..len]),
        "{} checksum",
        core::str::from_utf8(signature).unwrap()
    );
    &t[..len]
}

#[test]
fn the_rsdp_is_where_linux_scans_for_it() {
    let (mem, rsdp) = machine(2);
    // Linux searches 0xe0000..0x100000 on 16-byte boundaries.
    let found = (0xe_0000..0x10_0000)
        .step_by(16)
        .find(|&a| &mem[a..a + 8] == b"RSD PTR ")
        .unwrap();
    assert_eq!(found as u64, rsdp);
    let r = &mem[found..found + 36];
    assert!(sums_to_zero(&r[..20]));
    assert!(sums_to_zero(r));
    assert_eq!(r[15], 2, "ACPI 2.0+ RSDP");
    assert_eq!(u32_at(r, 20), 36);
}

#[test]
fn every_table_parses_back_with_a_valid_checksum() {
    for vcpus in 1..=MAX_VCPUS {
        let (mem, rsdp) = machine(vcpus);
        let xsdt = table(&mem, u64_at(&mem, rsdp as usize + 24), b"XSDT");
        let entries: Vec<u64> = xsdt[36..].chunks(8).map(|c| u64_at(c, 0)).collect();
        assert_eq!(entries.len(), 2);
        let fadt = table(&mem, entries[0], b"FACP");
        let madt = table(&mem, entries[1], b"APIC");
        assert_eq!(fadt.len(), 276);
        assert_eq!(fadt[8], 6, "FADT major revision");
        let dsdt = table(&mem, u64_at(fadt, 140), b"DSDT");
        assert_eq!(u32_at(fadt, 40) as u64, u64_at(fadt, 140));
        let facs = &mem[u64_at(fadt, 132) as usize..];
        assert_eq!(&facs[..4], b"FACS");
        assert_eq!(u32_at(facs, 4), 64);
        assert_eq!(u64_at(fadt, 132) % 64, 0, "FACS 64-byte aligned");
        assert_eq!(madt.len(), 44 + 8 * vcpus as usize + 6);
        assert!(dsdt.len() > 36);
    }
}

#[test]
fn tables_stay_inside_their_area_and_apart() {
    let l = AcpiLayout::at(ACPI_TABLES);
    let mut spans = [
        (l.rsdp, 36),
        (l.xsdt, 52),
        (l.facs, 64),
        (l.dsdt, 36 + dsdt_aml().len() as u64),
        (l.fadt, 276),
        (l.madt, 44 + 8 * MAX_VCPUS as u64 + 6),
    ];
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].0 + pair[0].1 <= pair[1].0, "{pair:x?}");
    }
    let (last, len) = spans[spans.len() - 1];
    assert!(last + len <= ACPI_TABLES + ACPI_TABLES_SIZE as u64);
    // The e820 map reserves the area.
    assert!(ACPI_TABLES >= 0x9_fc00 && ACPI_TABLES + (ACPI_TABLES_SIZE as u64) <= 0x10_0000);
}

#[test]
fn the_fadt_describes_the_pm_registers_sci_and_reset() {
    let (mem, _) = machine(2);
    let fadt = table(&mem, AcpiLayout::at(ACPI_TABLES).fadt, b"FACP");
    assert_eq!(u16_at(fadt, 46), 9, "SCI on IRQ 9");
    assert_eq!(
        u32_at(fadt, 48),
        0,
        "no SMI command port: always in ACPI mode"
    );
    assert_eq!(u32_at(fadt, 56), 0x600);
    assert_eq!(u32_at(fadt, 64), 0x604);
    assert_eq!(u32_at(fadt, 76), 0x608);
    assert_eq!((fadt[88], fadt[89], fadt[91]), (4, 2, 4));
    assert_eq!(u32_at(fadt, 80), 0, "no GPE0 block");
    let flags = u32_at(fadt, 112);
    assert_ne!(flags & 1 << 19, 0, "physical destination mode");
    assert_eq!(flags & 1 << 20, 0, "not hardware-reduced");
    assert_ne!(flags & 1 << 10, 0, "reset register supported");
    assert_ne!(flags & 1 << 8, 0, "32-bit PM timer");
    let boot_arch = u16_at(fadt, 109);
    assert_ne!(boot_arch & 2, 0, "8042 present");
    assert_eq!(boot_arch & 1 << 5, 0, "CMOS RTC present");
    // Reset register: system I/O, 8 bits, port 0x64; value 0xfe.
    assert_eq!(&fadt[116..120], &[1, 8, 0, 1]);
    assert_eq!(u64_at(fadt, 120), 0x64);
    assert_eq!(fadt[128], 0xfe);
    // X blocks agree with the 32-bit ones.
    for (gas, port, width) in [(148, 0x600, 32), (172, 0x604, 16), (208, 0x608, 32)] {
        assert_eq!(fadt[gas], 1);
        assert_eq!(fadt[gas + 1], width);
        assert_eq!(u64_at(fadt, gas + 4), port);
    }
}

#[test]
fn the_madt_lists_each_vcpu_and_no_io_apic() {
    let (mem, _) = machine(4);
    let madt = table(&mem, AcpiLayout::at(ACPI_TABLES).madt, b"APIC");
    assert_eq!(u32_at(madt, 36), 0xfee0_0000);
    assert_eq!(u32_at(madt, 40), 1, "PC-AT compatible 8259s");
    let mut at = 44;
    let mut ids = Vec::new();
    let mut nmi = None;
    while at < madt.len() {
        let (kind, len) = (madt[at], madt[at + 1] as usize);
        assert!(len >= 2 && at + len <= madt.len());
        match kind {
            0 => {
                assert_eq!(madt[at + 2], madt[at + 3], "UID = APIC ID");
                assert_eq!(u32_at(madt, at + 4), 1, "enabled");
                ids.push(madt[at + 3]);
            }
            4 => nmi = Some((madt[at + 2], madt[at + 5])),
            other => panic!("unexpected MADT entry type {other}"),
        }
        at += len;
    }
    assert_eq!(ids, [0, 1, 2, 3]);
    assert_eq!(nmi, Some((0xff, 1)), "NMI on LINT1 of every processor");
}

#[test]
fn the_dsdt_names_s5_with_the_sleep_type_pm1_expects() {
    let (mem, _) = machine(1);
    let dsdt = table(&mem, AcpiLayout::at(ACPI_TABLES).dsdt, b"DSDT");
    let aml = &dsdt[36..];
    // NameOp "_S5_" PackageOp PkgLength NumElements, then integer elements.
    assert_eq!(&aml[..6], &[0x08, b'_', b'S', b'5', b'_', 0x12]);
    let pkg_len = aml[6] as usize;
    assert_eq!(6 + pkg_len, aml.len(), "the package ends the AML");
    assert_eq!(aml[7], 4);
    let mut elements = Vec::new();
    let mut at = 8;
    while at < aml.len() {
        match aml[at] {
            0x00 => (elements.push(0), at += 1),
            0x01 => (elements.push(1), at += 1),
            0x0a => (elements.push(aml[at + 1] as u16), at += 2),
            op => panic!("unexpected AML opcode {op:#x}"),
        };
    }
    assert_eq!(elements, [S5_SLEEP_TYPE, S5_SLEEP_TYPE, 0, 0]);
}

#[test]
fn bad_requests_are_refused() {
    let mut mem = vec![0u8; 0x10_0000];
    assert_eq!(
        write_acpi_tables(&mut mem, 0),
        Err(PlatformError::BadVcpuCount(0))
    );
    assert_eq!(
        write_acpi_tables(&mut mem, 9),
        Err(PlatformError::BadVcpuCount(9))
    );
    let mut small = vec![0u8; 0xe_0100];
    assert_eq!(
        write_acpi_tables(&mut small, 2),
        Err(PlatformError::MemoryTooSmall(0xe_0100))
    );
}

#[test]
fn apic_bases_start_in_x2apic_mode_with_one_bsp() {
    assert_eq!(initial_apic_base(0), 0xfee0_0d00);
    assert_eq!(initial_apic_base(1), 0xfee0_0c00);
}

const PM1_CNT: u16 = PM1A_CONTROL_PORT;

#[test]
fn linux_power_off_sequence_is_recognised_on_slp_en() {
    let mut pm = PmRegisters::new(2_000_000_000, 0);
    // acpi_hw_legacy_sleep: clear status, read control, write SLP_TYP, then SLP_EN.
    assert_eq!(pm.write(PM1A_EVENT_PORT, 2, 0xffff), PmAction::None);
    let control = pm.read(PM1_CNT, 2, 0) as u16;
    assert_eq!(control & PM1_SCI_EN, PM1_SCI_EN);
    let typed = (control & !(7 << 10)) | (S5_SLEEP_TYPE << 10);
    assert_eq!(pm.write(PM1_CNT, 2, typed as u32), PmAction::None);
    assert_eq!(
        pm.write(PM1_CNT, 2, (typed | PM1_SLP_EN) as u32),
        PmAction::PowerOff
    );
    // SLP_EN is write-only.
    assert_eq!(pm.read(PM1_CNT, 2, 0) as u16 & PM1_SLP_EN, 0);
}

#[test]
fn other_sleep_types_and_byte_writes() {
    let mut pm = PmRegisters::new(1_000_000, 0);
    assert_eq!(
        pm.write(PM1_CNT, 2, (3 << 10 | PM1_SLP_EN) as u32),
        PmAction::None
    );
    // The high byte alone carries SLP_TYP (bits 12:10) and SLP_EN (13).
    assert_eq!(
        pm.write(PM1_CNT + 1, 1, ((5 << 10 | PM1_SLP_EN) >> 8) as u32),
        PmAction::PowerOff
    );
}

#[test]
fn enable_keeps_defined_bits_and_sci_stays_low() {
    let mut pm = PmRegisters::new(1_000_000, 0);
    pm.write(PM1A_EVENT_PORT + 2, 2, 0xffff);
    assert_eq!(pm.read(PM1A_EVENT_PORT + 2, 2, 0), 0x4721);
    assert_eq!(pm.read(PM1A_EVENT_PORT, 2, 0), 0);
    assert!(!pm.sci_level());
    assert_eq!(pm.read(0x5ff, 1, 0), 0xff);
}

#[test]
fn pm_timer_counts_at_3_579545_mhz_from_the_tsc() {
    let hz = 2_500_000_000;
    let pm = PmRegisters::new(hz, 1000);
    assert_eq!(pm.read(PM_TIMER_PORT, 4, 1000), 0);
    assert_eq!(pm.read(PM_TIMER_PORT, 4, 1000 + hz), 3_579_545);
    let t = pm.timer(1000 + 10 * hz);
    assert_eq!(pm.read(PM_TIMER_PORT + 2, 2, 1000 + 10 * hz), t >> 16);
    // All 32 bits run, then wrap.
    let wrap = (1u128 << 32) * hz as u128 / PM_TIMER_HZ as u128;
    assert!(pm.timer(1000 + wrap as u64 + hz) < 4_000_000);
    // Writes to the timer are ignored; a zero frequency does not divide by zero.
    let mut pm0 = PmRegisters::new(0, 0);
    pm0.write(PM_TIMER_PORT, 4, 5);
    let _ = pm0.timer(u64::MAX);
}
