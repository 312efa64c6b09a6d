//! Boot-time memory plan: which frames the kernel keeps and which go to user space.
//!
//! Like the reference, Facet gives the kernel a fixed pool and leaves the rest of RAM to
//! user space, which the roottask obtains by delegation from the kernel. Every usable
//! frame of the memory map ends up in exactly one of: the kernel image, the boot
//! information and modules, the kernel pool (managed by the buddy allocator), or the
//! memory the roottask may claim. The pool lies below 4 GiB so that the boot page tables
//! reach it while the kernel address space is being built.

use facet_kcore::bootinfo::BootInfo;
use facet_kcore::buddy::{Buddy, FrameInfo, FRAME_SIZE};
use facet_kcore::memmap::{Range, RangeSet};
use facet_kcore::phys::{read_cstr, PhysRead};

use super::direct_map::{virt, BOOT_MAPPED_LIMIT};
use super::{frames, image};

/// The outcome of planning.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Usable RAM in the memory map, in bytes.
    pub usable: u64,
    /// The kernel pool.
    pub pool: Range,
    /// Frames the buddy allocator manages (the pool minus its metadata).
    pub managed_frames: u64,
    /// Usable bytes left for user space.
    pub user: u64,
    /// A usable page below 1 MiB, clear of the boot information and the modules, for
    /// the real-mode start-up code of the application processors and the ACPI waking
    /// vector (`None`: the memory map marks no such page usable).
    pub low_page: Option<u64>,
}

/// Why memory could not be set up.
#[derive(Clone, Copy, Debug)]
pub enum MemError {
    /// The memory map has no usable RAM below 4 GiB big enough for the pool.
    NoPool,
    /// Too many holes for the fixed-size range sets.
    TooFragmented,
}

impl core::fmt::Display for MemError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            MemError::NoPool => write!(
                f,
                "no usable memory below 4 GiB for the kernel pool (need at least 8 MiB)"
            ),
            MemError::TooFragmented => write!(f, "the memory map is too fragmented"),
        }
    }
}

const MIB: u64 = 1 << 20;

/// Plans memory and installs the kernel pool's allocator; `asked` is the pool size the
/// command line names (`pool=`), if any.
#[link_section = ".init.text"]
pub fn init(info: &BootInfo, mem: &impl PhysRead, asked: Option<u64>) -> Result<Plan, MemError> {
    let full = |_| MemError::TooFragmented;
    let mut free = RangeSet::new();
    for r in info.regions().iter().filter(|r| r.kind == 1) {
        free.insert(Range {
            start: r.addr,
            end: r.addr.saturating_add(r.len),
        })
        .map_err(full)?;
    }
    free.align_inward(FRAME_SIZE);
    let usable = free.total();

    let (ks, ke) = image::phys_range();
    free.remove(Range { start: ks, end: ke }).map_err(full)?;
    free.remove(page_range(info.info_addr, info.info_len))
        .map_err(full)?;
    let mut buf = [0u8; 4096];
    if info.cmdline != 0 {
        let len = read_cstr(mem, info.cmdline, &mut buf).map_or(0, |s| s.len() as u64);
        free.remove(page_range(info.cmdline, len + 1))
            .map_err(full)?;
    }
    for m in info.modules() {
        free.remove(page_range(m.start, m.end - m.start))
            .map_err(full)?;
        if m.cmdline != 0 {
            let len = read_cstr(mem, m.cmdline, &mut buf).map_or(0, |s| s.len() as u64);
            free.remove(page_range(m.cmdline, len + 1)).map_err(full)?;
        }
    }

    // Low memory stays out of the pool and out of user space's share; the real-mode
    // start-up code gets the lowest page the memory map marks usable there (not page 0,
    // the real-mode interrupt table; under UEFI there is no fixed page to rely on).
    let mut below_1m = free.clone();
    below_1m
        .remove(Range {
            start: MIB,
            end: u64::MAX,
        })
        .map_err(full)?;
    below_1m
        .remove(Range {
            start: 0,
            end: FRAME_SIZE,
        })
        .map_err(full)?;
    let low_page = below_1m.ranges().first().map(|r| r.start);
    free.remove(Range { start: 0, end: MIB }).map_err(full)?;

    let mut low = free.clone();
    low.remove(Range {
        start: BOOT_MAPPED_LIMIT,
        end: u64::MAX,
    })
    .map_err(full)?;
    let mut size = facet_kcore::pool::size(usable, asked);
    let start = loop {
        if let Some(s) = low.take(size, 2 * MIB) {
            break s;
        }
        size /= 2;
        if size < facet_kcore::pool::MIN {
            return Err(MemError::NoPool);
        }
    };
    let pool = Range {
        start,
        end: start + size,
    };
    free.remove(pool).map_err(full)?;

    let frames_in_pool = size / FRAME_SIZE;
    let meta_bytes = Buddy::meta_bytes(frames_in_pool).next_multiple_of(FRAME_SIZE);
    let meta_len = (meta_bytes as usize) / core::mem::size_of::<FrameInfo>();
    // SAFETY: the metadata occupies the first pages of the pool, which nothing else uses,
    // is reachable through the boot direct map (below 4 GiB), suitably aligned (page
    // aligned) and is initialised before use: FrameInfo is plain data and `write_bytes`
    // gives every record its all-zero default before the slice is formed.
    let meta: &'static mut [FrameInfo] = unsafe {
        let p = virt(pool.start) as *mut FrameInfo;
        core::ptr::write_bytes(p as *mut u8, 0, meta_bytes as usize);
        for i in 0..meta_len {
            p.add(i).write(FrameInfo::default());
        }
        core::slice::from_raw_parts_mut(p, meta_len)
    };
    let mut buddy = Buddy::new(meta, pool.start / FRAME_SIZE);
    let managed_frames = buddy.add_range(pool.start + meta_bytes, pool.end);
    frames::install(buddy);

    Ok(Plan {
        usable,
        pool,
        managed_frames,
        user: free.total(),
        low_page,
    })
}

fn page_range(start: u64, len: u64) -> Range {
    let s = start & !(FRAME_SIZE - 1);
    let e = start.saturating_add(len).saturating_add(FRAME_SIZE - 1) & !(FRAME_SIZE - 1);
    Range {
        start: s,
        end: e.max(s),
    }
}
