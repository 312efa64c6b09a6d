//! Each CPU's stacks: the kernel stack every entry from user mode starts on, and four
//! interrupt stacks (IST) for the entries that must not trust the stack they interrupt.
//!
//! - #DF: the kernel stack may be what overflowed.
//! - NMI and #MC: they can arrive anywhere, including the instructions between `syscall`
//!   and the switch to the kernel stack, where RSP is still the user's.
//! - #NP, #SS and #GP: the only faults a return to user mode can raise, and the exit
//!   paths run `iretq` with RSP inside the returning Ec's register frame (see
//!   `exec::current`), where nothing may be pushed.
//!
//! The word just above each interrupt stack's top holds the CPU's per-CPU block address:
//! the NMI, #MC and #DF entries find it there without trusting the GS base, which the
//! interrupted code may have left at the user's value (`entry::interrupt`). An entry that
//! moves on to the kernel stack (#GP and friends from user mode) never uses its
//! interrupt stack for more than the frame the CPU pushed.

/// The IST slots of the TSS (1-based, as the IDT gates name them).
pub const IST_DOUBLE_FAULT: u64 = 1;
pub const IST_NMI: u64 = 2;
pub const IST_MACHINE_CHECK: u64 = 3;
pub const IST_PROTECTION: u64 = 4;

/// Pages of each stack: the kernel stack, then the interrupt stacks in IST order.
pub const PAGES: [u64; 5] = [4, 2, 1, 2, 2];

/// Bytes kept free above each interrupt stack's top: the per-CPU block's address (the
/// highest word) and a word that keeps the CPU's frame 16-byte aligned.
pub const IST_RESERVED: u64 = 16;

/// The tops of one CPU's stacks.
#[derive(Clone, Copy, Debug)]
pub struct CpuStacks {
    pub kernel: u64,
    /// Interrupt stacks, IST slot 1 first; each top is page-aligned.
    pub ist: [u64; 4],
}

/// Where the application processors' stacks live: one slot per CPU of [`SLOT_BYTES`],
/// each stack above an unmapped guard page.
pub const APS_BASE: u64 = 0xffff_ffff_a000_0000;
pub const SLOT_BYTES: u64 = 0x2_0000;

/// Start (lowest address) of stack `i` ([`PAGES`] order) in CPU `cpu`'s slot.
pub fn ap_stack_bottom(cpu: u64, i: usize) -> u64 {
    let mut at = APS_BASE + cpu * SLOT_BYTES + 0x1000;
    for pages in &PAGES[..i] {
        at += (pages + 1) * 0x1000;
    }
    at
}

/// The tops of application processor `cpu`'s stacks (mapped by `mem::kspace`).
pub fn ap_stacks(cpu: u64) -> CpuStacks {
    let top = |i: usize| ap_stack_bottom(cpu, i) + PAGES[i] * 0x1000;
    CpuStacks {
        kernel: top(0),
        ist: [top(1), top(2), top(3), top(4)],
    }
}

const _: () = {
    let mut pages = 1;
    let mut i = 0;
    while i < PAGES.len() {
        pages += PAGES[i] + 1;
        i += 1;
    }
    assert!(pages * 0x1000 <= SLOT_BYTES);
};
