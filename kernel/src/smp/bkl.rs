//! The big kernel lock: one CPU at a time runs kernel code that touches shared state.
//!
//! The kernel is not preemptible and keeps no kernel stack for blocked Ecs, so a lock
//! around each kernel entry (hypercall, exception, interrupt) makes the single-CPU design
//! correct on many CPUs: every CPU runs its own Ecs in user mode at the same time, and
//! they take turns in the kernel. The lock is let go wherever a CPU waits without
//! kernel work (halted in the idle loop, running a guest) and before returning to user
//! mode.
//!
//! A CPU waiting for the lock keeps answering TLB shootdowns (see `super::shootdown`):
//! the holder may be waiting for exactly that.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch::percpu::cpu_id;

/// The holder's CPU number plus one; 0 when free.
static HOLDER: AtomicU32 = AtomicU32::new(0);

/// What [`enter`] did, for [`leave`].
#[must_use]
pub struct Entered(bool);

/// Takes the lock unless this CPU holds it already (an interrupt taken in the kernel,
/// while it runs a guest's exit path).
pub fn enter() -> Entered {
    let me = cpu_id() as u32 + 1;
    if HOLDER.load(Ordering::Relaxed) == me {
        return Entered(false);
    }
    take(me);
    Entered(true)
}

/// Takes the lock for a hypercall if it is free and says whether it did: user mode never
/// runs with the lock held, so this CPU cannot hold it already. Released with [`release`];
/// when this fails, [`enter_from_user_contended`] waits for it.
#[inline(always)]
pub fn try_enter_from_user() -> bool {
    HOLDER
        .compare_exchange(
            0,
            crate::arch::percpu::lock_mark() as u32,
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .is_ok()
}

/// Takes the lock for a hypercall after [`try_enter_from_user`] found it held, answering
/// shootdowns while it waits.
#[cold]
#[inline(never)]
pub fn enter_from_user_contended() {
    take(crate::arch::percpu::lock_mark() as u32);
}

#[inline(always)]
fn take(me: u32) {
    while HOLDER
        .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        super::shootdown::answer();
        core::hint::spin_loop();
    }
}

/// Lets the lock go if [`enter`] took it.
pub fn leave(e: Entered) {
    if e.0 {
        release();
    }
}

/// Lets the lock go for a while (this CPU must hold it).
pub fn release() {
    HOLDER.store(0, Ordering::Release);
}

/// Takes the lock back after [`release`].
pub fn reacquire() {
    let _ = enter();
}
