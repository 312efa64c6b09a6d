//! The IOMMU: Intel VT-d DMA and interrupt remapping, on when the command line says
//! `iommu` and the firmware's DMAR table describes usable units (`docs/iommu.md`).
//!
//! Once on, no PCI device reaches memory except through a domain: a device that was
//! never assigned faults on every DMA; one that `assign_pci` gave to a Pd translates
//! through that Pd's device page table (the one delegations with the device flag fill),
//! and nothing else. Interrupts from devices and I/O APIC pins go through the interrupt
//! remapping table, one entry per GSI that names its vector, its CPU and the one
//! requester allowed to use it. The kernel owns every table and the units' registers.
//!
//! Invariants:
//! - One root table (segment 0) for all units of the segment, with one context table per
//!   bus a device was assigned on; a context entry names the Pd's domain id and its
//!   device page table, at the depth every unit walks ([`State::levels`]).
//! - A table change that removes or reduces anything is followed by an invalidation on
//!   every unit, waited for, before the call that made it returns (`flush_domain`,
//!   `attach`, `release_domain`, the interrupt entries).
//! - Domain id 1 is the kernel's (devices that firmware's RMRRs name, with those regions
//!   mapped one to one); Pds get ids from 2 on, freed when the Pd goes.

mod config;
mod fault;
mod unit;

pub use fault::{stats as fault_stats, VECTOR};

use core::sync::atomic::{AtomicBool, Ordering};

use facet_abi::status::Status;
use facet_kcore::acpi::dmar::{self, Dmar, SCOPE_IOAPIC, SCOPE_PCI_ENDPOINT};
use facet_kcore::iommu::devices::{self, Lookup};
use facet_kcore::iommu::fault::Bdf;
use facet_kcore::iommu::inv;
use facet_kcore::iommu::regs::{self, gcmd};
use facet_kcore::iommu::tables::{self, Entry128, Irte};
use facet_kcore::paging::{Attrs, PageSize, PageTable};
use facet_kcore::phys::{FrameSource, PhysMem};
use facet_kcore::tags::TagSet;

use crate::mem::direct_map::{virt, DirectMap};
use crate::mem::frames::{self, PoolFrames};
use crate::mem::usage::Use;
use crate::sync::SpinLock;
use unit::Unit;

/// Units at most (the DMAR parser keeps as many).
const MAX_UNITS: usize = dmar::MAX_DRHDS;
/// The kernel's domain (RMRR devices).
const KERNEL_DID: u16 = 1;
/// Pages of RMRRs mapped at most (beyond: a message, the rest left out).
const MAX_RMRR_PAGES: u64 = 1 << 18;

/// Everything the kernel knows and owns of the units.
struct State {
    /// DMA remapping is on.
    on: bool,
    /// Interrupt remapping is on (every unit does it).
    interrupts: bool,
    /// Interrupt entries carry 32-bit (x2APIC) destinations.
    x2apic: bool,
    /// Depth of every domain's table as the units walk it (3 or 4).
    levels: u8,
    /// The root table of segment 0, and an empty one for units of other segments.
    root: u64,
    blocking_root: u64,
    /// The interrupt remapping table (256 entries, one per GSI).
    irt: u64,
    /// The device map: one byte per requester id (`devices::lookup`).
    map: u64,
    units: [Unit; MAX_UNITS],
    count: usize,
    /// Each I/O APIC's id and requester id (from the DMAR's scopes).
    ioapics: [(u8, u16); facet_abi::config::NUM_IOAPIC],
    ioapic_count: usize,
}

static STATE: SpinLock<State> = SpinLock::new(State {
    on: false,
    interrupts: false,
    x2apic: false,
    levels: 0,
    root: 0,
    blocking_root: 0,
    irt: 0,
    map: 0,
    units: [unit::EMPTY; MAX_UNITS],
    count: 0,
    ioapics: [(0, 0); facet_abi::config::NUM_IOAPIC],
    ioapic_count: 0,
});

/// Domain ids of Pds: tag `t` is domain `t + 1`.
static DOMAINS: SpinLock<TagSet> = SpinLock::new(TagSet::new(0));

