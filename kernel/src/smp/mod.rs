//! Multiprocessor start-up: the bootstrap CPU wakes every application processor with
//! INIT and start-up IPIs; each one enters the kernel where `start` is told (`ap_entry`
//! in `main.rs`), sets up its descriptor tables, system-call entry, control registers
//! and local APIC, reports in, and waits in the idle loop.
//!
//! Every online CPU runs the Ecs bound to it from its own run queue; they take turns in
//! the kernel under the big kernel lock (`bkl`), wake each other with the reschedule
//! IPI and keep their TLBs in step with the shootdown IPI.

pub mod bkl;
pub mod call;
pub mod shootdown;
pub mod sleep;
mod trampoline;

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use facet_kcore::paging::{Attrs, PageSize, PageTable};

use crate::arch::{cpu::Features, lapic};
use crate::mem::direct_map::virt;
use crate::mem::{frames, kspace};
use trampoline::{PARAM_CPU, PARAM_CR3, PARAM_ENTRY, PARAM_STACK};

/// Bit n set: CPU n is online.
static ONLINE: AtomicU64 = AtomicU64::new(1);
/// Local APIC id of each CPU, by CPU number.
static APIC_IDS: [AtomicU32; 64] = [const { AtomicU32::new(0) }; 64];
static FEATURES: crate::sync::SpinLock<Option<(Features, bool)>> = crate::sync::SpinLock::new(None);
/// The physical page below 1 MiB that holds the start-up code (0: none).
static TRAMPOLINE: AtomicU64 = AtomicU64::new(0);

/// Whether CPU `cpu` is online.
pub fn online(cpu: u32) -> bool {
    cpu < 64 && ONLINE.load(Ordering::Acquire) & (1 << cpu) != 0
}

/// The online CPUs, one bit per CPU number.
pub fn all_online() -> u64 {
    ONLINE.load(Ordering::Acquire)
}

/// The online CPUs other than `me`, one bit per CPU number.
pub fn others_online(me: u32) -> u64 {
    ONLINE.load(Ordering::Acquire) & !(1u64.checked_shl(me).unwrap_or(0))
}

/// The CPU numbers of the bits set in `mask`, lowest first.
pub fn cpus_in(mut mask: u64) -> impl Iterator<Item = u32> + Clone {
    core::iter::from_fn(move || {
        (mask != 0).then(|| {
            let c = mask.trailing_zeros();
            mask &= mask - 1;
            c
        })
    })
}

/// Number of online CPUs.
pub fn count() -> u32 {
    ONLINE.load(Ordering::Acquire).count_ones()
}

/// CPU `cpu`, started by [`start`], is online: from here on it runs the Ecs bound to it.
pub fn set_online(cpu: u32) {
    ONLINE.fetch_or(1 << cpu, Ordering::AcqRel);
}

/// The CPU features and whether to use PCIDs, as [`start`] was given them for the
/// application processors.
pub fn ap_features() -> Option<(Features, bool)> {
    *FEATURES.lock()
}

/// The interrupt vector that makes a CPU look at its run queue (and at a recall of the
/// Ec it runs).
pub const VECTOR_RESCHEDULE: u8 = 0xf0;

/// Sends the fixed-delivery interrupt `vector` to CPU `cpu`.
pub fn send_ipi(cpu: u32, vector: u8) {
    lapic::send_ipi(apic_id(cpu), vector as u32);
}

/// Makes CPU `cpu` look at its run queue, unless it is the executing one.
pub fn reschedule(cpu: u32) {
    if cpu as u64 != crate::arch::percpu::cpu_id() && online(cpu) {
        send_ipi(cpu, VECTOR_RESCHEDULE);
    }
}

/// The local APIC id of CPU `cpu`.
pub fn apic_id(cpu: u32) -> u32 {
    APIC_IDS
        .get(cpu as usize)
        .map_or(0, |a| a.load(Ordering::Relaxed))
}

/// Starts the application processors whose APIC ids are listed (the bootstrap CPU's own
/// id is skipped), stopping at the first id where no CPU answers; each enters the kernel
/// at `entry` with its CPU number, on its own stack. The start-up code goes to `page`,
/// a usable page below 1 MiB (without one, only the bootstrap CPU runs). Returns how
/// many came online.
#[link_section = ".init.text"]
pub fn start(
    apic_ids: &[u32],
    page: Option<u64>,
    features: &Features,
    use_pcid: bool,
    entry: extern "C" fn(u32) -> !,
) -> u32 {
    *FEATURES.lock() = Some((*features, use_pcid));
    let bsp = lapic::id();
    APIC_IDS[0].store(bsp, Ordering::Relaxed);
    let Some(page) = page.filter(|&p| p != 0 && p < 1 << 20 && p & 0xfff == 0) else {
        if apic_ids.iter().any(|&id| id != bsp) {
            crate::println!(
                "smp: the memory map has no usable page below 1 MiB for the start-up code; only the boot CPU runs"
            );
        }
        return 0;
    };
    if !install_trampoline(page) {
        return 0;
    }
    write_param(PARAM_ENTRY, entry as *const () as u64);

    let mut started = 0;
    let mut cpu = 1u32;
    for &id in apic_ids.iter().filter(|&&id| id != bsp) {
        if cpu >= 64 {
            break;
        }
        let Some(stacks) = kspace::map_cpu_stacks(cpu as u64) else {
            break;
        };
        APIC_IDS[cpu as usize].store(id, Ordering::Relaxed);
        if wake(cpu, id, stacks.kernel, || online(cpu)) {
            started += 1;
            cpu += 1;
        } else {
            crate::println!("smp: no CPU answered at APIC id {id}");
            break;
        }
    }
    started
}

