//! Intel VMX with EPT: virtual CPUs whose VM exits become messages to the VMM's portals,
//! as the reference does it.
//!
//! The guest-physical address space is the Pd's guest page table. Facet builds it in the
//! x86 page-table format, which EPT reads as: bits 0..2 read/write/execute (an x86 table
//! entry's present, writable and user bits, all set for tables and user leaves), memory
//! type 0 (uncached) for leaves, bit 7 a large page. So the same table serves SVM and VMX;
//! guest memory is uncached under VMX and always executable there until an EPT-specific
//! format is written. Guests run with "unrestricted guest", so real mode works.

pub mod run;
pub mod state;
pub mod vmcs;

use core::arch::asm;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use facet_abi::config::NUM_CPU;
use facet_kcore::vcpu_state::start;

use crate::arch::cpu::Features;
use crate::arch::msr;
use crate::mem::direct_map::virt;
use crate::mem::frames;
use crate::mem::usage::Use;

static REVISION: AtomicU32 = AtomicU32::new(0);

/// Capability-MSR values the exit and reply paths need, read once when VMX is turned on
/// (they are the same on every CPU): the primary processor-based controls' allowed
/// settings, the secondary controls' allowed-1 settings, the fixed CR0 and CR4 bits.
static PROC_CAP: AtomicU64 = AtomicU64::new(0);
static PROC2_ALLOWED: AtomicU64 = AtomicU64::new(0);
static CR0_FIXED: AtomicU64 = AtomicU64::new(0);
static CR4_FIXED: AtomicU64 = AtomicU64::new(0);

fn read_caps() {
    let use_true = rdmsr(0x480) & (1 << 55) != 0;
    PROC_CAP.store(
        rdmsr(if use_true { 0x48e } else { 0x482 }),
        Ordering::Relaxed,
    );
    PROC2_ALLOWED.store(rdmsr(0x48b) >> 32, Ordering::Relaxed);
    CR0_FIXED.store(rdmsr(0x486) & !(1 | (1 << 31)), Ordering::Relaxed);
    CR4_FIXED.store(rdmsr(0x488), Ordering::Relaxed);
}

fn rdmsr(m: u32) -> u64 {
    // SAFETY: only VMX capability MSRs are read, after CPUID reported VMX.
    unsafe { msr::read(m) }
}

/// A control value: the bits wanted, forced to what the capability MSR allows.
fn control(cap: u32, true_cap: u32, wanted: u32) -> u32 {
    let use_true = rdmsr(0x480) & (1 << 55) != 0;
    let v = rdmsr(if use_true { true_cap } else { cap });
    (wanted | v as u32) & (v >> 32) as u32
}

/// Processor-based controls a VMM may choose (MTD CTRL): interrupt-window and TSC
/// offsetting, HLT, INVLPG, MWAIT, RDPMC, RDTSC, CR3 load/store, CR8 load/store,
/// NMI-window, MOV DR, monitor trap flag, MONITOR, PAUSE. Others (I/O and MSR bitmaps,
/// the TPR shadow, handled apart in `proc_controls`) need memory the kernel owns.
const ALLOWED_PROC: u32 = (1 << 2)
    | (1 << 3)
    | (1 << 7)
    | (1 << 9)
    | (1 << 10)
    | (1 << 11)
    | (1 << 12)
    | (1 << 15)
    | (1 << 16)
    | (1 << 19)
    | (1 << 20)
    | (1 << 22)
    | (1 << 23)
    | (1 << 27)
    | (1 << 29)
    | (1 << 30);