/// Some unit reads tables without snooping the CPU caches: every table line written is
/// flushed. (Stays false while the IOMMU is off: nothing reads the tables then.)
static FLUSH_TABLES: AtomicBool = AtomicBool::new(false);
/// DMA remapping is on (for the HIP and the hot paths' checks, without the lock).
static ON: AtomicBool = AtomicBool::new(false);

/// Whether DMA remapping is on.
pub fn enabled() -> bool {
    ON.load(Ordering::Relaxed)
}

/// Whether interrupts are remapped (MSIs and I/O APIC pins then use the remappable
/// format).
pub fn remaps_interrupts() -> bool {
    enabled() && STATE.lock().interrupts
}

// ---- tables in memory ----

/// Physical memory for device page tables: the direct map, every word written flushed
/// from the caches when a unit walks without snooping them.
pub struct TableMem(DirectMap);

impl TableMem {
    pub fn new() -> TableMem {
        TableMem(crate::mem::kspace::phys())
    }
}

impl Default for TableMem {
    fn default() -> TableMem {
        TableMem::new()
    }
}

impl PhysMem for TableMem {
    fn read_u64(&self, addr: u64) -> u64 {
        self.0.read_u64(addr)
    }

    fn write_u64(&mut self, addr: u64, value: u64) {
        self.0.write_u64(addr, value);
        if FLUSH_TABLES.load(Ordering::Relaxed) {
            crate::arch::cpu::clflush(virt(addr));
        }
    }
}

/// Frames for tables a unit walks: zeroed, and flushed from the caches where needed.
/// Frames a table gives back wait until the units forgot them ([`TableFrames::flushed`]).
pub struct TableFrames(PoolFrames);

impl TableFrames {
    /// Frames for a Pd's device page table.
    pub const fn device() -> TableFrames {
        TableFrames(PoolFrames::new(Use::DeviceTables))
    }

    /// Frames for the kernel's own domain.
    const fn kernel() -> TableFrames {
        TableFrames(PoolFrames::new(Use::Iommu))
    }

    /// Every unit dropped its cached translations of the table: the frames it gave
    /// back go to the pool.
    pub fn flushed(&mut self) {
        self.0.flushed();
    }
}

impl FrameSource for TableFrames {
    fn alloc_zeroed(&mut self) -> Option<u64> {
        let f = self.0.alloc_zeroed()?;
        flush_frame(f);
        Some(f)
    }

    fn free(&mut self, frame: u64) {
        self.0.free(frame);
    }
}

fn flush_frame(f: u64) {
    if FLUSH_TABLES.load(Ordering::Relaxed) {
        for line in (0..4096).step_by(64) {
            crate::arch::cpu::clflush(virt(f) + line);
        }
    }
}

fn read_entry(at: u64) -> Entry128 {
    let p = virt(at) as *const u64;
    // SAFETY: `at` is a 16-byte entry of a table frame the kernel owns (root, context
    // or interrupt table), direct-mapped.
    unsafe {
        [
            core::ptr::read_volatile(p),
            core::ptr::read_volatile(p.add(1)),
        ]
    }
}

/// Writes an entry whose present bit is in its low word: the high word first, so a
/// unit never sees it present with an old high word.
fn write_entry(at: u64, e: Entry128) {
    let p = virt(at) as *mut u64;
    // SAFETY: as for `read_entry`; the kernel alone writes its tables.
    unsafe {
        core::ptr::write_volatile(p.add(1), e[1]);
        core::ptr::write_volatile(p, e[0]);
    }
    if FLUSH_TABLES.load(Ordering::Relaxed) {
        crate::arch::cpu::clflush(virt(at));
    }
}

/// Clears an entry: not present first.
fn clear_entry(at: u64) {
    let p = virt(at) as *mut u64;
    // SAFETY: as for `write_entry`.
    unsafe {
        core::ptr::write_volatile(p, 0);
        core::ptr::write_volatile(p.add(1), 0);
    }
    if FLUSH_TABLES.load(Ordering::Relaxed) {
        crate::arch::cpu::clflush(virt(at));
    }
}

