use super::*;
use crate::cpuid::dumps::{host, EPYC_TCG, SKYLAKE_X};
use crate::cpuid::CpuModel;

fn model(amd: bool) -> MsrModel {
    let dump = if amd { EPYC_TCG } else { SKYLAKE_X };
    MsrModel::new(&CpuModel::new(2, host(dump)).unwrap(), 2_400_000_000)
}

/// What Linux 6.1 reads or writes at boot with plain RDMSR/WRMSR on each vendor; none of
/// these may fault (see the module doc for the functions).
const UNCHECKED_COMMON: &[u32] = &[
    0xc000_0080,
    0xc000_0081,
    0xc000_0082,
    0xc000_0084,
    0xc000_0100,
    0xc000_0101,
    0xc000_0102,
    0x277,
    0x1b,
    0x6e0,
    0x802,
    0x803,
    0x80f,
    0x830,
    0x835,
    0xfe,
    0x2ff,
    0x200,
    0x201,
    0x20e,
    0x20f,
    0x4b56_4d00,
    0x4b56_4d01,
];
const UNCHECKED_INTEL: &[u32] = &[0x8b, 0x1a0, 0x17];
const UNCHECKED_AMD: &[u32] = &[0xc000_0083, 0xc001_0015, 0xc001_001f];

#[test]
fn what_linux_touches_unchecked_never_faults() {
    for (amd, extra) in [(false, UNCHECKED_INTEL), (true, UNCHECKED_AMD)] {
        let m = model(amd);
        let store = MsrStore::default();
        for &msr in UNCHECKED_COMMON.iter().chain(extra) {
            let handling = classify(msr, &m);
            assert_ne!(handling, MsrHandling::Fault, "{msr:#x} on amd={amd}");
            if matches!(handling, MsrHandling::Emulated | MsrHandling::Kvmclock(_)) {
                assert!(store.read(&m, msr).is_ok(), "{msr:#x}");
            }
        }
    }
}

#[test]
fn routing_of_state_lapic_and_tsc() {
    let m = model(false);
    assert_eq!(classify(0x10, &m), MsrHandling::Tsc);
    assert_eq!(classify(0x1b, &m), MsrHandling::Lapic);
    assert_eq!(classify(0x6e0, &m), MsrHandling::Lapic);
    assert_eq!(classify(0x800, &m), MsrHandling::Lapic);
    assert_eq!(classify(0x8ff, &m), MsrHandling::Lapic);
    assert_eq!(
        classify(0xc000_0080, &m),
        MsrHandling::State(StateMsr::Efer)
    );
    assert_eq!(classify(0x277, &m), MsrHandling::State(StateMsr::Pat));
    assert_eq!(
        classify(0x176, &m),
        MsrHandling::State(StateMsr::SysenterEip)
    );
    assert_eq!(
        classify(0xc000_0102, &m),
        MsrHandling::State(StateMsr::KernelGsBase)
    );
    assert_eq!(
        classify(0x4b56_4d01, &m),
        MsrHandling::Kvmclock(KvmclockMsr::SystemTime)
    );
}

