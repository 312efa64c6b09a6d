//! Which XCR0 values a guest may run with: the kernel loads the guest's before entering
//! it, so a value the CPU would refuse (XSETBV faults) or one that enables state the
//! kernel does not switch must never get there. PKRU (bit 9) needs nothing else.

/// x87 (bit 0), SSE (1), AVX (2), the AVX-512 opmask, ZMM upper and high ZMM (5, 6, 7).
const X87: u64 = 1;
const SSE: u64 = 1 << 1;
const AVX: u64 = 1 << 2;
const AVX512: u64 = 0b111 << 5;

/// Whether `xcr0` is valid on a CPU where the kernel enabled `host` (its own XCR0): only
/// components the kernel enabled (it saves and restores exactly those), x87 always on,
/// AVX only with SSE, the AVX-512 components all together and only with AVX.
pub fn valid_for_guest(xcr0: u64, host: u64) -> bool {
    xcr0 & !host == 0
        && xcr0 & X87 != 0
        && (xcr0 & AVX == 0 || xcr0 & SSE != 0)
        && (xcr0 & AVX512 == 0 || (xcr0 & AVX512 == AVX512 && xcr0 & AVX != 0))
}

#[cfg(test)]
mod tests {
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
}