impl State {
    fn units(&mut self) -> &mut [Unit] {
        &mut self.units[..self.count.min(MAX_UNITS)]
    }

    /// The device map.
    fn map(&self) -> &[u8] {
        if self.map == 0 {
            return &[];
        }
        // SAFETY: `map` is the kernel's 64 KiB block (16 frames) for the device map,
        // direct-mapped, written only while the IOMMU is brought up.
        unsafe { core::slice::from_raw_parts(virt(self.map) as *const u8, devices::MAP_ENTRIES) }
    }

    /// Invalidates everything every unit caches of context entries and translations.
    fn invalidate_all(&mut self) {
        for u in self.units() {
            if let Err(why) = u.invalidate_all() {
                warn(u, why);
            }
        }
    }

    /// Points device `rid`'s context entry at domain `did` with table `root`, creating
    /// its bus's context table if needed. The domain it was in before, if any.
    fn set_context(&mut self, rid: u16, root: u64, did: u16) -> Result<Option<u16>, Status> {
        let (bus, devfn) = tables::split_rid(rid);
        let root_at = self.root + bus as u64 * 16;
        let context = match tables::root_context_table(read_entry(root_at)) {
            Some(t) => t,
            None => {
                let t = frames::alloc_zeroed(0, Use::Iommu).ok_or(Status::Abort)?;
                flush_frame(t);
                write_entry(root_at, tables::root_entry(t));
                t
            }
        };
        let at = context + devfn as u64 * 16;
        let old = tables::context_domain(read_entry(at)).map(|(d, _)| d);
        let new = tables::context_entry(root, self.levels, did);
        if read_entry(at) != new {
            if old.is_some() {
                // A present entry is never rewritten in place: not present, forgotten
                // by every unit, then the new one.
                clear_entry(at);
                self.invalidate_all();
            }
            write_entry(at, new);
        }
        Ok(old)
    }

    /// Writes interrupt entry `index` and makes every unit forget the old one.
    fn set_irte(&mut self, index: u32, e: Irte) {
        let at = self.irt + index as u64 * 16;
        let new = e.encode();
        let old = read_entry(at);
        if old == new {
            return;
        }
        if old[0] & 1 != 0 {
            clear_entry(at);
            self.invalidate_interrupt(index);
        }
        write_entry(at, new);
        self.invalidate_interrupt(index);
    }

    fn invalidate_interrupt(&mut self, index: u32) {
        for u in self.units().iter_mut().filter(|u| u.remaps_interrupts) {
            if let Err(why) = u.invalidate(&[inv::iec_index(index as u16)]) {
                warn(u, why);
            }
        }
    }
}

fn warn(u: &Unit, why: &str) {
    crate::println!(
        "FACET WARNING: iommu: unit {} at {:#x}: {why}",
        u.index,
        u.base
    );
}

// ---- bringing the units up ----

/// Turns DMA and interrupt remapping on if `wanted` (the `iommu` word) and the DMAR
/// describes usable units; reports what it did. At boot, on the bootstrap CPU, after the
/// I/O APICs are known and before any other CPU or the roottask runs.
#[link_section = ".init.text"]
pub fn init(wanted: bool) {
    if !wanted {
        return;
    }
    let Some(d) = crate::acpi::dmar() else {
        crate::println!("iommu: no usable DMAR table: DMA and interrupt remapping stay off");
        return;
    };
    let mut s = STATE.lock();
    match bring_up(&mut s, &d) {
        Ok(()) => {
            ON.store(true, Ordering::Release);
            s.on = true;
        }
        Err(why) => {
            for u in s.units() {
                let _ = u.command(gcmd::TE | gcmd::IRE, false);
            }
            s.count = 0;
            s.interrupts = false;
            FLUSH_TABLES.store(false, Ordering::Relaxed);
            crate::println!("iommu: {why}: DMA and interrupt remapping stay off");
        }
    }
}