/// Use TPR shadow (needs the vCPU's virtual-APIC page).
const TPR_SHADOW: u32 = 1 << 21;
/// CR8-load and CR8-store exiting.
const CR8_EXITS: u32 = (1 << 19) | (1 << 20);
/// HLT and unconditional I/O exiting, secondary controls.
const FORCED_PROC: u32 = (1 << 7) | (1 << 24) | (1 << 31);
/// Secondary controls a VMM may choose: APIC-access virtualization (the page is the
/// Pd's, see `pd_ctrl map_access_page`), descriptor-table exiting, RDTSCP, WBINVD
/// exiting, INVPCID.
const ALLOWED_PROC2: u32 = 1 | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 12);
/// EPT and unrestricted guest.
const FORCED_PROC2: u32 = (1 << 1) | (1 << 7);
pub use crate::vcpu::FORCED_EXCEPTIONS;

/// The primary processor-based controls for what a VMM `wanted`, with the kernel's
/// own and the CPU's fixed settings applied.
pub fn proc_controls(wanted: u32) -> u32 {
    use vmcs::{read, VIRTUAL_APIC_ADDR};
    let tpr_shadow = wanted & TPR_SHADOW != 0 && read(VIRTUAL_APIC_ADDR) != 0;
    let mut v = wanted & ALLOWED_PROC | FORCED_PROC;
    if tpr_shadow {
        v |= TPR_SHADOW;
    } else {
        // Without a TPR shadow a guest's MOV to CR8 would set the host's task priority
        // (and could mask its interrupts): those exits are not the VMM's to turn off.
        v |= CR8_EXITS;
    }
    let cap = PROC_CAP.load(Ordering::Relaxed);
    (v | cap as u32) & (cap >> 32) as u32
}

/// The secondary processor-based controls, likewise; `vpid` keeps VPIDs enabled.
pub fn proc_controls2(wanted: u32, vpid: bool) -> u32 {
    let forced = FORCED_PROC2 | if vpid { 1 << 5 } else { 0 };
    (wanted & ALLOWED_PROC2 | forced) & PROC2_ALLOWED.load(Ordering::Relaxed) as u32
}

/// The CR0 bits VMX requires set in a guest (unrestricted guests may clear PE and PG):
/// the kernel owns them; the guest and its VMM see the shadow.
pub fn cr0_fixed() -> u64 {
    CR0_FIXED.load(Ordering::Relaxed)
}

/// The CR4 bits VMX requires set in a guest (VMXE).
pub fn cr4_fixed() -> u64 {
    CR4_FIXED.load(Ordering::Relaxed)
}

/// Whether VPIDs can be used: the control exists and INVVPID can invalidate one.
pub fn has_vpid() -> bool {
    let vpid_control = rdmsr(0x48b) >> 32 & (1 << 5) != 0;
    // IA32_VMX_EPT_VPID_CAP: INVVPID (bit 32) with the single-context type (bit 41).
    let cap = rdmsr(0x48c);
    vpid_control && cap & (1 << 32) != 0 && cap & (1 << 41) != 0
}

/// Turns VMX on for the executing CPU. Needs EPT and unrestricted guests.
pub fn init_cpu(f: &Features) -> bool {
    if !f.vmx || !f.ept {
        return false;
    }
    let secondary = rdmsr(0x48b) >> 32;
    if secondary & (1 << 7) == 0 {
        return false;
    }
    read_caps();
    let fc = rdmsr(0x3a);
    if fc & 1 == 0 {
        // SAFETY: IA32_FEATURE_CONTROL is unlocked: enable VMXON outside SMX and lock.
        unsafe { msr::write(0x3a, fc | 1 | 4) };
    } else if fc & 4 == 0 {
        return false;
    }
    let revision = (rdmsr(0x480) & 0x7fff_ffff) as u32;
    REVISION.store(revision, Ordering::Release);
    let Some(region) = frames::alloc_zeroed(0, Use::PerCpu) else {
        return false;
    };
    // SAFETY: the frame is ours; the VMXON region starts with the revision id.
    unsafe { (virt(region) as *mut u32).write(revision) };
    VMXON_REGION[crate::arch::percpu::cpu_id() as usize % NUM_CPU].store(region, Ordering::Release);
    vmxon(region)
}

