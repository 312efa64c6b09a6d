//! A typed view of a UTCB page: the message header, untyped words, typed items, and the
//! architectural state of exception and VM-exit messages, at the offsets of
//! [`facet_abi::utcb`].

use facet_abi::crd::Crd;
use facet_abi::layout::ROOT_UTCB_ADDR;
use facet_abi::utcb as off;
use facet_abi::{mtd, utcb::TYPED_ITEM_SIZE};

use crate::entry::{thread_addr, Stack};
use crate::window::Window;

/// Bytes in a UTCB page.
pub const SIZE: u64 = 4096;
/// Untyped words a message can carry after the header.
pub const MAX_WORDS: u64 = (SIZE - off::DATA as u64) / 8;

/// The UTCB page at a fixed address of this program (an EC's, mapped there by
/// `create_ec`; or the roottask's own, [`Utcb::ROOT`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utcb(Window);

impl Utcb {
    /// The roottask's own UTCB.
    pub const ROOT: Utcb = Utcb::at(ROOT_UTCB_ADDR);

    /// The UTCB at `addr` (page-aligned, inside [`crate::window::MAPPABLE`]; panics
    /// otherwise, at compile time in a constant).
    pub const fn at(addr: u64) -> Utcb {
        Utcb(Window::page(addr))
    }

    /// Its address (what `create_ec` takes).
    pub const fn addr(self) -> u64 {
        self.0.base()
    }

    /// The UTCB `i` pages above this one (for ECs whose UTCBs lie side by side).
    pub const fn nth(self, i: u64) -> Utcb {
        Utcb::at(self.addr() + i * SIZE)
    }

    /// The page as a window (for what is not a UTCB field, such as a virtual-APIC page
    /// mapped where a UTCB would be).
    pub const fn window(self) -> Window {
        self.0
    }

    /// The word at byte offset `at` (an offset of [`facet_abi::utcb`]).
    pub fn get(self, at: usize) -> u64 {
        self.0.read(at as u64)
    }

    /// Writes the word at byte offset `at`.
    pub fn put(self, at: usize, v: u64) {
        self.0.write(at as u64, v)
    }

    /// The header's item counts: untyped words (bits 15:0), typed items (bits 31:16).
    pub fn items(self) -> u64 {
        self.get(off::ITEMS)
    }

    /// Sets the header's item counts.
    pub fn set_items(self, items: u64) {
        self.put(off::ITEMS, items)
    }

    /// The number of untyped words the message says it has.
    pub fn untyped(self) -> u64 {
        self.items() & 0xffff
    }

    /// Untyped word `i`.
    pub fn word(self, i: u64) -> u64 {
        self.get(off::DATA + 8 * i as usize)
    }

    /// Sets untyped word `i` (the count is left as it is).
    pub fn set_word(self, i: u64, v: u64) {
        self.put(off::DATA + 8 * i as usize, v)
    }

    /// A message of the untyped words `words` and no typed items.
    pub fn send(self, words: &[u64]) {
        for (i, &w) in words.iter().enumerate() {
            self.set_word(i as u64, w);
        }
        self.set_items(words.len() as u64);
    }

    /// The window in which this EC receives delegated capabilities.
    pub fn set_delegate_window(self, crd: Crd) {
        self.put(off::DEL, crd.0)
    }

    /// Typed item `i` (counted from the end of the page): its CRD and metadata.
    pub fn typed(self, i: usize) -> (Crd, u64) {
        let at = SIZE as usize - (i + 1) * TYPED_ITEM_SIZE;
        (Crd(self.get(at)), self.get(at + 8))
    }

    /// Sets typed item `i` (the count is left as it is).
    pub fn set_typed(self, i: usize, crd: Crd, meta: u64) {
        let at = SIZE as usize - (i + 1) * TYPED_ITEM_SIZE;
        self.put(at, crd.0);
        self.put(at + 8, meta);
    }

    /// Sets the MTD of a reply to an exception or VM exit: which state the kernel takes
    /// from it.
    pub fn reply_with(self, m: u32) {
        self.put(off::MTD, m as u64)
    }

    /// Real mode at `rip` with `rflags`: what a guest written for real mode relies on,
    /// since a vCPU starts with every register zero (the reference's start state): CS,
    /// SS, DS, ES, FS and GS with base and selector 0, a 64 KiB limit and the rights of
    /// real mode (present, accessed; CS code, the others read/write data), and the
    /// interrupt table at 0 with 256 entries. Returns the MTD bits that carry this state.
    pub fn real_mode(self, rip: u64, rflags: u64) -> u32 {
        self.put(off::RIP, rip);
        self.put(off::RFLAGS, rflags);
        for (at, rights) in [
            (off::CS, 0x9b),
            (off::SS, 0x93),
            (off::DS, 0x93),
            (off::ES, 0x93),
            (off::FS, 0x93),
            (off::GS, 0x93),
        ] {
            self.put(at, rights << 16 | 0xffff << 32);
            self.put(at + 8, 0);
        }
        self.put(off::IDTR, 0x3ff << 32);
        self.put(off::IDTR + 8, 0);
        mtd::RIP_LEN | mtd::RFLAGS | mtd::CS_SS | mtd::DS_ES | mtd::FS_GS | mtd::IDTR
    }

    /// A start-up reply that starts a global EC in `thread` on `stack`, as if the thread
    /// had been called there. Returns the MTD bits that carry this state.
    pub fn start_thread(self, thread: extern "C" fn(u64) -> !, stack: &'static Stack) -> u32 {
        self.start(thread_addr(thread), stack.top() - 8)
    }

    /// A start-up reply that starts a global EC at `rip` with RSP `sp`. Returns the MTD
    /// bits that carry this state.
    pub fn start(self, rip: u64, sp: u64) -> u32 {
        self.put(off::RIP, rip);
        self.put(off::RSP, sp);
        mtd::RIP_LEN | mtd::RSP
    }
}
