//! The kernel address space: the direct map and the kernel image with W^X.
//!
//! Built once at boot with `facet_kcore::paging` and shared by every protection domain
//! (PML4 slots 256..511 are copied into each user page table):
//! - the direct map: every memory-map range, rounded out to 2 MiB, read-write,
//!   no-execute, global;
//! - `.text` read+execute, `.rodata` read-only no-execute, `.data`/`.bss` and the stacks
//!   read-write no-execute, all global;
//! - the page below each kernel stack stays unmapped (guard).
//!
//! The boot code's identity map is gone once this space is loaded.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_kcore::bootinfo::BootInfo;
use facet_kcore::memmap::{Range, RangeSet};
use facet_kcore::paging::{Attrs, MapError, PageSize, PageTable};

use super::direct_map::{DirectMap, DIRECT_MAP_BASE};
use super::frames::PoolFrames;
use super::image::{self, Section, KERNEL_OFFSET};
use super::usage::Use;
use crate::arch::stacks::{self, CpuStacks};
use crate::sync::SpinLock;

const TWO_MIB: u64 = 1 << 21;

/// The kernel page table, once built.
static KERNEL_PT: SpinLock<Option<u64>> = SpinLock::new(None);

/// Highest physical address the direct map covers.
static DIRECT_LIMIT: AtomicU64 = AtomicU64::new(super::direct_map::BOOT_MAPPED_LIMIT);

/// The kernel page table's root.
pub fn kernel_root() -> Option<PageTable> {
    KERNEL_PT.lock().map(|root| PageTable { root })
}

static MAPPED: SpinLock<Option<RangeSet>> = SpinLock::new(None);

/// Whether the direct map covers all of `[start, end)`.
pub fn is_mapped(start: u64, end: u64) -> bool {
    match MAPPED.lock().as_ref() {
        Some(set) => set
            .ranges()
            .iter()
            .any(|r| start >= r.start && end <= r.end),
        None => end <= super::direct_map::BOOT_MAPPED_LIMIT,
    }
}

/// Physical memory through the direct map as it is now.
pub fn phys() -> DirectMap {
    DirectMap {
        // Read on every capability lookup: an atomic, not a lock.
        limit: DIRECT_LIMIT.load(Ordering::Relaxed),
    }
}

/// Builds the kernel address space and switches to it.
#[link_section = ".init.text"]
pub fn init(info: &BootInfo, page1g: bool) -> Result<(), MapError> {
    let mut mem = DirectMap {
        limit: super::direct_map::BOOT_MAPPED_LIMIT,
    };
    let mut frames = PoolFrames::new(Use::KernelTables);
    let pt = PageTable::new(&mut frames).ok_or(MapError::OutOfMemory)?;

    let mut ranges = RangeSet::new();
    for r in info.regions() {
        let start = r.addr & !(TWO_MIB - 1);
        let end = r.addr.saturating_add(r.len).saturating_add(TWO_MIB - 1) & !(TWO_MIB - 1);
        // The direct map covers the first 64 TiB of physical address space at most.
        let end = end.min(1 << 46);
        if start < end && ranges.insert(Range { start, end }).is_err() {
            return Err(MapError::OutOfMemory);
        }
    }
    // The VGA text buffer sits in a hole of the memory map; the first 2 MiB are always mapped.
    let _ = ranges.insert(Range {
        start: 0,
        end: TWO_MIB,
    });
    let direct = Attrs {
        write: true,
        execute: false,
        user: false,
        global: true,
        uncached: false,
    };
    let mut limit = 0;
    for r in ranges.ranges() {
        pt.map_range(
            &mut mem,
            &mut frames,
            DIRECT_MAP_BASE + r.start,
            r.start,
            r.end - r.start,
            direct,
            page1g,
        )?;
        limit = limit.max(r.end);
    }

    let rx = Attrs {
        write: false,
        execute: true,
        user: false,
        global: true,
        uncached: false,
    };
    let ro = Attrs {
        write: false,
        execute: false,
        user: false,
        global: true,
        uncached: false,
    };
    let rw = Attrs {
        write: true,
        execute: false,
        user: false,
        global: true,
        uncached: false,
    };
    for (section, attrs) in [
        (image::text(), rx),
        (image::rodata(), ro),
        (image::data(), rw),
        (image::stack(), rw),
    ] {
        map_section(&pt, &mut mem, &mut frames, section, attrs)?;
    }
    for section in image::ist() {
        map_section(&pt, &mut mem, &mut frames, section, rw)?;
    }

    // Every address space copies the kernel half's top-level entries when it is created,
    // so all of them exist from the start: later kernel mappings then appear everywhere.
    pt.populate_top_level(&mut mem, &mut frames, 256, 511)?;

    // SAFETY: the new table maps the kernel image at its link addresses, the current
    // stack and the direct map (including every pool frame), which is all the kernel
    // touches from here on; the boot identity map is no longer needed.
    unsafe { crate::arch::cpu::write_cr3(pt.root) };
    *KERNEL_PT.lock() = Some(pt.root);
    DIRECT_LIMIT.store(limit, Ordering::Relaxed);
    *MAPPED.lock() = Some(ranges);
    Ok(())
}

fn map_section(
    pt: &PageTable,
    mem: &mut DirectMap,
    frames: &mut PoolFrames,
    s: Section,
    attrs: Attrs,
) -> Result<(), MapError> {
    let mut va = s.start;
    while va < s.end {
        pt.map(mem, frames, va, va - KERNEL_OFFSET, PageSize::Size4K, attrs)?;
        va += 4096;
    }
    Ok(())
}

