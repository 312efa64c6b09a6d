//! The topology the guest sees: one package of N cores, one thread each, core i with
//! APIC ID i (the MADT says the same). Every leaf that describes topology says exactly
//! that, so that Linux's leaf-0xb path, its legacy leaf-1/leaf-4 path and AMD's
//! TopologyExtensions path all arrive at N cores and no SMT siblings:
//! - leaf 1 EBX: initial APIC ID, addressable IDs per package (rounded up to a power of
//!   two, as the field is defined), with HTT in EDX when that is more than one;
//! - leaf 4 / 0x8000001d: caches of level 3 and up shared by the whole package, lower
//!   levels private to a core; leaf 4's cores-per-package field likewise;
//! - leaf 0xb: an SMT level of one thread and a core level of N;
//! - 0x80000008 ECX: N - 1 cores, and the APIC ID bits they take;
//! - 0x8000001e: extended APIC ID, core ID, one thread per core, node 0.

use super::CpuidResult;

/// Bits an APIC ID needs to number `n` logical processors (0 for one).
pub fn id_bits(n: u32) -> u32 {
    32 - n.max(1).saturating_sub(1).leading_zeros()
}

/// Leaf 1 EBX: host's brand index and CLFLUSH size, the package's addressable IDs, the
/// caller's APIC ID.
pub fn leaf1_ebx(host_ebx: u32, vcpus: u32, apic_id: u32) -> u32 {
    (host_ebx & 0xffff) | (1 << id_bits(vcpus)) << 16 | (apic_id & 0xff) << 24
}

/// Leaf 4 (Intel) or 0x8000001d (AMD) for one cache: the sharing fields rewritten, the
/// geometry (EBX, ECX, EDX) kept. `intel` also rewrites bits 31:26 (cores per package
/// minus one; reserved on AMD).
pub fn cache(host: CpuidResult, vcpus: u32, intel: bool) -> CpuidResult {
    if host.eax & 0x1f == 0 {
        return CpuidResult::default();
    }
    let level = (host.eax >> 5) & 7;
    let ids = 1 << id_bits(vcpus);
    let sharing = if level >= 3 { ids } else { 1 };
    let mut eax = (host.eax & 0x3fff) | (sharing - 1) << 14;
    if intel {
        eax |= (ids - 1) << 26;
    }
    CpuidResult { eax, ..host }
}

/// Leaf 0xb, the x2APIC topology: level 0 SMT (one thread), level 1 core (`vcpus`),
/// then the invalid level that ends the list. EDX is always the x2APIC ID.
pub fn extended(subleaf: u32, vcpus: u32, apic_id: u32) -> CpuidResult {
    const SMT: u32 = 1;
    const CORE: u32 = 2;
    let (eax, ebx, level_type) = match subleaf {
        0 => (0, 1, SMT),
        1 => (id_bits(vcpus), vcpus, CORE),
        _ => (0, 0, 0),
    };
    CpuidResult {
        eax,
        ebx,
        ecx: (subleaf & 0xff) | level_type << 8,
        edx: apic_id,
    }
}

/// 0x80000008 ECX (AMD): number of cores minus one and the APIC ID bits for cores.
pub fn amd_core_count(vcpus: u32) -> u32 {
    vcpus.saturating_sub(1) & 0xff | id_bits(vcpus) << 12
}

/// 0x8000001e (AMD): extended APIC ID; core ID with one thread per core; node 0 of one.
pub fn amd_ids(apic_id: u32) -> CpuidResult {
    CpuidResult {
        eax: apic_id,
        ebx: apic_id & 0xff,
        ecx: 0,
        edx: 0,
    }
}