#[link_section = ".init.text"]
fn bring_up(s: &mut State, d: &Dmar) -> Result<(), &'static str> {
    let facts = crate::acpi::facts();
    let mut cfg = config::BootConfig::new(facts.mcfg_base, facts.mcfg_size, facts.pci_bus_start)
        .ok_or("no PCI configuration region (MCFG)")?;
    if d.drhds().is_empty() {
        return Err("the DMAR table lists no remapping unit");
    }
    if d.dropped_drhds > 0 {
        crate::println!(
            "FACET WARNING: iommu: {} remapping unit(s) beyond the first {MAX_UNITS} stay off: their devices are not isolated",
            d.dropped_drhds
        );
    }
    // Map every unit's registers.
    for (i, drhd) in d.drhds().iter().enumerate() {
        let u = map_unit(i as u8, drhd.base, drhd.segment)
            .ok_or("a unit's registers could not be mapped")?;
        s.units[i] = u;
        s.count = i + 1;
    }
    let caps: [regs::Caps; MAX_UNITS] = core::array::from_fn(|i| s.units[i].caps);
    let caps = &caps[..s.count];
    s.levels = regs::common_levels(caps)
        .ok_or("the units share no table depth Facet builds (3 or 4 levels)")?;
    let domains = regs::common_domains(caps, 2);
    if domains.is_empty() {
        return Err("the units support too few domains");
    }
    DOMAINS.lock().set_max(*domains.end() - 1);
    if caps.iter().any(|c| !c.coherent()) {
        FLUSH_TABLES.store(true, Ordering::Relaxed);
    }
    let x2apic = crate::arch::lapic::x2apic();
    s.interrupts = d.intr_remap()
        && caps
            .iter()
            .all(|c| c.interrupt_remapping() && c.queued_invalidation())
        && (!x2apic || caps.iter().all(|c| c.extended_interrupts()));
    s.x2apic = x2apic && s.interrupts;
    // The tables.
    let page =
        || frames::alloc_zeroed(0, Use::Iommu).ok_or("out of kernel memory for the IOMMU's tables");
    s.root = page()?;
    s.blocking_root = page()?;
    s.irt = page()?;
    let status = page()?;
    s.map = frames::alloc_zeroed(4, Use::Iommu).ok_or("out of kernel memory for the device map")?;
    for f in [s.root, s.blocking_root, s.irt, status] {
        flush_frame(f);
    }
    // Which device each unit translates.
    // SAFETY: the 16 frames were just allocated for the map and are direct-mapped.
    let map =
        unsafe { core::slice::from_raw_parts_mut(virt(s.map) as *mut u8, devices::MAP_ENTRIES) };
    let (first, last) = cfg.buses();
    let found = devices::scan(&mut cfg, first, last, map);
    let claims = devices::claim(&mut cfg, d.drhds(), |i| i < s.count, map);
    if claims.unresolved > 0 {
        crate::println!(
            "iommu: {} device scope(s) of the DMAR name no device",
            claims.unresolved
        );
    }
    // The I/O APICs' requester ids.
    for drhd in d.drhds() {
        for sc in drhd
            .scopes
            .as_slice()
            .iter()
            .filter(|sc| sc.kind == SCOPE_IOAPIC)
        {
            if let Some(rid) = devices::resolve(&mut cfg, sc) {
                if s.ioapic_count < s.ioapics.len() {
                    s.ioapics[s.ioapic_count] = (sc.enumeration_id, rid);
                    s.ioapic_count += 1;
                }
            }
        }
    }
    rmrrs(s, d, &mut cfg)?;
    // Each unit on: its own queue page and status word.
    let fault_dest = crate::arch::lapic::id();
    for i in 0..s.count {
        let queue = page()?;
        flush_frame(queue);
        let (root, irt, interrupts, x2apic) = (
            if s.units[i].segment == 0 {
                s.root
            } else {
                s.blocking_root
            },
            s.irt,
            s.interrupts,
            s.x2apic,
        );
        let u = &mut s.units[i];
        enable(
            u,
            root,
            irt,
            interrupts,
            x2apic,
            queue,
            status + 8 * i as u64,
            fault_dest,
        )
        .map_err(|why| {
            warn(u, why);
            "a unit could not be turned on"
        })?;
        crate::println!(
            "iommu: unit {} at {:#x}: segment {}, {} levels, {} domains, {} invalidation{}",
            u.index,
            u.base,
            u.segment,
            s.levels,
            u.caps.domains(),
            if u.queued() { "queued" } else { "register" },
            if u.remaps_interrupts {
                ", interrupt remapping"
            } else {
                ""
            },
        );
    }
    crate::println!(
        "iommu: DMA remapping on: {} unit(s), {} PCI function(s) ({} translated), {}-level device tables; interrupt remapping {}",
        s.count,
        found,
        claims.claimed,
        s.levels,
        match (s.interrupts, s.x2apic) {
            (false, _) => "off",
            (true, false) => "on (xAPIC destinations)",
            (true, true) => "on (x2APIC destinations)",
        }
    );
    Ok(())
}

