//! The registers of the devices the kernel drives (the local APIC, the I/O APICs, the
//! IOMMU's units) and the application processors' start-up page are not delegable from
//! the kernel, not even to the privileged roottask, as the reference keeps them to
//! itself: each is delegated from the kernel into a child, whose read of it faults
//! (ABORT). An ordinary page below 1 MiB beside them is delegated and read.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::off;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{create_pd, pd_ctrl_delegate, revoke};

use super::child::call_in_child;
use super::{ok, Fail, TestResult};
use crate::world::{World, SCRATCH};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
const CHILD: u64 = 4300;
const ECS: [u64; 6] = [4301, 4302, 4303, 4304, 4305, 4306];
const PTS: [u64; 6] = [4311, 4312, 4313, 4314, 4315, 4316];
const UTCB_BASE: u64 = 0x3400_0000;
/// Where the child sees the page under test.
const CHILD_AT: u64 = 0x3410_0000;
/// Where the roottask looks at the DMAR table.
const TABLE_AT: u64 = SCRATCH + 0x90_0000;

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
fn child_reads(i: usize, phys: u64) -> Result<(), Status> {
    let window = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_R);
    let unmap = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_ALL);
    revoke(unmap, true, Some(CHILD))?;
    let page = Crd::new(Kind::Memory, phys >> 12, 0, perm::MEM_R);
    pd_ctrl_delegate(PD, CHILD, page, FROM_KERNEL, window)?;
    call_in_child(
        CHILD,
        ECS[i],
        PTS[i],
        UTCB_BASE + 0x1000 * i as u64,
        __kernel_mmio_read,
    )
}

/// The first IOMMU unit's register base from the DMAR table, if there is one.
fn first_iommu_unit(w: &World) -> Result<Option<u64>, Fail> {
    let table = w.hip.u64(off::DMAR_TABLE);
    if table == 0 {
        return Ok(None);
    }
    let crd = Crd::new(Kind::Memory, table >> 12, 1, perm::MEM_R);
    let window = Crd::new(Kind::Memory, TABLE_AT >> 12, 1, perm::MEM_R);
    ok(
        pd_ctrl_delegate(PD, PD, crd, FROM_KERNEL, window),
        "the DMAR table",
    )?;
    let at = TABLE_AT + (table & 0xfff);
    // SAFETY: the two pages holding the table were just mapped readable; the header is
    // 48 bytes, and the first remapping structure follows (type 0 is a unit, its
    // register base at offset 8).
    let (kind, base) = unsafe {
        (
            ((at + 48) as *const u16).read_volatile(),
            ((at + 56) as *const u64).read_volatile(),
        )
    };
    Ok((kind == 0).then_some(base))
}

pub fn kernel_device_pages_are_not_delegable(w: &World) -> TestResult {
    ok(create_pd(CHILD, PD, Crd::NULL, false), "create_pd")?;
    let stub = __kernel_mmio_read as *const () as u64;
    let code = Crd::new(Kind::Memory, stub >> 12, 0, perm::MEM_R | perm::MEM_X);
    ok(
        pd_ctrl_delegate(PD, CHILD, code, facet_abi::hypercall::xfer::DELEGATE, code).map(|_| ()),
        "code into the child",
    )?;
    let mut pages = [(0u64, ""); 5];
    pages[0] = (0x9_0000, "an ordinary page");
    pages[1] = (0xfee0_0000, "the local APIC");
    pages[2] = (0x8000, "the start-up page");
    pages[3] = (w.hip.ioapic(0).base as u64, "the I/O APIC");
    let mut n = 4;
    if let Some(unit) = first_iommu_unit(w)? {
        pages[4] = (unit, "the IOMMU unit");
        n = 5;
    }
    let results: [Result<(), Status>; 5] = core::array::from_fn(|i| {
        if i < n {
            child_reads(i, pages[i].0)
        } else {
            Ok(())
        }
    });
    for sel in PTS.into_iter().chain(ECS).chain([CHILD]) {
        let _ = revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None);
    }
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
    Ok(())
}
