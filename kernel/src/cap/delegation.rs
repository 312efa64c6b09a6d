//! Transferring capabilities between Pds: the arithmetic of `facet_kcore::xfer` applied
//! to object, port and memory spaces.
//!
//! Object and port capabilities go through the mapping database (`capspace::delegate`),
//! which records where each came from so that revoke can find them again. Memory is
//! written straight into the receiver's host page table (API 4.3 keeps no record), with
//! rights only ever reduced, and into its guest and device page tables where the
//! delegation asks. A transfer from the kernel (the hypervisor flag, privileged Pds only)
//! creates root capabilities for ports and maps physical memory.
//!
//! The device page table is what the IOMMU walks for the Pd's devices: it is written in
//! memory the units can read (`iommu::TableMem`), and once the Pd has a domain every
//! change is followed by an IOTLB invalidation before the hypercall returns. A Pd without
//! devices pays nothing for it.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::delegate as dflag;
use facet_abi::layout::USER_ADDR;
use facet_abi::perm;
use facet_kcore::capspace::{self, Cap, PORT_BITS};
use facet_kcore::mem_xfer::{self, MAX_UNITS};
use facet_kcore::paging::{Attrs, PageSize, PageTable};
use facet_kcore::xfer::{clamp_fixed, clamp_hotspot};

use facet_kcore::phys::{FrameSource, PhysMem};

use crate::iommu::{TableFrames, TableMem};
use crate::mem::frames::PoolFrames;
use crate::mem::kspace;
use crate::mem::usage::Use;
use crate::obj::pd::Pd;
use crate::obj::spaces::{obj_space, pio_space, tools, PORT_OBJ};
use crate::obj::{with, Handle};

/// Delegates object capabilities from `src` to `dst`; returns the CRD received.
pub fn delegate_objects(src: Handle, dst: Handle, crd: Crd, window: Crd, hot: u64) -> Crd {
    let a = crd.perms() & window.perms();
    if a == 0 {
        return Crd::NULL;
    }
    let (sb, rb, o) = clamp_hotspot(
        crd.base(),
        window.base(),
        crd.order() as u32,
        window.order() as u32,
        hot,
    );
    let (mut spaces, mut mem, mut fs) = tools();
    match capspace::delegate(
        &mut spaces,
        &mut mem,
        &mut fs,
        obj_space(src),
        sb,
        obj_space(dst),
        rb,
        o,
        a,
    ) {
        Ok(_) => Crd::new(Kind::Object, rb, o as u8, a),
        Err(_) => Crd::NULL,
    }
}

/// The ports a send range and a receive window have in common, and the rights both
/// grant: (base, order, rights), or `None` if nothing transfers.
fn port_range(crd: Crd, window: Crd) -> Option<(u64, u32, u8)> {
    let a = crd.perms() & window.perms();
    if a == 0 {
        return None;
    }
    let (base, o) = clamp_fixed(
        crd.base(),
        window.base(),
        crd.order() as u32,
        window.order() as u32,
    )?;
    Some((base, o, a))
}

/// Delegates port capabilities from `src` to `dst` (ports keep their numbers).
pub fn delegate_ports(src: Handle, dst: Handle, crd: Crd, window: Crd) -> Crd {
    let Some((base, o, a)) = port_range(crd, window) else {
        return Crd::NULL;
    };
    // Ports beyond 2^16 exist in no space: the answer names the range all the same, as
    // the reference's does.
    if base < 1 << PORT_BITS {
        let (mut spaces, mut mem, mut fs) = tools();
        let delegated = capspace::delegate(
            &mut spaces,
            &mut mem,
            &mut fs,
            pio_space(src),
            base,
            pio_space(dst),
            base,
            o.min(PORT_BITS),
            a,
        );
        if delegated.is_err() {
            return Crd::NULL;
        }
    }
    Crd::new(Kind::Pio, base, o as u8, a)
}

