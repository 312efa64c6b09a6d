//! Kernel entry and exit: the `syscall` and interrupt stubs, the hypercall dispatch and
//! the end of every hypercall, the IPC fast path, and the handlers of exceptions and
//! interrupts.
//!
//! The assembly here names only Rust functions of this layer, which call down into the
//! hypercall handlers and the execution layer; nothing below calls up into it. The
//! architecture code is handed what it installs: the IDT gets the interrupt stubs from
//! [`interrupt::stubs`] at initialisation, and [`syscall::init`] writes the system-call
//! MSRs itself.

pub mod dispatch;
pub mod fastpath;
pub mod interrupt;
pub mod syscall;
pub mod trap;
