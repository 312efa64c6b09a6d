//! The one rule for the user state the kernel returns to: every instruction and stack
//! pointer that user mode hands the kernel (a portal's entry, a local Ec's stack, an
//! exception, start-up or recall reply) is checked where it enters the kernel, so that
//! the exit's `iretq` never faults on it.
//!
//! An instruction pointer must lie in user space, below [`USER_ADDR`] (which also keeps
//! it canonical); one for 32-bit code must also fit the 4 GiB code segment, beyond whose
//! limit `iretq` faults. A stack pointer must lie below [`USER_ADDR`] too: `iretq` would
//! take any value, but a stack outside user space is never meant, and one rule for both
//! keeps the boundary simple to state.

use facet_abi::layout::{SEL_USER_CODE32, USER_ADDR};

/// Whether user code running with code selector `cs` may resume at `rip`.
pub fn entry_ok(cs: u64, rip: u64) -> bool {
    if cs == SEL_USER_CODE32 as u64 {
        rip <= u32::MAX as u64
    } else {
        rip < USER_ADDR
    }
}

/// Whether `rsp` may be a user stack pointer.
pub fn stack_ok(rsp: u64) -> bool {
    rsp < USER_ADDR
}

#[cfg(test)]
mod tests;