/// After S3, which reset the units' registers: every unit that was on is turned on again
/// with the tables it had (root, interrupt remapping, queue: memory kept them), before
/// any device runs again.
pub fn resume() {
    let mut s = STATE.lock();
    if !s.on {
        return;
    }
    let (root, blocking, irt, interrupts, x2apic) =
        (s.root, s.blocking_root, s.irt, s.interrupts, s.x2apic);
    let dest = crate::arch::lapic::id();
    let count = s.count;
    for u in s.units[..count].iter_mut() {
        let (queue, status) = u.queue_pages();
        let root = if u.segment == 0 { root } else { blocking };
        if let Err(why) = enable(u, root, irt, interrupts, x2apic, queue, status, dest) {
            warn(u, why);
        }
    }
}

/// Maps a unit's registers (as many pages as its capabilities say it uses) and keeps
/// them from user space.
fn map_unit(index: u8, base: u64, segment: u16) -> Option<Unit> {
    let first = crate::mem::kspace::map_mmio(base)?;
    let probe = Unit::new(index, base, first, segment);
    let pages = probe.caps.register_span().div_ceil(4096);
    for p in 1..pages {
        crate::mem::claim_mmio(base + p * 4096, "IOMMU unit");
        // The kernel hands MMIO addresses out upwards, one page after the other.
        if crate::mem::kspace::map_mmio(base + p * 4096)? != first + p * 4096 {
            return None;
        }
    }
    Some(probe)
}

/// Brings one unit up: whatever firmware left on goes off, faults are reported to the
/// bootstrap CPU, the root table is set, queued invalidation started, caches
/// invalidated, interrupt remapping and then translation turned on.
#[allow(clippy::too_many_arguments)]
fn enable(
    u: &mut Unit,
    root: u64,
    irt: u64,
    interrupts: bool,
    x2apic: bool,
    queue: u64,
    status: u64,
    fault_dest: u32,
) -> Result<(), unit::Failure> {
    let gsts = u.read32(regs::GSTS);
    if gsts & gcmd::TE != 0 {
        u.command(gcmd::TE, false)?;
    }
    if gsts & gcmd::IRE != 0 {
        u.command(gcmd::IRE, false)?;
    }
    if gsts & gcmd::QIE != 0 {
        u.command(gcmd::QIE, false)?;
    }
    if gsts & gcmd::CFI != 0 {
        u.command(gcmd::CFI, false)?;
    }
    u.write32(regs::FECTL, 1 << 31);
    for i in 0..u.caps.fault_record_count() as u64 {
        u.write64(
            u.caps.fault_records() + i * 16 + 8,
            facet_kcore::iommu::fault::RECORDED,
        );
    }
    u.write32(regs::FSTS, regs::fsts::CLEAR);
    u.write32(regs::FEDATA, VECTOR as u32);
    u.write32(
        regs::FEADDR,
        tables::MSI_BASE as u32 | (fault_dest & 0xff) << 12,
    );
    u.write32(regs::FEUADDR, 0);
    u.write64(regs::RTADDR, root);
    u.command(gcmd::SRTP, true)?;
    if u.caps.queued_invalidation() {
        u.start_queue(queue, status)?;
    }
    u.invalidate_all()?;
    if interrupts {
        let eime = if x2apic { regs::IRTA_EIME } else { 0 };
        u.write64(regs::IRTA, irt | eime | regs::IRTA_SIZE_256);
        u.command(gcmd::SIRTP, true)?;
        u.invalidate(&[inv::iec_global()])?;
        u.command(gcmd::IRE, true)?;
        u.remaps_interrupts = true;
    }
    u.flush_write_buffer()?;
    u.command(gcmd::TE, true)?;
    u.write32(regs::FECTL, 0);
    Ok(())
}

