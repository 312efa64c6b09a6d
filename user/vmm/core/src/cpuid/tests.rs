use super::dumps::{host, Dump, EPYC_TCG, SKYLAKE_X};
use super::*;

const OSXSAVE_ON: CallerState = CallerState {
    cr4: 1 << 18,
    xcr0: 0b111,
};

fn model(dump: Dump, vcpus: u32) -> CpuModel {
    CpuModel::new(vcpus, host(dump)).unwrap()
}

/// The guest's answer for (`leaf`, `subleaf`) on `vcpu`, as the VMM would produce it.
fn guest(m: &CpuModel, dump: Dump, vcpu: u32, leaf: u32, subleaf: u32) -> CpuidResult {
    m.cpuid(vcpu, leaf, subleaf, host(dump)(leaf, subleaf), OSXSAVE_ON)
}

fn bit(reg: u32, n: u32) -> bool {
    reg & (1 << n) != 0
}

const DUMPS: [Dump; 2] = [EPYC_TCG, SKYLAKE_X];

#[test]
fn vendor_and_leaf_limits() {
    let amd = model(EPYC_TCG, 2);
    let intel = model(SKYLAKE_X, 2);
    assert_eq!(amd.vendor(), Vendor::Amd);
    assert_eq!(intel.vendor(), Vendor::Intel);
    for (m, dump, max_ext) in [
        (amd, EPYC_TCG, 0x8000_001e),
        (intel, SKYLAKE_X, 0x8000_0008),
    ] {
        let l0 = guest(&m, dump, 0, 0, 0);
        assert_eq!(l0.eax, 0xd);
        assert_eq!(
            (l0.ebx, l0.ecx, l0.edx),
            (
                host(dump)(0, 0).ebx,
                host(dump)(0, 0).ecx,
                host(dump)(0, 0).edx
            )
        );
        assert_eq!(guest(&m, dump, 0, 0x8000_0000, 0).eax, max_ext);
        for leaf in (0xe..0x30)
            .chain([0x14, 0x15, 0x16, 0x1f])
            .chain(max_ext + 1..0x8000_0030)
        {
            assert_eq!(
                guest(&m, dump, 0, leaf, 0),
                CpuidResult::default(),
                "{leaf:#x}"
            );
        }
        for leaf in [3, 5, 8, 9, 0xa, 0xc, 0x8000_000a, 0xc000_0000, 0x2000_0000] {
            assert_eq!(
                guest(&m, dump, 0, leaf, 0),
                CpuidResult::default(),
                "{leaf:#x}"
            );
        }
    }
}

#[test]
fn hidden_features_stay_hidden() {
    for dump in DUMPS {
        let m = model(dump, 2);
        let l1 = guest(&m, dump, 0, 1, 0);
        for n in [3, 5, 6, 7, 8, 15, 18] {
            assert!(!bit(l1.ecx, n), "leaf 1 ECX bit {n}");
        }
        for n in [7, 14, 18, 21, 22, 29, 31] {
            assert!(!bit(l1.edx, n), "leaf 1 EDX bit {n}");
        }
        let l7 = guest(&m, dump, 0, 7, 0);
        for n in [1, 2, 4, 10, 11, 12, 14, 15, 25] {
            assert!(!bit(l7.ebx, n), "leaf 7 EBX bit {n}");
        }
        for n in [3, 4, 5, 7, 16, 22, 24] {
            assert!(!bit(l7.ecx, n), "leaf 7 ECX bit {n}");
        }
        for n in [11, 13, 20, 26, 27, 28, 29, 30, 31] {
            assert!(!bit(l7.edx, n), "leaf 7 EDX bit {n}");
        }
        let e1 = guest(&m, dump, 0, 0x8000_0001, 0);
        for n in [2, 3, 4, 9, 10, 12, 13, 15, 17, 19, 23, 24, 26, 27, 28, 29] {
            assert!(!bit(e1.ecx, n), "0x80000001 ECX bit {n}");
        }
        for n in [7, 14, 25, 27] {
            assert!(!bit(e1.edx, n), "0x80000001 EDX bit {n}");
        }
        let e8 = guest(&m, dump, 0, 0x8000_0008, 0);
        for n in [12, 14, 15, 23, 24, 25, 26] {
            assert!(!bit(e8.ebx, n), "0x80000008 EBX bit {n}");
        }
        let l6 = guest(&m, dump, 0, 6, 0);
        assert_eq!(
            l6,
            CpuidResult {
                eax: 4,
                ..CpuidResult::default()
            },
            "only ARAT"
        );
        assert_eq!(guest(&m, dump, 0, 7, 1), CpuidResult::default());
        assert_eq!(guest(&m, dump, 0, 7, 0).eax, 0);
    }
}