#[test]
fn everything_else_faults() {
    for amd in [false, true] {
        let m = model(amd);
        // TSC_ADJUST, SPEC_CTRL, PRED_CMD, ARCH_CAPABILITIES, FLUSH_CMD, TSX_CTRL,
        // PERF_CAPABILITIES, MISC_FEATURES_ENABLES, fixed MTRRs, APERF, MPERF, MC0_CTL,
        // XSS, TSC_AUX, the old kvmclock MSRs, async PF, steal time, OSVW, LS_CFG,
        // DE_CFG, PATCH_LOADER, VM_CR, HSAVE_PA, past the ranges.
        for msr in [
            0x3b,
            0x48,
            0x49,
            0x10a,
            0x10b,
            0x122,
            0x345,
            0x140,
            0x250,
            0x268,
            0xe7,
            0xe8,
            0x400,
            0xda0,
            0xc000_0103,
            0x11,
            0x12,
            0x4b56_4d02,
            0x4b56_4d03,
            0xc001_0140,
            0xc001_1020,
            0xc001_1029,
            0xc001_0020,
            0xc001_0114,
            0xc001_0117,
            0x210,
            0x7ff,
            0x900,
            0xffff_ffff,
        ] {
            assert_eq!(classify(msr, &m), MsrHandling::Fault, "{msr:#x} amd={amd}");
        }
    }
    // Vendor-specific ones fault on the other vendor.
    let (intel, amd) = (model(false), model(true));
    for msr in [0x17, 0x3a, 0xce, 0x1a0] {
        assert_eq!(classify(msr, &amd), MsrHandling::Fault, "{msr:#x}");
        assert_eq!(classify(msr, &intel), MsrHandling::Emulated, "{msr:#x}");
    }
    for msr in [0xc001_0010, 0xc001_0015, 0xc001_001f] {
        assert_eq!(classify(msr, &intel), MsrHandling::Fault, "{msr:#x}");
        assert_eq!(classify(msr, &amd), MsrHandling::Emulated, "{msr:#x}");
    }
}

#[test]
fn speculation_control_follows_the_cpu_model() {
    let mut m = model(false);
    assert!(!m.speculation_control);
    m.speculation_control = true;
    assert_eq!(classify(0x48, &m), MsrHandling::Emulated);
    let mut store = MsrStore::default();
    store.write(&m, 0x48, 0b101).unwrap();
    assert_eq!(store.read(&m, 0x48), Ok(0b101));
    assert_eq!(store.write(&m, 0x48, 1 << 8), Err(GeneralProtection));
    assert_eq!(store.write(&m, 0x49, 1), Ok(()));
    assert_eq!(
        store.read(&m, 0x49),
        Err(GeneralProtection),
        "PRED_CMD is write-only"
    );
}

#[test]
fn values_read_as_a_sensible_machine() {
    let (intel, amd) = (model(false), model(true));
    let s = MsrStore::default();
    assert_eq!(
        s.read(&intel, 0xfe),
        Ok(0x408),
        "8 variable MTRRs, WC, no fixed"
    );
    assert_eq!(s.read(&intel, 0x2ff), Ok(0x806), "enabled, write-back");
    assert_eq!(s.read(&intel, 0x1a0).map(|v| v & 1), Ok(1), "fast strings");
    assert_eq!(s.read(&intel, 0xce), Ok(24 << 8 | 24 << 40));
    assert_eq!(s.read(&intel, 0x8b), Ok(1 << 32));
    assert_eq!(s.read(&amd, 0x8b), Ok(1));
    assert_eq!(s.read(&intel, 0x3a), Ok(1), "locked, VMX off");
    assert_eq!(s.read(&amd, 0xc001_0015).map(|v| v >> 24 & 1), Ok(1));
    assert_eq!(s.read(&amd, 0x179), Ok(0), "no machine-check banks");
    assert_eq!(s.read(&amd, 0x17), Err(GeneralProtection));
}

