//! The registers of the devices the kernel drives (the local APIC, the I/O APICs, the
//! IOMMU's units) and the application processors' start-up page are not delegable from
//! the kernel, not even to the privileged roottask, as the reference keeps them to
//! itself: each is delegated from the kernel into a child, whose read of it faults
//! (ABORT). An ordinary page below 1 MiB beside them is delegated and read.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{self, off};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{pd_ctrl_delegate, revoke};
use facet_rt::window::Window;

use crate::suite::child::Child;
use crate::suite::fixture::{DMAR_PAGES, KERNEL_MMIO, KERNEL_MMIO_AT, KERNEL_MMIO_UTCBS};
use crate::suite::tools::map_from_kernel;
use crate::suite::{Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// The child; attempt `i` reads page `i` of the list.
const CHILD: Child = Child::new(KERNEL_MMIO, KERNEL_MMIO_UTCBS);
/// Where the child sees the page under test.
const CHILD_AT: u64 = KERNEL_MMIO_AT.addr(0);
/// Where the roottask looks at the DMAR table.
const TABLE: Window = DMAR_PAGES.window();

global_asm!(
    r#"
    .section .text.kernel_mmio_child, "ax"
    .balign 4096
    .global __kernel_mmio_read
__kernel_mmio_read:
    mov rcx, {at}
    mov eax, [rcx]
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#,
    at = const CHILD_AT,
);

extern "C" {
    fn __kernel_mmio_read();
}

/// Delegates physical page `phys` from the kernel into the child and has attempt `i`
/// read it: SUCCESS if it was mapped, ABORT if not.
fn child_reads(i: u64, phys: u64) -> Result<(), Status> {
    let window = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_R);
    let unmap = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_ALL);
    revoke(unmap, true, Some(CHILD.pd()))?;
    let page = Crd::new(Kind::Memory, phys >> 12, 0, perm::MEM_R);
    pd_ctrl_delegate(PD, CHILD.pd(), page, FROM_KERNEL, window)?;
    CHILD.call(i, __kernel_mmio_read)
}

/// The little-endian value of `len` bytes at byte offset `at` of the mapped table
/// (which need not be aligned).
fn table_bytes(at: u64, len: u64) -> u64 {
    (0..len).fold(0, |v, i| v | (TABLE.read::<u8>(at + i) as u64) << (8 * i))
}

/// The first IOMMU unit's register base from the DMAR table, if there is one.
fn first_iommu_unit(e: &Env) -> Result<Option<u64>, Fail> {
    let table = e.hip().u64(off::DMAR_TABLE);
    if table == 0 {
        return Ok(None);
    }
    map_from_kernel(table >> 12, 1, perm::MEM_R, TABLE, "the DMAR table")?;
    // The header is 48 bytes, and the first remapping structure follows (type 0 is a
    // unit, its register base at offset 8).
    let at = table & 0xfff;
    let (kind, base) = (table_bytes(at + 48, 2), table_bytes(at + 56, 8));
    Ok((kind == 0).then_some(base))
}

/// The page the kernel takes for the start-up code: the lowest usable one of the memory
/// map at or above 0x1000 and below 1 MiB that no module occupies (the boot
/// information, which the HIP does not show, lies elsewhere on every tier's loader).
fn startup_page(e: &Env) -> Result<u64, Fail> {
    let h = e.hip();
    let in_module = |p: u64| {
        (0..h.mem_count())
            .map(|i| h.mem(i))
            .any(|m| m.mem_type == hip::MEM_MB_MODULE && p + 4096 > m.addr && p < m.addr + m.size)
    };
    let mut best: Option<u64> = None;
    for i in 0..h.mem_count() {
        let m = h.mem(i);
        if m.mem_type != hip::MEM_AVAILABLE {
            continue;
        }
        let mut p = m.addr.max(0x1000).next_multiple_of(4096);
        let end = m.addr.saturating_add(m.size).min(1 << 20);
        while p + 4096 <= end && in_module(p) {
            p += 4096;
        }
        if p + 4096 <= end && best.is_none_or(|b| p < b) {
            best = Some(p);
        }
    }
    best.ok_or_else(|| Fail::new(format_args!("no usable page below 1 MiB in the HIP")))
}

pub fn kernel_device_pages_are_not_delegable(e: &Env) -> TestResult {
    CHILD.create(__kernel_mmio_read)?;
    let mut pages = [(0u64, ""); 5];
    pages[0] = (0x9_0000, "an ordinary page");
    pages[1] = (0xfee0_0000, "the local APIC");
    pages[2] = (startup_page(e)?, "the start-up page");
    pages[3] = (e.hip().ioapic(0).base as u64, "the I/O APIC");
    let mut n = 4;
    if let Some(unit) = first_iommu_unit(e)? {
        pages[4] = (unit, "the IOMMU unit");
        n = 5;
    }
    let results: [Result<(), Status>; 5] = core::array::from_fn(|i| {
        if i < n {
            child_reads(i as u64, pages[i].0)
        } else {
            Ok(())
        }
    });
    let revoked = CHILD.revoke(n as u64);
    ensure!(results[0].is_ok(), "{}: {:?}", pages[0].1, results[0]);
    for i in 1..n {
        ensure!(
            results[i] == Err(Status::Abort),
            "{} at {:#x} reached the child: {:?}",
            pages[i].1,
            pages[i].0,
            results[i]
        );
    }
    revoked
}
