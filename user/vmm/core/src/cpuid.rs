//! The guest's CPU model: what CPUID returns. The VMM executes CPUID on the host for the
//! leaf and subleaf the guest asked and hands the result to [`CpuModel::cpuid`], which
//! returns the guest's answer: a filtered, self-consistent view of the host.
//!
//! Invariants:
//! - Only allow-listed feature bits pass (`features.rs` lists what is hidden and why);
//!   a few are set whatever the host has because the VMM emulates them: x2APIC,
//!   TSC-deadline, the hypervisor bit, the local APIC, the MTRRs, ARAT.
//! - Topology is one package of N single-threaded cores with APIC IDs 0..N, in every
//!   leaf that describes it (`topology.rs`), and each vCPU sees its own APIC ID.
//! - XSAVE leaves describe exactly the XCR0 components Facet lets guests use
//!   (`xsave.rs`); features that need a component are hidden without it.
//! - The maximum basic leaf is 0xd and the maximum extended leaf 0x8000001e (AMD) or
//!   0x80000008 (Intel), at most the host's; leaves beyond them, and unknown leaves
//!   below, are zero.
//! - Leaves 0x40000000.. say "KVM" with two features, the kvmclock MSRs
//!   (`docs/vmm.md` explains why), and are zero from 0x40000002 on, so no other
//!   hypervisor signature is found at 0x40000100 and up.
//! - Anything that depends on guest state (OSXSAVE, the XSAVE size of XCR0) is computed
//!   from the caller's CR4 and XCR0, which the exit message carries.

#[cfg(test)]
pub(crate) mod dumps;
mod features;
mod leaves;
#[cfg(test)]
mod tests;
mod topology;
mod xsave;

pub use xsave::{guest_mask as guest_xcr0_mask, xsetbv_allowed};

/// The four registers CPUID returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuidResult {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    Intel,
    Amd,
}

/// The calling vCPU's state CPUID depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallerState {
    pub cr4: u64,
    pub xcr0: u64,
}

/// Why a model cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuModelError {
    /// The vCPU count is outside 1..=[`crate::platform::MAX_VCPUS`].
    BadVcpuCount(u32),
    /// The host is neither GenuineIntel nor AuthenticAMD (nor Hygon's AMD clone).
    UnknownVendor([u8; 12]),
    /// The host lacks the leaves every x86-64 CPU has (basic 1, extended 0x80000001).
    HostTooOld,
}

/// `KVMKVMKVM\0\0\0` in EBX, ECX, EDX of leaf 0x40000000.
pub const KVM_SIGNATURE: [u32; 3] = [0x4b4d_564b, 0x564b_4d56, 0x4d];
/// KVM_FEATURE_CLOCKSOURCE2 (bit 3) and KVM_FEATURE_CLOCKSOURCE_STABLE_BIT (bit 24):
/// kvmclock through MSRs 0x4b564d00/01 and nothing else.
pub const KVM_FEATURES: u32 = 1 << 3 | 1 << 24;
const HYPERVISOR_BASE: u32 = 0x4000_0000;
const CR4_OSXSAVE: u64 = 1 << 18;
const MAX_BASIC: u32 = 0xd;
const MAX_EXTENDED_AMD: u32 = 0x8000_001e;
const MAX_EXTENDED_INTEL: u32 = 0x8000_0008;

/// What the guest's CPU is, decided once per VM.
#[derive(Clone, Copy, Debug)]
pub struct CpuModel {
    vendor: Vendor,
    vcpus: u32,
    max_basic: u32,
    max_extended: u32,
    xcr0_mask: u64,
    physical_address_bits: u8,
    /// AMD's TopologyExtensions leaves (0x8000001d, 0x8000001e) exist.
    topology_extensions: bool,
}

