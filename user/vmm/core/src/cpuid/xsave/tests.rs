use crate::cpuid::dumps::{host, Dump, EPYC_TCG, SKYLAKE_X};
use crate::cpuid::xsave::{xsetbv_allowed, AVX, AVX512, SSE, X87};
use crate::cpuid::{features, CallerState, CpuModel, CpuidResult};

const OSXSAVE_ON: CallerState = CallerState {
    cr4: 1 << 18,
    xcr0: 0b111,
};

fn model(dump: Dump) -> CpuModel {
    CpuModel::new(2, host(dump)).unwrap()
}

fn guest(m: &CpuModel, dump: Dump, leaf: u32, subleaf: u32) -> CpuidResult {
    m.cpuid(0, leaf, subleaf, host(dump)(leaf, subleaf), OSXSAVE_ON)
}

fn bit(reg: u32, n: u32) -> bool {
    reg & (1 << n) != 0
}

#[test]
fn xsave_leaves_follow_the_allowed_components() {
    // EPYC offers x87/SSE/AVX.
    let m = model(EPYC_TCG);
    assert_eq!(m.xcr0_mask(), 0b111);
    let d0 = m.cpuid(
        0,
        0xd,
        0,
        host(EPYC_TCG)(0xd, 0),
        CallerState {
            cr4: 1 << 18,
            xcr0: 3,
        },
    );
    assert_eq!((d0.eax, d0.ebx, d0.ecx, d0.edx), (7, 576, 832, 0));
    let d0 = guest(&m, EPYC_TCG, 0xd, 0);
    assert_eq!(d0.ebx, 832, "size follows the caller's XCR0");
    assert_eq!(
        guest(&m, EPYC_TCG, 0xd, 1).eax,
        0b101,
        "XSAVEOPT, XGETBV1 only"
    );
    let d2 = guest(&m, EPYC_TCG, 0xd, 2);
    assert_eq!((d2.eax, d2.ebx), (256, 576));
    assert_eq!(guest(&m, EPYC_TCG, 0xd, 5), CpuidResult::default());
    // Skylake-X offers MPX and PKRU too, which Facet does not switch.
    let m = model(SKYLAKE_X);
    assert_eq!(m.xcr0_mask(), 0xe7);
    let d0 = guest(&m, SKYLAKE_X, 0xd, 0);
    assert_eq!((d0.eax, d0.ecx), (0xe7, 1664 + 1024));
    for (subleaf, size, offset) in [(5, 64, 1088), (6, 512, 1152), (7, 1024, 1664)] {
        let d = guest(&m, SKYLAKE_X, 0xd, subleaf);
        assert_eq!((d.eax, d.ebx), (size, offset));
        assert_eq!(d, host(SKYLAKE_X)(0xd, subleaf), "architectural layout");
    }
    for subleaf in [3, 4, 8, 9, 10, 63] {
        assert_eq!(guest(&m, SKYLAKE_X, 0xd, subleaf), CpuidResult::default());
    }
    assert!(
        bit(guest(&m, SKYLAKE_X, 7, 0).ebx, 16),
        "AVX-512F with its state"
    );
}

#[test]
fn features_without_their_state_are_hidden() {
    // A host offering AVX-512 only in part: AVX-512 must go, AVX stays.
    let partial = |leaf, subleaf| match (leaf, subleaf) {
        (0xd, 0) => CpuidResult {
            eax: 0x67,
            ..host(SKYLAKE_X)(0xd, 0)
        },
        _ => host(SKYLAKE_X)(leaf, subleaf),
    };
    let m = CpuModel::new(2, partial).unwrap();
    assert_eq!(m.xcr0_mask(), 0b111);
    let l7 = m.cpuid(0, 7, 0, partial(7, 0), OSXSAVE_ON);
    assert_eq!(l7.ebx & features::LEAF7_EBX_AVX512, 0);
    assert!(bit(l7.ebx, 5), "AVX2 stays");
    // No XSAVE at all: no leaf 0xd, no AVX, no OSXSAVE.
    let no_xsave = |leaf, subleaf| match (leaf, subleaf) {
        (1, 0) => CpuidResult {
            ecx: host(EPYC_TCG)(1, 0).ecx & !(1 << 26),
            ..host(EPYC_TCG)(1, 0)
        },
        _ => host(EPYC_TCG)(leaf, subleaf),
    };
    let m = CpuModel::new(2, no_xsave).unwrap();
    assert_eq!(m.xcr0_mask(), 0);
    let l1 = m.cpuid(0, 1, 0, no_xsave(1, 0), OSXSAVE_ON);
    assert!(!bit(l1.ecx, 26) && !bit(l1.ecx, 27) && !bit(l1.ecx, 28) && !bit(l1.ecx, 12));
    assert!(
        !bit(m.cpuid(0, 7, 0, no_xsave(7, 0), OSXSAVE_ON).ebx, 5),
        "no AVX2"
    );
    assert_eq!(
        m.cpuid(0, 0xd, 0, no_xsave(0xd, 0), OSXSAVE_ON),
        CpuidResult::default()
    );
}

#[test]
fn osxsave_follows_the_callers_cr4() {
    let m = model(SKYLAKE_X);
    let h = host(SKYLAKE_X)(1, 0);
    assert!(bit(m.cpuid(0, 1, 0, h, OSXSAVE_ON).ecx, 27));
    assert!(!bit(m.cpuid(0, 1, 0, h, CallerState::default()).ecx, 27));
}

#[test]
fn xsetbv_rules() {
    let mask = X87 | SSE | AVX | AVX512;
    assert!(xsetbv_allowed(X87, mask));
    assert!(xsetbv_allowed(X87 | SSE | AVX, mask));
    assert!(xsetbv_allowed(mask, mask));
    assert!(!xsetbv_allowed(SSE, mask));
    assert!(!xsetbv_allowed(X87 | AVX, mask));
    assert!(!xsetbv_allowed(X87 | SSE | AVX | (1 << 5), mask));
    assert!(!xsetbv_allowed(X87 | SSE | AVX512, mask));
    assert!(!xsetbv_allowed(X87 | SSE | AVX, X87 | SSE));
}