/// Each CPU's VMXON region (0: VMX is off there).
static VMXON_REGION: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];
/// Each CPU's VMCS that was current when it went to sleep (0: none).
static ASLEEP_VMCS: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// Before S3: the current VMCS (if any) is flushed to memory with VMCLEAR, which leaves
/// it to be launched again, and remembered.
pub fn sleep_here() {
    let me = crate::arch::percpu::cpu_id() as usize % NUM_CPU;
    let phys = crate::arch::vmx::current_slot().load(Ordering::Acquire);
    ASLEEP_VMCS[me].store(phys, Ordering::Release);
    if phys != 0 {
        crate::arch::vmx::clear_here(phys);
        run::cleared(phys);
    }
}

/// After S3: VMX on again with the CPU's region, and the VMCS that was current made
/// current again (its exit may still be being handled).
pub fn resume_cpu(f: &Features) {
    let me = crate::arch::percpu::cpu_id() as usize % NUM_CPU;
    let region = VMXON_REGION[me].load(Ordering::Acquire);
    if region == 0 || !f.vmx {
        return;
    }
    let fc = rdmsr(0x3a);
    if fc & 1 == 0 {
        // SAFETY: as in `init_cpu`: firmware left IA32_FEATURE_CONTROL unlocked.
        unsafe { msr::write(0x3a, fc | 1 | 4) };
    }
    if !vmxon(region) {
        crate::println!("vmx: VMXON refused after S3");
        return;
    }
    let phys = ASLEEP_VMCS[me].swap(0, Ordering::AcqRel);
    if phys != 0 {
        // SAFETY: VMPTRLD of a VMCS the kernel owns, cleared before the sleep.
        unsafe { asm!("vmptrld [{}]", in(reg) &phys, options(nostack)) };
        run::set_current(phys);
    }
}

fn vmxon(region: u64) -> bool {
    // CR0 and CR4 must satisfy the fixed bits; CR4.VMXE enables VMX.
    let cr0 = (crate::arch::cpu::read_cr0() | rdmsr(0x486)) & rdmsr(0x487);
    let cr4 = (crate::arch::cpu::read_cr4() | rdmsr(0x488) | (1 << 13)) & rdmsr(0x489);
    let ok: u8;
    // SAFETY: the control-register values keep every bit the kernel relies on (they only
    // add the bits VMX requires); VMXON takes the physical address of the region.
    unsafe {
        asm!("mov cr0, {}", in(reg) cr0, options(nostack));
        asm!("mov cr4, {}", in(reg) cr4, options(nostack));
        asm!("vmxon [{}]", "setna {}", in(reg) &region, out(reg_byte) ok, options(nostack));
    }
    ok == 0
}