#[test]
fn emulated_features_are_always_there() {
    for dump in DUMPS {
        let m = model(dump, 2);
        let l1 = guest(&m, dump, 0, 1, 0);
        assert!(bit(l1.ecx, 21), "x2APIC");
        assert!(bit(l1.ecx, 24), "TSC deadline");
        assert!(bit(l1.ecx, 31), "hypervisor");
        assert!(bit(l1.edx, 9) && bit(l1.edx, 12), "APIC, MTRR");
        // What natively works passes: SSE2, PAE, NX, LM, 1 GiB pages, FSGSBASE, SMEP.
        assert!(bit(l1.edx, 26) && bit(l1.edx, 6));
        let e1 = guest(&m, dump, 0, 0x8000_0001, 0);
        assert!(bit(e1.edx, 20) && bit(e1.edx, 29) && bit(e1.edx, 26) && bit(e1.edx, 11));
        let l7 = guest(&m, dump, 0, 7, 0);
        assert!(bit(l7.ebx, 0) && bit(l7.ebx, 7));
    }
}

#[test]
fn the_hypervisor_leaves_say_kvm_with_kvmclock_only() {
    for dump in DUMPS {
        let m = model(dump, 2);
        let base = guest(&m, dump, 0, 0x4000_0000, 0);
        let mut name = [0u8; 12];
        for (c, r) in name.chunks_exact_mut(4).zip([base.ebx, base.ecx, base.edx]) {
            c.copy_from_slice(&r.to_le_bytes());
        }
        assert_eq!(&name, b"KVMKVMKVM\0\0\0");
        assert_eq!(base.eax, 0x4000_0001);
        let features = guest(&m, dump, 0, 0x4000_0001, 0);
        assert_eq!(features.eax, 1 << 3 | 1 << 24);
        assert_eq!(features.edx, 0, "no hints");
        // Linux's hypervisor_cpuid_base scans every 0x100 leaves: only one signature.
        for base in (0x4000_0100..0x4001_0000).step_by(0x100) {
            assert_eq!(guest(&m, dump, 0, base, 0), CpuidResult::default());
        }
        assert_eq!(guest(&m, dump, 0, 0x4000_0010, 0), CpuidResult::default());
    }
}

#[test]
fn topology_is_n_single_threaded_cores() {
    for vcpus in 1..=8 {
        for dump in DUMPS {
            let m = model(dump, vcpus);
            let ids = 1u32 << topology::id_bits(vcpus);
            for vcpu in 0..vcpus {
                let l1 = guest(&m, dump, vcpu, 1, 0);
                assert_eq!(l1.ebx >> 24, vcpu);
                assert_eq!((l1.ebx >> 16) & 0xff, ids);
                assert_eq!(bit(l1.edx, 28), vcpus > 1, "HTT");
                let smt = guest(&m, dump, vcpu, 0xb, 0);
                let core = guest(&m, dump, vcpu, 0xb, 1);
                let end = guest(&m, dump, vcpu, 0xb, 2);
                assert_eq!((smt.eax, smt.ebx, smt.ecx, smt.edx), (0, 1, 0x100, vcpu));
                assert_eq!(core.ebx, vcpus);
                assert_eq!(core.ecx, 0x201);
                assert_eq!(1 << core.eax, ids);
                assert_eq!((end.ebx, (end.ecx >> 8) & 0xff, end.edx), (0, 0, vcpu));
            }
        }
        let amd = model(EPYC_TCG, vcpus);
        let e8 = guest(&amd, EPYC_TCG, 0, 0x8000_0008, 0);
        assert_eq!(e8.ecx & 0xff, vcpus - 1);
        assert_eq!(1 << ((e8.ecx >> 12) & 0xf), 1 << topology::id_bits(vcpus));
        let ids = guest(&amd, EPYC_TCG, vcpus - 1, 0x8000_001e, 0);
        assert_eq!(
            (ids.eax, ids.ebx, ids.ecx),
            (vcpus - 1, vcpus - 1, 0),
            "one thread, node 0"
        );
        let e1 = guest(&amd, EPYC_TCG, 0, 0x8000_0001, 0);
        assert_eq!(bit(e1.ecx, 1), vcpus > 1, "CmpLegacy");
        assert!(bit(e1.ecx, 22), "TopologyExtensions");
    }
}

