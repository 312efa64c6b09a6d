use super::*;

/// MSRs that reach past the kernel or belong to it: none may be read or written.
const KERNELS: &[u32] = &[
    0xc000_0080, // EFER
    0xc000_0081, // STAR
    0xc000_0082, // LSTAR
    0xc000_0083, // CSTAR
    0xc000_0084, // FMASK
    0xc000_0100, // FS base
    0xc000_0101, // GS base
    0xc000_0102, // kernel GS base
    0xc000_0103, // TSC_AUX
    0xc001_0117, // SVM host save area
    0xc001_0114, // VM_CR
    0x10,        // TSC
    0x1b,        // APIC base
    0x3a,        // feature control
    0x3b,        // TSC adjust
    0x48,        // SPEC_CTRL
    0x174,       // SYSENTER_CS
    0x175,
    0x176,
    0x600,       // DS area
    0x6e0,       // TSC deadline
    0x800,       // x2APIC
    0x8ff,       // x2APIC
    0x480,       // VMX basic
    0x491,       // VMX capabilities
    0xc80,       // debug interface
    0x9e,        // SMBASE
    0xc001_0111, // SMM base (AMD)
];

/// What a review found reachable under the old refuse list.
const PAST_THE_KERNEL: &[u32] = &[
    0x560,       // RTIT_OUTPUT_BASE
    0x561,       // RTIT_OUTPUT_MASK_PTRS
    0x570,       // RTIT_CTL
    0x1d9,       // DEBUGCTL
    0x1c9,       // LBR TOS
    0x680,       // LBR FROM 0
    0x6c0,       // LBR TO 0
    0x1a0,       // MISC_ENABLE
    0xc001_0010, // SYSCFG
    0xc001_0016, // IORR base 0
    0xc001_0019, // IORR mask 1
    0xc001_001a, // TOP_MEM
    0xc001_001d, // TOP_MEM2
    0xc001_0015, // HWCR
    0x3f1,       // PEBS_ENABLE
];

#[test]
fn the_kernels_msrs_are_refused() {
    for &msr in KERNELS.iter().chain(PAST_THE_KERNEL) {
        assert!(!allowed(msr, false), "read of {msr:#x}");
        assert!(!allowed(msr, true), "write of {msr:#x}");
    }
}

#[test]
fn memory_types_and_machine_checks_are_read_only() {
    for msr in [0x200, 0x26f, 0x277, 0x2ff, 0xfe, 0x400, 0x47f, 0x179] {
        assert!(allowed(msr, false), "read of {msr:#x}");
        assert!(!allowed(msr, true), "write of {msr:#x}");
    }
}

#[test]
fn drivers_reach_what_they_need() {
    for msr in [
        0x199,
        0x1b0,
        0x770,
        0xc1,
        0x186,
        0x38f,
        0xc001_0062,
        0xc001_0000,
    ] {
        assert!(allowed(msr, false) && allowed(msr, true), "{msr:#x}");
    }
    for msr in [0x198, 0x19c, 0x611, 0xe7, 0xe8, 0xce, 0x10a, 0xc001_029b] {
        assert!(allowed(msr, false), "{msr:#x}");
    }
}

#[test]
fn barriers_are_write_only() {
    for msr in [0x49, 0x10b] {
        assert!(allowed(msr, true) && !allowed(msr, false), "{msr:#x}");
    }
}

#[test]
fn the_table_is_ordered_and_disjoint_and_everything_else_is_refused() {
    let mut ranges: std::vec::Vec<_> = ALLOWED.iter().map(|&(a, b, _)| (a, b)).collect();
    ranges.sort();
    for w in ranges.windows(2) {
        assert!(w[0].1 < w[1].0, "{:#x?} overlaps {:#x?}", w[0], w[1]);
    }
    for &(a, b) in &ranges {
        assert!(a <= b);
    }
    // Sample the whole space: only listed MSRs pass.
    let mut x = 0x9e37_79b9u32;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let listed = ranges.iter().any(|&(a, b)| (a..=b).contains(&x));
        assert_eq!(allowed(x, false) || allowed(x, true), listed, "{x:#x}");
    }
}
