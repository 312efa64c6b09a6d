//! The running Ec's saved user state, kept in the Ec itself.
//!
//! Each CPU's per-CPU block holds the top of the running Ec's register frame: the
//! `syscall` entry pushes the user registers straight into it and the exit pops them from
//! there, so switching Ecs copies no registers, it only moves that pointer
//! ([`point_at`]). With no Ec on the CPU the pointer names the CPU's idle frame (kept
//! with the descriptor tables, `arch::gdt`), which nothing resumes. Kernel code reaches
//! the frame through a [`CurrentFrame`] token, which follows the pointer on every access:
//! after a switch the same token names the new Ec's state.

use core::ops::{Deref, DerefMut};

use facet_abi::args::{Args, Out, Regs, Results};
use facet_abi::status::Status;

use crate::arch::gdt::{idle_top, PerCpu};
use crate::arch::regs::Frame;

const FRAME_BYTES: u64 = core::mem::size_of::<Frame>() as u64;

/// Makes `frame` (an Ec's register frame, or null for none) the running state on the
/// executing CPU.
#[inline(always)]
pub fn point_at(frame: *mut Frame) {
    let top = if frame.is_null() {
        idle_top(crate::arch::percpu::cpu_id())
    } else {
        frame as u64 + FRAME_BYTES
    };
    // SAFETY: GS holds the kernel's per-CPU base while in the kernel.
    unsafe {
        core::arch::asm!("mov gs:[{top_off}], {top}", "mov gs:[{base_off}], {base}",
                         top = in(reg) top, base = in(reg) top - FRAME_BYTES,
                         top_off = const core::mem::offset_of!(PerCpu, frame_top),
                         base_off = const core::mem::offset_of!(PerCpu, frame),
                         options(nostack, preserves_flags))
    }
}

fn frame_ptr() -> *mut Frame {
    let base: u64;
    // SAFETY: GS holds the kernel's per-CPU base while in the kernel.
    unsafe {
        core::arch::asm!("mov {}, gs:[{off}]", out(reg) base,
                         off = const core::mem::offset_of!(PerCpu, frame),
                         options(pure, nostack, readonly, preserves_flags))
    }
    base as *mut Frame
}

/// The running Ec's user state (see the module documentation).
pub struct CurrentFrame(());

impl CurrentFrame {
    /// The token for this kernel entry.
    ///
    /// # Safety
    /// 1. One token per kernel entry, created by the entry path and lent down from there.
    /// 2. While a reference obtained through it lives, the running Ec's `regs` is not
    ///    reached another way (through `obj::with`).
    pub unsafe fn new() -> CurrentFrame {
        CurrentFrame(())
    }

    /// The token for this kernel entry as a reference, which costs no stack slot to lend
    /// (the hypercall entry's, which hands it to every handler).
    ///
    /// # Safety
    /// 1. One token per kernel entry, as for [`CurrentFrame::new`].
    /// 2. While a reference obtained through it lives, the running Ec's `regs` is not
    ///    reached another way.
    pub unsafe fn new_ref() -> &'static mut CurrentFrame {
        // SAFETY: a dangling, aligned pointer is a valid reference to a zero-sized value.
        unsafe { core::ptr::NonNull::<CurrentFrame>::dangling().as_mut() }
    }
}

impl CurrentFrame {
    /// The hypercall's arguments, decoded from the caller's saved ARG1..ARG5 with their
    /// `facet_abi::args` type: the one place the kernel reads argument registers.
    /// Inlined field by field, so that a handler loads only the registers whose fields
    /// it uses.
    #[inline(always)]
    pub fn args<A: Args>(&self) -> A {
        A::from_regs(&self.regs())
    }

    /// The caller's saved ARG1..ARG5, for [`CurrentFrame::args`] and for the dispatch,
    /// which reads the hypercall's number in ARG1.
    #[inline(always)]
    pub fn regs(&self) -> Regs {
        let f: &Frame = self;
        Regs {
            rdi: f.rdi,
            rsi: f.rsi,
            rdx: f.rdx,
            rax: f.rax,
            r8: f.r8,
        }
    }

    /// Sets the status the caller resumes with (OUT1, RDI; its other bits cleared).
    #[inline(always)]
    pub fn set_status(&mut self, status: Status) {
        self.rdi = status as u64;
    }

    /// Writes a hypercall's results into the caller's saved registers with their
    /// `facet_abi::args` type (the status, in RDI bits 7:0, is the entry's to write):
    /// the one place the kernel writes result registers. Registers the results do not
    /// use keep what the caller passed.
    #[inline(always)]
    pub fn answer<R: Results>(&mut self, results: &R) {
        let f: &mut Frame = self;
        let mut out = Out {
            rdi: f.rdi,
            rsi: f.rsi,
            rdx: f.rdx,
            rax: f.rax,
        };
        results.to_out(&mut out);
        (f.rsi, f.rdx, f.rax) = (out.rsi, out.rdx, out.rax);
    }
}

/// Arguments decoded from ARG1 alone, as the syscall stub passes it in a register: for
/// the hypercalls whose layout puts everything their hot path reads in ARG1 (`call`,
/// `reply`, `sm_ctrl`), so that the hot path loads nothing from the frame. A decoder
/// given these registers sees 0 in ARG2..ARG5; [`CurrentFrame::args`] reads them all.
#[inline(always)]
pub fn arg1_args<A: Args>(arg1: u64) -> A {
    A::from_regs(&Regs {
        rdi: arg1,
        ..Regs::default()
    })
}

impl Deref for CurrentFrame {
    type Target = Frame;
    fn deref(&self) -> &Frame {
        // Rule 2 of the token, as far as a check at the moment of access sees it.
        crate::obj::loans::assert_not_lent(crate::arch::percpu::current_ec());
        // SAFETY: the pointer names the running Ec's frame (which lives while the Ec is
        // on the CPU: reaping leaves a running Ec alone, `obj::left_cpu`) or the CPU's
        // idle frame; the token's rules keep this the only way to it.
        unsafe { &*frame_ptr() }
    }
}

impl DerefMut for CurrentFrame {
    fn deref_mut(&mut self) -> &mut Frame {
        crate::obj::loans::assert_not_lent(crate::arch::percpu::current_ec());
        // SAFETY: as for `deref`.
        unsafe { &mut *frame_ptr() }
    }
}
