//! Moving message contents between UTCBs, and exception state between a UTCB and saved
//! registers, as the reference's UTCB layout defines them.
//!
//! A UTCB page starts with a header of four words (items, translate CRD, delegate CRD,
//! TLS); message words follow. `items` holds the number of untyped words in bits 15:0
//! and of typed items in bits 31:16. The exception layout reuses the words after the
//! header: MTD, instruction length, RIP, RFLAGS, interruptibility, injection, vector
//! information, then RAX..RDI, R8..R15 and the two qualification words.
//!
//! IPC (`exec`) and the vCPU state transfer (`vcpu`, `svm`, `vmx`, which use the same
//! layout) both read and write UTCBs through here.

use facet_abi::mtd;
use facet_kcore::user_state;

use crate::arch::regs::Frame;
use crate::mem::direct_map::virt;

/// Message words after the header.
pub const WORDS: usize = (4096 - 32) / 8;

/// Byte offsets of the exception layout (from `facet_abi::utcb`).
mod off {
    use facet_abi::utcb as u;
    pub const ITEMS: u64 = u::ITEMS as u64;
    pub const MTD: u64 = u::MTD as u64;
    pub const RIP: u64 = u::RIP as u64;
    pub const RFLAGS: u64 = u::RFLAGS as u64;
    pub const RAX: u64 = u::RAX as u64;
    pub const R8: u64 = u::R8 as u64;
    pub const QUAL: u64 = u::QUAL as u64;
}

fn rd(utcb: u64, at: u64) -> u64 {
    // SAFETY: `utcb` is the physical address of an Ec's UTCB frame (owned by that Ec,
    // direct-mapped) and `at` lies inside the page.
    unsafe { core::ptr::read_volatile(virt(utcb + at) as *const u64) }
}

fn wr(utcb: u64, at: u64, v: u64) {
    // SAFETY: as for `rd`.
    unsafe { core::ptr::write_volatile(virt(utcb + at) as *mut u64, v) }
}

/// Reads the word at byte offset `at` of the UTCB frame at `utcb` (for the vCPU state
/// transfer, which uses the same layout).
pub fn read_word(utcb: u64, at: usize) -> u64 {
    rd(utcb, at as u64)
}

/// Writes the word at byte offset `at` of the UTCB frame at `utcb`.
pub fn write_word(utcb: u64, at: usize, v: u64) {
    wr(utcb, at as u64, v)
}

/// Copies the items word and the untyped words of `src` to `dst`, the untyped count
/// bounded by what fits (typed items are `exec::typed::transfer`'s). Returns whether
/// the message has typed items, so that the caller looks at them only then.
#[inline(always)]
pub fn copy_message(src: u64, dst: u64) -> bool {
    if src == 0 || dst == 0 {
        return false;
    }
    let items = rd(src, off::ITEMS);
    wr(dst, off::ITEMS, items);
    let mut n = (items & 0xffff) as usize;
    if n > WORDS {
        n = WORDS;
        wr(dst, off::ITEMS, items & !0xffff | n as u64);
    }
    copy_words(src, dst, n);
    items >> 16 & 0xffff != 0
}

/// The items word of the message in UTCB `src` if it is untyped words only, all of which
/// fit: the message the IPC fast path moves with [`copy_plain`] between two threads (every
/// thread has a UTCB).
#[inline(always)]
pub fn plain_message(src: u64, dst: u64) -> Option<u64> {
    debug_assert!(src != 0 && dst != 0);
    let items = rd(src, off::ITEMS);
    // No typed items (bits 31:16) and at most WORDS untyped ones (bits 15:0), in one test.
    (items as u32 <= WORDS as u32).then_some(items)
}

