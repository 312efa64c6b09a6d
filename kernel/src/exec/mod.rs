//! Running execution contexts: the scheduler, portal calls and replies, exception
//! messages and blocking on semaphores.
//!
//! The kernel keeps no kernel stack for an Ec that is not running. Every Ec's user
//! registers live in the Ec (its `regs`): a hypercall saves them there directly, an
//! exception or interrupt copies them there from the kernel stack, and the exit path
//! restores whichever Ec runs by then ([`current`]). Switching Ecs therefore moves no
//! general registers, only the FPU state and the user segment bases. An Ec that waits
//! records what it waits for in its [`State`]; whoever ends the wait (a reply, a
//! semaphore up) prepares its saved registers and makes it ready.

pub mod call;
pub mod current;
mod destroy;
pub mod exception;
mod outcome;
pub mod sched;
pub mod semaphore;
pub mod timer;
pub mod typed;
pub mod vm_exit;

pub use current::CurrentFrame;
pub use outcome::Outcome;

use crate::obj::ec::{Ec, State};
use crate::obj::{pd, with, with2_known, with_known, Handle};

/// Puts `next` on the CPU in place of the running Ec: saves the running Ec's FPU state
/// and user segment bases and loads `next`'s. The general registers stay where they are,
/// in each Ec: afterwards the [`CurrentFrame`] names `next`'s.
#[inline]
pub fn switch_to(next: Handle) {
    let cur = sched::current_ec();
    if cur == next {
        return;
    }
    // SAFETY: `next` is an Ec its caller just found (on a run queue, or linked to the
    // running one by a call, and so referred to); `cur` is the running Ec.
    let pd = unsafe {
        match cur {
            0 => Some(with_known::<Ec, _>(next, load_extended)),
            _ => with2_known::<Ec, Ec, _>(cur, next, exchange),
        }
    };
    let Some(pd) = pd else {
        return;
    };
    sched::set_current_ec(next);
    enter_pd(pd);
}

/// The FPU state and user segment bases of `c`, leaving the CPU, are saved and those of
/// `n` loaded; `n` is ready. Returns `n`'s Pd.
#[inline(always)]
pub fn exchange(c: &mut Ec, n: &mut Ec) -> Handle {
    switch_fpu(c, n);
    save_bases(c);
    // User FS and GS bases belong to the Ec (user mode may change them itself); the
    // same are not loaded again.
    if n.gs_base != c.gs_base {
        crate::arch::cpu::set_user_gs_base(n.gs_base);
    }
    if n.fs_base != c.fs_base {
        crate::arch::cpu::set_user_fs_base(n.fs_base);
    }
    n.state = State::Ready;
    n.pd
}

/// [`exchange`] from thread `t`, leaving the CPU, to vCPU `v`. A guest's run leaves the
/// CPU's user FS and GS bases as they were (SVM's VMSAVE and VMLOAD around VMRUN, VMX's
/// host state and MSR list), and no thread runs while the vCPU is on the CPU, so the
/// vCPU keeps the bases of the thread before it: they are recorded as its own, not
/// loaded. Returns `v`'s Pd.
#[inline(always)]
pub fn exchange_to_vcpu(t: &mut Ec, v: &mut Ec) -> Handle {
    switch_fpu(t, v);
    save_bases(t);
    (v.fs_base, v.gs_base) = (t.fs_base, t.gs_base);
    v.state = State::Ready;
    v.pd
}

/// [`exchange`] from vCPU `v`, leaving the CPU, to thread `t`: the CPU holds the user
/// bases `v` recorded (see [`exchange_to_vcpu`]; the general path's [`exchange`] reads
/// the same values back), so only its FPU state is saved. Returns `t`'s Pd.
#[inline(always)]
pub fn exchange_from_vcpu(v: &mut Ec, t: &mut Ec) -> Handle {
    switch_fpu(v, t);
    if t.gs_base != v.gs_base {
        crate::arch::cpu::set_user_gs_base(t.gs_base);
    }
    if t.fs_base != v.fs_base {
        crate::arch::cpu::set_user_fs_base(t.fs_base);
    }
    t.state = State::Ready;
    t.pd
}

/// Makes `pd`, the Pd of the Ec just put on the CPU, the running one if it is not.
#[inline(always)]
pub fn enter_pd(pd: Handle) {
    if pd != pd::current() {
        // SAFETY: the Pd of the Ec about to run, which holds a reference to it.
        unsafe { pd::activate(pd) };
    }
}

/// Loads what of `e`'s state is not in its frame onto a CPU that runs no Ec and makes it
/// ready; returns its Pd.
fn load_extended(e: &mut Ec) -> Handle {
    crate::arch::fpu::restore(&e.fpu);
    crate::arch::cpu::set_user_bases(e.fs_base, e.gs_base);
    e.state = State::Ready;
    e.pd
}

/// Saves what of the running Ec's state is not in its frame: the FPU and the user FS and
/// GS bases.
#[inline(always)]
fn save_extended(e: &mut Ec) {
    crate::arch::fpu::save(&mut e.fpu);
    save_bases(e);
}

