//! The UTCB exchange: moving a message between two UTCBs, and an exception's state
//! between a UTCB and the saved registers, as the reference's UTCB layout
//! (`facet_abi::utcb`) defines them.
//!
//! A UTCB page starts with a header of four words (items, translate CRD, delegate CRD,
//! TLS); message words follow. `items` holds the number of untyped words in bits 15:0
//! and of typed items in bits 31:16; typed items sit at the end of the page, growing
//! down. The exception layout reuses the words after the header: MTD, instruction
//! length, RIP, RFLAGS, interruptibility, injection, vector information, then RAX..RDI,
//! R8..R15 and the two qualification words.
//!
//! The kernel reaches a UTCB (named by its frame's physical address) through
//! [`UtcbMem`], over its direct map, and a saved register frame through [`RegFile`];
//! host tests use a map of pages and an array. Two invariants hold for every caller:
//! no word outside the page is touched (counts are bounded by [`WORDS`]), and no
//! instruction or stack pointer a handler writes reaches the frame unchecked
//! (`crate::user_state`).

use facet_abi::mtd;
use facet_abi::utcb as u;

use crate::user_state;

/// Message words after the header.
pub const WORDS: usize = (4096 - u::DATA) / 8;

/// The words of UTCB pages, each named by the physical address of its frame (0: none;
/// callers check).
pub trait UtcbMem {
    /// The word at byte offset `at` (8-byte aligned, inside the page) of UTCB `utcb`.
    fn read(&self, utcb: u64, at: usize) -> u64;
    /// Writes the word at byte offset `at` of UTCB `utcb`.
    fn write(&mut self, utcb: u64, at: usize, v: u64);
    /// Copies the first `n` (at most [`WORDS`]) message words of `src` to `dst`.
    #[inline(always)]
    fn copy_words(&mut self, src: u64, dst: u64, n: usize) {
        for i in 0..n {
            let v = self.read(src, u::DATA + 8 * i);
            self.write(dst, u::DATA + 8 * i, v);
        }
    }
}

/// A register of a saved frame that an exception message moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    Rax,
    Rcx,
    Rdx,
    Rbx,
    Rsp,
    Rbp,
    Rsi,
    Rdi,
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
    Rip,
    Rflags,
    /// The code selector (read only: it decides which instruction pointers are valid).
    Cs,
    /// The CPU's error code of the exception.
    Error,
}

/// A saved register frame (the kernel's `arch::regs::Frame`).
pub trait RegFile {
    /// Register `r`.
    fn reg(&mut self, r: Reg) -> &mut u64;
}

/// The general registers by UTCB offset and MTD bit, in UTCB order (RSP, which the MTD
/// selects on its own, apart).
pub const GPRS: [(usize, Reg, u32); 15] = [
    (u::RAX, Reg::Rax, mtd::GPR_ACDB),
    (u::RCX, Reg::Rcx, mtd::GPR_ACDB),
    (u::RDX, Reg::Rdx, mtd::GPR_ACDB),
    (u::RBX, Reg::Rbx, mtd::GPR_ACDB),
    (u::RBP, Reg::Rbp, mtd::GPR_BSD),
    (u::RSI, Reg::Rsi, mtd::GPR_BSD),
    (u::RDI, Reg::Rdi, mtd::GPR_BSD),
    (u::R8, Reg::R8, mtd::GPR_R8_R15),
    (u::R8 + 8, Reg::R9, mtd::GPR_R8_R15),
    (u::R8 + 16, Reg::R10, mtd::GPR_R8_R15),
    (u::R8 + 24, Reg::R11, mtd::GPR_R8_R15),
    (u::R8 + 32, Reg::R12, mtd::GPR_R8_R15),
    (u::R8 + 40, Reg::R13, mtd::GPR_R8_R15),
    (u::R8 + 48, Reg::R14, mtd::GPR_R8_R15),
    (u::R8 + 56, Reg::R15, mtd::GPR_R8_R15),
];

/// Copies the items word and the untyped words of `src` to `dst`, the untyped count
/// bounded by what fits (typed items are the caller's). Returns whether the message has
/// typed items, so that the caller looks at them only then.
#[inline(always)]
pub fn copy_message(m: &mut impl UtcbMem, src: u64, dst: u64) -> bool {
    if src == 0 || dst == 0 {
        return false;
    }
    let items = m.read(src, u::ITEMS);
    m.write(dst, u::ITEMS, items);
    let mut n = (items & 0xffff) as usize;
    if n > WORDS {
        n = WORDS;
        m.write(dst, u::ITEMS, items & !0xffff | n as u64);
    }
    m.copy_words(src, dst, n);
    items >> 16 & 0xffff != 0
}

