//! Guest debug registers: each vCPU has its own DR0-DR3 and DR6.
//!
//! Neither extension switches them: VMX keeps only DR7 in the VMCS, SVM DR6 and DR7 in
//! the VMCB, and neither makes the guest's MOV to or from a debug register exit unless a
//! VMM asks. A guest would otherwise read the breakpoint addresses another guest set on
//! the same CPU, or arm breakpoints in it. The kernel itself never uses DR0-DR3 (every VM
//! exit leaves DR7 with all breakpoints disabled, and user mode cannot reach the debug
//! registers), so a CPU keeps the last vCPU's DR0-DR3 until another vCPU enters: each
//! CPU records whose they are and switches only when a different vCPU runs. DR6 (VMX)
//! is switched on every entry and exit: a debug trap taken by a thread on the host in
//! between would change it.
//!
//! The values live in the kernel-private page after the vCPU's control block, which both
//! extensions allocate.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::config::NUM_CPU;

use crate::mem::direct_map::virt;

/// DR0-DR3 and DR6, in the control block's private page.
const AREA: u64 = 4096 + 0xf80;
const DR6_AT: u64 = AREA + 4 * 8;
/// DR6 as a reset leaves it (no debug condition recorded).
const DR6_CLEAN: u64 = facet_kcore::vcpu_state::start::DR6;

/// The control block whose DR0-DR3 each CPU holds (0: none).
static OWNER: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];

fn area(block: u64) -> *mut u64 {
    virt(block + AREA) as *mut u64
}

/// Sets up a new vCPU's debug registers (control block `block`): all clear.
pub fn init(block: u64) {
    // SAFETY: the private page belongs to the new vCPU.
    unsafe {
        for i in 0..4 {
            area(block).add(i).write_volatile(0);
        }
        (virt(block + DR6_AT) as *mut u64).write_volatile(DR6_CLEAN);
    }
}

/// Puts the vCPU of control block `block`'s DR0-DR3 into the executing CPU's debug
/// registers before it enters the guest, saving the previous owner's.
pub fn load_for(block: u64) {
    let owner = &OWNER[crate::arch::percpu::cpu_id() as usize % NUM_CPU];
    let previous = owner.load(Ordering::Relaxed);
    if previous == block {
        return;
    }
    // SAFETY: MOV from and to DR0-DR3 only moves the breakpoint addresses, which the
    // kernel does not use; the areas are the private pages of live vCPUs (a destroyed
    // vCPU leaves every CPU's record through `forget` first).
    unsafe {
        if previous != 0 {
            let a = area(previous);
            let (d0, d1, d2, d3): (u64, u64, u64, u64);
            asm!("mov {}, dr0", "mov {}, dr1", "mov {}, dr2", "mov {}, dr3",
                 out(reg) d0, out(reg) d1, out(reg) d2, out(reg) d3,
                 options(nomem, nostack, preserves_flags));
            a.write_volatile(d0);
            a.add(1).write_volatile(d1);
            a.add(2).write_volatile(d2);
            a.add(3).write_volatile(d3);
        }
        let a = area(block);
        asm!("mov dr0, {}", "mov dr1, {}", "mov dr2, {}", "mov dr3, {}",
             in(reg) a.read_volatile(), in(reg) a.add(1).read_volatile(),
             in(reg) a.add(2).read_volatile(), in(reg) a.add(3).read_volatile(),
             options(nomem, nostack, preserves_flags));
    }
    owner.store(block, Ordering::Relaxed);
}

/// Forgets a destroyed vCPU wherever its DR0-DR3 are loaded (the next vCPU there loads
/// its own without saving these).
pub fn forget(block: u64) {
    for owner in &OWNER {
        let _ = owner.compare_exchange(block, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Loads the guest's DR6 before a VMX entry.
pub fn enter_dr6(block: u64) {
    // SAFETY: the private page belongs to the vCPU; MOV to DR6 with bits 63:32 clear
    // (the saved value came from DR6 itself, or is the clean value).
    unsafe {
        let v = (virt(block + DR6_AT) as *const u64).read_volatile();
        asm!("mov dr6, {}", in(reg) v & 0xffff_ffff, options(nomem, nostack, preserves_flags));
    }
}

/// Saves the guest's DR6 after a VMX exit.
pub fn exit_dr6(block: u64) {
    let v: u64;
    // SAFETY: reading DR6 has no effects; the private page belongs to the vCPU.
    unsafe {
        asm!("mov {}, dr6", out(reg) v, options(nomem, nostack, preserves_flags));
        (virt(block + DR6_AT) as *mut u64).write_volatile(v);
    }
}
