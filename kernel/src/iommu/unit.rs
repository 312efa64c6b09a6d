//! One remapping unit: its registers, global commands, and invalidation (queued where the
//! unit has it, by register commands otherwise). Every wait for the hardware is bounded:
//! a unit that does not answer within a second gets a message, never a hung kernel.

use facet_kcore::iommu::inv;
use facet_kcore::iommu::regs::{self, gcmd, Caps};
use facet_kcore::iommu::tables::Entry128;

use crate::mem::direct_map::virt;

/// A remapping unit the kernel drives.
#[derive(Clone, Copy, Debug)]
pub struct Unit {
    /// Its DRHD's index in the DMAR (how messages and the device map name it).
    pub index: u8,
    /// Physical address of its registers.
    pub base: u64,
    /// Kernel virtual address of its registers (uncached, `caps.register_span()` bytes).
    regs: u64,
    pub caps: Caps,
    /// The PCI segment it serves.
    pub segment: u16,
    /// Its invalidation queue (a page; 0 without queued invalidation) and the next free
    /// descriptor.
    queue: u64,
    tail: usize,
    /// The word its invalidation-wait descriptors write (physical), and the value the
    /// next wait writes.
    status: u64,
    sequence: u32,
    /// Interrupt remapping is on here.
    pub remaps_interrupts: bool,
}

/// No unit (an unused slot).
pub const EMPTY: Unit = Unit {
    index: 0,
    base: 0,
    regs: 0,
    caps: Caps { cap: 0, ecap: 0 },
    segment: 0,
    queue: 0,
    tail: 0,
    status: 0,
    sequence: 0,
    remaps_interrupts: false,
};

/// Why a unit could not be brought up or stopped answering.
pub type Failure = &'static str;

impl Unit {
    /// A unit whose registers are mapped at `regs`.
    pub fn new(index: u8, base: u64, regs: u64, segment: u16) -> Unit {
        let mut u = Unit {
            index,
            base,
            regs,
            segment,
            ..EMPTY
        };
        u.caps = Caps {
            cap: u.read64(regs::CAP),
            ecap: u.read64(regs::ECAP),
        };
        u
    }

    pub fn read32(&self, off: u64) -> u32 {
        // SAFETY: `regs` maps the unit's register set, uncached, for `register_span`
        // bytes (checked when the unit was mapped), and every offset used is inside it.
        unsafe { core::ptr::read_volatile((self.regs + off) as *const u32) }
    }

    pub fn write32(&self, off: u64, v: u32) {
        // SAFETY: as for `read32`; the register is the kernel's alone.
        unsafe { core::ptr::write_volatile((self.regs + off) as *mut u32, v) }
    }

    pub fn read64(&self, off: u64) -> u64 {
        // SAFETY: as for `read32`.
        unsafe { core::ptr::read_volatile((self.regs + off) as *const u64) }
    }

    pub fn write64(&self, off: u64, v: u64) {
        // SAFETY: as for `write32`.
        unsafe { core::ptr::write_volatile((self.regs + off) as *mut u64, v) }
    }

    /// Sets (`on`) or clears global command `bits` and waits until the status shows it;
    /// a one-shot command waits for its status bit to be set.
    pub fn command(&self, bits: u32, on: bool) -> Result<(), Failure> {
        let gsts = self.read32(regs::GSTS);
        self.write32(regs::GCMD, regs::command(gsts, bits, on));
        let want = if on { bits } else { 0 };
        spin(|| self.read32(regs::GSTS) & bits == want)
            .then_some(())
            .ok_or("the unit did not carry out a global command")
    }

    /// Flushes the unit's write buffer, if it has one that needs it.
    pub fn flush_write_buffer(&self) -> Result<(), Failure> {
        if !self.caps.rwbf() {
            return Ok(());
        }
        let gsts = self.read32(regs::GSTS);
        self.write32(regs::GCMD, regs::command(gsts, gcmd::WBF, true));
        spin(|| self.read32(regs::GSTS) & gcmd::WBF == 0)
            .then_some(())
            .ok_or("the unit did not flush its write buffer")
    }

    /// Turns queued invalidation on with the (zeroed) queue page `queue` and the status
    /// word at `status`.
    pub fn start_queue(&mut self, queue: u64, status: u64) -> Result<(), Failure> {
        self.queue = queue;
        self.status = status;
        self.tail = 0;
        self.write64(regs::IQT, 0);
        self.write64(regs::IQA, inv::queue_address(queue));
        self.command(gcmd::QIE, true)
    }

