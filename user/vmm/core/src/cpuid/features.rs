//! Feature bits the guest may see: allow-lists, so a feature the host gains later stays
//! hidden until someone decides the VMM supports it. A bit is allowed when it needs
//! nothing from the VMM (it works natively under SVM and VMX with nested paging) or the
//! VMM emulates it. Hidden, and why:
//! - VMX, SVM, SMX (no nesting); MONITOR/MWAIT and MONITORX (the VMM does not handle
//!   their exits); WAITPKG (UMWAIT control MSR, TPAUSE timing).
//! - PMU and debug-store features: PDCM, DS, DTES64, DS-CPL, leaf 0xa, AMD PerfCtr*,
//!   IBS, PerfTsc (their MSRs #GP).
//! - Machine check (MCE, MCA), thermal and power (ACPI, TM, TM2, EIST, leaf 6 apart
//!   from ARAT), xTPR, DCA, PSN, CNXT-ID, SDBG: MSRs and hardware the VMM does not model.
//! - INVPCID: VMX raises #UD for it unless "enable INVPCID" is set, which the kernel does
//!   not set. PCID itself stays: the guest owns its CR3 and TLB tags under nested paging.
//! - RDTSCP and RDPID: the kernel does not switch IA32_TSC_AUX, so the guest would read
//!   the host's value. Linux then writes no TSC_AUX and uses LSL for getcpu.
//! - PKU/OSPKE, CET, TSX (HLE, RTM and their control bits), SGX, PT, MPX, TME, LA57,
//!   KeyLocker, ENQCMD, UINTR, AMX, PCONFIG, LBR, bus-lock detect, PKS: state or MSRs
//!   the kernel does not switch or the VMM does not model.
//! - TSC_ADJUST, speculation control (IBRS/IBPB/STIBP/SSBD and the AMD variants),
//!   ARCH_CAPABILITIES, CORE_CAPABILITIES, L1D_FLUSH, SRBDS/TSX control: MSRs the guest
//!   would write on every context switch or that describe the host, not this machine.
//! - AMD: OSVW (Linux reads its MSRs without a fault handler), NodeId MSR, SKINIT, WDT,
//!   LWP, TCE, extended APIC space, AltMovCr8, FFXSR (EFER bit), SME/SEV (leaf
//!   0x8000001f, read before Linux has an IDT).

pub const fn bits(list: &[u32]) -> u32 {
    let mut mask = 0;
    let mut i = 0;
    while i < list.len() {
        mask |= 1 << list[i];
        i += 1;
    }
    mask
}

/// Leaf 1 ECX: SSE3, PCLMULQDQ, SSSE3, FMA, CX16, PCID, SSE4.1, SSE4.2, MOVBE, POPCNT,
/// AES, XSAVE, AVX, F16C, RDRAND.
pub const LEAF1_ECX: u32 = bits(&[0, 1, 9, 12, 13, 17, 19, 20, 22, 23, 25, 26, 28, 29, 30]);
pub const LEAF1_ECX_FMA: u32 = 1 << 12;
pub const LEAF1_ECX_X2APIC: u32 = 1 << 21;
pub const LEAF1_ECX_TSC_DEADLINE: u32 = 1 << 24;
pub const LEAF1_ECX_XSAVE: u32 = 1 << 26;
pub const LEAF1_ECX_OSXSAVE: u32 = 1 << 27;
pub const LEAF1_ECX_AVX: u32 = 1 << 28;
pub const LEAF1_ECX_F16C: u32 = 1 << 29;
pub const LEAF1_ECX_HYPERVISOR: u32 = 1 << 31;

/// Leaf 1 EDX: FPU, VME, DE, PSE, TSC, MSR, PAE, CX8, APIC, SEP, MTRR, PGE, CMOV, PAT,
/// PSE-36, CLFSH, MMX, FXSR, SSE, SSE2, SS.
pub const LEAF1_EDX: u32 = bits(&[
    0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 15, 16, 17, 19, 23, 24, 25, 26, 27,
]);
/// Emulated whatever the host has: the local APIC and the MTRRs.
pub const LEAF1_EDX_EMULATED: u32 = bits(&[9, 12]);
pub const LEAF1_EDX_HTT: u32 = 1 << 28;

/// Leaf 6 EAX: the APIC timer runs in every C-state (ARAT): true of the emulated one.
pub const LEAF6_EAX_ARAT: u32 = 1 << 2;

