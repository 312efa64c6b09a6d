//! What the test VMMs share: access to a handler's UTCB and the real-mode start-up state
//! most test guests begin in.

use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::{mtd, utcb as u};
use facet_rt::hypercall::{create_ec, create_pt, create_sc, create_sm, ec_flags, sm_down};

use super::{ok, TestResult};

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

/// An exit a test VMM handles: the event (exit reason, or a kernel event such as
/// start-up), the MTD its message carries, and the handler's entry.
pub type Exit = (u64, u32, unsafe extern "C" fn());

/// One test VM: its VMM's handler Ec (UTCB at `utcb`), the semaphores the handler
/// signals when the test's guest is done and parks on, the vCPU and its Sc, and the
/// event base of its exits (256 selectors, apart from every other VM's).
pub struct TestVm {
    pub vmm: u64,
    pub utcb: u64,
    pub done: u64,
    pub park: u64,
    pub vcpu: u64,
    pub sc: u64,
    pub evt: u64,
}

impl TestVm {
    /// Creates the VMM's handler, its semaphores and a portal per exit, then the vCPU
    /// and its Sc, which start it; returns once the handler signals `done` (`what` names
    /// that wait in a failure).
    pub fn run(&self, exits: &[Exit], what: &str) -> TestResult {
        let pd = ROOT_SEL_PD;
        ok(create_ec(self.vmm, pd, 0, 0, self.utcb, 0, 0), "VMM EC")?;
        ok(create_sm(self.done, pd, 0, 0), "sm")?;
        ok(create_sm(self.park, pd, 0, 0), "parking sm")?;
        for &(event, m, f) in exits {
            let entry = f as *const () as u64;
            ok(
                create_pt(self.evt + event, pd, self.vmm, m as u64, entry),
                "portal",
            )?;
        }
        let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
        ok(create_ec(self.vcpu, pd, vcpu, 0, 0, 0, self.evt), "vCPU")?;
        ok(create_sc(self.sc, pd, self.vcpu, 1, 1000), "vCPU SC")?;
        ok(sm_down(self.done), what)
    }
}
