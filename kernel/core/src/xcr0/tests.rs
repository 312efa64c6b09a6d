use super::*;

const HOST: u64 = 0xe7;

#[test]
fn accepts_what_the_architecture_allows_within_the_host() {
    for ok in [1, 3, 7, 0xe7] {
        assert!(valid_for_guest(ok, HOST), "{ok:#x}");
    }
}

#[test]
fn protection_keys_go_with_a_host_that_switches_them() {
    let host = HOST | 1 << 9;
    assert!(valid_for_guest(1 << 9 | 3, host));
    assert!(!valid_for_guest(1 << 9 | 3, HOST));
}

#[test]
fn refuses_the_rest() {
    // No x87; AVX without SSE; AVX-512 partly or without AVX; beyond the host.
    for bad in [0, 2, 5, 0x27, 0xe3, 0x67, 1 << 9 | 1] {
        assert!(!valid_for_guest(bad, HOST), "{bad:#x}");
    }
    assert!(!valid_for_guest(7, 3));
}