/// Gives `dst` port capabilities straight from the kernel, whose ports are one node of
/// all 2^16 ports with rights `perm::PIO_KERNEL`, as the reference's are: `dst`
/// receives the part of it in the range as one node (nothing if any of those ports is
/// taken already), with the rights asked for that the kernel's node has. The answer names
/// the range and rights asked for, whatever was received, as the reference's does.
pub fn ports_from_kernel(dst: Handle, crd: Crd, window: Crd) -> Crd {
    let Some((base, o, a)) = port_range(crd, window) else {
        return Crd::NULL;
    };
    let rights = a & perm::PIO_KERNEL;
    if rights != 0 && base < 1 << PORT_BITS {
        let (mut spaces, mut mem, mut fs) = tools();
        let node = Cap::new(PORT_OBJ, 1, rights).with_order(o.min(PORT_BITS) as u8);
        // An occupied port: nothing is received, as in the reference. Out of memory:
        // null, as for any delegation.
        let r = capspace::insert_root(&mut spaces, &mut mem, &mut fs, pio_space(dst), base, node);
        if r == Err(capspace::CapError::OutOfMemory) {
            return Crd::NULL;
        }
    }
    Crd::new(Kind::Pio, base, o as u8, a)
}

/// Maps memory into `dst`'s host page table, from physical memory (`src` = None, the
/// kernel as source) or from `src`'s host page table. Returns the CRD received.
pub fn delegate_memory(src: Option<Handle>, dst: Handle, crd: Crd, window: Crd, meta: u64) -> Crd {
    let a = crd.perms() & window.perms();
    let (sb, rb, o) = clamp_hotspot(
        crd.base(),
        window.base(),
        crd.order() as u32,
        window.order() as u32,
        meta >> 12,
    );
    if meta & dflag::NOT_HOST == 0 {
        map_pages(src, dst, sb, rb, o, a, Subspace::Host);
    }
    if meta & dflag::GUEST != 0 {
        map_pages(src, dst, sb, rb, o, a, Subspace::Guest);
    }
    if meta & dflag::DEVICE != 0 {
        map_pages(src, dst, sb, rb, o, a, Subspace::Device);
    }
    Crd::new(Kind::Memory, rb, o as u8, a)
}

/// The three page tables of a Pd's memory space.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Subspace {
    /// What its threads see.
    Host,
    /// Guest-physical memory of its vCPUs (nested paging, EPT).
    Guest,
    /// DMA addresses of its devices (what the IOMMU walks for them).
    Device,
}

fn map_pages(src: Option<Handle>, dst: Handle, sb: u64, rb: u64, order: u32, a: u8, sub: Subspace) {
    if sub == Subspace::Device {
        return map_device_pages(src, dst, sb, rb, order, a);
    }
    let pages = 1u64.checked_shl(order).unwrap_or(u64::MAX).min(MAX_UNITS);
    let guest = sub != Subspace::Host;
    let dpt = match sub {
        Subspace::Host => with::<Pd, _>(dst, |p| Some(p.page_table())).flatten(),
        _ => with::<Pd, _>(dst, |p| p.guest_table()).flatten(),
    };
    let Some(dpt) = dpt else {
        return;
    };
    let spt = src.and_then(|s| with::<Pd, _>(s, |p| p.page_table()));
    let of = if guest {
        Use::GuestTables
    } else {
        Use::HostTables
    };
    let (mut mem, mut frames) = (kspace::phys(), PoolFrames::new(of));
    fill(&dpt, spt, sb, rb, pages, a, guest, &mut mem, &mut frames);
    match sub {
        Subspace::Host => crate::smp::shootdown::everywhere(),
        _ => crate::vcpu::guest_tables_changed(),
    }
    frames.flushed();
}

/// [`map_pages`] into the device page table: in memory the IOMMU walks, and, once the
/// Pd has a domain, with every unit's cached translations of it dropped before this
/// returns (a mapping replaced or reduced must not live on in an IOTLB).
#[cold]
#[inline(never)]
fn map_device_pages(src: Option<Handle>, dst: Handle, sb: u64, rb: u64, order: u32, a: u8) {
    let pages = 1u64.checked_shl(order).unwrap_or(u64::MAX).min(MAX_UNITS);
    let Some(dpt) = with::<Pd, _>(dst, |p| p.device_table()).flatten() else {
        return;
    };
    let spt = src.and_then(|s| with::<Pd, _>(s, |p| p.page_table()));
    let mut frames = TableFrames::device();
    fill(
        &dpt,
        spt,
        sb,
        rb,
        pages,
        a,
        true,
        &mut TableMem::new(),
        &mut frames,
    );
    if let Some(did) = with::<Pd, _>(dst, |p| p.did).filter(|&d| d != 0) {
        crate::iommu::flush_domain(did);
    }
    frames.flushed();
}

