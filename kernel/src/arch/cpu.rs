//! CPU identification and the control-register set-up every CPU gets.
//!
//! Features are read once with CPUID (and, for EPT, the VMX capability MSRs) into
//! [`Features`]; [`enable`] then switches on what the kernel uses: SSE state for user
//! programs, XSAVE with every state component the kernel can switch, FSGSBASE for user
//! programs, PCID unless `nopcid`, global pages, and SMEP.

use core::arch::asm;

use super::msr;

/// One CPUID result.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuidResult {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// Executes CPUID for `leaf` and `subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> CpuidResult {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: CPUID has no side effects on memory. RBX is reserved by LLVM, so it is
    // saved in a scratch register around the instruction.
    unsafe {
        asm!(
            "mov {tmp:r}, rbx",
            "cpuid",
            "xchg {tmp:r}, rbx",
            tmp = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => ecx,
            out("edx") edx,
            options(nomem, nostack, preserves_flags),
        )
    }
    CpuidResult { eax, ebx, ecx, edx }
}

/// XSAVE state components the kernel can save and restore for user programs:
/// x87, SSE, AVX, the three AVX-512 components (which only come together), and PKRU:
/// a guest may turn protection keys on in its own CR4 whenever the CPU has them, and
/// WRPKRU then changes the one PKRU register of the CPU, so it must travel with the
/// vCPU's other state (user mode on the host never has CR4.PKE, so its PKRU is idle).
pub const XCR0_SUPPORTED: u64 = 0b10_1110_0111;

/// What this CPU offers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Features {
    pub vendor: [u8; 12],
    pub family: u32,
    pub model: u32,
    pub xsave: bool,
    pub fsgsbase: bool,
    pub pcid: bool,
    pub invpcid: bool,
    pub vmx: bool,
    pub ept: bool,
    pub svm: bool,
    pub npt: bool,
    pub smep: bool,
    pub smap: bool,
    pub nx: bool,
    pub page1g: bool,
    pub tsc_deadline: bool,
    pub x2apic: bool,
    /// XSAVE components the CPU offers (CPUID 0xD.0 EDX:EAX).
    pub xcr0_offered: u64,
}

impl Features {
    /// Reads the features of the executing CPU.
    pub fn detect() -> Features {
        let mut f = Features::default();
        let v = cpuid(0, 0);
        let max = v.eax;
        f.vendor[0..4].copy_from_slice(&v.ebx.to_le_bytes());
        f.vendor[4..8].copy_from_slice(&v.edx.to_le_bytes());
        f.vendor[8..12].copy_from_slice(&v.ecx.to_le_bytes());
        let l1 = cpuid(1, 0);
        let base_family = (l1.eax >> 8) & 0xf;
        f.family = if base_family == 0xf {
            base_family + ((l1.eax >> 20) & 0xff)
        } else {
            base_family
        };
        f.model = ((l1.eax >> 4) & 0xf) | (((l1.eax >> 16) & 0xf) << 4);
        f.vmx = l1.ecx & (1 << 5) != 0;
        f.pcid = l1.ecx & (1 << 17) != 0;
        f.x2apic = l1.ecx & (1 << 21) != 0;
        f.tsc_deadline = l1.ecx & (1 << 24) != 0;
        f.xsave = l1.ecx & (1 << 26) != 0;
        if max >= 7 {
            let l7 = cpuid(7, 0);
            f.fsgsbase = l7.ebx & 1 != 0;
            f.smep = l7.ebx & (1 << 7) != 0;
            f.smap = l7.ebx & (1 << 20) != 0;
            f.invpcid = l7.ebx & (1 << 10) != 0;
        }
        if f.xsave && max >= 0xd {
            let d = cpuid(0xd, 0);
            f.xcr0_offered = (d.edx as u64) << 32 | d.eax as u64;
        }
        let emax = cpuid(0x8000_0000, 0).eax;
        if emax >= 0x8000_0001 {
            let e1 = cpuid(0x8000_0001, 0);
            f.svm = e1.ecx & (1 << 2) != 0;
            f.nx = e1.edx & (1 << 20) != 0;
            f.page1g = e1.edx & (1 << 26) != 0;
        }
        if f.svm && emax >= 0x8000_000a {
            f.npt = cpuid(0x8000_000a, 0).edx & 1 != 0;
        }
        if f.vmx {
            // SAFETY: IA32_VMX_PROCBASED_CTLS (0x482) exists when CPUID reports VMX.
            let procbased = unsafe { msr::read(0x482) };
            if procbased & (1 << 63) != 0 {
                // SAFETY: IA32_VMX_PROCBASED_CTLS2 (0x48b) exists when secondary
                // controls may be enabled. Its high half lists allowed-1 settings;
                // bit 1 of the secondary controls is "enable EPT".
                let secondary = unsafe { msr::read(0x48b) };
                f.ept = secondary & (1 << 33) != 0;
            }
        }
        f
    }

