//! AMD SVM with nested paging: virtual CPUs whose VM exits become messages to the
//! virtual machine monitor's portals, as the reference does it.
//!
//! Each vCPU Ec owns a VMCB. The guest-physical address space is the Pd's nested page
//! table (filled by `pd_ctrl delegate` with the guest subspace flag). The kernel
//! intercepts what it must (physical interrupts, VMRUN, shutdown) and what a VMM needs
//! (HLT, CPUID, I/O, MSRs, VMMCALL); the VMM sees every exit at its event base plus the
//! exit code (NPT faults at NUM_VMI-4, invalid state at NUM_VMI-3, start-up at
//! NUM_VMI-2, recall at NUM_VMI-1).

pub mod run;
pub mod state;
pub mod vmcb;

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::config::NUM_CPU;
use facet_kcore::vcpu_state::start;

use crate::arch::msr;
use crate::mem::frames;
use crate::mem::usage::Use;
use vmcb::Vmcb;

/// Each CPU's page for host state across VMRUN (VMSAVE/VMLOAD).
static HOST_AREA: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// This CPU's host-state page (0 if SVM is not on here).
pub fn host_area() -> u64 {
    HOST_AREA[crate::arch::percpu::cpu_id() as usize % NUM_CPU].load(Ordering::Acquire)
}
/// Each CPU's VM_HSAVE_PA page.
static HSAVE: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];
static IOPM: AtomicU64 = AtomicU64::new(0);
static MSRPM: AtomicU64 = AtomicU64::new(0);

/// Turns SVM on for the executing CPU (the first call also builds the shared I/O and
/// MSR permission maps, which intercept everything). Returns whether SVM is usable.
pub fn init_cpu(has_svm_npt: bool) -> bool {
    if !has_svm_npt {
        return false;
    }
    if IOPM.load(Ordering::Acquire) == 0 {
        let (Some(iopm), Some(msrpm)) = (
            frames::alloc_zeroed(2, Use::PerCpu),
            frames::alloc_zeroed(1, Use::PerCpu),
        ) else {
            return false;
        };
        // SAFETY: the frames were just allocated for the permission maps and are
        // direct-mapped; all ones means "intercept".
        unsafe {
            core::ptr::write_bytes(
                crate::mem::direct_map::virt(iopm) as *mut u8,
                0xff,
                4 * 4096,
            );
            core::ptr::write_bytes(
                crate::mem::direct_map::virt(msrpm) as *mut u8,
                0xff,
                2 * 4096,
            );
        }
        IOPM.store(iopm, Ordering::Release);
        MSRPM.store(msrpm, Ordering::Release);
    }
    let (Some(hsave), Some(host)) = (
        frames::alloc_zeroed(0, Use::PerCpu),
        frames::alloc_zeroed(0, Use::PerCpu),
    ) else {
        return false;
    };
    HOST_AREA[crate::arch::percpu::cpu_id() as usize % NUM_CPU].store(host, Ordering::Release);
    HSAVE[crate::arch::percpu::cpu_id() as usize % NUM_CPU].store(hsave, Ordering::Release);
    turn_on(hsave);
    true
}

fn turn_on(hsave: u64) {
    // SAFETY: EFER.SVME may be set when CPUID reports SVM; VM_HSAVE_PA takes a page the
    // CPU uses to save host state across VMRUN, owned by this CPU from now on.
    unsafe {
        msr::write(0xc000_0080, msr::read(0xc000_0080) | (1 << 12));
        msr::write(0xc001_0117, hsave);
    }
}

/// Turns SVM on again after S3 on a CPU that had it, with the pages it had.
pub fn resume_cpu() {
    let hsave = HSAVE[crate::arch::percpu::cpu_id() as usize % NUM_CPU].load(Ordering::Acquire);
    if hsave != 0 {
        turn_on(hsave);
    }
}

/// The number of ASIDs the CPU offers (CPUID 0x8000000A EBX; ASID 0 is the host's).
pub fn asid_count() -> u32 {
    crate::arch::cpu::cpuid(0x8000_000a, 0).ebx
}

/// Intercepts no VMM can turn off (MTD CTRL): physical interrupts, NMI, SMI, INIT, INVD,
/// HLT, port I/O and MSRs (through the all-intercepting permission maps), shutdown.
pub const FORCED_MISC1: u32 =
    1 | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 22) | (1 << 24) | (1 << 27) | (1 << 28) | (1 << 31);
/// INVLPG is never intercepted (nested paging makes it the guest's business).
pub const CLEARED_MISC1: u32 = 1 << 25;
/// VMRUN (the CPU refuses a VMCB without it), VMLOAD, VMSAVE, CLGI, SKINIT, and XSETBV
/// (the guest's XCR0 goes through its VMM, which the kernel checks: VMX exits on XSETBV
/// anyway).
pub const FORCED_MISC2: u32 = 1 | (1 << 2) | (1 << 3) | (1 << 5) | (1 << 6) | (1 << 13);
pub use crate::vcpu::FORCED_EXCEPTIONS;

/// A new VMCB for a vCPU of a Pd whose nested page table is at `npt`: intercepts set,
/// the guest in the reference's start state (`facet_kcore::vcpu_state::start`: every
/// register zero but EFER.SVME and the guest PAT) until the VMM's start-up reply says
/// otherwise. SVM enters that state as it is.
pub fn new_vmcb(npt: u64) -> Option<u64> {
    // The VMCB and the page for its guest-state snapshot (`Vmcb::snapshot`).
    let phys = frames::alloc_zeroed(1, Use::Vcpus)?;
    let v = Vmcb(phys);
    // What the kernel always intercepts, and CPUID; VMMCALL.
    v.w32(vmcb::INTERCEPT_MISC1, FORCED_MISC1 | (1 << 18));
    v.w32(vmcb::INTERCEPT_MISC2, FORCED_MISC2 | (1 << 1));
    v.w32(vmcb::INTERCEPT_EXC, FORCED_EXCEPTIONS);
    v.w64(vmcb::IOPM_BASE, IOPM.load(Ordering::Acquire));
    v.w64(vmcb::MSRPM_BASE, MSRPM.load(Ordering::Acquire));
    // A tag of its own (ASID tag + 1), or the shared ASID 1.
    v.w32(vmcb::ASID, crate::vcpu::alloc_tag() + 1);
    v.request_flush();
    // Interrupt masking virtualized: the host's IF governs physical interrupts.
    v.w64(vmcb::VINTR, 1 << 24);
    v.w64(vmcb::NP_ENABLE, 1);
    v.w64(vmcb::N_CR3, npt);
    // The frame is zeroed: every other register an MTD carries is 0.
    v.w64(vmcb::EFER, start::SVM_EFER);
    v.w64(vmcb::G_PAT, start::SVM_PAT);
    v.w64(vmcb::DR6, start::DR6);
    v.snapshot();
    Some(phys)
}
