//! `machine_ctrl` update microcode: the reference's arguments (the update's size in
//! ARG1 bits 31:8, its physical address in ARG2) and its size limit (BAD_PAR above
//! 2 MiB). Facet copies the update into the kernel pool and checks the copy
//! (`facet_kcore::microcode`: header, sizes, checksums, and that it is for this CPU;
//! BAD_PAR otherwise, where the reference hands anything to the CPU), then loads it on
//! every online CPU and keeps it to load again after a resume. The answer says whether
//! the CPUs took it: SUCCESS when every CPU runs the update's revision (or a later one)
//! afterwards, ABORT when one refused it or ignored it (the reference answers SUCCESS
//! whatever the CPU did); OUT2 is the revision the calling CPU runs, either way.

use facet_abi::args::MicrocodeOut;
use facet_abi::status::Status;
use facet_kcore::microcode::{self, HEADER_LEN, MAX_LEN};

use super::HcResult;
use crate::arch::microcode as cpu;
use crate::exec::CurrentFrame;
use crate::mem::usage::Use;
use crate::mem::{direct_map::virt, frames, kspace};

// Out of line, as `suspend::suspend`.
#[inline(never)]
#[cold]
pub fn update(f: &mut CurrentFrame, size: u32, addr: u64) -> HcResult {
    if !(HEADER_LEN..=MAX_LEN).contains(&size) {
        return Err(Status::BadPar);
    }
    // Memory the kernel maps, none of it the kernel's own.
    let end = addr.checked_add(size as u64).ok_or(Status::BadPar)?;
    if !kspace::is_mapped(addr, end)
        || (addr & !0xfff..end)
            .step_by(4096)
            .any(crate::mem::is_kernel_frame)
    {
        return Err(Status::BadPar);
    }
    let pages = (size as u64).div_ceil(4096);
    let order = pages.next_power_of_two().trailing_zeros() as usize;
    let copy = frames::alloc_for(order, Use::Machine).ok_or(Status::Abort)?;
    // SAFETY: `addr..end` is direct-mapped memory (checked above) and `copy` is a fresh
    // allocation of at least `size` bytes, also direct-mapped; they cannot overlap, as
    // the source holds no kernel frame.
    unsafe {
        core::ptr::copy_nonoverlapping(
            virt(addr) as *const u8,
            virt(copy) as *mut u8,
            size as usize,
        )
    };
    // SAFETY: the copy is the kernel's alone until it is freed below or kept.
    let blob = unsafe { core::slice::from_raw_parts(virt(copy) as *const u8, size as usize) };
    let checked = microcode::check(blob)
        .ok()
        .filter(|u| u.matches(blob, cpu::signature(), cpu::platform()));
    let Some(update) = checked else {
        frames::free(copy, order, Use::Machine);
        return Err(Status::BadPar);
    };
    let data = virt(copy) + HEADER_LEN as u64;
    let here = cpu::load_here(data);
    let me = crate::arch::percpu::cpu_id() as u32;
    let lowest = crate::smp::cpus_in(crate::smp::others_online(me))
        .map(|c| crate::smp::call::on(c, load, data) as u32)
        .fold(here, u32::min);
    f.answer(&MicrocodeOut {
        revision: here as u64,
    });
    if lowest >= update.revision {
        cpu::keep(copy, order);
        Ok(())
    } else {
        frames::free(copy, order, Use::Machine);
        Err(Status::Abort)
    }
}

/// Loads the update whose data is at `data` on the executing CPU (another CPU's
/// request); its revision afterwards.
fn load(data: u64) -> u64 {
    cpu::load_here(data) as u64
}
