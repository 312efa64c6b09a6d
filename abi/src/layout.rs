//! Where the kernel places things in a roottask's address space and object space.

use crate::config::{NUM_EXC, PAGE_SIZE};

/// First address above user space; user mappings lie strictly below.
pub const USER_ADDR: u64 = 0x0000_7fff_ffff_f000;
/// The HIP is mapped read-only here for the roottask; its initial RSP points here too.
pub const ROOT_HIP_ADDR: u64 = USER_ADDR - PAGE_SIZE as u64;
/// The roottask's UTCB.
pub const ROOT_UTCB_ADDR: u64 = USER_ADDR - 2 * PAGE_SIZE as u64;

/// Selector of the roottask's own PD capability.
pub const ROOT_SEL_PD: u64 = NUM_EXC as u64;
/// Selector of the roottask's EC capability.
pub const ROOT_SEL_EC: u64 = NUM_EXC as u64 + 1;
/// Selector of the roottask's SC capability.
pub const ROOT_SEL_SC: u64 = NUM_EXC as u64 + 2;

/// Event offset of the start-up message of a global EC.
pub const EVENT_STARTUP: u64 = 30;
/// Event offset of the recall message of an EC.
pub const EVENT_RECALL: u64 = 31;

/// VM-exit event of a nested-page-table (or EPT) violation.
pub const VM_EVENT_NPT: u64 = crate::config::NUM_VMI as u64 - 4;
/// VM-exit event of a failed entry or invalid guest state.
pub const VM_EVENT_INVALID: u64 = crate::config::NUM_VMI as u64 - 3;
/// Start-up event of a vCPU.
pub const VM_EVENT_STARTUP: u64 = crate::config::NUM_VMI as u64 - 2;
/// Recall event of a vCPU.
pub const VM_EVENT_RECALL: u64 = crate::config::NUM_VMI as u64 - 1;

/// Code segment selector the kernel uses for user-mode 64-bit code.
pub const SEL_USER_CODE64: u16 = 0x2b;
/// Data/stack segment selector for user mode.
pub const SEL_USER_DATA: u16 = 0x23;
/// Code segment selector for user-mode 32-bit code.
pub const SEL_USER_CODE32: u16 = 0x1b;

#[cfg(test)]
mod tests;