#[test]
fn writes_are_stored_or_refused() {
    let (intel, amd) = (model(false), model(true));
    let mut s = MsrStore::default();
    // MTRRs: Linux's disable/restore dance, a variable range, reserved bits.
    s.write(&intel, 0x2ff, 0x806 & !0xcff).unwrap();
    s.write(&intel, 0x2ff, 0x806).unwrap();
    assert_eq!(
        s.write(&intel, 0x2ff, 0x406),
        Err(GeneralProtection),
        "FE without fixed ranges"
    );
    assert_eq!(
        s.write(&intel, 0x2ff, 0x802),
        Err(GeneralProtection),
        "type 2"
    );
    s.write(&intel, 0x200, 0x8000_0000 | 1).unwrap();
    s.write(&intel, 0x201, 0x3fff_8000_0800).unwrap();
    assert_eq!(s.read(&intel, 0x201), Ok(0x3fff_8000_0800));
    assert_eq!(
        s.write(&intel, 0x202, 0x100),
        Err(GeneralProtection),
        "reserved base bits"
    );
    assert_eq!(
        s.write(&intel, 0x203, 1 << 46),
        Err(GeneralProtection),
        "beyond MAXPHYADDR"
    );
    // Microcode: Intel takes the 0 Linux writes; AMD's patch level is read-only.
    assert_eq!(s.write(&intel, 0x8b, 0), Ok(()));
    assert_eq!(s.write(&amd, 0x8b, 0), Err(GeneralProtection));
    // MISC_ENABLE: only fast strings may change.
    s.write(&intel, 0x1a0, 0x1800).unwrap();
    assert_eq!(
        s.write(&intel, 0x1a0, 0x1800 | 1 << 22),
        Err(GeneralProtection)
    );
    // Read-only ones.
    for msr in [0xfe, 0xce, 0x3a, 0x179, 0x17] {
        assert_eq!(s.write(&intel, msr, 0), Err(GeneralProtection), "{msr:#x}");
    }
    assert_eq!(s.write(&intel, 0x17a, 0), Ok(()));
    assert_eq!(s.write(&intel, 0x17a, 1), Err(GeneralProtection));
    assert_eq!(
        s.write(&intel, 0x1d9, 1),
        Err(GeneralProtection),
        "no BTF/LBR"
    );
    // AMD: NB_CFG takes Linux's EnableCf8ExtCfg; HWCR keeps TscFreqSel.
    s.write(&amd, 0xc001_001f, 1 << 46).unwrap();
    assert_eq!(s.read(&amd, 0xc001_001f), Ok(1 << 46));
    s.write(&amd, 0xc001_0015, 1 << 30).unwrap();
    assert_eq!(s.read(&amd, 0xc001_0015), Ok(1 << 30 | 1 << 24));
    // CSTAR must be canonical.
    s.write(&amd, 0xc000_0083, 0xffff_ffff_8100_0000).unwrap();
    assert_eq!(
        s.write(&amd, 0xc000_0083, 0x8000_0000_0000),
        Err(GeneralProtection)
    );
    // Not stored here at all.
    assert_eq!(s.read(&amd, 0xc000_0080), Err(GeneralProtection));
    assert_eq!(s.write(&amd, 0x1234, 0), Err(GeneralProtection));
}

#[test]
fn state_writes_are_checked() {
    let (intel, amd) = (model(false), model(true));
    let lma_svme = 1 << 10 | 1 << 12;
    // EFER: SCE|LME|NXE written, LMA and the kernel's SVME kept, others refused.
    assert_eq!(
        check_state_write(StateMsr::Efer, 0xd01, lma_svme | 0x500, &amd),
        Ok(0x901 | lma_svme)
    );
    assert_eq!(
        check_state_write(StateMsr::Efer, 1 << 12, 0, &amd),
        Err(GeneralProtection)
    );
    assert_eq!(
        check_state_write(StateMsr::Efer, 1 << 14, 0, &intel),
        Err(GeneralProtection)
    );
    assert_eq!(guest_view(StateMsr::Efer, 0x1d01), 0xd01);
    assert_eq!(
        check_state_write(StateMsr::Pat, 0x0007_0406_0007_0406, 0, &intel),
        Ok(0x0007_0406_0007_0406)
    );
    assert_eq!(
        check_state_write(StateMsr::Pat, 0x0002, 0, &intel),
        Err(GeneralProtection)
    );
    assert_eq!(
        check_state_write(StateMsr::Lstar, 1 << 47, 0, &intel),
        Err(GeneralProtection)
    );
    assert_eq!(
        check_state_write(StateMsr::GsBase, !0 << 47, 0, &intel),
        Ok(!0 << 47)
    );
    assert_eq!(
        check_state_write(StateMsr::Fmask, 1 << 32, 0, &intel),
        Err(GeneralProtection)
    );
    assert_eq!(
        check_state_write(StateMsr::SysenterEip, 0xffff_ffff_8100_0000, 0, &amd),
        Ok(0x8100_0000)
    );
}
