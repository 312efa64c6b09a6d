//! DMAR parsing.

use super::*;
use crate::acpi::dmar::*;
use crate::acpi::Sig;

fn parse_at_spare(t: &[u8]) -> Result<Dmar, AcpiError> {
    parse(&ram_with(SPARE, t), SPARE)
}

fn path(p: &[(u8, u8)]) -> Vec<PathEntry> {
    p.iter()
        .map(|&(dev, func)| PathEntry { dev, func })
        .collect()
}

#[test]
fn qemu_dmar_is_parsed() {
    let d = parse_at_spare(&qemu_dmar()).expect("valid");
    assert_eq!((d.host_address_width, d.address_bits()), (38, 39));
    assert_eq!(d.flags, FLAG_INTR_REMAP);
    assert!(d.intr_remap());
    assert_eq!(d.drhds().len(), 1);
    let u = &d.drhds()[0];
    assert!(u.include_pci_all());
    assert_eq!((u.flags, u.size, u.segment, u.base), (1, 0, 0, 0xfed9_0000));
    let s = u.scopes.as_slice();
    assert_eq!(s.len(), 1);
    assert_eq!(
        (s[0].kind, s[0].enumeration_id, s[0].start_bus),
        (SCOPE_IOAPIC, 0, 0xff)
    );
    assert_eq!(s[0].path(), path(&[(0x1e, 7)]));
    assert!(d.rmrrs().is_empty());
    assert_eq!(
        (d.dropped_drhds, d.dropped_rmrrs, u.scopes.dropped),
        (0, 0, 0)
    );
}

