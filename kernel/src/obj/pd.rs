//! Pd: a protection domain, the unit of spatial isolation.
//!
//! A Pd owns a host page table (whose kernel half is shared with every other Pd), an
//! object space (selectors), a port space (I/O ports) and the I/O permission bitmap the
//! CPU checks while the Pd runs; a guest page table for its vCPUs and a device page table
//! for its devices' DMA (with the IOMMU's domain id once a device is assigned to it),
//! each made on first use.

use facet_kcore::capspace::{self, Table, OBJECT_BITS, PERMS, PORT_BITS};
use facet_kcore::iobitmap;
use facet_kcore::paging::PageTable;

use super::spaces::{obj_space, pio_space, tools};
use super::{alloc, with, with_known, Destroy, Handle, Header, Kind, Object, OUT_OF_MEMORY};
use crate::mem::cap_mem::{self, CapMem};
use crate::mem::direct_map::virt;
use crate::mem::frames::{self, PoolFrames};
use crate::mem::kspace;
use crate::mem::usage::Use;
use core::sync::atomic::Ordering;
use facet_abi::status::Status;

/// A protection domain.
#[repr(C)]
pub struct Pd {
    hdr: Header,
    /// Physical address of the PML4 of the host page table.
    pub pml4: u64,
    /// The object space.
    pub obj: Table,
    /// The port space.
    pub pio: Table,
    /// Physical address of the two-frame I/O permission bitmap (set bit = denied).
    pub iobitmap: u64,
    /// Bytes at the start of the bitmap that may allow a port (past them everything is
    /// denied): what a switch to this Pd copies into the CPU's TSS.
    pub io_extent: u16,
    /// May delegate from the kernel itself (the hypervisor delegate flag).
    pub privileged: bool,
    /// May access MSRs (`pd_ctrl msr_access`).
    pub passthrough: bool,
    /// Physical address of the nested (guest) page table's PML4, 0 until first used.
    pub npt: u64,
    /// Physical address of the device (DMA) page table's root, 0 until first used. It is
    /// built in the x86 format, whose present/writable/large-page bits are the read,
    /// write and super-page bits of the IOMMU's second-level tables.
    pub dpt: u64,
    /// The APIC-access page of the Pd's vCPUs (VMX), 0 until first used.
    pub apic_access: u64,
    /// The PCID tagging the Pd's TLB entries (0: untagged, flushed at every switch).
    pub pcid: u16,
    /// The IOMMU's domain id of the Pd's devices (0 until `assign_pci` gives it one):
    /// while it is 0, no unit walks the device page table, so changing it needs no IOTLB
    /// invalidation.
    pub did: u16,
    /// What a switch to the Pd writes to CR3: the PML4 and, for a tagged Pd, its PCID
    /// and bit 63 (keep its TLB entries; whatever removes a mapping flushes every PCID on
    /// every CPU, `smp::shootdown`).
    pub cr3: u64,
}

/// Whether address spaces get PCIDs (the CPU has them and `nopcid` was not given).
static PCIDS_ON: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
/// PCIDs of live Pds (1 to 4095; 0 is the kernel's and the untagged Pds').
static PCIDS: crate::sync::SpinLock<facet_kcore::tags::TagSet> =
    crate::sync::SpinLock::new(facet_kcore::tags::TagSet::new(4095));

/// Turns PCID tags on (at boot, when CR4.PCIDE is set on every CPU).
pub fn enable_pcids() {
    PCIDS_ON.store(true, Ordering::Release);
}

fn alloc_pcid() -> u16 {
    if !PCIDS_ON.load(Ordering::Acquire) {
        return 0;
    }
    PCIDS.lock().alloc().unwrap_or(0) as u16
}

/// The executing CPU is about to idle: it leaves the running Pd's address space for the
/// kernel's and drops every user translation, so that shootdowns need not wake it.
pub fn idle_here() {
    if !crate::smp::shootdown::caching() {
        return;
    }
    let pd = current();
    if pd != 0 {
        crate::smp::shootdown::leave_here(pd);
    }
    crate::arch::cpu::flush_tlb_all();
    crate::smp::shootdown::clean_here();
}

/// The root frame of the running Pd's object space, 0 if none runs.
#[inline]
pub fn current_obj_root() -> u64 {
    // Every hypercall looks a capability up there, and a Pd's root frame never changes.
    crate::arch::percpu::obj_root()
}

/// The Pd running on the executing CPU.
#[inline]
pub fn current() -> Handle {
    crate::arch::percpu::current_pd()
}

/// Whether the running Pd is pass-through (may reach MSRs and machine control).
pub fn current_is_passthrough() -> bool {
    with::<Pd, _>(current(), |p| p.passthrough).unwrap_or(false)
}

/// The Pd running on CPU `cpu`.
pub fn current_on(cpu: u32) -> Handle {
    crate::arch::percpu::current_pd_of(cpu)
}