/// Maps `pages` pages from `sb` (physical, or `spt`'s) at `rb` in `dpt` with rights `a`
/// (reduced to what the source has); `guest`: `dpt` takes addresses beyond user space.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fill(
    dpt: &PageTable,
    spt: Option<PageTable>,
    sb: u64,
    rb: u64,
    pages: u64,
    a: u8,
    guest: bool,
    mem: &mut impl PhysMem,
    frames: &mut impl FrameSource,
) {
    let source = if spt.is_some() {
        mem_xfer::Source::Pd
    } else {
        mem_xfer::Source::Kernel
    };
    // Which pages map where, and the bounds of each space: `facet_kcore::mem_xfer`.
    for (s, d) in mem_xfer::pages(sb, rb, pages, guest, source).flatten() {
        // Source page and the rights it has there.
        let (phys, have) = match &spt {
            None => {
                if crate::mem::is_kernel_frame(s << 12) {
                    continue;
                }
                (s << 12, perm::MEM_ALL)
            }
            Some(spt) => match spt.translate(&*mem, s << 12) {
                // Kernel memory the sender sees (its UTCBs) is not handed on.
                Some((p, _, _)) if !crate::mem::delegable_user_frame(p & !0xfff) => continue,
                Some((p, at, _)) => (p & !0xfff, mem_xfer::rights_of(at.write, at.execute)),
                None => continue,
            },
        };
        let target = mem_xfer::grant(a, have).map(|g| {
            let attrs = Attrs {
                write: g.write,
                execute: g.execute,
                user: true,
                global: false,
                uncached: false,
            };
            (phys, attrs)
        });
        if dpt
            .remap(mem, frames, d << 12, target, PageSize::Size4K)
            .is_err()
        {
            break;
        }
    }
}

/// Removes the mappings of `[base, base + 2^order)` pages from every page table of
/// `pd`: host, guest and device, as the reference's revoke does, each with its cached
/// translations dropped before this returns (host TLBs by the shootdown, guest
/// translations by the guest generation and the same IPI, which makes every CPU that
/// runs a guest leave it, the IOMMU's by an IOTLB invalidation of the Pd's domain on
/// every unit). Memory revocation in API 4.3 is all-or-nothing and touches only the
/// named Pd.
pub fn unmap_memory(pd: Handle, base: u64, order: u32) {
    let Some((host, npt, dpt)) = with::<Pd, _>(pd, |p| (p.page_table(), p.npt, p.dpt)) else {
        return;
    };
    let mut frames = PoolFrames::new(Use::HostTables);
    unmap_pages(
        host,
        base,
        order,
        USER_ADDR >> 12,
        &mut kspace::phys(),
        &mut frames,
    );
    crate::smp::shootdown::everywhere();
    frames.flushed();
    if npt != 0 {
        let mut frames = PoolFrames::new(Use::GuestTables);
        let npt = PageTable { root: npt };
        unmap_pages(npt, base, order, 1 << 35, &mut kspace::phys(), &mut frames);
        crate::vcpu::guest_tables_changed();
        frames.flushed();
    }
    if dpt != 0 {
        unmap_device_pages(pd, dpt, base, order);
    }
}

/// The device part of [`unmap_memory`] (only for a Pd with a device table).
#[cold]
#[inline(never)]
fn unmap_device_pages(pd: Handle, dpt: u64, base: u64, order: u32) {
    let mut frames = TableFrames::device();
    let dpt = PageTable { root: dpt };
    unmap_pages(dpt, base, order, 1 << 35, &mut TableMem::new(), &mut frames);
    if let Some(did) = with::<Pd, _>(pd, |p| p.did).filter(|&d| d != 0) {
        crate::iommu::flush_domain(did);
    }
    frames.flushed();
}

/// Unmaps `[base, base + 2^order)` pages (at most [`MAX_UNITS`]) below page `limit`,
/// skipping what has no table; the tables it empties wait in `frames` for the caller's
/// flush.
fn unmap_pages(
    pt: PageTable,
    base: u64,
    order: u32,
    limit: u64,
    mem: &mut impl PhysMem,
    frames: &mut impl FrameSource,
) {
    let pages = 1u64.checked_shl(order).unwrap_or(u64::MAX).min(MAX_UNITS);
    let end = base.saturating_add(pages).min(limit);
    if base < end {
        // Only a split of a huge page can fail (out of memory): the pages before it are
        // unmapped, as the loop over single pages this replaces left them.
        let _ = pt.unmap(mem, frames, base << 12, (end - base) << 12);
    }
}