    /// Its invalidation queue page and status word (0: none), to start it again after S3.
    pub fn queue_pages(&self) -> (u64, u64) {
        (self.queue, self.status)
    }

    /// Whether invalidation goes through the queue.
    pub fn queued(&self) -> bool {
        self.queue != 0
    }

    /// Submits `descs` and waits until the unit has carried them out.
    pub fn invalidate(&mut self, descs: &[Entry128]) -> Result<(), Failure> {
        if !self.queued() {
            return Err("no invalidation queue");
        }
        self.sequence = self.sequence.wrapping_add(1).max(1);
        let seq = self.sequence;
        let status = virt(self.status) as *mut u32;
        // SAFETY: the status word is the kernel's, in a pool frame of its own, written
        // by this unit only in answer to the wait submitted below.
        unsafe { core::ptr::write_volatile(status, 0) };
        for d in descs.iter().chain([&inv::wait(self.status, seq)]) {
            let slot = virt(self.queue) + (self.tail % inv::QUEUE_ENTRIES) as u64 * 16;
            // SAFETY: the queue page is the kernel's; the unit reads only descriptors
            // between its head and the tail, which has not moved over this one yet (each
            // batch is waited for, so the queue never holds more than one).
            unsafe {
                core::ptr::write_volatile(slot as *mut u64, d[0]);
                core::ptr::write_volatile((slot + 8) as *mut u64, d[1]);
            }
            if !self.caps.coherent() {
                crate::arch::cpu::clflush(slot);
            }
            self.tail = (self.tail + 1) % inv::QUEUE_ENTRIES;
        }
        self.write64(regs::IQT, inv::tail(self.tail));
        // SAFETY: as above; a volatile read of the word the unit writes.
        let done = spin(|| unsafe { core::ptr::read_volatile(status) } == seq);
        if done {
            return Ok(());
        }
        if self.read32(regs::FSTS) & regs::fsts::IQE != 0 {
            // Skip whatever the unit refused, so the queue works again.
            self.write64(regs::IQT, self.read64(regs::IQH));
            self.tail = ((self.read64(regs::IQH) >> 4) as usize) % inv::QUEUE_ENTRIES;
            self.write32(regs::FSTS, regs::fsts::IQE);
            return Err("the unit refused an invalidation descriptor");
        }
        Err("the unit did not finish an invalidation")
    }

    /// Invalidates every cached context entry and translation.
    pub fn invalidate_all(&mut self) -> Result<(), Failure> {
        let drain = self.caps.drain();
        if self.queued() {
            return self.invalidate(&[inv::context_global(), inv::iotlb_global(drain)]);
        }
        self.flush_write_buffer()?;
        self.write64(regs::CCMD, inv::ccmd_global());
        if !spin(|| self.read64(regs::CCMD) & inv::RUNNING == 0) {
            return Err("the unit did not invalidate its context cache");
        }
        self.iotlb_command(inv::iotlb_reg_global(drain))
    }

    /// Invalidates the translations cached for domain `did`.
    pub fn invalidate_domain(&mut self, did: u16) -> Result<(), Failure> {
        let drain = self.caps.drain();
        if self.queued() {
            return self.invalidate(&[inv::iotlb_domain(did, drain)]);
        }
        self.flush_write_buffer()?;
        self.iotlb_command(inv::iotlb_reg_domain(did, drain))
    }

    fn iotlb_command(&self, cmd: u64) -> Result<(), Failure> {
        let reg = self.caps.iotlb() + regs::IOTLB_INVALIDATE;
        self.write64(reg, cmd);
        spin(|| self.read64(reg) & inv::RUNNING == 0)
            .then_some(())
            .ok_or("the unit did not invalidate its IOTLB")
    }
}

/// Spins until `done` holds, for at most about a second; whether it did.
fn spin(mut done: impl FnMut() -> bool) -> bool {
    let khz = crate::arch::lapic::frequencies().0.max(1_000_000);
    let deadline = crate::arch::cpu::tsc().saturating_add(khz * 1000);
    loop {
        if done() {
            return true;
        }
        if crate::arch::cpu::tsc() > deadline {
            return done();
        }
        core::hint::spin_loop();
    }
}