impl CpuModel {
    /// The model for `vcpus` vCPUs on this host; `host(leaf, subleaf)` executes CPUID.
    pub fn new(
        vcpus: u32,
        mut host: impl FnMut(u32, u32) -> CpuidResult,
    ) -> Result<Self, CpuModelError> {
        if !(1..=crate::platform::MAX_VCPUS as u32).contains(&vcpus) {
            return Err(CpuModelError::BadVcpuCount(vcpus));
        }
        let leaf0 = host(0, 0);
        let mut name = [0u8; 12];
        for (chunk, reg) in name
            .chunks_exact_mut(4)
            .zip([leaf0.ebx, leaf0.edx, leaf0.ecx])
        {
            chunk.copy_from_slice(&reg.to_le_bytes());
        }
        let vendor = match &name {
            b"GenuineIntel" => Vendor::Intel,
            b"AuthenticAMD" | b"HygonGenuine" => Vendor::Amd,
            _ => return Err(CpuModelError::UnknownVendor(name)),
        };
        let host_max_extended = host(0x8000_0000, 0).eax;
        if leaf0.eax < 1 || host_max_extended < 0x8000_0001 {
            return Err(CpuModelError::HostTooOld);
        }
        let xsave = host(1, 0).ecx & features::LEAF1_ECX_XSAVE != 0;
        let xcr0_mask = if xsave && leaf0.eax >= 0xd {
            let d = host(0xd, 0);
            xsave::guest_mask((d.edx as u64) << 32 | d.eax as u64)
        } else {
            0
        };
        let physical_address_bits = match host_max_extended >= 0x8000_0008 {
            true => host(0x8000_0008, 0).eax as u8,
            false => 36,
        };
        let extended_limit = match vendor {
            Vendor::Amd => MAX_EXTENDED_AMD,
            Vendor::Intel => MAX_EXTENDED_INTEL,
        };
        let topology_extensions = vendor == Vendor::Amd
            && host_max_extended >= MAX_EXTENDED_AMD
            && host(0x8000_0001, 0).ecx & features::EXT1_ECX_TOPOEXT != 0;
        Ok(CpuModel {
            vendor,
            vcpus,
            max_basic: leaf0.eax.min(MAX_BASIC),
            max_extended: host_max_extended.min(extended_limit),
            xcr0_mask,
            physical_address_bits,
            topology_extensions,
        })
    }

    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// The XCR0 bits the guest may set (0 without XSAVE).
    pub fn xcr0_mask(&self) -> u64 {
        self.xcr0_mask
    }

    /// Whether the model advertises IA32_SPEC_CTRL and IA32_PRED_CMD (Intel's leaf 7
    /// IBRS/STIBP/SSBD bits or AMD's 0x80000008 ones). The allow-lists hide them today;
    /// the MSR model follows this, so allowing them enables the MSRs too.
    pub fn advertises_speculation_control(&self) -> bool {
        features::LEAF7_EDX & features::LEAF7_EDX_SPEC_CTRL != 0
            || features::EXT8_EBX & features::EXT8_EBX_SPEC_CTRL != 0
    }

    /// MAXPHYADDR, which bounds the MTRR masks.
    pub fn physical_address_bits(&self) -> u8 {
        self.physical_address_bits
    }

    /// The guest's CPUID(`leaf`, `subleaf`) on vCPU `vcpu` (its APIC ID), given the
    /// host's answer to the same question and the caller's CR4 and XCR0.
    pub fn cpuid(
        &self,
        vcpu: u32,
        leaf: u32,
        subleaf: u32,
        host: CpuidResult,
        caller: CallerState,
    ) -> CpuidResult {
        let in_range = match leaf {
            0..=0x3fff_ffff => leaf <= self.max_basic,
            0x4000_0000..=0x4fff_ffff => true,
            0x8000_0000..=0x8fff_ffff => leaf <= self.max_extended,
            _ => false,
        };
        if !in_range {
            return CpuidResult::default();
        }
        match leaf {
            0 => CpuidResult {
                eax: self.max_basic,
                ..host
            },
            1 => self.leaf1(vcpu, host, caller),
            2 if self.vendor == Vendor::Intel => host,
            4 if self.vendor == Vendor::Intel => topology::cache(host, self.vcpus, true),
            6 => CpuidResult {
                eax: features::LEAF6_EAX_ARAT,
                ..CpuidResult::default()
            },
            7 if subleaf == 0 => self.leaf7(host),
            0xb => topology::extended(subleaf, self.vcpus, vcpu),
            0xd if self.xcr0_mask != 0 => xsave::leaf(subleaf, self.xcr0_mask, caller.xcr0, host),
            HYPERVISOR_BASE => CpuidResult {
                eax: HYPERVISOR_BASE + 1,
                ebx: KVM_SIGNATURE[0],
                ecx: KVM_SIGNATURE[1],
                edx: KVM_SIGNATURE[2],
            },
            0x4000_0001 => CpuidResult {
                eax: KVM_FEATURES,
                ..CpuidResult::default()
            },
            0x8000_0000 => CpuidResult {
                eax: self.max_extended,
                ..host
            },
            0x8000_0001 => self.extended1(host),
            0x8000_0002..=0x8000_0004 | 0x8000_0006 => host,
            0x8000_0005 | 0x8000_0019 if self.vendor == Vendor::Amd => host,
            0x8000_0007 => CpuidResult {
                edx: host.edx & features::EXT7_EDX_INVARIANT_TSC,
                ..CpuidResult::default()
            },
            0x8000_0008 => self.extended8(host),
            0x8000_001d if self.topology_extensions => topology::cache(host, self.vcpus, false),
            0x8000_001e if self.topology_extensions => topology::amd_ids(vcpu),
            _ => CpuidResult::default(),
        }
    }
}