/// Makes `pd` the running Pd: loads its page table and I/O bitmap.
///
/// # Safety
/// 1. `pd` names a live Pd (the Pd of an Ec about to run, which holds a reference to it).
#[inline(never)]
pub unsafe fn activate(pd: Handle) {
    // SAFETY: the caller's promise.
    unsafe { enter(pd, false) }
}

/// [`activate`] inlined (for the IPC fast path). `from_pd`: a Pd runs on this CPU now,
/// so it may already hold user translations (a CPU marks itself clean only as it idles,
/// leaving its Pd) and is in the shootdown mask.
///
/// # Safety
/// As for [`activate`].
#[inline(always)]
pub unsafe fn enter(pd: Handle, from_pd: bool) {
    // SAFETY: the caller's promise.
    let (cr3, extent, obj_root) =
        unsafe { with_known::<Pd, _>(pd, |p| (p.cr3, p.io_extent, p.obj.root)) };
    if from_pd {
        debug_assert!(current() != 0 && crate::smp::shootdown::caching());
    } else {
        crate::smp::shootdown::caching_on(crate::arch::percpu::cpu_id() as u32);
    }
    crate::arch::percpu::set_current_pd(pd);
    crate::arch::percpu::set_obj_root(obj_root);
    // Only a Pd with ports whose bitmap the TSS does not hold needs a copy.
    if !crate::arch::ports::switch_for(pd, extent) {
        load_ports(pd, extent);
    }
    // SAFETY: every Pd's table shares the kernel half, so the kernel stays mapped.
    unsafe { crate::arch::cpu::write_cr3(cr3) };
}

/// Puts Pd `pd`'s I/O bitmap (ports allowed in its first `extent` bytes) into the TSS of
/// the executing CPU.
#[cold]
#[inline(never)]
fn load_ports(pd: Handle, extent: u16) {
    let cpu = crate::arch::percpu::cpu_id() as u32;
    let Some(bitmap) = with::<Pd, _>(pd, |p| p.iobitmap) else {
        return;
    };
    // SAFETY: the bitmap is two frames owned by the Pd and direct-mapped.
    let map = unsafe { core::slice::from_raw_parts(virt(bitmap) as *const u8, 8192) };
    crate::arch::ports::load_on(cpu, pd, map, extent as usize);
}

impl Pd {
    /// Creates an empty Pd: no capabilities, no user mappings, no ports.
    pub fn create(privileged: bool, passthrough: bool) -> Result<Handle, Status> {
        let (_, mem, mut fs) = tools();
        let kernel = kspace::kernel_root().ok_or(OUT_OF_MEMORY)?;
        let pt = PageTable::new(&mut PoolFrames::new(Use::HostTables)).ok_or(OUT_OF_MEMORY)?;
        pt.share_top_level(&mut kspace::phys(), &kernel, 256, 511);
        let obj = Table::new(&mut CapMem, &mut fs, OBJECT_BITS);
        let pio = Table::new(&mut CapMem, &mut fs, PORT_BITS);
        let bitmap = frames::alloc_zeroed(1, Use::PdOther);
        let (Some(obj), Some(pio), Some(bitmap)) = (obj, pio, bitmap) else {
            obj.inspect(|t| t.free_all(&mem, cap_mem::free));
            pio.inspect(|t| t.free_all(&mem, cap_mem::free));
            if let Some(b) = bitmap {
                frames::free(b, 1, Use::PdOther);
            }
            frames::free(pt.root, 0, Use::HostTables);
            return Err(OUT_OF_MEMORY);
        };
        // SAFETY: the two frames were just allocated to this Pd and are direct-mapped.
        unsafe { core::ptr::write_bytes(virt(bitmap) as *mut u8, 0xff, 8192) };
        let pcid = alloc_pcid();
        let pd = Pd {
            npt: 0,
            dpt: 0,
            hdr: Header::new(Kind::Pd),
            pml4: pt.root,
            obj,
            pio,
            iobitmap: bitmap,
            io_extent: 0,
            apic_access: 0,
            pcid,
            did: 0,
            cr3: match pcid {
                0 => pt.root,
                tag => pt.root | tag as u64 | 1 << 63,
            },
            privileged,
            passthrough,
        };
        alloc(pd).inspect_err(|_| {
            if pcid != 0 {
                PCIDS.lock().free(pcid as u32);
            }
            obj.free_all(&mem, cap_mem::free);
            pio.free_all(&mem, cap_mem::free);
            frames::free(bitmap, 1, Use::PdOther);
            frames::free(pt.root, 0, Use::HostTables);
        })
    }