/// Saves the FPU state of `c`, leaving the CPU, and loads that of `n`: XSAVE and XRSTOR
/// with their component mask set up once, each addressing its area in the Ec itself.
#[inline(always)]
fn switch_fpu(c: &mut Ec, n: &Ec) {
    let (low, high) = crate::arch::fpu::mask();
    // SAFETY: both areas are 64-byte aligned and large enough for every enabled
    // component (`arch::fpu::FpuArea`); CR4.OSXSAVE is on; XSAVE writes only `c`'s area,
    // XRSTOR only reads `n`'s (an all-zero area loads the initial state).
    unsafe {
        core::arch::asm!("xsave64 [{c} + {at}]", "xrstor64 [{n} + {at}]",
                         c = in(reg) c as *mut Ec, n = in(reg) n as *const Ec,
                         at = const core::mem::offset_of!(Ec, fpu),
                         in("eax") low, in("edx") high, options(nostack, preserves_flags))
    };
}

/// Saves the user FS and GS bases of `e`, the Ec on the CPU.
#[inline(always)]
fn save_bases(e: &mut Ec) {
    e.fs_base = crate::arch::cpu::user_fs_base();
    // The user GS base sits in IA32_KERNEL_GS_BASE while in the kernel (swapped on
    // entry): stored as RDMSR gives its two halves.
    // SAFETY: the MSR exists on every x86_64 CPU; the two stores fill `e.gs_base`
    // (little-endian: low half first).
    unsafe {
        core::arch::asm!("rdmsr", "mov [{e} + {at}], eax", "mov [{e} + {at} + 4], edx",
                         e = in(reg) e as *mut Ec, at = const core::mem::offset_of!(Ec, gs_base),
                         in("ecx") crate::arch::msr::IA32_KERNEL_GS_BASE, out("eax") _, out("edx") _,
                         options(nostack, preserves_flags))
    };
}

/// The running Ec leaves the CPU without another taking its place (it blocks, waits or
/// dies): its state is saved and the CPU has no Ec until the scheduler picks one.
pub fn park_current() {
    let cur = sched::current_ec();
    with::<Ec, _>(cur, save_extended);
    sched::set_current_ec(0);
}

/// Leaves the kernel towards the Ec on the CPU. A thread returns through the frame; a
/// vCPU runs here, exit after exit, until one of its exits puts a thread on the CPU
/// (its VMM's handler, or whatever the scheduler picks).
#[inline(always)]
pub fn resume(frame: &mut CurrentFrame) {
    if sched::current_is_vcpu() {
        run_vcpu(frame);
    }
}

/// [`resume`] for a vCPU.
#[inline(never)]
fn run_vcpu(frame: &mut CurrentFrame) {
    // Whoever resumed the vCPU looked at the CPU's mark (`sched::check`) already; in the
    // loop only an interrupt can set it.
    loop {
        let ec = sched::current_ec();
        let (vmcb, guest_xcr0, user_gs, pd) =
            with::<Ec, _>(ec, |e| (e.vmcb, e.guest_xcr0, e.gs_base, e.pd)).unwrap_or((0, 1, 0, 0));
        if vmcb == 0 {
            return;
        }
        // The guest's XCR0 while it runs (its FPU state is the vCPU's, switched like any
        // Ec's with the kernel's XCR0, which includes every component a guest may use).
        let host_xcr0 = crate::arch::fpu::host_xcr0();
        let switch_xcr0 = guest_xcr0 != host_xcr0;
        if switch_xcr0 {
            // SAFETY: a vCPU's XCR0 is only ever set to a value checked against the
            // host's (see `vcpu::save`), or is the initial x87-only value.
            unsafe { crate::arch::fpu::set_xcr0(guest_xcr0) };
        }
        let exit = crate::vcpu::enter(frame, vmcb, user_gs);
        if switch_xcr0 {
            // SAFETY: the host's own XCR0.
            unsafe { crate::arch::fpu::set_xcr0(host_xcr0) };
        }
        match exit {
            crate::vcpu::Exit::Interrupt => {
                // The general path: with the vCPU's Pd running (`vm_exit::to_vcpu`).
                vm_exit::settle(pd);
                // Take the pending interrupt now; the end of a quantum, or an Ec it
                // made ready, switches Ecs.
                // SAFETY: briefly enabling interrupts lets the pending one be handled
                // on this stack; the handlers see a kernel-mode frame.
                unsafe { core::arch::asm!("sti; nop; cli", options(nomem, nostack)) };
                sched::check(frame);
                if sched::current_ec() == 0 {
                    sched::idle_until_ready(frame);
                }
                let _ = sched::deliver_recall(frame);
                if sched::current_ec() == 0 {
                    // The vCPU waits for a busy recall handler, and nothing else is
                    // ready.
                    sched::idle_until_ready(frame);
                }
            }
            crate::vcpu::Exit::Message(index) => {
                // The common case goes straight to the handler, which then runs.
                if vm_exit::to_handler(ec, index) {
                    return;
                }
                vm_exit::settle(pd);
                match exception::vm_exit(frame, index) {
                    Some(true) => {}
                    // Waiting for a busy VMM handler with nothing else to run.
                    Some(false) => sched::idle_until_ready(frame),
                    None => {
                        crate::println_limited!(
                            crate::console::limited::Kind::Vcpu,
                            "FACET: vCPU exit {index:#x} has no usable portal; vCPU stopped"
                        );
                        if !exception::stop_current(frame) {
                            sched::idle_until_ready(frame);
                        }
                    }
                }
            }
        }
    }
}
