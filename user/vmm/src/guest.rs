//! Guest RAM: the region `ram` the roottask gave the VMM (mapped read-write-execute at
//! `init::GUEST_RAM_VA`), which the VMM maps into its PD's guest page table at
//! guest-physical 0 and reads and writes through a [`Window`] (so an access the guest
//! names is always bounds-checked first and never touches the VMM's own memory).

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::{delegate, xfer};
use facet_abi::perm;
use facet_rt::hypercall::pd_ctrl_delegate;
use facet_rt::start_info::{sel, Region, REGION_GUEST, REGION_WRITABLE};
use facet_rt::window::{Window, MAPPABLE};

/// Guest RAM.
#[derive(Clone, Copy, Debug)]
pub struct GuestRam {
    window: Window,
}

/// 2 MiB: the pieces guest RAM is mapped in (large pages in both page tables).
const LARGE: u64 = 0x20_0000;

impl GuestRam {
    /// The RAM of `region`, which must be guest memory, writable and page-aligned inside
    /// the mappable range.
    pub fn new(region: &Region) -> Result<GuestRam, &'static str> {
        let flags = REGION_GUEST | REGION_WRITABLE;
        if region.flags & flags != flags {
            return Err("region `ram` is not writable guest memory");
        }
        let fits = region.va >= MAPPABLE.start
            && region.size <= MAPPABLE.end - region.va
            && region.va.is_multiple_of(LARGE)
            && region.size.is_multiple_of(4096)
            && region.size != 0;
        if !fits {
            return Err("region `ram` is not where RAM can be");
        }
        Ok(GuestRam {
            window: Window::new(region.va, region.size),
        })
    }

    /// Bytes of RAM (guest-physical 0..size).
    pub fn size(&self) -> u64 {
        self.window.len()
    }

    /// Whether `[gpa, gpa + len)` lies in RAM.
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        gpa.checked_add(len).is_some_and(|end| end <= self.size())
    }

    /// The 8-byte word at `gpa` (8-aligned), or `None` outside RAM.
    pub fn read_u64(&self, gpa: u64) -> Option<u64> {
        (gpa.is_multiple_of(8) && self.contains(gpa, 8)).then(|| self.window.read(gpa))
    }

    /// Writes `bytes` at `gpa`; false (and nothing written) if they would leave RAM.
    pub fn write(&self, gpa: u64, bytes: &[u8]) -> bool {
        if !self.contains(gpa, bytes.len() as u64) {
            return false;
        }
        self.window.write_bytes(gpa, bytes);
        true
    }

    /// All of RAM as a byte slice, for loading the guest.
    ///
    /// # Safety
    ///
    /// 1. No vCPU of the VM may run while the slice lives (it would change the bytes).
    /// 2. The caller must not keep another reference to RAM while it uses the slice.
    // The memory is not the `GuestRam`'s own (it is a window on a mapping): a shared
    // `GuestRam` hands out the one exclusive slice under the contract above.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn as_mut_slice(&self) -> &mut [u8] {
        // SAFETY: the window is mapped read-write for the program's whole life (the
        // roottask gave it and never takes it back while the VMM runs); the caller
        // guarantees that nobody else reads or writes it meanwhile.
        unsafe {
            core::slice::from_raw_parts_mut(self.window.base() as *mut u8, self.size() as usize)
        }
    }

    /// Maps RAM into the VMM's guest page table at guest-physical 0, in 2 MiB pieces
    /// (4 KiB ones at an unaligned end). Rights only shrink on the way: under SVM the
    /// guest can only execute RAM because the roottask mapped it with the execute right
    /// (a fetch fault inside RAM says so, see `exits::memory`).
    pub fn map_into_guest(&self) -> Result<(), &'static str> {
        let base = self.window.base();
        let meta = xfer::DELEGATE | delegate::GUEST | delegate::NOT_HOST;
        let mut gpa = 0;
        while gpa < self.size() {
            let order = if self.size() - gpa >= LARGE { 9 } else { 0 };
            let from = Crd::new(Kind::Memory, (base + gpa) >> 12, order, perm::MEM_ALL);
            let to = Crd::new(Kind::Memory, gpa >> 12, order, perm::MEM_ALL);
            match pd_ctrl_delegate(sel::PD, sel::PD, from, meta, to) {
                Ok((crd, _)) if crd != Crd::NULL => {}
                _ => return Err("mapping guest RAM into the guest page table failed"),
            }
            gpa += 4096 << order;
        }
        Ok(())
    }
}
