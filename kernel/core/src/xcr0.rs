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
mod tests;