/// `items` if the message it describes is untyped words only, all of which fit: the
/// message the IPC fast path moves with one string copy.
#[inline(always)]
pub fn plain_items(items: u64) -> Option<u64> {
    // No typed items (bits 31:16) and at most WORDS untyped ones (bits 15:0), in one test.
    (items as u32 <= WORDS as u32).then_some(items)
}

/// The RFLAGS a handler's reply may give a thread: no IOPL, VM, RF or VIF/VIP, nothing
/// above bit 21; IF and the fixed bit 1 set.
pub fn user_rflags(v: u64) -> u64 {
    const DROP: u64 = (1 << 20) | (1 << 19) | (1 << 17) | (1 << 16) | (3 << 12);
    (v & !DROP & 0x3f_ffff) | (1 << 9) | 2
}

/// Writes the state `mtd_bits` selects from a faulting Ec's registers into a handler's
/// UTCB, then the MTD and the items word of an exception message.
pub fn load_exception(
    m: &mut impl UtcbMem,
    utcb: u64,
    regs: &mut impl RegFile,
    mtd_bits: u64,
    cr2: u64,
) {
    if utcb == 0 {
        return;
    }
    let sel = mtd_bits as u32;
    for (at, r, bit) in GPRS {
        if sel & bit != 0 {
            m.write(utcb, at, *regs.reg(r));
        }
    }
    for (at, r, bit) in [
        (u::RSP, Reg::Rsp, mtd::RSP),
        (u::RIP, Reg::Rip, mtd::RIP_LEN),
        (u::RFLAGS, Reg::Rflags, mtd::RFLAGS),
        (u::QUAL, Reg::Error, mtd::QUAL),
    ] {
        if sel & bit != 0 {
            m.write(utcb, at, *regs.reg(r));
        }
    }
    if sel & mtd::QUAL != 0 {
        m.write(utcb, u::QUAL + 8, cr2);
    }
    m.write(utcb, u::MTD, mtd_bits);
    m.write(utcb, u::ITEMS, u::STATE_WORDS);
}

/// Applies the state a handler's reply selects (the MTD word of its UTCB) to the
/// faulting Ec's registers. A stack or instruction pointer the kernel could not return
/// to leaves the old value (`user_state`); RFLAGS goes through [`user_rflags`].
pub fn save_exception(m: &impl UtcbMem, utcb: u64, regs: &mut impl RegFile) {
    if utcb == 0 {
        return;
    }
    let sel = m.read(utcb, u::MTD) as u32;
    for (at, r, bit) in GPRS {
        if sel & bit != 0 {
            *regs.reg(r) = m.read(utcb, at);
        }
    }
    if sel & mtd::RSP != 0 {
        let rsp = m.read(utcb, u::RSP);
        if user_state::stack_ok(rsp) {
            *regs.reg(Reg::Rsp) = rsp;
        }
    }
    if sel & mtd::RIP_LEN != 0 {
        let rip = m.read(utcb, u::RIP);
        if user_state::entry_ok(*regs.reg(Reg::Cs), rip) {
            *regs.reg(Reg::Rip) = rip;
        }
    }
    if sel & mtd::RFLAGS != 0 {
        *regs.reg(Reg::Rflags) = user_rflags(m.read(utcb, u::RFLAGS));
    }
}

/// Number of typed items in a UTCB (items bits 31:16), bounded by what fits.
pub fn typed_count(m: &impl UtcbMem, utcb: u64) -> usize {
    if utcb == 0 {
        return 0;
    }
    (((m.read(utcb, u::ITEMS) >> 16) & 0xffff) as usize).min(WORDS / 2)
}

/// Byte offset of typed item `i` (below [`WORDS`]` / 2`): items sit at the end of the
/// page, growing down, two words each.
pub fn typed_item_at(i: usize) -> usize {
    4096 - 16 * (i + 1)
}

/// Typed item `i`: (CRD, metadata).
pub fn typed_item(m: &impl UtcbMem, utcb: u64, i: usize) -> (u64, u64) {
    let at = typed_item_at(i);
    (m.read(utcb, at), m.read(utcb, at + 8))
}

/// Writes typed item `i`.
pub fn set_typed_item(m: &mut impl UtcbMem, utcb: u64, i: usize, crd: u64, meta: u64) {
    let at = typed_item_at(i);
    m.write(utcb, at, crd);
    m.write(utcb, at + 8, meta);
}

/// The receiver's translate window (header word 1; a null CRD without a UTCB).
pub fn translate_window(m: &impl UtcbMem, utcb: u64) -> u64 {
    if utcb == 0 {
        0
    } else {
        m.read(utcb, u::XLT)
    }
}

/// The receiver's delegate window (header word 2; a null CRD without a UTCB).
pub fn delegate_window(m: &impl UtcbMem, utcb: u64) -> u64 {
    if utcb == 0 {
        0
    } else {
        m.read(utcb, u::DEL)
    }
}

#[cfg(test)]
mod tests;