#[test]
fn caches_are_private_below_l3_and_shared_at_l3() {
    let m = model(SKYLAKE_X, 3);
    for (subleaf, sharing) in [(0, 0), (1, 0), (2, 0), (3, 3)] {
        let c = guest(&m, SKYLAKE_X, 0, 4, subleaf);
        assert_eq!((c.eax >> 14) & 0xfff, sharing, "leaf 4.{subleaf}");
        assert_eq!(c.eax >> 26, 3, "four addressable cores");
        assert_eq!(c.ebx, host(SKYLAKE_X)(4, subleaf).ebx, "geometry kept");
    }
    assert_eq!(guest(&m, SKYLAKE_X, 0, 4, 4), CpuidResult::default());
    let m = model(EPYC_TCG, 2);
    for (subleaf, sharing) in [(0, 0), (2, 0), (3, 1)] {
        let c = guest(&m, EPYC_TCG, 0, 0x8000_001d, subleaf);
        assert_eq!((c.eax >> 14) & 0xfff, sharing);
        assert_eq!(c.eax >> 26, 0);
    }
    assert_eq!(
        guest(&m, EPYC_TCG, 0, 4, 0),
        CpuidResult::default(),
        "leaf 4 is Intel's"
    );
}

#[test]
fn invariant_tsc_passes_and_address_sizes_stay() {
    let intel = model(SKYLAKE_X, 2);
    assert_eq!(guest(&intel, SKYLAKE_X, 0, 0x8000_0007, 0).edx, 1 << 8);
    assert_eq!(guest(&intel, SKYLAKE_X, 0, 0x8000_0008, 0).eax, 0x302e);
    assert_eq!(intel.physical_address_bits(), 46);
    let amd = model(EPYC_TCG, 2);
    assert_eq!(guest(&amd, EPYC_TCG, 0, 0x8000_0007, 0).edx, 0);
    let brand = guest(&amd, EPYC_TCG, 0, 0x8000_0002, 0);
    assert_eq!(brand.eax.to_le_bytes(), *b"AMD ");
}

#[test]
fn bad_hosts_and_counts_are_refused() {
    assert_eq!(
        CpuModel::new(0, host(EPYC_TCG)).unwrap_err(),
        CpuModelError::BadVcpuCount(0)
    );
    assert_eq!(
        CpuModel::new(9, host(EPYC_TCG)).unwrap_err(),
        CpuModelError::BadVcpuCount(9)
    );
    let odd = |_, _| CpuidResult {
        eax: 0xd,
        ebx: u32::from_le_bytes(*b"Cyri"),
        ecx: u32::from_le_bytes(*b"tead"),
        edx: u32::from_le_bytes(*b"xIns"),
    };
    assert!(matches!(
        CpuModel::new(2, |l, s| if l == 0 {
            odd(l, s)
        } else {
            host(EPYC_TCG)(l, s)
        }),
        Err(CpuModelError::UnknownVendor(_))
    ));
    let old = |leaf, subleaf| match leaf {
        0x8000_0000 => CpuidResult::default(),
        _ => host(EPYC_TCG)(leaf, subleaf),
    };
    assert_eq!(
        CpuModel::new(2, old).unwrap_err(),
        CpuModelError::HostTooOld
    );
}
