//! Leaf 0xd, the XSAVE state components, for exactly the components Facet lets a guest
//! enable: x87, SSE, AVX and the three AVX-512 components, as far as the host offers
//! them (the kernel switches those, `kernel/core/src/xcr0.rs`; `kernel/src/arch/cpu.rs`
//! enables AVX-512 only as a complete set on top of AVX, and so does [`guest_mask`]).
//!
//! Sizes and offsets are the architectural ones of the standard (non-compacted) format,
//! the same on every Intel and AMD CPU for these components, so the sizes in subleaf 0
//! agree with subleaves 2 and 5-7 by construction. EBX of subleaf 0 follows the caller's
//! XCR0, as on hardware.

use super::{features::XSAVE1_EAX, CpuidResult};

#[cfg(test)]
mod tests;

pub const X87: u64 = 1;
pub const SSE: u64 = 1 << 1;
pub const AVX: u64 = 1 << 2;
/// Opmask, ZMM_Hi256, Hi16_ZMM.
pub const AVX512: u64 = 0b111 << 5;
/// Every component the kernel may let a guest use.
const FACET_SUPPORTED: u64 = X87 | SSE | AVX | AVX512;
/// Legacy region and XSAVE header.
const BASE_SIZE: u32 = 512 + 64;
/// (component, size, offset) in the standard format.
const COMPONENTS: [(u32, u32, u32); 4] = [
    (2, 256, 576),
    (5, 64, 1088),
    (6, 512, 1152),
    (7, 1024, 1664),
];

/// The XCR0 bits a guest may set, from what the host offers (CPUID 0xd.0 EDX:EAX).
pub fn guest_mask(host_offered: u64) -> u64 {
    let mut mask = host_offered & FACET_SUPPORTED;
    if mask & AVX == 0 || mask & AVX512 != AVX512 {
        mask &= !AVX512;
    }
    mask | X87 | SSE
}

/// Whether XSETBV may set XCR0 to `value` for a guest allowed `mask`: x87 always on,
/// nothing outside the mask, AVX only with SSE, and the AVX-512 components only all
/// together and with AVX (the architectural rules; the CPU raises #GP otherwise).
pub fn xsetbv_allowed(value: u64, mask: u64) -> bool {
    let avx512 = value & AVX512;
    value & X87 != 0
        && value & !mask == 0
        && (value & AVX == 0 || value & SSE != 0)
        && (avx512 == 0 || (avx512 == AVX512 && value & AVX != 0))
}

/// Bytes an XSAVE area (standard format) needs for the components in `xcr0`.
pub fn area_size(xcr0: u64) -> u32 {
    COMPONENTS
        .iter()
        .filter(|(c, _, _)| xcr0 & (1 << c) != 0)
        .map(|(_, size, offset)| offset + size)
        .fold(BASE_SIZE, u32::max)
}

/// Leaf 0xd, `subleaf`, for a guest allowed `mask` whose XCR0 is `caller_xcr0`.
pub fn leaf(subleaf: u32, mask: u64, caller_xcr0: u64, host: CpuidResult) -> CpuidResult {
    match subleaf {
        0 => CpuidResult {
            eax: mask as u32,
            ebx: area_size(caller_xcr0 & mask),
            ecx: area_size(mask),
            edx: (mask >> 32) as u32,
        },
        1 => CpuidResult {
            eax: host.eax & XSAVE1_EAX,
            ..CpuidResult::default()
        },
        n => COMPONENTS
            .iter()
            .find(|(c, _, _)| *c == n && mask & (1 << c) != 0)
            .map(|&(_, size, offset)| CpuidResult {
                eax: size,
                ebx: offset,
                ecx: 0,
                edx: 0,
            })
            .unwrap_or_default(),
    }
}