/// Firmware's reserved regions: mapped one to one in the kernel's domain, and the
/// devices that use them put there, before translation is on.
#[link_section = ".init.text"]
fn rmrrs(s: &mut State, d: &Dmar, cfg: &mut config::BootConfig) -> Result<(), &'static str> {
    if d.rmrrs().iter().all(|r| r.segment != 0) {
        return Ok(());
    }
    let mut mem = TableMem::new();
    // Nothing is unmapped here: no frame waits for a flush.
    let mut frames = TableFrames::kernel();
    let table = PageTable::new(&mut frames).ok_or("out of kernel memory for the IOMMU's tables")?;
    let attrs = Attrs {
        write: true,
        execute: false,
        user: true,
        global: false,
        uncached: false,
    };
    let mut pages = 0u64;
    for r in d.rmrrs().iter().filter(|r| r.segment == 0) {
        let mut at = r.base;
        while at <= r.limit && at < 1 << 47 {
            if pages == MAX_RMRR_PAGES {
                crate::println!("FACET WARNING: iommu: reserved regions beyond {MAX_RMRR_PAGES} pages are not mapped");
                break;
            }
            table
                .remap(
                    &mut mem,
                    &mut frames,
                    at,
                    Some((at, attrs)),
                    PageSize::Size4K,
                )
                .map_err(|_| "out of kernel memory for the reserved regions")?;
            pages += 1;
            at += 4096;
        }
        let root = if s.levels == 3 {
            table
                .populate_top_level(&mut mem, &mut frames, 0, 0)
                .map_err(|_| "out of kernel memory for the reserved regions")?;
            tables::domain_root(table.root, mem.read_u64(table.root), 3).unwrap_or(table.root)
        } else {
            table.root
        };
        for sc in r
            .scopes
            .as_slice()
            .iter()
            .filter(|sc| sc.kind == SCOPE_PCI_ENDPOINT)
        {
            if let Some(rid) = devices::resolve(cfg, sc) {
                s.set_context(rid, root, KERNEL_DID)
                    .map_err(|_| "out of kernel memory for a context table")?;
                crate::println!(
                    "iommu: {} keeps its reserved region [{:#x}, {:#x}]",
                    Bdf(rid),
                    r.base,
                    r.limit
                );
            }
        }
    }
    Ok(())
}

// ---- devices ----

/// The unit that takes an assignment whose hint (ARG3 of `assign_pci`, as the reference
/// reads it) is `hint`: the unit translating the device with that requester id, if DMA
/// remapping is on and such a device exists.
pub fn unit_for(hint: u64) -> Option<u8> {
    if !enabled() || hint > 0xffff {
        return None;
    }
    match devices::lookup(STATE.lock().map(), hint as u16) {
        Lookup::Unit(n) => Some(n),
        Lookup::Absent | Lookup::Unclaimed => None,
    }
}

/// A domain id for a Pd's first device (`None` when all are taken).
pub fn new_domain() -> Option<u16> {
    DOMAINS.lock().alloc().map(|t| t as u16 + 1)
}

/// Puts device `rid` into domain `did`, whose device page table is the 4-level x86 table
/// at `pml4`: from the return on, its DMA translates through that table only (out of the
/// domain it was in before, whose cached translations every unit dropped). `Abort` when
/// a table cannot be had.
pub fn attach(rid: u16, pml4: u64, did: u16) -> Result<(), Status> {
    let mut s = STATE.lock();
    if !s.on {
        return Err(Status::BadDev);
    }
    let mut mem = TableMem::new();
    if s.levels == 3 {
        // The domain starts at the PDPT: pinned, it stays while the table does.
        PageTable { root: pml4 }
            .populate_top_level(&mut mem, &mut TableFrames::device(), 0, 0)
            .map_err(|_| Status::Abort)?;
    }
    let root = tables::domain_root(pml4, mem.read_u64(pml4), s.levels).ok_or(Status::Abort)?;
    s.set_context(rid, root, did)?;
    // With caching mode even an entry that was not present may be cached; and a unit
    // with a write buffer must see the new entry.
    s.invalidate_all();
    Ok(())
}

