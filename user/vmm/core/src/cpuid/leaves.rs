//! The leaves that filter the host's feature bits: leaf 1, leaf 7.0, 0x80000001 and
//! 0x80000008, each host register masked by its allow-list (`features.rs`), with the
//! emulated bits added and the vector extensions kept only with their XSAVE state.

use super::{features, topology, xsave, CallerState, CpuModel, CpuidResult, Vendor, CR4_OSXSAVE};

impl CpuModel {
    fn avx(&self) -> bool {
        self.xcr0_mask & xsave::AVX != 0
    }

    fn avx512(&self) -> bool {
        self.xcr0_mask & xsave::AVX512 == xsave::AVX512
    }

    pub(super) fn leaf1(&self, vcpu: u32, host: CpuidResult, caller: CallerState) -> CpuidResult {
        use features::*;
        let mut ecx =
            host.ecx & LEAF1_ECX | LEAF1_ECX_X2APIC | LEAF1_ECX_TSC_DEADLINE | LEAF1_ECX_HYPERVISOR;
        if self.xcr0_mask == 0 {
            ecx &= !LEAF1_ECX_XSAVE;
        } else if caller.cr4 & CR4_OSXSAVE != 0 {
            ecx |= LEAF1_ECX_OSXSAVE;
        }
        if !self.avx() {
            ecx &= !(LEAF1_ECX_AVX | LEAF1_ECX_FMA | LEAF1_ECX_F16C);
        }
        let mut edx = host.edx & LEAF1_EDX | LEAF1_EDX_EMULATED;
        if self.vcpus > 1 {
            edx |= LEAF1_EDX_HTT;
        }
        CpuidResult {
            eax: host.eax,
            ebx: topology::leaf1_ebx(host.ebx, self.vcpus, vcpu),
            ecx,
            edx,
        }
    }

    pub(super) fn leaf7(&self, host: CpuidResult) -> CpuidResult {
        use features::*;
        let (avx, avx512) = (self.avx(), self.avx512());
        CpuidResult {
            eax: 0,
            ebx: host.ebx & vector_filter(LEAF7_EBX, avx, avx512, LEAF7_EBX_AVX2, LEAF7_EBX_AVX512),
            ecx: host.ecx
                & vector_filter(
                    LEAF7_ECX,
                    avx,
                    avx512,
                    LEAF7_ECX_NEEDS_AVX,
                    LEAF7_ECX_AVX512,
                ),
            edx: host.edx & vector_filter(LEAF7_EDX, avx, avx512, 0, LEAF7_EDX_AVX512),
        }
    }

    pub(super) fn extended1(&self, host: CpuidResult) -> CpuidResult {
        use features::*;
        let mut ecx = host.ecx & EXT1_ECX;
        if !self.topology_extensions {
            ecx &= !EXT1_ECX_TOPOEXT;
        }
        if !self.avx() {
            ecx &= !EXT1_ECX_NEEDS_AVX;
        }
        if self.vendor == Vendor::Amd && self.vcpus > 1 {
            ecx |= EXT1_ECX_CMP_LEGACY;
        }
        CpuidResult {
            eax: host.eax,
            ebx: if self.vendor == Vendor::Amd {
                host.ebx
            } else {
                0
            },
            ecx,
            edx: host.edx & EXT1_EDX,
        }
    }

    pub(super) fn extended8(&self, host: CpuidResult) -> CpuidResult {
        let amd = self.vendor == Vendor::Amd;
        CpuidResult {
            // Physical and linear address bits; no separate guest-physical size.
            eax: host.eax & 0xffff,
            ebx: host.ebx & features::EXT8_EBX,
            ecx: if amd {
                topology::amd_core_count(self.vcpus)
            } else {
                0
            },
            edx: 0,
        }
    }
}
