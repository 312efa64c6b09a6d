//! `pd_ctrl delegate` from the kernel: how the roottask obtains ports and memory.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip;
use facet_abi::layout::{ROOT_SEL_EC, ROOT_SEL_PD};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::pd_ctrl_delegate;

use super::fixture::{CMDLINE, DEVICE_RAM, MODULE_PAGE};
use super::{Env, Fail, TestResult};
use crate::FROM_KERNEL;

pub fn ports_from_kernel(_: &Env) -> TestResult {
    // Send 8 ports at 0x70, receive window of 64K ports: the result is the 8 ports.
    let crd = Crd::new(Kind::Pio, 0x70, 3, perm::PIO_A);
    let window = Crd::new(Kind::Pio, 0, 16, perm::PIO_A);
    let (got, meta) = pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, window)
        .map_err(|s| Fail::new(format_args!("status {}", s.name())))?;
    ensure_eq!(got, Crd::new(Kind::Pio, 0x70, 3, perm::PIO_A));
    ensure_eq!(meta, FROM_KERNEL & 0xfff);
    // Non-overlapping ranges transfer nothing.
    let far = Crd::new(Kind::Pio, 0x80, 3, perm::PIO_A);
    let (got, _) = pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, far)
        .map_err(|s| Fail::new(format_args!("status {}", s.name())))?;
    ensure_eq!(got, Crd::NULL);
    // The port now works: read the CMOS seconds register twice without faulting.
    facet_rt::io::outb(0x70, 0x00);
    let _ = facet_rt::io::inb(0x71);
    Ok(())
}

pub fn memory_from_kernel_maps_module(e: &Env) -> TestResult {
    let m = (0..e.hip().mem_count())
        .map(|i| e.hip().mem(i))
        .find(|m| m.mem_type == hip::MEM_MB_MODULE)
        .ok_or_else(|| Fail::new(format_args!("no module descriptor")))?;
    let target = MODULE_PAGE.window();
    let crd = Crd::new(Kind::Memory, m.addr >> 12, 0, perm::MEM_R);
    let window = Crd::new(
        Kind::Memory,
        target.page_number(),
        0,
        perm::MEM_R | perm::MEM_W,
    );
    let (got, _) = pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, crd, FROM_KERNEL, window)
        .map_err(|s| Fail::new(format_args!("status {}", s.name())))?;
    // Rights are the intersection: read only.
    ensure_eq!(
        got,
        Crd::new(Kind::Memory, target.page_number(), 0, perm::MEM_R)
    );
    let magic: u32 = target.read(0);
    ensure!(
        magic == 0x464c_457f,
        "module 0 starts with {:#x}, not the ELF magic",
        magic
    );
    Ok(())
}

pub fn bad_pd_selectors(_: &Env) -> TestResult {
    let crd = Crd::new(Kind::Pio, 0x70, 0, perm::PIO_A);
    for (src, dst) in [
        (0, ROOT_SEL_PD),
        (ROOT_SEL_PD, 0),
        (ROOT_SEL_EC, ROOT_SEL_PD),
        (ROOT_SEL_PD, 1 << 40),
    ] {
        let r = pd_ctrl_delegate(src, dst, crd, FROM_KERNEL, crd);
        ensure!(
            r == Err(Status::BadCap),
            "src {} dst {}: {:?}",
            src,
            dst,
            r.map(|x| x.0)
        );
    }
    Ok(())
}

pub fn mismatched_kinds_give_null(_: &Env) -> TestResult {
    let ports = Crd::new(Kind::Pio, 0x70, 0, perm::PIO_A);
    let mem = Crd::new(Kind::Memory, CMDLINE.window().page_number(), 0, perm::MEM_R);
    let (got, _) = pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, ports, FROM_KERNEL, mem)
        .map_err(|s| Fail::new(format_args!("status {}", s.name())))?;
    ensure_eq!(got, Crd::NULL);
    // No rights in common: nothing for ports.
    let none = Crd::new(Kind::Pio, 0x70, 0, 0);
    let (got, _) = pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, ports, FROM_KERNEL, none)
        .map_err(|s| Fail::new(format_args!("status {}", s.name())))?;
    ensure_eq!(got, Crd::NULL);
    Ok(())
}

/// Memory into the device (DMA) subspace only: the answer names the device-address range
/// with the rights asked for, and the host page table stays as it was (a lookup of the
/// host mapping at the same page number finds nothing new). No IOMMU reads the table yet.
pub fn memory_into_device_space(_: &Env) -> TestResult {
    use facet_abi::hypercall::delegate::{DEVICE, NOT_HOST};
    let rw = perm::MEM_R | perm::MEM_W;
    let ram = Crd::new(Kind::Memory, DEVICE_RAM.page(0), 2, rw);
    let dma = Crd::new(Kind::Memory, 0x5_0000, 2, rw);
    let (got, _) = pd_ctrl_delegate(
        ROOT_SEL_PD,
        ROOT_SEL_PD,
        ram,
        FROM_KERNEL | NOT_HOST | DEVICE,
        dma,
    )
    .map_err(|s| Fail::new(format_args!("device delegation: {}", s.name())))?;
    ensure_eq!(got, dma);
    // Taking it away again (no rights) answers the same range with no rights.
    let none = Crd::new(Kind::Memory, 0x5_0000, 2, 0);
    let (got, _) = pd_ctrl_delegate(
        ROOT_SEL_PD,
        ROOT_SEL_PD,
        ram,
        FROM_KERNEL | NOT_HOST | DEVICE,
        none,
    )
    .map_err(|s| Fail::new(format_args!("device unmap: {}", s.name())))?;
    ensure_eq!(got, none);
    Ok(())
}