/// Domain `did` goes with its Pd: every device in it is detached (its DMA faults from the
/// return on, every unit having forgotten the domain) and the id is free again. Before
/// the Pd's device page table is freed.
pub fn release_domain(did: u16) {
    if did == 0 {
        return;
    }
    let mut s = STATE.lock();
    let mut cleared = false;
    for bus in 0..tables::ENTRIES as u64 {
        let Some(context) = tables::root_context_table(read_entry(s.root + bus * 16)) else {
            continue;
        };
        for devfn in 0..tables::ENTRIES as u64 {
            let at = context + devfn * 16;
            if tables::context_domain(read_entry(at)).is_some_and(|(d, _)| d == did) {
                clear_entry(at);
                cleared = true;
            }
        }
    }
    if cleared {
        s.invalidate_all();
    } else {
        // Devices may have left the domain for another; its translations must still go.
        for u in s.units() {
            if let Err(why) = u.invalidate_domain(did) {
                warn(u, why);
            }
        }
    }
    drop(s);
    if did > KERNEL_DID {
        DOMAINS.lock().free((did - 1) as u32);
    }
}

/// Drops what every unit cached of domain `did`'s translations, after its device page
/// table lost or reduced mappings; returns when every unit has.
pub fn flush_domain(did: u16) {
    if did == 0 || !enabled() {
        return;
    }
    let mut s = STATE.lock();
    for u in s.units() {
        if let Err(why) = u.invalidate_domain(did) {
            warn(u, why);
        }
    }
}

// ---- interrupts ----

/// Routes GSI `gsi` as an MSI of requester `rid` to the local APIC `apic_id`: its
/// interrupt entry names the GSI's vector, that CPU and that requester alone. The MSI
/// address and data the device must send (the remappable format naming the entry).
pub fn route_msi(gsi: u32, rid: u16, apic_id: u32) -> Result<(u64, u64), Status> {
    let mut s = STATE.lock();
    let e = entry(&s, gsi, apic_id, false, Some(rid))?;
    s.set_irte(gsi, e);
    let (address, data) = tables::msi_remappable(gsi as u16);
    Ok((address, data as u64))
}

/// Routes I/O APIC pin `gsi` (level-triggered or not) to local APIC `apic_id`: its
/// interrupt entry accepts requests from the I/O APIC `ioapic_id` (any requester if the
/// DMAR names none for it). The caller then points the pin at entry `gsi`.
pub fn route_pin(gsi: u32, ioapic_id: u32, apic_id: u32, level: bool) -> Result<(), Status> {
    let mut s = STATE.lock();
    let n = s.ioapic_count.min(s.ioapics.len());
    let source = s.ioapics[..n]
        .iter()
        .find(|(id, _)| *id as u32 == ioapic_id)
        .map(|&(_, rid)| rid);
    let e = entry(&s, gsi, apic_id, level, source)?;
    s.set_irte(gsi, e);
    Ok(())
}

fn entry(
    s: &State,
    gsi: u32,
    apic_id: u32,
    level: bool,
    source: Option<u16>,
) -> Result<Irte, Status> {
    if !s.on || !s.interrupts || gsi as usize >= tables::ENTRIES {
        return Err(Status::BadDev);
    }
    if !s.x2apic && apic_id > 0xff {
        return Err(Status::BadCpu);
    }
    Ok(Irte {
        vector: crate::arch::ioapic::VECTOR_BASE.wrapping_add(gsi as u8),
        dest: apic_id,
        level,
        source,
        x2apic: s.x2apic,
    })
}

/// The fault event interrupt (from the interrupt handler, before the EOI).
pub fn fault_interrupt() {
    let s = STATE.lock();
    fault::service(&s.units[..s.count.min(MAX_UNITS)]);
}
