//! DMA through domains. A child protection domain (no threads: a domain and a device
//! page table) gets the edu device; the roottask fills its pages, starts transfers
//! between the device's buffer and device addresses, and looks at the pages and the
//! faults afterwards.

use facet_abi::crd::{Crd, Kind as CrdKind};
use facet_abi::hypercall::delegate::{DEVICE, NOT_HOST};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{assign_pci, create_pd, create_sm, pd_ctrl_delegate, revoke};
use facet_rt::window::Window;

use super::{expect_fault, fault_after, faults, on, Kind};
use crate::suite::edu::{self, transfer, Edu, CONFIG};
use crate::suite::fixture::{IOMMU, IOMMU_CHILD, IOMMU_PAGES, IOMMU_RAM};
use crate::suite::tools::{map_from_kernel, obj, revoke_all};
use crate::suite::{ok, Env, Fail, TestResult};

/// The device's domains: two children.
const C: u64 = IOMMU.at(0);
const C2: u64 = IOMMU.at(1);
/// A semaphore (an object that is no protection domain).
const NOT_A_PD: u64 = IOMMU.at(4);
/// Where the children map the device's configuration page, and a RAM page.
const C_CONFIG: u64 = IOMMU_CHILD.addr(0);
const C_RAM: u64 = IOMMU_CHILD.addr(1);
/// The pages the device may reach (A, B) and one it must not (P), as the roottask sees
/// them; P's physical address is also the device address the tests write to without a
/// mapping.
const A: Window = IOMMU_PAGES.window().sub(0, 4096);
const B: Window = IOMMU_PAGES.window().sub(0x1000, 4096);
const P: Window = IOMMU_PAGES.window().sub(0x2000, 4096);
const P_PHYS: u64 = IOMMU_RAM.page(2) << 12;
/// Device addresses of A and B in C's domain (below 256 MiB, as the device needs).
const DA: u64 = 0x0200_0000;
const DB: u64 = 0x0200_1000;

/// Fills a page with words `seed, seed + 1, …`.
fn fill(w: Window, seed: u64) {
    for i in 0..512 {
        w.write(i * 8, seed.wrapping_add(i));
    }
}

/// Whether a page holds what [`fill`] wrote with `seed`.
fn holds(w: Window, seed: u64) -> bool {
    (0..512).all(|i| w.read::<u64>(i * 8) == seed.wrapping_add(i))
}

/// The test pages mapped in the roottask (from the kernel), and the device.
fn setup(e: &Env) -> Result<Edu, Fail> {
    for i in 0..3 {
        map_from_kernel(
            IOMMU_RAM.page(i),
            0,
            perm::MEM_R | perm::MEM_W,
            IOMMU_PAGES.window().sub(i * 4096, 4096),
            "a test page",
        )?;
    }
    let d = edu::require(e)?;
    edu::enable()?;
    Ok(d)
}

/// Maps the device's configuration page (mapped at [`CONFIG`] here) into `pd` at
/// [`C_CONFIG`].
fn give_config(pd: u64) -> TestResult {
    let crd = Crd::new(
        CrdKind::Memory,
        CONFIG.base() >> 12,
        0,
        perm::MEM_R | perm::MEM_W,
    );
    let at = Crd::new(
        CrdKind::Memory,
        C_CONFIG >> 12,
        0,
        perm::MEM_R | perm::MEM_W,
    );
    ok(
        pd_ctrl_delegate(ROOT_SEL_PD, pd, crd, DELEGATE, at).map(|_| ()),
        "the configuration page into a child",
    )
}

/// Maps the roottask's page `w` into `pd`'s device page table only, at device address
/// `device`, with `rights` (none: unmaps).
fn give_device_page(pd: u64, w: Window, device: u64, rights: u8) -> TestResult {
    let rw = perm::MEM_R | perm::MEM_W;
    let crd = Crd::new(CrdKind::Memory, w.base() >> 12, 0, rw);
    let at = Crd::new(CrdKind::Memory, device >> 12, 0, rights);
    ok(
        pd_ctrl_delegate(ROOT_SEL_PD, pd, crd, DELEGATE | DEVICE | NOT_HOST, at).map(|_| ()),
        "a page into a device page table",
    )
}

