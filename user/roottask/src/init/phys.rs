//! Physical memory the roottask hands to the programs it starts.
//!
//! At start the roottask takes every usable range of the HIP's memory map from the
//! kernel (leaving the first MiB, the kernel's own memory and the multiboot modules
//! out), and maps it, and the modules read-only, into a window of its own address space
//! at [`WINDOW`] + physical address. Programs get memory by delegation from that window,
//! so the roottask keeps every page it gives (and could take it back with a remote
//! revoke). Allocation carves aligned pieces out of a range set: naturally aligned
//! blocks, which delegate in one step.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{HipReader, MEM_AVAILABLE, MEM_HYPERVISOR, MEM_MB_MODULE};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_kcore::memmap::{Range, RangeSet};
use facet_rt::hypercall::pd_ctrl_delegate;

use crate::FROM_KERNEL;

/// Where physical memory appears in the roottask: at this address plus its physical
/// address (1 TiB, far above the roottask's image and the test suite's windows).
pub const WINDOW: u64 = 0x100_0000_0000;

/// Memory below this stays with the kernel and firmware (the BIOS areas, the start-up
/// page).
const LOW_LIMIT: u64 = 0x10_0000;

/// The roottask's pool of physical memory.
pub struct Phys {
    free: RangeSet,
}

impl Phys {
    /// Takes the usable memory the HIP lists from the kernel and maps it, and the
    /// modules (read-only), into the window. Returns the pool of free memory.
    pub fn take_from_kernel(hip: &HipReader) -> Phys {
        let mut usable = RangeSet::new();
        let mut reserved = RangeSet::new();
        for i in 0..hip.mem_count() {
            let m = hip.mem(i);
            let r = Range {
                start: m.addr,
                end: m.addr.saturating_add(m.size),
            };
            let _ = match m.mem_type {
                MEM_AVAILABLE => usable.insert(r),
                MEM_HYPERVISOR | MEM_MB_MODULE => reserved.insert(r),
                _ => reserved.insert(r),
            };
        }
        let _ = usable.remove(Range {
            start: 0,
            end: LOW_LIMIT,
        });
        for r in reserved.ranges() {
            let _ = usable.remove(*r);
        }
        usable.align_inward(4096);
        for r in usable.ranges() {
            // Executable too: rights only shrink on the way to a program, whose code comes
            // from here.
            map_range(r.start, r.end, perm::MEM_ALL);
        }
        map_modules(hip);
        Phys { free: usable }
    }

    /// For the test suite, whose tests take RAM of their own: only the usable memory in
    /// `[start, end)` from the kernel, mapped into the window like all of it in
    /// [`Phys::take_from_kernel`], and the modules (read-only).
    pub fn take_range(hip: &HipReader, start: u64, end: u64) -> Phys {
        let mut usable = RangeSet::new();
        for i in 0..hip.mem_count() {
            let m = hip.mem(i);
            if m.mem_type == MEM_AVAILABLE {
                let _ = usable.insert(Range {
                    start: m.addr.max(start),
                    end: m.addr.saturating_add(m.size).min(end),
                });
            }
        }
        usable.align_inward(4096);
        for r in usable.ranges() {
            map_range(r.start, r.end, perm::MEM_ALL);
        }
        map_modules(hip);
        Phys { free: usable }
    }

    /// A naturally aligned block of `1 << order` pages, zeroed; its physical address.
    pub fn alloc(&mut self, order: u32) -> Option<u64> {
        let size = 4096u64 << order;
        let phys = self.free.take(size, size)?;
        // SAFETY: the block is mapped read-write in the window (it came from the usable
        // memory mapped at start) and belongs to nobody else now.
        unsafe { core::ptr::write_bytes(virt(phys) as *mut u8, 0, size as usize) };
        Some(phys)
    }

    /// Bytes free.
    pub fn available(&self) -> u64 {
        self.free.total()
    }
}

/// Maps every module read-only into the window.
fn map_modules(hip: &HipReader) {
    for i in 0..hip.mem_count() {
        let m = hip.mem(i);
        if m.mem_type == MEM_MB_MODULE {
            let start = m.addr & !0xfff;
            let end = m.addr.saturating_add(m.size).next_multiple_of(4096);
            map_range(start, end, perm::MEM_R);
        }
    }
}

/// Where physical address `phys` appears in the roottask.
pub fn virt(phys: u64) -> u64 {
    WINDOW + phys
}

/// Maps `[start, end)` (page-aligned) into the window from the kernel, in the largest
/// naturally aligned pieces that fit.
fn map_range(start: u64, end: u64, rights: u8) {
    let mut at = start;
    while at < end {
        let mut order = (at >> 12).trailing_zeros().min(18);
        while order > 0 && at + (4096u64 << order) > end {
            order -= 1;
        }
        let crd = Crd::new(Kind::Memory, at >> 12, order as u8, rights);
        let window = Crd::new(Kind::Memory, virt(at) >> 12, order as u8, rights);
        let _ = pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, window);
        at += 4096u64 << order;
    }
}

/// Delegates `1 << order` pages at physical `phys` (mapped in the window) into PD `pd`
/// at `va` with `rights`.
pub fn give(pd: u64, phys: u64, order: u32, va: u64, rights: u8) -> bool {
    let crd = Crd::new(Kind::Memory, virt(phys) >> 12, order as u8, rights);
    let window = Crd::new(Kind::Memory, va >> 12, order as u8, rights);
    pd_ctrl_delegate(
        ROOT_SEL_PD,
        pd,
        crd,
        facet_abi::hypercall::xfer::DELEGATE,
        window,
    )
    .is_ok()
}