/// Copies a message [`plain_message`] accepted, whose items word is `items`.
#[inline(always)]
pub fn copy_plain(src: u64, dst: u64, items: u64) {
    wr(dst, off::ITEMS, items);
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

/// Copies the first `n` (at most [`WORDS`]) message words of `src` to `dst`.
#[inline(always)]
fn copy_words(src: u64, dst: u64, n: usize) {
    debug_assert!(n <= WORDS);
    // Word by word through two moving pointers: the shortest loop for the short
    // messages that are the common case.
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

/// A register of a frame, at a byte offset of the UTCB layout.
type Gpr = (u64, fn(&mut Frame) -> &mut u64);

const GPRS_ACDB: [Gpr; 4] = [
    (0, |f| &mut f.rax),
    (8, |f| &mut f.rcx),
    (16, |f| &mut f.rdx),
    (24, |f| &mut f.rbx),
];
const GPRS_BSD: [Gpr; 3] = [
    (40, |f| &mut f.rbp),
    (48, |f| &mut f.rsi),
    (56, |f| &mut f.rdi),
];
const GPRS_R8: [Gpr; 8] = [
    (0, |f| &mut f.r8),
    (8, |f| &mut f.r9),
    (16, |f| &mut f.r10),
    (24, |f| &mut f.r11),
    (32, |f| &mut f.r12),
    (40, |f| &mut f.r13),
    (48, |f| &mut f.r14),
    (56, |f| &mut f.r15),
];

/// Writes the state `mtd` selects from a faulting Ec's registers into a handler's UTCB.
pub fn load_exception(utcb: u64, regs: &mut Frame, mtd_bits: u64, cr2: u64) {
    if utcb == 0 {
        return;
    }
    let m = mtd_bits as u32;
    if m & mtd::GPR_ACDB != 0 {
        for (o, r) in GPRS_ACDB {
            wr(utcb, off::RAX + o, *r(regs));
        }
    }
    if m & mtd::GPR_BSD != 0 {
        for (o, r) in GPRS_BSD {
            wr(utcb, off::RAX + o, *r(regs));
        }
    }
    if m & mtd::GPR_R8_R15 != 0 {
        for (o, r) in GPRS_R8 {
            wr(utcb, off::R8 + o, *r(regs));
        }
    }
    if m & mtd::RSP != 0 {
        wr(utcb, off::RAX + 32, regs.rsp);
    }
    if m & mtd::RIP_LEN != 0 {
        wr(utcb, off::RIP, regs.rip);
    }
    if m & mtd::RFLAGS != 0 {
        wr(utcb, off::RFLAGS, regs.rflags);
    }
    if m & mtd::QUAL != 0 {
        wr(utcb, off::QUAL, regs.error);
        wr(utcb, off::QUAL + 8, cr2);
    }
    wr(utcb, off::MTD, mtd_bits);
    wr(utcb, off::ITEMS, facet_abi::utcb::STATE_WORDS);
}

/// Applies the state a handler's reply selects (the MTD word of its UTCB) to the
/// faulting Ec's registers. RFLAGS is sanitised: no IOPL, VM, RF or VIF/VIP; IF stays on.
pub fn save_exception(utcb: u64, regs: &mut Frame) {
    if utcb == 0 {
        return;
    }
    let m = rd(utcb, off::MTD) as u32;
    if m & mtd::GPR_ACDB != 0 {
        for (o, r) in GPRS_ACDB {
            *r(regs) = rd(utcb, off::RAX + o);
        }
    }
    if m & mtd::GPR_BSD != 0 {
        for (o, r) in GPRS_BSD {
            *r(regs) = rd(utcb, off::RAX + o);
        }
    }
    if m & mtd::GPR_R8_R15 != 0 {
        for (o, r) in GPRS_R8 {
            *r(regs) = rd(utcb, off::R8 + o);
        }
    }
    // A pointer the kernel could not return to leaves the old value (`user_state`).
    if m & mtd::RSP != 0 {
        let rsp = rd(utcb, off::RAX + 32);
        if user_state::stack_ok(rsp) {
            regs.rsp = rsp;
        }
    }
    if m & mtd::RIP_LEN != 0 {
        let rip = rd(utcb, off::RIP);
        if user_state::entry_ok(regs.cs, rip) {
            regs.rip = rip;
        }
    }
    if m & mtd::RFLAGS != 0 {
        const DROP: u64 = (1 << 20) | (1 << 19) | (1 << 17) | (1 << 16) | (3 << 12);
        regs.rflags = (rd(utcb, off::RFLAGS) & !DROP & 0x3f_ffff) | (1 << 9) | 2;
    }
}

/// Number of typed items in a UTCB (items bits 31:16), bounded by what fits.
pub fn typed_count(utcb: u64) -> usize {
    if utcb == 0 {
        return 0;
    }
    (((rd(utcb, off::ITEMS) >> 16) & 0xffff) as usize).min(WORDS / 2)
}

/// Typed item `i`: (CRD, metadata). Items sit at the end of the page, growing down.
pub fn typed_item(utcb: u64, i: usize) -> (u64, u64) {
    let at = 4096 - 16 * (i as u64 + 1);
    (rd(utcb, at), rd(utcb, at + 8))
}

/// Writes typed item `i`.
pub fn set_typed_item(utcb: u64, i: usize, crd: u64, meta: u64) {
    let at = 4096 - 16 * (i as u64 + 1);
    wr(utcb, at, crd);
    wr(utcb, at + 8, meta);
}

/// The receiver's translate window (UTCB header word 1).
pub fn translate_window(utcb: u64) -> u64 {
    if utcb == 0 {
        0
    } else {
        rd(utcb, 8)
    }
}

/// The receiver's delegate window (UTCB header word 2).
pub fn delegate_window(utcb: u64) -> u64 {
    if utcb == 0 {
        0
    } else {
        rd(utcb, 16)
    }
}