/// Copies the start-up code to `page` and gives it a page table; remembers the page.
/// Boot only (a resume finds the page in place).
#[link_section = ".init.text"]
fn install_trampoline(page: u64) -> bool {
    let code = trampoline::code();
    if code.len() as u64 > PARAM_CR3 {
        crate::println!("smp: trampoline too large");
        return false;
    }
    crate::mem::claim_mmio(page, "start-up");
    TRAMPOLINE.store(page, Ordering::Relaxed);
    crate::println!("smp: start-up code at {page:#x}");
    // SAFETY: the page is usable RAM below 1 MiB that the memory plan keeps from the
    // allocator and from user space (and that holds no boot information); it is written
    // only here, by this CPU, while no AP runs it.
    unsafe { core::ptr::copy_nonoverlapping(code.as_ptr(), virt(page) as *mut u8, code.len()) };
    let Some(cr3) = trampoline_table(page) else {
        crate::println!("smp: no page table for the start-up code");
        return false;
    };
    write_param(PARAM_CR3, cr3);
    true
}

/// The page holding the start-up code (0: none).
pub fn trampoline_page() -> u64 {
    TRAMPOLINE.load(Ordering::Relaxed)
}

/// Starts CPU `cpu` again after S3 (`sleep`), on `stack`, and waits up to a second for
/// its bit in `back`.
fn restart(cpu: u32, stack: u64, back: &AtomicU64) -> bool {
    wake(cpu, apic_id(cpu), stack, || {
        back.load(Ordering::Acquire) & (1 << cpu) != 0
    })
}

/// Starts CPU `cpu` (APIC id `id`) through the start-up code on the stack `stack` and
/// waits up to a second for it to come online.
fn wake(cpu: u32, id: u32, stack: u64, up: impl Fn() -> bool) -> bool {
    let page = TRAMPOLINE.load(Ordering::Relaxed);
    write_param(PARAM_STACK, stack);
    write_param(PARAM_CPU, cpu as u64);
    lapic::send_ipi(id, 0x4500); // INIT
    lapic::pit_wait_us(10_000);
    for _ in 0..2 {
        lapic::send_ipi(id, 0x4600 | (page >> 12) as u32); // start-up
        lapic::pit_wait_us(200);
    }
    // Up to a second, watched on the TSC (calibrated by now): the next CPU is started
    // as soon as this one has reported in.
    let khz = lapic::frequencies().0;
    if khz == 0 {
        for _ in 0..100 {
            if up() {
                return true;
            }
            lapic::pit_wait_us(10_000);
        }
        return false;
    }
    let end = crate::arch::cpu::tsc() + khz * 1000;
    while crate::arch::cpu::tsc() < end {
        if up() {
            return true;
        }
        core::hint::spin_loop();
    }
    up()
}

fn write_param(off: u64, v: u64) {
    let page = TRAMPOLINE.load(Ordering::Relaxed);
    if page == 0 {
        return;
    }
    // SAFETY: the parameter block lies in the trampoline page (see `install_trampoline`).
    unsafe { core::ptr::write_volatile(virt(page + off) as *mut u64, v) }
}

/// A page table with the trampoline page identity-mapped (read+execute) and the kernel
/// half shared. Its PML4 is in the pool, below 4 GiB, as the 32-bit code needs.
#[link_section = ".init.text"]
fn trampoline_table(page: u64) -> Option<u64> {
    let mut mem = kspace::phys();
    let mut fs = frames::PoolFrames::new(crate::mem::usage::Use::Boot);
    let kernel = kspace::kernel_root()?;
    let pt = PageTable::new(&mut fs)?;
    pt.share_top_level(&mut mem, &kernel, 256, 511);
    let rx = Attrs {
        write: false,
        execute: true,
        user: false,
        global: false,
        uncached: false,
    };
    pt.map(&mut mem, &mut fs, page, page, PageSize::Size4K, rx)
        .ok()?;
    (pt.root < 1 << 32).then_some(pt.root)
}