/// A new VMCS for a vCPU of a Pd whose guest page table is at `npt`, made current, with
/// the controls set and the guest in the reference's start state
/// (`facet_kcore::vcpu_state::start`): every register zero, with what VM entry requires
/// kept by the kernel (the fixed CR0 and CR4 bits behind zero shadows, RFLAGS bit 1 and
/// the segments' access rights, which the start-up message leaves out).
pub fn new_vmcs(npt: u64, apic_access: u64, vlapic: u64) -> Option<u64> {
    use vmcs::*;
    // The VMCS and a page of kernel-private vCPU data after it (`run::Side`).
    let phys = frames::alloc_zeroed(1, Use::Vcpus)?;
    // SAFETY: the frame is ours; a VMCS starts with the revision id.
    unsafe { (virt(phys) as *mut u32).write(REVISION.load(Ordering::Acquire)) };
    let ok: u8;
    // SAFETY: VMCLEAR and VMPTRLD take the physical address of the new VMCS.
    unsafe {
        asm!("vmclear [{p}]", "vmptrld [{p}]", "setna {o}", p = in(reg) &phys, o = out(reg_byte) ok, options(nostack))
    };
    if ok != 0 {
        frames::free(phys, 1, Use::Vcpus);
        return None;
    }
    run::set_current(phys);
    // External interrupts and NMIs exit; the preemption timer is a backstop (see
    // `run::enter`).
    write(
        PIN_CONTROLS,
        control(0x481, 0x48d, 1 | (1 << 3) | (1 << 6)) as u64,
    );
    // TSC offsetting and what the kernel always wants (HLT, I/O, secondary controls);
    // without MSR bitmaps every MSR access exits.
    write(PROC_CONTROLS, proc_controls(1 << 3) as u64);
    let vpid = crate::vcpu::alloc_tag();
    write(VPID, vpid as u64);
    write(PROC_CONTROLS2, proc_controls2(0, vpid != 0) as u64);
    run::init_side(phys, vpid);
    // The system-call MSRs and KERNEL_GS_BASE switch through the MSR lists.
    let n = run::SWITCHED_MSRS.len() as u64;
    write(ENTRY_MSR_LOAD_ADDR, phys + run::GUEST_MSRS);
    write(ENTRY_MSR_LOAD_COUNT, n);
    write(EXIT_MSR_STORE_ADDR, phys + run::GUEST_MSRS);
    write(EXIT_MSR_STORE_COUNT, n);
    write(EXIT_MSR_LOAD_ADDR, phys + run::HOST_MSRS);
    write(EXIT_MSR_LOAD_COUNT, n);
    write(EXCEPTION_BITMAP, FORCED_EXCEPTIONS as u64);
    // 64-bit host; save the guest's and load the host's PAT and EFER.
    write(
        EXIT_CONTROLS,
        control(
            0x483,
            0x48f,
            (1 << 9) | (1 << 18) | (1 << 19) | (1 << 20) | (1 << 21),
        ) as u64,
    );
    // Load the guest's PAT and EFER on entry.
    write(
        ENTRY_CONTROLS,
        control(0x484, 0x490, (1 << 14) | (1 << 15)) as u64,
    );
    write(GUEST_PAT, 0);
    write(EPT_POINTER, npt | (3 << 3) | 6);
    // Where guest accesses become APIC-access exits once the VMM virtualizes APIC
    // accesses (secondary control bit 0, through MTD CTRL).
    write(APIC_ACCESS_ADDR, apic_access);
    // The TPR shadow reads and writes this page (and a VMM may turn it on only if there
    // is one, see `proc_controls`).
    write(VIRTUAL_APIC_ADDR, vlapic);
    write(LINK_POINTER, u64::MAX);
    // The guest's CR0 and CR4 as VMX requires, with the guest seeing the shadows (0).
    write(GUEST_CR0, cr0_fixed());
    write(CR0_MASK, cr0_fixed());
    write(CR0_SHADOW, 0);
    write(GUEST_CR4, cr4_fixed());
    write(CR4_MASK, cr4_fixed());
    write(CR4_SHADOW, 0);
    for field in [
        GUEST_CR3,
        GUEST_DR7,
        GUEST_RIP,
        GUEST_RSP,
        GUEST_EFER,
        GUEST_SYSENTER_CS,
        GUEST_SYSENTER_ESP,
        GUEST_SYSENTER_EIP,
        GUEST_GDTR_LIMIT,
        GUEST_IDTR_LIMIT,
        GUEST_GDTR_BASE,
        GUEST_IDTR_BASE,
        GUEST_ACTIVITY,
        GUEST_INTERRUPTIBILITY,
    ] {
        write(field, 0);
    }
    write(TSC_OFFSET, 0);
    write(GUEST_RFLAGS, start::vmx::RFLAGS);
    for (n, ar) in (0..8u64).zip(start::vmx::AR) {
        let (sel, limit, ar_field, base) = segment(n);
        write(sel, 0);
        write(limit, 0);
        write(ar_field, ar);
        write(base, 0);
    }
    // Another CPU may run the vCPU: the VMCS leaves this one (its host state is written
    // at the first entry, where it runs).
    crate::arch::vmx::clear_here(phys);
    Some(phys)
}