/// Before any `assign_pci`, the device is in no domain: a DMA write faults (no root or
/// context entry for it), reported with the device's requester id and the address, and
/// the page at that physical address keeps what it held.
pub fn dma_before_assign_pci_faults(e: &Env) -> TestResult {
    if !e.args.q35 || !on(e) {
        return Ok(());
    }
    let d = setup(e)?;
    fill(P, 0x5a5a_0000);
    let before = faults()?.count;
    edu::dma(e, transfer(0, P_PHYS, 4096, true)?)?;
    let f = fault_after(e, before)?;
    ensure!(
        holds(P, 0x5a5a_0000),
        "the DMA wrote to memory outside every domain"
    );
    expect_fault(f, d.rid, &[0x1, 0x2], Kind::Write, P_PHYS)
}

/// `assign_pci`'s checks and statuses, as the reference's: BAD_CAP for a capability
/// that is no PD; BAD_DEV unless the PD (not the caller) maps a configuration page of
/// the MCFG region at ARG2; without a unit, BAD_DEV after these; with one, BAD_DEV for a
/// hint naming no device, else SUCCESS (and again SUCCESS: the device stays).
pub fn assign_pci_answers_as_the_reference(e: &Env) -> TestResult {
    if !e.args.q35 {
        return Ok(());
    }
    let d = setup(e)?;
    let rid = d.rid as u64;
    ok(create_pd(C, ROOT_SEL_PD, Crd::NULL, false), "create_pd")?;
    ok(create_sm(NOT_A_PD, ROOT_SEL_PD, 0, 0), "create_sm")?;
    give_config(C)?;
    let ram = Crd::new(CrdKind::Memory, A.base() >> 12, 0, perm::MEM_R);
    let at = Crd::new(CrdKind::Memory, C_RAM >> 12, 0, perm::MEM_R);
    ok(
        pd_ctrl_delegate(ROOT_SEL_PD, C, ram, DELEGATE, at),
        "RAM into the child",
    )?;
    ensure_eq!(assign_pci(NOT_A_PD, C_CONFIG, rid), Err(Status::BadCap));
    ensure_eq!(
        assign_pci(crate::suite::fixture::NOTHING, C_CONFIG, rid),
        Err(Status::BadCap)
    );
    // The roottask maps the page there, the child does not.
    ensure_eq!(assign_pci(C, CONFIG.base(), rid), Err(Status::BadDev));
    // RAM, not configuration space; nothing at all.
    ensure_eq!(assign_pci(C, C_RAM, rid), Err(Status::BadDev));
    ensure_eq!(assign_pci(C, C_RAM + 0x10_0000, rid), Err(Status::BadDev));
    if !on(e) {
        // No unit drives the device.
        ensure_eq!(assign_pci(C, C_CONFIG, rid), Err(Status::BadDev));
        return revoke_all([C, NOT_A_PD]);
    }
    // Hints naming no device: an absent function, a value beyond requester ids.
    ensure_eq!(assign_pci(C, C_CONFIG, 0x4000), Err(Status::BadDev));
    ensure_eq!(assign_pci(C, C_CONFIG, 1 << 16 | rid), Err(Status::BadDev));
    ok(assign_pci(C, C_CONFIG, rid), "assign_pci")?;
    ok(assign_pci(C, C_CONFIG, rid), "assign_pci again")?;
    revoke_all([NOT_A_PD])
}

/// In C's domain with A and B in its device page table, the device copies A into its
/// buffer and the buffer into B; no fault.
pub fn dma_round_trip_through_the_domain(e: &Env) -> TestResult {
    if !e.args.q35 || !on(e) {
        return Ok(());
    }
    setup(e)?;
    give_device_page(C, A, DA, perm::MEM_R | perm::MEM_W)?;
    give_device_page(C, B, DB, perm::MEM_R | perm::MEM_W)?;
    fill(A, 0x1000_0000);
    fill(B, 0);
    let before = faults()?.count;
    edu::dma(e, transfer(0, DA, 4096, false)?)?;
    edu::dma(e, transfer(0, DB, 4096, true)?)?;
    ensure!(holds(B, 0x1000_0000), "the copy did not arrive in B");
    ensure_eq!(faults()?.count, before);
    Ok(())
}