/// What the W^X self-check found in the kernel half of the address space.
#[derive(Clone, Copy, Debug, Default)]
pub struct WxReport {
    /// Leaf mappings examined.
    pub mappings: u64,
    /// Leaves both writable and executable.
    pub violations: u64,
    /// Guard pages found mapped.
    pub mapped_guards: u64,
    /// First offending address, if any.
    pub first_bad: Option<u64>,
}

/// Walks the kernel half of the current kernel page table and checks W^X and guards.
#[link_section = ".init.text"]
pub fn check_wx() -> WxReport {
    let mut r = WxReport::default();
    let Some(pt) = kernel_root() else { return r };
    let mem = phys();
    pt.for_each_leaf(
        &mem,
        0xffff_8000_0000_0000,
        u64::MAX,
        |va, _pa, _size, a| {
            r.mappings += 1;
            if a.write && a.execute {
                r.violations += 1;
                r.first_bad.get_or_insert(va);
            }
        },
    );
    for g in image::guards() {
        if pt.translate(&mem, g).is_some() {
            r.mapped_guards += 1;
            r.first_bad.get_or_insert(g);
        }
    }
    r
}

/// Kernel virtual addresses for device registers (uncached), handed out upwards; the
/// last page is the boot-time scratch page ([`map_scratch`]).
const MMIO_BASE: u64 = 0xffff_ffff_c000_0000;
const MMIO_END: u64 = 0xffff_ffff_e000_0000 - 0x1000;
const SCRATCH: u64 = MMIO_END;
static MMIO_NEXT: SpinLock<u64> = SpinLock::new(MMIO_BASE);

/// Maps the device page at physical `phys` uncached at the scratch page, in place of
/// whatever was there, and returns its address. For reading device registers once at
/// boot (PCI configuration space), before the application processors start: only the
/// bootstrap CPU runs then, so dropping its own TLB entry is enough (later, another CPU
/// could keep the old translation). `None` if the page cannot be mapped.
#[link_section = ".init.text"]
pub fn map_scratch(phys: u64) -> Option<u64> {
    let pt = kernel_root()?;
    let attrs = Attrs {
        write: true,
        execute: false,
        user: false,
        global: true,
        uncached: true,
    };
    pt.remap(
        &mut phys_mem(),
        &mut PoolFrames::new(Use::KernelTables),
        SCRATCH,
        Some((phys & !0xfff, attrs)),
        PageSize::Size4K,
    )
    .ok()?;
    crate::arch::cpu::invlpg(SCRATCH);
    Some(SCRATCH)
}

/// Maps one page of device registers at physical `phys` (page-aligned) read-write,
/// uncached, no-execute, and returns its kernel virtual address. Boot only: the kernel
/// finds the devices it drives while it boots.
#[link_section = ".init.text"]
pub fn map_mmio(phys: u64) -> Option<u64> {
    let pt = kernel_root()?;
    let mut next = MMIO_NEXT.lock();
    if *next >= MMIO_END {
        return None;
    }
    let va = *next;
    let attrs = Attrs {
        write: true,
        execute: false,
        user: false,
        global: true,
        uncached: true,
    };
    pt.map(
        &mut phys_mem(),
        &mut PoolFrames::new(Use::KernelTables),
        va,
        phys & !0xfff,
        PageSize::Size4K,
        attrs,
    )
    .ok()?;
    *next += 4096;
    Some(va)
}

fn phys_mem() -> DirectMap {
    phys()
}

/// Maps the kernel stack and the interrupt stacks of application processor `cpu` (the
/// layout of `arch::stacks`, guard pages left unmapped); returns their tops.
pub fn map_cpu_stacks(cpu: u64) -> Option<CpuStacks> {
    let pt = kernel_root()?;
    let rw = Attrs {
        write: true,
        execute: false,
        user: false,
        global: true,
        uncached: false,
    };
    let mut mem = phys_mem();
    for (i, &pages) in stacks::PAGES.iter().enumerate() {
        let order = pages.trailing_zeros() as usize;
        debug_assert!(pages.is_power_of_two());
        let frames = super::frames::alloc_zeroed(order, Use::PerCpu)?;
        let bottom = stacks::ap_stack_bottom(cpu, i);
        for p in 0..pages {
            pt.map(
                &mut mem,
                &mut PoolFrames::new(Use::KernelTables),
                bottom + p * 0x1000,
                frames + p * 0x1000,
                PageSize::Size4K,
                rw,
            )
            .ok()?;
        }
    }
    Some(stacks::ap_stacks(cpu))
}

/// Removes `s` from the kernel half of every address space (they share its tables);
/// `flush` then drops it from every TLB. Whether it was unmapped.
pub fn unmap_section(s: Section, flush: impl FnOnce()) -> bool {
    let Some(pt) = kernel_root() else {
        return false;
    };
    let mut mem = phys();
    let mut frames = PoolFrames::new(Use::KernelTables);
    // Page by page with `remap`: `PageTable::unmap` stays inlined in its one caller on the
    // revoke path (a second caller had it out of line: 25 instructions per revoke).
    let mut unmapped = true;
    let mut va = s.start;
    while va < s.end {
        unmapped &= pt
            .remap(&mut mem, &mut frames, va, None, PageSize::Size4K)
            .is_ok();
        va += 4096;
    }
    flush();
    frames.flushed();
    unmapped
}