    /// The XSAVE components the kernel enables: what the CPU offers and the kernel can
    /// switch, with AVX-512 only as a complete set on top of AVX.
    pub fn xcr0(&self) -> u64 {
        let mut x = self.xcr0_offered & XCR0_SUPPORTED;
        if x & 0b100 == 0 || x & 0b1110_0000 != 0b1110_0000 {
            x &= !0b1110_0000;
        }
        x | 0b11
    }
}

/// What [`enable`] switched on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Enabled {
    pub xcr0: u64,
    pub fsgsbase: bool,
    pub pcid: bool,
    pub smep: bool,
    pub smap: bool,
}

/// Sets up CR0, CR4 and XCR0 on the executing CPU.
pub fn enable(f: &Features, use_pcid: bool) -> Enabled {
    let mut e = Enabled::default();
    // CR0: monitor coprocessor, native FPU errors, write-protect in ring 0; no emulation.
    let cr0 = (read_cr0() | (1 << 1) | (1 << 5) | (1 << 16)) & !(1 << 2) & !(1 << 3);
    let mut cr4 = read_cr4() | (1 << 5) | (1 << 7) | (1 << 9) | (1 << 10);
    if f.xsave {
        cr4 |= 1 << 18;
    }
    if f.fsgsbase {
        cr4 |= 1 << 16;
        e.fsgsbase = true;
    }
    if f.pcid && use_pcid && read_cr3() & 0xfff == 0 {
        cr4 |= 1 << 17;
        e.pcid = true;
    }
    if f.smep {
        cr4 |= 1 << 20;
        e.smep = true;
    }
    // The kernel never touches memory through a user address (it reaches user pages
    // through the direct map), so supervisor-mode access prevention costs nothing and
    // turns any such access into a fault.
    if f.smap {
        cr4 |= 1 << 21;
        e.smap = true;
    }
    // SAFETY: the bits set are supported (checked above) and keep paging and protection
    // as they are; the kernel itself never uses FPU/SSE state (soft-float target).
    unsafe {
        asm!("mov cr0, {}", in(reg) cr0, options(nostack, preserves_flags));
        asm!("mov cr4, {}", in(reg) cr4, options(nostack, preserves_flags));
    }
    // Whatever firmware left in DEBUGCTL (branch recording, single-stepping on branches)
    // goes: user mode sees the architectural TF behaviour, and no branch history of the
    // kernel or another Pd is kept.
    let _ = super::msr::write_checked(0x1d9, 0);
    if f.xsave {
        e.xcr0 = f.xcr0();
        // SAFETY: CR4.OSXSAVE is set and the value has only offered components, with
        // x87 and SSE set and AVX-512 only together with AVX, as XSETBV requires.
        unsafe {
            asm!("xsetbv", in("ecx") 0u32, in("eax") e.xcr0 as u32, in("edx") (e.xcr0 >> 32) as u32,
                 options(nomem, nostack, preserves_flags))
        }
        // Every context's state must fit its area: if the CPU lays the enabled
        // components out beyond it, only x87, SSE and AVX are kept (their layout is fixed
        // and fits).
        if cpuid(0xd, 0).ebx as usize > core::mem::size_of::<super::fpu::FpuArea>() {
            e.xcr0 &= 0b111;
            // SAFETY: as above, with fewer components.
            unsafe {
                asm!("xsetbv", in("ecx") 0u32, in("eax") e.xcr0 as u32, in("edx") 0u32,
                     options(nomem, nostack, preserves_flags))
            }
        }
    }
    e
}

