//! What the test VMMs share: access to a handler's UTCB and the real-mode start-up state
//! most test guests begin in.

use facet_abi::{mtd, utcb as u};

/// A VMM handler's UTCB, mapped read-write at this address in the roottask.
#[derive(Clone, Copy)]
pub struct Utcb(pub u64);

impl Utcb {
    /// Writes the word at byte offset `at`.
    pub fn put(self, at: usize, v: u64) {
        // SAFETY: the handler's UTCB is mapped read-write at `self.0` (the caller created
        // the Ec with it), and `at` is a UTCB offset from `facet_abi::utcb`.
        unsafe { ((self.0 + at as u64) as *mut u64).write_volatile(v) }
    }

    /// Reads the word at byte offset `at`.
    pub fn get(self, at: usize) -> u64 {
        // SAFETY: as for `put`.
        unsafe { ((self.0 + at as u64) as *const u64).read_volatile() }
    }

    /// Real mode at `rip` with CS and SS based at 0 and `rflags`. Returns the MTD bits
    /// that carry this state.
    pub fn real_mode(self, rip: u64, rflags: u64) -> u32 {
        self.put(u::RIP, rip);
        self.put(u::RFLAGS, rflags);
        self.put(u::CS, 0x9b << 16 | 0xffff << 32);
        self.put(u::CS + 8, 0);
        self.put(u::SS, 0x93 << 16 | 0xffff << 32);
        self.put(u::SS + 8, 0);
        mtd::RIP_LEN | mtd::RFLAGS | mtd::CS_SS
    }

    /// Sets the reply's MTD.
    pub fn reply_with(self, m: u32) {
        self.put(u::MTD, m as u64);
    }
}
