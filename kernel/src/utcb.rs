//! UTCB access for the kernel: the exchange itself (`facet_kcore::utcb`: messages,
//! exception state, typed items, windows) over the direct map, and the IPC fast path's
//! one-instruction copy.
//!
//! IPC (`exec`) and the vCPU state transfer (`vcpu`, `svm`, `vmx`, which use the same
//! layout) both read and write UTCBs through here. A UTCB is named by the physical
//! address of its frame, which its Ec owns; every access stays inside the page
//! (`facet_kcore::utcb` bounds every count).

use facet_kcore::utcb::{self as x, Reg, RegFile, UtcbMem};

use crate::arch::regs::Frame;
use crate::mem::direct_map::virt;

pub use facet_kcore::utcb::WORDS;

/// The UTCB frames, through the direct map.
struct Direct;

impl UtcbMem for Direct {
    #[inline(always)]
    fn read(&self, utcb: u64, at: usize) -> u64 {
        // SAFETY: `utcb` is the physical address of an Ec's UTCB frame (owned by that Ec,
        // direct-mapped) and `at` lies inside the page (the trait's contract).
        unsafe { core::ptr::read_volatile(virt(utcb + at as u64) as *const u64) }
    }

    #[inline(always)]
    fn write(&mut self, utcb: u64, at: usize, v: u64) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile(virt(utcb + at as u64) as *mut u64, v) }
    }

    /// Word by word through two moving pointers: the shortest loop for the short
    /// messages that are the common case.
    #[inline(always)]
    fn copy_words(&mut self, src: u64, dst: u64, n: usize) {
        debug_assert!(n <= WORDS);
        let (mut from, mut to) = (virt(src + 32) as *const u64, virt(dst + 32) as *mut u64);
        for _ in 0..n {
            // SAFETY: both are UTCB frames (direct-mapped, owned by their Ecs) and the n
            // words lie inside them (n <= WORDS).
            unsafe {
                to.write_volatile(from.read_volatile());
                from = from.add(1);
                to = to.add(1);
            }
        }
    }
}

impl RegFile for Frame {
    fn reg(&mut self, r: Reg) -> &mut u64 {
        match r {
            Reg::Rax => &mut self.rax,
            Reg::Rcx => &mut self.rcx,
            Reg::Rdx => &mut self.rdx,
            Reg::Rbx => &mut self.rbx,
            Reg::Rsp => &mut self.rsp,
            Reg::Rbp => &mut self.rbp,
            Reg::Rsi => &mut self.rsi,
            Reg::Rdi => &mut self.rdi,
            Reg::R8 => &mut self.r8,
            Reg::R9 => &mut self.r9,
            Reg::R10 => &mut self.r10,
            Reg::R11 => &mut self.r11,
            Reg::R12 => &mut self.r12,
            Reg::R13 => &mut self.r13,
            Reg::R14 => &mut self.r14,
            Reg::R15 => &mut self.r15,
            Reg::Rip => &mut self.rip,
            Reg::Rflags => &mut self.rflags,
            Reg::Cs => &mut self.cs,
            Reg::Error => &mut self.error,
        }
    }
}

/// Reads the word at byte offset `at` of the UTCB frame at `utcb` (for the vCPU state
/// transfer, which uses the same layout).
pub fn read_word(utcb: u64, at: usize) -> u64 {
    Direct.read(utcb, at)
}

/// Writes the word at byte offset `at` of the UTCB frame at `utcb`.
pub fn write_word(utcb: u64, at: usize, v: u64) {
    Direct.write(utcb, at, v)
}

/// Copies the items word and the untyped words of `src` to `dst`
/// (`facet_kcore::utcb::copy_message`). Returns whether the message has typed items.
#[inline(always)]
pub fn copy_message(src: u64, dst: u64) -> bool {
    x::copy_message(&mut Direct, src, dst)
}

/// The items word of the message in UTCB `src` if it is untyped words only, all of which
/// fit: the message the IPC fast path moves with [`copy_plain`] between two threads (every
/// thread has a UTCB).
#[inline(always)]
pub fn plain_message(src: u64, dst: u64) -> Option<u64> {
    debug_assert!(src != 0 && dst != 0);
    x::plain_items(Direct.read(src, facet_abi::utcb::ITEMS))
}

/// Copies a message [`plain_message`] accepted, whose items word is `items`.
#[inline(always)]
pub fn copy_plain(src: u64, dst: u64, items: u64) {
    Direct.write(dst, facet_abi::utcb::ITEMS, items);
    let n = items & 0xffff;
    debug_assert!(n <= WORDS as u64);
    // One string move: no loop for the compiler to unroll into registers the fast path
    // would have to save.
    // SAFETY: both are UTCB frames (direct-mapped, owned by their Ecs) and the n words
    // lie inside them (n <= WORDS); DF is clear in the kernel (the syscall mask clears it).
    unsafe {
        core::arch::asm!("rep movsq", inout("rcx") n => _, inout("rsi") virt(src + 32) => _,
                         inout("rdi") virt(dst + 32) => _, options(nostack, preserves_flags))
    };
}

/// Writes the state `mtd_bits` selects from a faulting Ec's registers into a handler's
/// UTCB.
pub fn load_exception(utcb: u64, regs: &mut Frame, mtd_bits: u64, cr2: u64) {
    x::load_exception(&mut Direct, utcb, regs, mtd_bits, cr2)
}

/// Applies the state a handler's reply selects to the faulting Ec's registers, checked
/// (`facet_kcore::utcb::save_exception`).
pub fn save_exception(utcb: u64, regs: &mut Frame) {
    x::save_exception(&Direct, utcb, regs)
}

/// Number of typed items in a UTCB, bounded by what fits.
pub fn typed_count(utcb: u64) -> usize {
    x::typed_count(&Direct, utcb)
}

/// Typed item `i`: (CRD, metadata).
pub fn typed_item(utcb: u64, i: usize) -> (u64, u64) {
    x::typed_item(&Direct, utcb, i)
}

/// Writes typed item `i`.
pub fn set_typed_item(utcb: u64, i: usize, crd: u64, meta: u64) {
    x::set_typed_item(&mut Direct, utcb, i, crd, meta)
}

/// The receiver's translate window (UTCB header word 1).
pub fn translate_window(utcb: u64) -> u64 {
    x::translate_window(&Direct, utcb)
}

/// The receiver's delegate window (UTCB header word 2).
pub fn delegate_window(utcb: u64) -> u64 {
    x::delegate_window(&Direct, utcb)
}