/// Leaf 7.0 EBX: FSGSBASE, BMI1, AVX2, FDP_EXCPTN_ONLY, SMEP, BMI2, ERMS, FCS/FDS
/// deprecation, RDSEED, ADX, SMAP, CLFLUSHOPT, CLWB, SHA; and the AVX-512 set below.
pub const LEAF7_EBX: u32 = bits(&[0, 3, 5, 6, 7, 8, 9, 13, 18, 19, 20, 23, 24, 29]);
/// AVX-512 F, DQ, IFMA, PF, ER, CD, BW, VL.
pub const LEAF7_EBX_AVX512: u32 = bits(&[16, 17, 21, 26, 27, 28, 30, 31]);
pub const LEAF7_EBX_AVX2: u32 = 1 << 5;
/// Leaf 7.0 ECX: PREFETCHWT1, UMIP, GFNI, VAES, VPCLMULQDQ, MOVDIRI, MOVDIR64B.
pub const LEAF7_ECX: u32 = bits(&[0, 2, 8, 9, 10, 27, 28]);
/// AVX-512 VBMI, VBMI2, VNNI, BITALG, VPOPCNTDQ.
pub const LEAF7_ECX_AVX512: u32 = bits(&[1, 6, 11, 12, 14]);
/// VAES and VPCLMULQDQ need AVX.
pub const LEAF7_ECX_NEEDS_AVX: u32 = bits(&[9, 10]);
/// Leaf 7.0 EDX: FSRM, MD_CLEAR, SERIALIZE.
pub const LEAF7_EDX: u32 = bits(&[4, 10, 14]);
/// AVX-512 4VNNIW, 4FMAPS, VP2INTERSECT, FP16.
pub const LEAF7_EDX_AVX512: u32 = bits(&[2, 3, 8, 23]);
/// Speculation control bits (IBRS/IBPB, STIBP, SSBD): hidden, see the module doc.
pub const LEAF7_EDX_SPEC_CTRL: u32 = bits(&[26, 27, 31]);

/// 0x80000001 ECX: LAHF/SAHF, ABM/LZCNT, SSE4A, MisAlignSse, PREFETCHW, XOP,
/// FMA4, TBM, TopologyExtensions.
pub const EXT1_ECX: u32 = bits(&[0, 5, 6, 7, 8, 11, 16, 21, 22]);
pub const EXT1_ECX_CMP_LEGACY: u32 = 1 << 1;
/// XOP and FMA4 need AVX.
pub const EXT1_ECX_NEEDS_AVX: u32 = bits(&[11, 16]);
pub const EXT1_ECX_TOPOEXT: u32 = 1 << 22;
/// 0x80000001 EDX: AMD's copies of the allowed leaf-1 EDX bits, SYSCALL, NX, MmxExt,
/// Page1GB, LM, 3DNowExt, 3DNow.
pub const EXT1_EDX: u32 = (LEAF1_EDX
    & bits(&[0, 1, 2, 3, 4, 5, 6, 8, 9, 12, 13, 15, 16, 17, 23, 24]))
    | bits(&[11, 20, 22, 26, 29, 30, 31]);

/// 0x80000007 EDX: invariant TSC (the guest's TSC is the host's plus an offset).
pub const EXT7_EDX_INVARIANT_TSC: u32 = 1 << 8;

/// 0x80000008 EBX: CLZERO, XSAVE error pointers always saved (AMD), WBNOINVD.
pub const EXT8_EBX: u32 = bits(&[0, 2, 9]);
/// AMD's speculation control: IBPB, IBRS, STIBP, SSBD, VIRT_SSBD (hidden).
pub const EXT8_EBX_SPEC_CTRL: u32 = bits(&[12, 14, 15, 24, 25]);

/// 0xd.1 EAX: XSAVEOPT and XGETBV with ECX=1 (not XSAVEC, XSAVES, XFD: compacted and
/// supervisor state would need IA32_XSS, which nothing switches).
pub const XSAVE1_EAX: u32 = bits(&[0, 2]);

/// Bits of a leaf that depend on the guest's XCR0 mask: the AVX-512 bits only with all
/// three AVX-512 components, the AVX-encoded ones only with AVX.
pub fn vector_filter(
    allowed: u32,
    avx: bool,
    avx512: bool,
    needs_avx: u32,
    avx512_bits: u32,
) -> u32 {
    let mut mask = allowed;
    if avx512 {
        mask |= avx512_bits;
    }
    if !avx {
        mask &= !needs_avx;
    }
    mask
}