/// Reads CR0.
pub fn read_cr0() -> u64 {
    let v;
    // SAFETY: reading a control register has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Reads CR2 (the faulting address of the last page fault).
pub fn read_cr2() -> u64 {
    let v;
    // SAFETY: as for `read_cr0`.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Reads CR3.
pub fn read_cr3() -> u64 {
    let v;
    // SAFETY: as for `read_cr0`.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Reads CR4.
pub fn read_cr4() -> u64 {
    let v;
    // SAFETY: as for `read_cr0`.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Loads CR3.
///
/// # Safety
/// 1. `value` must name a PML4 that maps the kernel exactly as the current one does
///    (code, data, the current stack and the direct map).
pub unsafe fn write_cr3(value: u64) {
    // SAFETY: the caller guarantees point 1.
    unsafe { asm!("mov cr3, {}", in(reg) value, options(nostack, preserves_flags)) }
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: disabling interrupts and halting only stops this CPU.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) }
    }
}

/// Logical processors and cores per package, as the reference reads them: CPUID leaf 1
/// (with HTT) and leaf 4, or on AMD with CMP_LEGACY one core per logical processor.
pub fn package_counts() -> (u32, u32) {
    let l1 = cpuid(1, 0);
    let per_package = if l1.edx & (1 << 28) != 0 {
        (l1.ebx >> 16 & 0xff).max(1)
    } else {
        1
    };
    let mut cores = 1;
    if cpuid(0, 0).eax >= 4 {
        cores = (cpuid(4, 0).eax >> 26 & 0x3f) + 1;
    }
    if cpuid(0x8000_0000, 0).eax >= 0x8000_0001 && cpuid(0x8000_0001, 0).ecx & (1 << 1) != 0 {
        cores = per_package;
    }
    (per_package, cores)
}

/// Drops every TLB entry of this CPU, global ones and all PCIDs included.
pub fn flush_tlb_all() {
    let cr4 = read_cr4();
    if cr4 & (1 << 7) == 0 {
        return flush_tlb();
    }
    // SAFETY: clearing and restoring CR4.PGE changes nothing else and drops every TLB
    // entry, global ones and those of every PCID included.
    unsafe {
        asm!("mov cr4, {}", "mov cr4, {}", in(reg) cr4 & !(1 << 7), in(reg) cr4, options(nostack, preserves_flags))
    }
}

/// Drops this CPU's TLB entries for the page holding `va` (global ones included).
pub fn invlpg(va: u64) {
    // SAFETY: INVLPG only drops cached translations.
    unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack, preserves_flags)) }
}

/// Writes the cache line holding `va` back to memory and drops it from every cache (for
/// devices that read memory without snooping the CPUs' caches), ordered after the
/// stores before it.
pub fn clflush(va: u64) {
    // SAFETY: CLFLUSH of a mapped address only moves the line between caches and
    // memory; MFENCE orders it after earlier stores (CLFLUSH alone is ordered only with
    // writes to the same line).
    unsafe {
        asm!("mfence", "clflush [{}]", "mfence", in(reg) va, options(nostack, preserves_flags))
    }
}

/// Drops every non-global TLB entry of this CPU (by reloading CR3).
pub fn flush_tlb() {
    // SAFETY: reloading the current CR3 keeps the address space as it is.
    unsafe { write_cr3(read_cr3()) }
}

/// The user FS base (the kernel does not use FS). Every CPU Facet runs on has FSGSBASE
/// (the boot refuses others), so the FS base moves with RDFSBASE/WRFSBASE, far cheaper
/// than the MSR. The GS base stays with the MSR: swapping GS around RDGSBASE in the
/// kernel would leave a window in which an NMI found the user's GS base.
#[inline]
pub fn user_fs_base() -> u64 {
    let v: u64;
    // SAFETY: CR4.FSGSBASE is on (`enable`); RDFSBASE only reads the FS base.
    unsafe { asm!("rdfsbase {}", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Loads the user FS and GS bases of the Ec about to run.
pub fn set_user_bases(fs: u64, gs: u64) {
    set_user_fs_base(fs);
    set_user_gs_base(gs);
}

/// Loads the user GS base.
#[inline]
pub fn set_user_gs_base(gs: u64) {
    // SAFETY: the MSR only affects user mode (the kernel's GS base is in IA32_GS_BASE
    // while in the kernel); a non-canonical value would #GP, so it is made canonical.
    unsafe { super::msr::write(super::msr::IA32_KERNEL_GS_BASE, canonical(gs)) }
}

/// Loads the user FS base.
#[inline]
pub fn set_user_fs_base(fs: u64) {
    // SAFETY: CR4.FSGSBASE is on; the kernel does not use FS; a non-canonical value
    // would #GP, so it is made canonical.
    unsafe { asm!("wrfsbase {}", in(reg) canonical(fs), options(nomem, nostack, preserves_flags)) };
}

fn canonical(v: u64) -> u64 {
    (((v << 16) as i64) >> 16) as u64
}

/// The time-stamp counter.
pub fn tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}
