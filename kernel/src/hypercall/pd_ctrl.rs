//! `pd_ctrl`: protection-domain control.
//!
//! Built so far: `delegate` from the kernel (the hypervisor flag, privileged PDs only)
//! of memory into the host page table and of I/O ports into the I/O permission bitmap,
//! which is how the roottask obtains its resources. Delegation between PDs, lookup,
//! map_access_page and msr_access come with the capability model.

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::{arg1_flags, arg1_selector, delegate as dflag, pd_ctrl as op};
use facet_abi::layout::USER_ADDR;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_kcore::paging::{Attrs, PageSize, PageTable};
use facet_kcore::xfer::{clamp_fixed, clamp_hotspot};

use super::HcResult;
use crate::arch::regs::Frame;
use crate::mem::{frames::PoolFrames, kspace};
use crate::obj::pd::{self, RootCap};

/// Transfer kinds in the metadata word (bits 1:0).
const XFER_DELEGATE: u64 = 1;

pub fn pd_ctrl(f: &mut Frame) -> HcResult {
    match arg1_flags(f.rdi) & 3 {
        op::DELEGATE => delegate(f),
        _ => Err(Status::BadFtr),
    }
}

fn delegate(f: &mut Frame) -> HcResult {
    let (src, dst) = (arg1_selector(f.rdi), f.rsi);
    if pd::lookup(src) != Some(RootCap::Pd) || pd::lookup(dst) != Some(RootCap::Pd) {
        return Err(Status::BadCap);
    }
    let root = pd::root().ok_or(Status::BadCap)?;
    let (crd, meta, window) = (Crd(f.rdx), f.rax, Crd(f.r8));
    let result = if meta & 3 == XFER_DELEGATE && meta & dflag::HYPERVISOR != 0 && root.privileged {
        from_kernel(&root, crd, window, meta)
    } else {
        // Delegating a PD's capabilities to itself, or translating, changes nothing
        // until there are other PDs.
        Crd::NULL
    };
    f.rdx = result.0;
    f.rax = meta & 0xfff;
    Ok(())
}

fn from_kernel(root: &pd::Pd, crd: Crd, window: Crd, meta: u64) -> Crd {
    let a = crd.perms() & window.perms();
    if crd.kind() != window.kind() || (a == 0 && window.kind() != Kind::Memory) {
        return Crd::NULL;
    }
    match window.kind() {
        Kind::Memory => {
            let (sb, rb, o) = clamp_hotspot(
                crd.base(),
                window.base(),
                crd.order() as u32,
                window.order() as u32,
                meta >> 12,
            );
            if meta & dflag::NOT_HOST == 0 {
                map_memory(root, sb, rb, o, a);
            }
            Crd::new(Kind::Memory, rb, o as u8, a)
        }
        Kind::Pio => match clamp_fixed(
            crd.base(),
            window.base(),
            crd.order() as u32,
            window.order() as u32,
        ) {
            Some((base, o)) => {
                crate::arch::ports::allow(base, o, a & perm::PIO_A != 0);
                Crd::new(Kind::Pio, base, o as u8, a)
            }
            None => Crd::NULL,
        },
        _ => Crd::NULL,
    }
}

/// Maps `2^order` physical pages from page `sb` at user page `rb` (or unmaps them when
/// `a` is 0). Pages of the kernel image and pool, and user pages at or above
/// `USER_ADDR`, are skipped.
fn map_memory(root: &pd::Pd, sb: u64, rb: u64, order: u32, a: u8) {
    let pages = 1u64.checked_shl(order).unwrap_or(u64::MAX);
    let pt = PageTable { root: root.pml4 };
    let mut mem = kspace::phys();
    let mut frames = PoolFrames;
    let attrs = Attrs {
        write: a & perm::MEM_W != 0,
        execute: a & perm::MEM_X != 0,
        user: true,
        global: false,
        uncached: false,
    };
    let max_user_page = USER_ADDR >> 12;
    for i in 0..pages {
        let (Some(phys_page), Some(virt_page)) = (sb.checked_add(i), rb.checked_add(i)) else {
            break;
        };
        if virt_page >= max_user_page || phys_page >= 1 << 40 {
            break;
        }
        let phys = phys_page << 12;
        if crate::mem::is_kernel_frame(phys) {
            continue;
        }
        let target = (a != 0).then_some((phys, attrs));
        if pt
            .remap(
                &mut mem,
                &mut frames,
                virt_page << 12,
                target,
                PageSize::Size4K,
            )
            .is_err()
        {
            break;
        }
    }
    // Reloading CR3 drops every non-global (user) translation of this PD.
    // SAFETY: the root PD's table shares the kernel half, so the kernel stays mapped.
    unsafe { crate::arch::cpu::write_cr3(crate::arch::cpu::read_cr3()) };
}