/// A device address C's table does not map faults, read or write, with the reason and
/// the address; the page at that physical address (P, which C never got) is unchanged.
pub fn dma_to_an_unmapped_address_faults(e: &Env) -> TestResult {
    if !e.args.q35 || !on(e) {
        return Ok(());
    }
    let d = setup(e)?;
    fill(P, 0x5a5a_1000);
    let before = faults()?.count;
    edu::dma(e, transfer(0, P_PHYS, 4096, true)?)?;
    let f = fault_after(e, before)?;
    ensure!(
        holds(P, 0x5a5a_1000),
        "the DMA wrote through an unmapped device address"
    );
    expect_fault(f, d.rid, &[0x5], Kind::Write, P_PHYS)?;
    let before = f.count;
    edu::dma(e, transfer(0, P_PHYS + 0x800, 64, false)?)?;
    let f = fault_after(e, before)?;
    expect_fault(f, d.rid, &[0x6], Kind::Read, P_PHYS)
}

/// A page taken from C's device page table is gone for the device before the call that
/// took it returns, although the unit had cached it: by memory revoke (remote) and by a
/// delegation without rights.
pub fn revoked_device_pages_fault(e: &Env) -> TestResult {
    if !e.args.q35 || !on(e) {
        return Ok(());
    }
    let d = setup(e)?;
    // A into the device's buffer (a read that faulted may have changed it), then a write
    // into B: the unit caches B's translation.
    fill(A, 0x1000_0000);
    edu::dma(e, transfer(0, DA, 4096, false)?)?;
    fill(B, 0);
    edu::dma(e, transfer(0, DB, 4096, true)?)?;
    ensure!(holds(B, 0x1000_0000), "the copy did not arrive in B");
    // Revoked.
    let page = Crd::new(CrdKind::Memory, DB >> 12, 0, perm::MEM_ALL);
    ok(revoke(page, true, Some(C)), "revoke")?;
    fill(B, 0x7777_0000);
    let before = faults()?.count;
    edu::dma(e, transfer(0, DB, 4096, true)?)?;
    let f = fault_after(e, before)?;
    ensure!(
        holds(B, 0x7777_0000),
        "a revoked page was written (stale IOTLB)"
    );
    expect_fault(f, d.rid, &[0x5], Kind::Write, DB)?;
    // Mapped again, then unmapped by a delegation without rights.
    give_device_page(C, B, DB, perm::MEM_R | perm::MEM_W)?;
    edu::dma(e, transfer(0, DB, 4096, true)?)?;
    ensure!(holds(B, 0x1000_0000), "the copy did not arrive in B again");
    give_device_page(C, B, DB, 0)?;
    fill(B, 0x7777_1000);
    let before = faults()?.count;
    edu::dma(e, transfer(0, DB, 4096, true)?)?;
    let f = fault_after(e, before)?;
    ensure!(
        holds(B, 0x7777_1000),
        "an unmapped page was written (stale IOTLB)"
    );
    expect_fault(f, d.rid, &[0x5], Kind::Write, DB)
}

/// `assign_pci` into another domain moves the device: what C maps is out of its reach
/// at once. When that domain's PD goes, the device is in none (no context entry).
pub fn a_device_moves_between_domains(e: &Env) -> TestResult {
    if !e.args.q35 || !on(e) {
        return Ok(());
    }
    let d = setup(e)?;
    ok(create_pd(C2, ROOT_SEL_PD, Crd::NULL, false), "create_pd")?;
    give_config(C2)?;
    ok(
        assign_pci(C2, C_CONFIG, d.rid as u64),
        "assign_pci to the second child",
    )?;
    fill(A, 0x3333_0000);
    let before = faults()?.count;
    edu::dma(e, transfer(0, DA, 4096, true)?)?;
    let f = fault_after(e, before)?;
    ensure!(
        holds(A, 0x3333_0000),
        "the device still reached its old domain"
    );
    expect_fault(f, d.rid, &[0x5], Kind::Write, DA)?;
    // The second child goes: its domain with it.
    revoke_all([C2])?;
    let before = f.count;
    edu::dma(e, transfer(0, DA, 4096, true)?)?;
    let f = fault_after(e, before)?;
    ensure!(
        holds(A, 0x3333_0000),
        "the device reached memory after its domain went"
    );
    expect_fault(f, d.rid, &[0x2], Kind::Write, DA)?;
    ok(revoke(obj(C), true, None), "revoke the first child")
}
