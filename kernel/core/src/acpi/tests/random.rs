//! Randomized robustness: random and mutated tables must give a value or an error, never a
//! panic, and a value must keep what the parsers promise.

use super::*;
use crate::acpi::{dmar, fadt, hpet, madt, mcfg, rsdp, sdt};
use crate::testrng::Rng;

const RUNS: usize = 3000;

/// Test-only extras on the shared generator.
trait Pick {
    fn chance(&mut self, percent: u64) -> bool;
    fn byte(&mut self) -> u8;
}

impl Pick for Rng {
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

/// A table to parse: either random bytes after a valid header, or one of `bases` with a
/// few bytes changed, cut or extended; the checksum is fixed most of the time, and the
/// length field sometimes disagrees with the bytes.
fn candidate(rng: &mut Rng, sig: &[u8; 4], bases: &[Vec<u8>]) -> Vec<u8> {
    let mut t = if rng.chance(30) {
        let len = 36 + rng.below(700) as usize;
        let mut t = header(sig, rng.byte(), len);
        rng.fill(&mut t[36..]);
        t
    } else {
        let mut t = bases[rng.below(bases.len() as u64) as usize].clone();
        for _ in 0..1 + rng.below(6) {
            if t.len() > 10 {
                let i = 10 + rng.below(t.len() as u64 - 10) as usize;
                t[i] = match rng.below(4) {
                    0 => 0,
                    1 => 0xff,
                    2 => t[i].wrapping_add(1),
                    _ => rng.byte(),
                };
            }
        }
        match rng.below(8) {
            0 => t.truncate(rng.below(t.len() as u64 + 1) as usize),
            1 => t.extend((0..rng.below(40)).map(|_| rng.next() as u8)),
            _ => {}
        }
        t.resize(t.len().max(36), 0);
        t
    };
    match rng.below(10) {
        0 => {
            // A length field that lies, kept as it is.
            let l = match rng.below(3) {
                0 => rng.next() as u32,
                1 => rng.below(40) as u32,
                _ => t.len() as u32 + rng.below(16) as u32,
            };
            t[4..8].copy_from_slice(&le32(l));
            fix(&mut t);
        }
        1 => {} // checksum left as the mutation made it
        _ => seal(&mut t),
    }
    t
}

/// Runs `parse` on `RUNS` candidates; checks errors print and values keep `check`.
/// Returns how many parsed, so a test can require the generator to reach success.
fn run<T>(
    seed: u64,
    sig: &[u8; 4],
    bases: &[Vec<u8>],
    parse: impl Fn(&Ram, u64) -> Result<T, AcpiError>,
    check: impl Fn(&T),
) -> usize {
    let mut rng = Rng(seed);
    let mut ok = 0;
    for _ in 0..RUNS {
        let t = candidate(&mut rng, sig, bases);
        // Mostly at the spare place; sometimes near the end of memory, so the claimed
        // length runs out of it.
        let room = (ACPI_BASE + ACPI_SIZE as u64).saturating_sub(t.len() as u64);
        let addr = if rng.chance(90) || room < SPARE {
            SPARE
        } else {
            room - rng.below(64).min(room - SPARE)
        };
        let m = ram_with(addr, &t);
        match parse(&m, addr) {
            Ok(v) => {
                check(&v);
                ok += 1;
            }
            Err(e) => check_display(&e),
        }
    }
    ok
}

#[test]
fn random_madt_never_panics() {
    let big: Vec<Vec<u8>> = (0..70u8)
        .map(|i| lapic(i, i, 1))
        .chain((0..10).map(|i| ioapic(i, 0xfec0_0000, u32::from(i) * 24)))
        .chain((0..20).map(|i| iso(i, u32::from(i), 0xd)))
        .chain([
            x2apic(5, 500, 1),
            std::vec![5, 12, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0],
        ])
        .collect();
    let bases = [qemu_madt(), madt_with(0xfee0_0000, 1, &big)];
    let ok = run(0x9e37_79b9_7f4a_7c15, b"APIC", &bases, madt::parse, |m| {
        assert!(m.cpu_count <= madt::MAX_CPUS && m.ioapic_count <= madt::MAX_IOAPICS);
        assert!(m.override_count <= madt::MAX_OVERRIDES);
        assert!(m.nmi_source_count <= madt::MAX_NMI_SOURCES);
        assert!(m.lapic_nmi_count <= madt::MAX_LAPIC_NMIS);
        for (i, c) in m.cpus().iter().enumerate() {
            assert!(c.enabled || c.online_capable);
            assert!(m.cpus()[..i].iter().all(|d| d.apic_id != c.apic_id));
        }
        for irq in 0..16 {
            let _ = m.isa_irq(irq);
        }
    });
    assert!(ok > 100, "only {ok} parsed");
}

#[test]
fn random_fadt_never_panics() {
    let bases = [
        qemu_fadt_v1(DSDT as u32),
        qemu_fadt_v5(DSDT),
        header(b"FACP", 6, 276),
    ];
    let ok = run(0x2545_f491_4f6c_dd1d, b"FACP", &bases, fadt::parse, |f| {
        assert!(f.length >= fadt::MIN_LEN);
        assert!(f.dsdt != Some(0));
        assert!(f.pm1a_cnt.is_none_or(|g| g.address != 0));
        assert!(f
            .reset
            .is_none_or(|r| r.reg.address != 0 && f.length >= 129));
    });
    assert!(ok > 100, "only {ok} parsed");
}

#[test]
fn random_mcfg_never_panics() {
    let bases = [
        qemu_mcfg(),
        mcfg_with(
            &(0..10u16)
                .map(|i| (u64::from(i) << 32, i, i as u8, 200))
                .collect::<Vec<_>>(),
        ),
    ];
    let ok = run(0x1234_5678_9abc_def1, b"MCFG", &bases, mcfg::parse, |m| {
        assert!(m.count <= mcfg::MAX_ENTRIES);
        for e in m.entries() {
            assert!(e.start_bus <= e.end_bus);
            let (s, end) = e.window();
            assert!(s < end);
            let _ = e.config_addr(e.end_bus, 31, 7);
        }
    });
    assert!(ok > 100, "only {ok} parsed");
}

#[test]
fn random_dmar_never_panics() {
    let scopes: Vec<Vec<u8>> = (0..18u8)
        .map(|i| scope(1, i, 0, &[(i, 0), (0, i % 8)]))
        .collect();
    let bases = [
        qemu_dmar(),
        dmar_with(
            45,
            3,
            &[
                drhd(0, 0, 0xfed9_0000, &scopes),
                drhd(1, 0, 0xfed9_1000, &[scope(3, 2, 0xf0, &[(0x1f, 0)])]),
                std::vec![2, 0, 8, 0, 0, 0, 0, 0],
                rmrr(0, 0x7a00_0000, 0x7a01_ffff, &[scope(1, 0, 0, &[(0x14, 0)])]),
                rmrr(0, 0x7b80_0000, 0x7fff_ffff, &scopes[..3]),
            ],
        ),
    ];
    let ok = run(0x0dd_ba11_cafe_f00d, b"DMAR", &bases, dmar::parse, |d| {
        assert!(d.drhd_count <= dmar::MAX_DRHDS && d.rmrr_count <= dmar::MAX_RMRRS);
        for u in d.drhds() {
            assert!(u.base != 0 && u.base % 4096 == 0);
            assert!(u.scopes.count <= dmar::MAX_SCOPES);
            for s in u.scopes.as_slice() {
                assert!(s.path().len() <= dmar::MAX_PATH);
            }
        }
        for r in d.rmrrs() {
            assert!(r.limit >= r.base);
        }
    });
    assert!(ok > 100, "only {ok} parsed");
}

#[test]
fn random_hpet_never_panics() {
    let ok = run(
        0x5eed_5eed_5eed_5eed,
        b"HPET",
        &[qemu_hpet()],
        hpet::parse,
        |h| {
            assert!(h.base != 0 && h.base % 1024 == 0);
        },
    );
    assert!(ok > 100, "only {ok} parsed");
}

#[test]
fn random_rsdp_never_panics() {
    let mut rng = Rng(0xfeed_face_dead_beef);
    let mut found = 0;
    for _ in 0..300 {
        let mut m = low_ram();
        // Random bytes in part of the EBDA and the BIOS area, a random EBDA pointer, and
        // a few candidates with the signature: valid, broken or random.
        rng.fill(&mut m.bytes[0x9_f000..0xa_0000]);
        rng.fill(&mut m.bytes[0xe_0000..0xe_1000]);
        m.put(0x40e, &le16(rng.next() as u16));
        if rng.chance(50) {
            m.put(0x40e, &le16(0x9fc0));
        }
        for _ in 0..rng.below(4) {
            let at = if rng.chance(50) {
                0x9_fc00 + 16 * rng.below(64)
            } else {
                0xe_0000 + 16 * rng.below(0x100)
            };
            let mut r = if rng.chance(50) {
                rsdp_v1(rng.next() as u32)
            } else {
                rsdp_v2(rng.next() as u32, rng.next())
            };
            let i = rng.below(r.len() as u64) as usize;
            if rng.chance(50) {
                r[i] = rng.byte();
                if rng.chance(50) {
                    rsdp_fix(&mut r);
                }
            }
            m.put(at, &r);
        }
        let hint = match rng.below(4) {
            0 => Some(rng.next()),
            1 => Some(0xe_0000 + 16 * rng.below(0x100)),
            _ => None,
        };
        match rsdp::find(&m, hint) {
            Ok(r) => {
                assert!(r.length == 20 || (36..=rsdp::MAX_LEN).contains(&r.length));
                assert!(r.xsdt.is_none() || r.revision >= 2);
                found += 1;
            }
            Err(e) => check_display(&e),
        }
    }
    assert!(found > 10, "only {found} found");
}

#[test]
fn random_root_tables_never_panic() {
    let mut rng = Rng(0xabad_1dea_0bad_f00d);
    let mut ok = 0;
    for _ in 0..1000 {
        let mut m = acpi_ram();
        rng.fill(&mut m.bytes[0x8000..0x9000]);
        m.put(APIC, &qemu_madt());
        m.put(HPET, &qemu_hpet());
        // Entries: valid tables, random addresses, addresses into the random bytes.
        let entries: Vec<u64> = (0..rng.below(12))
            .map(|_| match rng.below(4) {
                0 => APIC,
                1 => HPET,
                2 => SPARE + rng.below(0x1000),
                _ => rng.next() >> rng.below(64),
            })
            .collect();
        let base = if rng.chance(50) {
            rsdt(&entries.iter().map(|&e| e as u32).collect::<Vec<_>>())
        } else {
            xsdt(&entries)
        };
        let root = candidate(&mut rng, &[base[0], base[1], base[2], base[3]], &[base]);
        m.put(RSDT, &root);
        let r = rsdp::Rsdp {
            addr: 0xf_5a30,
            revision: 2,
            oem_id: *b"BOCHS ",
            length: 36,
            rsdt: match rng.below(3) {
                0 => 0,
                1 => rng.next() as u32,
                _ => RSDT as u32,
            },
            xsdt: match rng.below(3) {
                0 => None,
                1 => Some(rng.next()),
                _ => Some(RSDT),
            },
        };
        match sdt::Tables::new(&m, &r) {
            Ok(t) => {
                assert!(t.entries(&m).count() <= t.count() as usize);
                for sig in [b"APIC", b"HPET", b"FACP"] {
                    if let Some(a) = t.find(&m, sig) {
                        assert!(sdt::Header::read_expect(&m, a, sig).is_ok());
                    }
                }
                let _ = t.find_nth(&m, b"APIC", 1);
                ok += 1;
            }
            Err(e) => check_display(&e),
        }
    }
    assert!(ok > 100, "only {ok} parsed");
}