    /// Allows or denies one port in this Pd's bitmap. The caller updates the CPU's copy
    /// when the Pd is running.
    pub fn set_port(&mut self, port: u64, allowed: bool) {
        let Some((at, mask)) = iobitmap::position(port) else {
            return;
        };
        if allowed {
            self.io_extent = self.io_extent.max(iobitmap::extent_of(port) as u16);
        }
        let byte = virt(self.iobitmap) + at as u64;
        // SAFETY: the byte lies in the Pd's own two bitmap frames.
        unsafe {
            let v = core::ptr::read_volatile(byte as *const u8);
            core::ptr::write_volatile(byte as *mut u8, iobitmap::with_bits(v, mask, allowed));
        }
    }

    /// The host page table.
    pub fn page_table(&self) -> PageTable {
        PageTable { root: self.pml4 }
    }

    /// The guest page table (nested paging), created on first use.
    /// The APIC-access page, allocated on first use.
    pub fn apic_access_page(&mut self) -> Option<u64> {
        if self.apic_access == 0 {
            self.apic_access = frames::alloc_zeroed(0, Use::PdOther)?;
        }
        Some(self.apic_access)
    }

    /// The device page table, created on first use (in memory the IOMMU can walk).
    pub fn device_table(&mut self) -> Option<PageTable> {
        if self.dpt == 0 {
            self.dpt = PageTable::new(&mut crate::iommu::TableFrames::device())?.root;
        }
        Some(PageTable { root: self.dpt })
    }

    /// The device page table and the IOMMU domain id, both made on first use (`None`
    /// when memory or domain ids have run out).
    pub fn device_domain(&mut self) -> Option<(u64, u16)> {
        let table = self.device_table()?.root;
        if self.did == 0 {
            self.did = crate::iommu::new_domain()?;
        }
        Some((table, self.did))
    }

    pub fn guest_table(&mut self) -> Option<PageTable> {
        if self.npt == 0 {
            self.npt = PageTable::new(&mut PoolFrames::new(Use::GuestTables))?.root;
        }
        Some(PageTable { root: self.npt })
    }
}

impl Pd {
    /// The Pd loses every object and port capability it holds, and everything delegated
    /// from them: what its last capability's going does, even while its Ecs live on
    /// (docs/memory.md). Its memory stays until it is destroyed.
    pub fn release_spaces(h: Handle) {
        let (mut spaces, mut mem, _) = tools();
        for (space, bits) in [(obj_space(h), OBJECT_BITS), (pio_space(h), PORT_BITS)] {
            let _ = capspace::revoke(&mut spaces, &mut mem, space, 0, bits, PERMS, true);
        }
    }
}

impl Object for Pd {
    const KIND: Kind = Kind::Pd;
}

impl Destroy for Pd {
    fn destroy(h: Handle) {
        let Some((obj, pio, pml4, bitmap)) =
            with::<Pd, _>(h, |p| (p.obj, p.pio, p.pml4, p.iobitmap))
        else {
            return;
        };
        // No CPU may keep running on its tables or keep TLB entries under its PCID.
        crate::smp::shootdown::leave_pd(h);
        crate::smp::shootdown::everywhere();
        crate::arch::ports::forget(h);
        if let Some(pcid) = with::<Pd, _>(h, |p| p.pcid).filter(|&t| t != 0) {
            PCIDS.lock().free(pcid as u32);
        }
        // Take back everything this Pd holds, and everything delegated from it (already
        // done when its last capability went, unless it never had one).
        Pd::release_spaces(h);
        obj.free_all(&CapMem, cap_mem::free);
        pio.free_all(&CapMem, cap_mem::free);
        let mut mem = kspace::phys();
        frames::free(bitmap, 1, Use::PdOther);
        let free_host = |f| frames::free(f, 0, Use::HostTables);
        PageTable { root: pml4 }.free_tables(&mut mem, 0, 255, free_host, true);
        let npt = with::<Pd, _>(h, |p| p.npt).unwrap_or(0);
        if npt != 0 {
            // Its vCPUs are gone, but CPUs may still cache translations from its guest
            // table (tagged by the table's address under VMX): a new Pd whose table
            // reuses these frames must not find them.
            crate::vcpu::guest_table_freed();
        }
        // Its devices stop translating through the device table before it goes.
        crate::iommu::release_domain(with::<Pd, _>(h, |p| p.did).unwrap_or(0));
        let dpt = with::<Pd, _>(h, |p| p.dpt).unwrap_or(0);
        for (root, of) in [(npt, Use::GuestTables), (dpt, Use::DeviceTables)] {
            if root != 0 {
                let free = |f| frames::free(f, 0, of);
                PageTable { root }.free_tables(&mut mem, 0, 511, free, true);
            }
        }
        // Its vCPUs are gone (each held a reference): no VMCS names the page any more.
        if let Some(page) = with::<Pd, _>(h, |p| p.apic_access).filter(|&a| a != 0) {
            frames::free(page, 0, Use::PdOther);
        }
    }
}
