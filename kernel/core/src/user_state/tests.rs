use super::*;
use facet_abi::layout::SEL_USER_CODE64;

const CODE64: u64 = SEL_USER_CODE64 as u64;
const CODE32: u64 = SEL_USER_CODE32 as u64;

#[test]
fn user_addresses_pass() {
    for rip in [0, 0x40_0000, 0xffff_ffff, 0x1_0000_0000, USER_ADDR - 1] {
        assert!(entry_ok(CODE64, rip), "{rip:#x}");
        assert!(stack_ok(rip), "{rip:#x}");
    }
}

#[test]
fn kernel_half_and_non_canonical_fail() {
    for bad in [
        USER_ADDR,
        0x0000_8000_0000_0000,
        0x8000_0000_0000_0000,
        0xffff_8000_0000_0000,
        0xffff_ffff_8000_0000,
        u64::MAX,
    ] {
        assert!(!entry_ok(CODE64, bad), "{bad:#x}");
        assert!(!entry_ok(CODE32, bad), "{bad:#x}");
        assert!(!stack_ok(bad), "{bad:#x}");
    }
}

#[test]
fn thirty_two_bit_code_stays_below_four_gib() {
    assert!(entry_ok(CODE32, 0xffff_ffff));
    assert!(!entry_ok(CODE32, 0x1_0000_0000));
    assert!(!entry_ok(CODE32, USER_ADDR - 1));
}
