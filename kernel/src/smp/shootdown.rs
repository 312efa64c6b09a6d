//! TLB shootdown: a mapping removed from a page table is gone from every CPU's TLB
//! before the hypercall that removed it returns. The same IPI carries the other request
//! that must be answered on a given CPU without the kernel lock: VMCLEAR of a freed
//! vCPU's VMCS, which may be cached on the CPU the vCPU ran on.
//!
//! The CPU that removed it (holding the big kernel lock) bumps a generation, flushes its
//! own TLB and sends the shootdown IPI to every other online CPU, then waits until each
//! has flushed for that generation. A CPU answers from its IPI handler (in user mode, in
//! a guest, halted) or while it spins for the kernel lock.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::config::NUM_CPU;

use crate::arch::percpu::cpu_id;

/// The interrupt vector of the shootdown IPI.
pub const VECTOR: u8 = 0xf1;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// CPUs that may hold translations of a user address space: they ran a Pd since they
/// last flushed. An idle CPU flushes and leaves the set (`obj::pd::idle_here`), so a
/// shootdown does not wake it.
static MAY_CACHE: AtomicU64 = AtomicU64::new(0);

/// The executing CPU, `cpu`, loads a Pd's address space. Only a CPU itself changes its
/// bit, so its per-CPU block mirrors the bit and most switches test that instead.
#[inline]
pub fn caching_on(cpu: u32) {
    if crate::arch::percpu::caching() == 0 {
        crate::arch::percpu::set_caching(1);
        MAY_CACHE.fetch_or(1u64 << (cpu % 64), Ordering::AcqRel);
    }
}

/// Whether the executing CPU may hold user translations.
pub fn caching() -> bool {
    crate::arch::percpu::caching() != 0
}

/// The executing CPU holds no user translations any more (it flushed them on the
/// kernel's own table).
pub fn clean_here() {
    crate::arch::percpu::set_caching(0);
    MAY_CACHE.fetch_and(!(1u64 << (cpu_id() % 64)), Ordering::AcqRel);
}
static FLUSHED: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// Per CPU: a VMCS another CPU wants cleared here (0: none).
static VMCLEAR: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// Has CPU `cpu` VMCLEAR the VMCS at `phys` (a vCPU bound to it is being freed) and
/// waits until it has (the caller holds the kernel lock; the answer needs none).
pub fn vmclear_on(cpu: u32, phys: u64) {
    let slot = &VMCLEAR[cpu as usize % NUM_CPU];
    slot.store(phys, Ordering::Release);
    super::send_ipi(cpu, VECTOR);
    while slot.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
}

/// Per CPU: a Pd going away whose address space the CPU must leave (0: none).
static LEAVE_PD: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

/// The executing CPU stops using `pd`'s address space (which is going away): the kernel's
/// own table takes its place until another Pd runs.
pub fn leave_here(pd: u64) {
    if crate::arch::percpu::current_pd() != pd {
        return;
    }
    if let Some(kernel) = crate::mem::kspace::kernel_root() {
        // SAFETY: the kernel's table maps the whole kernel half, like every Pd's.
        unsafe { crate::arch::cpu::write_cr3(kernel.root) };
    }
    crate::arch::percpu::set_current_pd(0);
    crate::arch::percpu::set_obj_root(0);
}

/// Makes every CPU that still runs on `pd`'s tables (idle after its last Ec) switch to
/// the kernel's before the tables are freed; waits until they have.
pub fn leave_pd(pd: u64) {
    let me = cpu_id() as u32;
    leave_here(pd);
    for c in super::cpus_in(super::others_online(me)) {
        if crate::arch::percpu::current_pd_of(c) != pd {
            continue;
        }
        let slot = &LEAVE_PD[c as usize];
        slot.store(pd, Ordering::Release);
        super::send_ipi(c, VECTOR);
        while slot.load(Ordering::Acquire) != 0 {
            core::hint::spin_loop();
        }
    }
}

/// Does what other CPUs asked of this one: leaving a dying Pd's tables, a VMCLEAR, a TLB
/// flush, a function to run (`super::call`) (from the IPI handler and the lock's spin
/// loop; needs no lock).
pub fn answer() {
    super::call::answer();
    let leave = &LEAVE_PD[cpu_id() as usize % NUM_CPU];
    let pd = leave.load(Ordering::Acquire);
    if pd != 0 {
        leave_here(pd);
        leave.store(0, Ordering::Release);
    }
    let vmcs = &VMCLEAR[cpu_id() as usize % NUM_CPU];
    let phys = vmcs.load(Ordering::Acquire);
    if phys != 0 {
        crate::arch::vmx::clear_here(phys);
        vmcs.store(0, Ordering::Release);
    }
    let g = GENERATION.load(Ordering::Acquire);
    let me = &FLUSHED[cpu_id() as usize % NUM_CPU];
    if me.load(Ordering::Relaxed) != g {
        crate::arch::cpu::flush_tlb_all();
        me.store(g, Ordering::Release);
    }
}

/// Removes stale translations from every CPU (the caller holds the kernel lock and has
/// changed a host page table).
pub fn everywhere() {
    let me = cpu_id() as u32;
    // One load rather than a walk over every CPU number: this runs on every unmap. Idle
    // CPUs hold no user translations and are left asleep.
    let mask = super::others_online(me) & MAY_CACHE.load(Ordering::Acquire);
    let others = super::cpus_in(mask);
    if mask == 0 {
        // Every PCID: the changed table may belong to a Pd that is not running here.
        crate::arch::cpu::flush_tlb_all();
        return;
    }
    let g = GENERATION.fetch_add(1, Ordering::AcqRel) + 1;
    crate::arch::cpu::flush_tlb_all();
    FLUSHED[me as usize % NUM_CPU].store(g, Ordering::Release);
    for c in others.clone() {
        super::send_ipi(c, VECTOR);
    }
    for c in others {
        let mut spins: u64 = 0;
        while FLUSHED[c as usize].load(Ordering::Acquire) < g {
            core::hint::spin_loop();
            spins += 1;
            // A CPU that has not answered for a while is sent the IPI again: answering
            // twice costs a flush, while waiting on an IPI lost on the way (hardware
            // does not lose one; an emulator's racing CPU threads might) would hold
            // this CPU, and the kernel lock, for good.
            if spins.is_multiple_of(RESEND_SPINS) {
                super::send_ipi(c, VECTOR);
            }
            if spins == 100_000_000 {
                crate::println!("smp: CPU {c} does not answer the TLB shootdown; waiting");
            }
        }
    }
}

/// Spins after which [`everywhere`] sends an unanswered shootdown IPI again (a few
/// milliseconds).
const RESEND_SPINS: u64 = 1 << 22;