#[test]
fn units_rmrrs_and_scopes() {
    // A client-platform layout: a graphics unit for 00:02.0, a catch-all unit with the
    // I/O APIC and HPET, an ATSR (skipped), and RMRRs for USB and graphics.
    let mut atsr = std::vec![2, 0, 16, 0, 0, 0, 0, 0];
    atsr.extend_from_slice(&scope(2, 0, 0, &[(0x1c, 0)]));
    let t = dmar_with(
        45,
        FLAG_INTR_REMAP | FLAG_X2APIC_OPT_OUT,
        &[
            drhd(0, 0, 0xfed9_0000, &[scope(1, 0, 0, &[(2, 0)])]),
            drhd(
                1,
                0,
                0xfed9_1000,
                &[
                    scope(3, 2, 0xf0, &[(0x1f, 0)]),
                    scope(4, 0, 0, &[(0x1f, 0)]),
                ],
            ),
            atsr,
            rmrr(
                0,
                0x7a00_0000,
                0x7a01_ffff,
                &[scope(1, 0, 0, &[(0x14, 0)]), scope(1, 0, 0, &[(0x1a, 0)])],
            ),
            rmrr(0, 0x7b80_0000, 0x7fff_ffff, &[scope(1, 0, 0, &[(2, 0)])]),
        ],
    );
    let d = parse_at_spare(&t).expect("valid");
    assert_eq!(d.address_bits(), 46);
    assert_eq!(d.flags, 3);
    let units: Vec<(u64, bool, usize)> = d
        .drhds()
        .iter()
        .map(|u| (u.base, u.include_pci_all(), u.scopes.as_slice().len()))
        .collect();
    assert_eq!(units, [(0xfed9_0000, false, 1), (0xfed9_1000, true, 2)]);
    let hpet = d.drhds()[1].scopes.as_slice()[1];
    assert_eq!((hpet.kind, hpet.enumeration_id), (SCOPE_HPET, 0));
    let r: Vec<(u64, u64, Vec<PathEntry>)> = d
        .rmrrs()
        .iter()
        .map(|r| {
            (
                r.base,
                r.limit,
                r.scopes
                    .as_slice()
                    .iter()
                    .flat_map(|s| s.path().to_vec())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        r,
        [
            (0x7a00_0000, 0x7a01_ffff, path(&[(0x14, 0), (0x1a, 0)])),
            (0x7b80_0000, 0x7fff_ffff, path(&[(2, 0)]))
        ]
    );
}

#[test]
fn paths_behind_bridges() {
    let t = dmar_with(
        38,
        0,
        &[drhd(
            0,
            1,
            0xfed9_0000,
            &[
                scope(2, 0, 0, &[(1, 0), (0, 0), (3, 1), (0, 7)]), // 4 steps: kept
                scope(1, 0, 0, &[(1, 0), (0, 0), (3, 1), (0, 7), (0, 0)]), // 5: dropped
                scope(1, 0, 3, &[]),                               // no path: kept, empty
            ],
        )],
    );
    let d = parse_at_spare(&t).expect("valid");
    let s = &d.drhds()[0].scopes;
    assert_eq!(d.drhds()[0].segment, 1);
    assert_eq!(s.as_slice().len(), 2);
    assert_eq!(s.dropped, 1);
    assert_eq!(
        s.as_slice()[0].path(),
        path(&[(1, 0), (0, 0), (3, 1), (0, 7)])
    );
    assert_eq!(
        (s.as_slice()[1].start_bus, s.as_slice()[1].path_len),
        (3, 0)
    );
}

#[test]
fn more_than_capacity_is_counted() {
    let scopes: Vec<Vec<u8>> = (0..20u8).map(|i| scope(1, 0, 0, &[(i, 0)])).collect();
    let mut s: Vec<Vec<u8>> = (0..10u64)
        .map(|i| drhd(0, 0, 0xfed9_0000 + i * 0x1000, &[]))
        .collect();
    s.push(drhd(1, 0, 0xfeda_0000, &scopes));
    for i in 0..9u64 {
        s.push(rmrr(0, i << 20, (i << 20) + 0xfff, &[]));
    }
    let d = parse_at_spare(&dmar_with(38, 0, &s)).expect("valid");
    assert_eq!((d.drhds().len(), d.dropped_drhds), (MAX_DRHDS, 3));
    assert_eq!((d.rmrrs().len(), d.dropped_rmrrs), (MAX_RMRRS, 1));
    // The unit with 20 scopes was dropped itself; check scope capacity on its own.
    let d = parse_at_spare(&dmar_with(38, 0, &[drhd(1, 0, 0xfeda_0000, &scopes)])).expect("valid");
    let sc = &d.drhds()[0].scopes;
    assert_eq!((sc.as_slice().len(), sc.dropped), (MAX_SCOPES, 4));
    assert_eq!(sc.as_slice()[15].path(), path(&[(15, 0)]));
}

#[test]
fn scope_length_malformed() {
    for len in [0u8, 1, 5, 7, 9] {
        let mut sc = scope(1, 0, 0, &[(2, 0)]);
        sc[1] = len;
        let t = dmar_with(38, 0, &[drhd(0, 0, 0xfed9_0000, &[sc])]);
        assert_eq!(
            parse_at_spare(&t).map(|_| ()),
            Err(AcpiError::ScopeLength {
                addr: SPARE,
                offset: 64,
                length: len
            }),
            "length {len}"
        );
    }
}

#[test]
fn scope_past_its_structure() {
    // The scope claims 10 bytes, but its DRHD holds only 8 of them. The next structure
    // starts right after, so the table itself is long enough.
    let mut u = drhd(0, 0, 0xfed9_0000, &[scope(1, 0, 0, &[(2, 0)])]);
    u[17] = 10;
    let t = dmar_with(38, 0, &[u, rmrr(0, 0x1000, 0x1fff, &[])]);
    let e = parse_at_spare(&t).map(|_| ()).expect_err("past end");
    assert_eq!(
        e,
        AcpiError::ScopePastEnd {
            addr: SPARE,
            offset: 64,
            end: 72
        }
    );
    check_display(&e);
    // A single stray byte after the last scope.
    let mut u = drhd(0, 0, 0xfed9_0000, &[scope(1, 0, 0, &[(2, 0)])]);
    u.push(1);
    let l = u.len() as u16;
    u[2..4].copy_from_slice(&le16(l));
    let t = dmar_with(38, 0, &[u]);
    assert_eq!(
        parse_at_spare(&t).map(|_| ()),
        Err(AcpiError::ScopePastEnd {
            addr: SPARE,
            offset: 72,
            end: 73
        })
    );
}

#[test]
fn structure_lengths() {
    let sig = Sig(*b"DMAR");
    // Below the 4-byte header (0 would loop forever if accepted).
    for len in [0u16, 3] {
        let t = dmar_with(38, 0, &[std::vec![9, 0, len as u8, 0, 0, 0, 0, 0]]);
        assert_eq!(
            parse_at_spare(&t).map(|_| ()),
            Err(AcpiError::EntryTooShort {
                sig,
                addr: SPARE,
                offset: 48,
                kind: 9,
                length: u32::from(len),
                min: 4
            })
        );
    }
    // Below a DRHD's or an RMRR's fixed part.
    let mut u = drhd(0, 0, 0xfed9_0000, &[]);
    u.truncate(12);
    u[2] = 12;
    assert!(matches!(
        parse_at_spare(&dmar_with(38, 0, &[u])),
        Err(AcpiError::EntryTooShort {
            kind: 0,
            length: 12,
            min: 16,
            ..
        })
    ));
    let mut r = rmrr(0, 0x1000, 0x1fff, &[]);
    r.truncate(20);
    r[2] = 20;
    assert!(matches!(
        parse_at_spare(&dmar_with(38, 0, &[r])),
        Err(AcpiError::EntryTooShort {
            kind: 1,
            length: 20,
            min: 24,
            ..
        })
    ));
    // Past the table end.
    let mut u = drhd(0, 0, 0xfed9_0000, &[]);
    u[2] = 17;
    assert_eq!(
        parse_at_spare(&dmar_with(38, 0, &[u])).map(|_| ()),
        Err(AcpiError::EntryPastEnd {
            sig,
            addr: SPARE,
            offset: 48,
            length: 64
        })
    );
    // Three stray bytes: not even a header.
    assert!(matches!(
        parse_at_spare(&dmar_with(38, 0, &[std::vec![0, 0, 4]])),
        Err(AcpiError::EntryPastEnd { offset: 48, .. })
    ));
}

#[test]
fn bad_ranges() {
    for (base, limit, why) in [
        (0x2000, 0x0fff, "RMRR limit lies below its base"),
        (
            0x1800,
            0x1fff,
            "RMRR base or limit + 1 is not 4 KiB aligned",
        ),
        (
            0x1000,
            0x1ffe,
            "RMRR base or limit + 1 is not 4 KiB aligned",
        ),
    ] {
        let t = dmar_with(38, 0, &[rmrr(0, base, limit, &[])]);
        assert_eq!(
            parse_at_spare(&t).map(|_| ()),
            Err(AcpiError::BadEntry {
                sig: Sig(*b"DMAR"),
                addr: SPARE,
                offset: 48,
                why
            })
        );
    }
    // A region reaching the top of the address space is representable.
    let t = dmar_with(38, 0, &[rmrr(0, 0xffff_ffff_ffff_f000, u64::MAX, &[])]);
    assert_eq!(
        parse_at_spare(&t).expect("valid").rmrrs()[0].limit,
        u64::MAX
    );
    for base in [0u64, 0xfed9_0800] {
        let t = dmar_with(38, 0, &[drhd(0, 0, base, &[])]);
        assert!(matches!(
            parse_at_spare(&t),
            Err(AcpiError::BadEntry { offset: 48, .. })
        ));
    }
}

#[test]
fn too_short_and_empty() {
    let mut t = header(b"DMAR", 1, 47);
    seal(&mut t);
    assert!(matches!(
        parse_at_spare(&t),
        Err(AcpiError::TooShort { min: 48, .. })
    ));
    let d = parse_at_spare(&dmar_with(38, 0, &[])).expect("valid");
    assert!(d.drhds().is_empty() && d.rmrrs().is_empty());
}
