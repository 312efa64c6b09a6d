//! The local APIC: the timer that preempts scheduling contexts, end-of-interrupt, the
//! spurious vector and inter-processor interrupts.
//!
//! Where the CPU has x2APIC mode the kernel uses it (registers as MSRs 0x800 + offset/16,
//! 32-bit APIC ids, one 64-bit ICR write per IPI); firmware may have switched it on
//! already, and then the memory-mapped registers are gone. Otherwise the xAPIC page is
//! mapped uncached into the kernel's MMIO window.
//!
//! The timer ticks every [`TICK_US`] microseconds, calibrated against the PIT: in
//! TSC-deadline mode where the CPU has it (re-armed one period ahead at each tick),
//! periodic otherwise. Each tick charges the running scheduling context and ends its
//! quantum when it is used up. (Programming the timer for the next quantum end or
//! deadline instead of ticking is a later refinement.)

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::io::{inb, outb};
use super::msr;

/// Vector of the timer interrupt.
pub const VECTOR_TIMER: u8 = 0x20;
/// Vector of spurious interrupts.
pub const VECTOR_SPURIOUS: u8 = 0xff;
/// Timer period.
pub const TICK_US: u64 = 1000;

const REG_ID: u64 = 0x20;
const REG_EOI: u64 = 0xb0;
const REG_SVR: u64 = 0xf0;
const REG_TPR: u64 = 0x80;
const REG_LVT_TIMER: u64 = 0x320;
const REG_TIMER_INIT: u64 = 0x380;
const REG_TIMER_CURRENT: u64 = 0x390;
const REG_TIMER_DIVIDE: u64 = 0x3e0;

static BASE: AtomicU64 = AtomicU64::new(0);
/// Whether the local APICs run in x2APIC mode (all CPUs alike).
static X2APIC: AtomicBool = AtomicBool::new(false);
/// Whether the local APIC is usable at all.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// Whether the timer runs in TSC-deadline mode (re-armed at each tick), and the TSC
/// ticks of one period then.
static DEADLINE_MODE: AtomicBool = AtomicBool::new(false);
static TICK_TSC: AtomicU64 = AtomicU64::new(0);
const IA32_TSC_DEADLINE: u32 = 0x6e0;
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
static TIMER_COUNT: AtomicU64 = AtomicU64::new(0);
const REG_ICR_LOW: u64 = 0x300;
const REG_ICR_HIGH: u64 = 0x310;

fn read(reg: u64) -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: in x2APIC mode every register is the MSR 0x800 + offset / 16.
        return unsafe { msr::read(0x800 + (reg >> 4) as u32) } as u32;
    }
    // SAFETY: BASE is the uncached kernel mapping of this CPU's APIC page; `reg` is a
    // register offset inside it.
    unsafe { core::ptr::read_volatile((BASE.load(Ordering::Relaxed) + reg) as *const u32) }
}

fn write(reg: u64, v: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: as for `read`; the registers written here are all writable.
        unsafe { msr::write(0x800 + (reg >> 4) as u32, v as u64) };
        return;
    }
    // SAFETY: as for `read`.
    unsafe { core::ptr::write_volatile((BASE.load(Ordering::Relaxed) + reg) as *mut u32, v) }
}

/// Switches the executing CPU's local APIC into x2APIC mode (xAPIC first: the CPU does
/// not allow going straight from disabled to x2APIC).
fn enable_x2apic() {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; setting the enable and then the
    // x2APIC bit is the architectural way into x2APIC mode, which the CPU reported.
    unsafe {
        let base = msr::read(IA32_APIC_BASE);
        if base & APIC_BASE_X2APIC == 0 {
            msr::write(IA32_APIC_BASE, base | APIC_BASE_ENABLE);
            msr::write(IA32_APIC_BASE, base | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
        }
    }
}

/// Enables the local APIC (in x2APIC mode if `x2apic`, or if firmware chose it) and
/// starts the periodic timer. Returns the APIC timer ticks per timer period, or `None`
/// if the APIC cannot be used.
pub fn init(x2apic: bool, tsc_deadline: bool) -> Option<u32> {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU.
    let apic_base = unsafe { msr::read(IA32_APIC_BASE) };
    crate::mem::claim_mmio(apic_base & 0xf_ffff_f000, "local APIC");
    if x2apic || apic_base & APIC_BASE_X2APIC != 0 {
        enable_x2apic();
        X2APIC.store(true, Ordering::Relaxed);
    } else {
        let va = crate::mem::kspace::map_mmio(apic_base & 0xf_ffff_f000)?;
        BASE.store(va, Ordering::Relaxed);
    }
    ENABLED.store(true, Ordering::Relaxed);
    write(REG_TPR, 0);
    write(REG_SVR, 0x100 | VECTOR_SPURIOUS as u32);
    write(REG_TIMER_DIVIDE, 0b1011); // divide by 1
    let per_ms = calibrate()?;
    let count = (per_ms as u64 * TICK_US / 1000).clamp(1, u32::MAX as u64) as u32;
    TIMER_COUNT.store(count as u64, Ordering::Relaxed);
    let tsc_khz = frequencies().0;
    if tsc_deadline && tsc_khz != 0 {
        TICK_TSC.store(tsc_khz * TICK_US / 1000, Ordering::Relaxed);
        DEADLINE_MODE.store(true, Ordering::Relaxed);
    }
    start_timer(count);
    Some(count)
}

/// Whether the timer runs in TSC-deadline mode.
pub fn deadline_mode() -> bool {
    DEADLINE_MODE.load(Ordering::Relaxed)
}

fn start_timer(count: u32) {
    if DEADLINE_MODE.load(Ordering::Relaxed) {
        write(REG_LVT_TIMER, (0b10 << 17) | VECTOR_TIMER as u32);
        // The LVT write must be visible before the deadline is (xAPIC mode).
        // SAFETY: MFENCE only orders memory accesses.
        unsafe { core::arch::asm!("mfence", options(nostack, preserves_flags)) };
        rearm();
        return;
    }
    write(REG_TIMER_DIVIDE, 0b1011);
    write(REG_LVT_TIMER, (1 << 17) | VECTOR_TIMER as u32); // periodic
    write(REG_TIMER_INIT, count);
}

/// At each timer interrupt: in TSC-deadline mode the next tick is one period from now
/// (periodic mode re-arms itself).
pub fn rearm() {
    if !DEADLINE_MODE.load(Ordering::Relaxed) {
        return;
    }
    let next = crate::arch::cpu::tsc().wrapping_add(TICK_TSC.load(Ordering::Relaxed));
    // SAFETY: IA32_TSC_DEADLINE exists when CPUID reports TSC-deadline mode (checked at
    // `init`); writing it only arms this CPU's timer.
    unsafe { msr::write(IA32_TSC_DEADLINE, next) };
}

/// Stops this CPU's timer while it has nothing to run (an idle application processor:
/// the boot CPU's tick looks after every CPU's deadlines, and an idle CPU has no quantum
/// to charge). Under emulation every idle CPU's ticks cost the host time, which made
/// starting many CPUs ever slower.
pub fn pause_timer() {
    if TIMER_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    PAUSED.fetch_or(1 << (super::percpu::cpu_id() % 64), Ordering::Relaxed);
    if DEADLINE_MODE.load(Ordering::Relaxed) {
        // SAFETY: as in `rearm`; a deadline of 0 disarms the timer.
        unsafe { msr::write(IA32_TSC_DEADLINE, 0) };
    } else {
        write(REG_TIMER_INIT, 0);
    }
}

/// CPUs whose timer [`pause_timer`] stopped.
static PAUSED: AtomicU64 = AtomicU64::new(0);

/// Brings the executing CPU's local APIC back after a resume from S3, which reset it:
/// mode, spurious vector, priority, and the timer as it was (running or paused).
pub fn resume_here() {
    let paused = PAUSED.load(Ordering::Relaxed) & (1 << (super::percpu::cpu_id() % 64)) != 0;
    init_ap();
    if paused {
        pause_timer();
    }
}

/// Starts this CPU's timer again after [`pause_timer`].
pub fn resume_timer() {
    let count = TIMER_COUNT.load(Ordering::Relaxed) as u32;
    if count == 0 {
        return;
    }
    PAUSED.fetch_and(!(1 << (super::percpu::cpu_id() % 64)), Ordering::Relaxed);
    if DEADLINE_MODE.load(Ordering::Relaxed) {
        rearm();
    } else {
        write(REG_TIMER_INIT, count);
    }
}

/// Enables the local APIC of an application processor (same mapping, same timer
/// period as the bootstrap CPU's).
pub fn init_ap() {
    if X2APIC.load(Ordering::Relaxed) {
        enable_x2apic();
    }
    write(REG_TPR, 0);
    write(REG_SVR, 0x100 | VECTOR_SPURIOUS as u32);
    let count = TIMER_COUNT.load(Ordering::Relaxed) as u32;
    if count != 0 {
        start_timer(count);
    }
}

/// Sends an inter-processor interrupt: `command` is the ICR's low word.
pub fn send_ipi(apic_id: u32, command: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // One write with the 32-bit destination; there is no delivery status to wait for.
        // SAFETY: the ICR MSR exists in x2APIC mode; the command is the caller's.
        unsafe { msr::write(0x830, (apic_id as u64) << 32 | command as u64) };
        return;
    }
    write(REG_ICR_HIGH, apic_id << 24);
    write(REG_ICR_LOW, command);
    for _ in 0..1_000_000 {
        if read(REG_ICR_LOW) & (1 << 12) == 0 {
            break;
        }
        core::hint::spin_loop();
    }
}

/// Busy-waits `us` microseconds (at most 50 ms) on the PIT's channel 2, gated through
/// port 0x61. Returns `false` if the PIT never counted down.
pub fn pit_wait_us(us: u64) -> bool {
    const PIT_HZ: u64 = 1_193_182;
    let count = (PIT_HZ * us.min(50_000) / 1_000_000).max(1) as u16;
    let gate = inb(0x61);
    outb(0x61, (gate & !0x02) | 0x01); // gate on, speaker off
    outb(0x43, 0b1011_0000); // channel 2, lobyte/hibyte, mode 0
    outb(0x42, count as u8);
    outb(0x42, (count >> 8) as u8);
    let mut spins = 0u64;
    let done = loop {
        if inb(0x61) & 0x20 != 0 {
            break true;
        }
        spins += 1;
        if spins > 100_000_000 {
            break false;
        }
    };
    outb(0x61, gate);
    done
}

/// TSC and APIC-timer (bus) frequencies in kHz, measured against the PIT.
static FREQ_TSC_KHZ: AtomicU64 = AtomicU64::new(0);
static FREQ_BUS_KHZ: AtomicU64 = AtomicU64::new(0);

/// (TSC, bus) frequency in kHz, 0 if not measured.
pub fn frequencies() -> (u64, u64) {
    (
        FREQ_TSC_KHZ.load(Ordering::Relaxed),
        FREQ_BUS_KHZ.load(Ordering::Relaxed),
    )
}

/// APIC timer ticks in 10 ms of the PIT, per ms; also measures the TSC over the same
/// interval.
fn calibrate() -> Option<u32> {
    write(REG_LVT_TIMER, 1 << 16); // masked, one-shot
    write(REG_TIMER_INIT, u32::MAX);
    let t0 = crate::arch::cpu::tsc();
    let ok = pit_wait_us(10_000);
    let t1 = crate::arch::cpu::tsc();
    let elapsed = u32::MAX - read(REG_TIMER_CURRENT);
    write(REG_TIMER_INIT, 0);
    if ok {
        FREQ_TSC_KHZ.store(t1.wrapping_sub(t0) / 10, Ordering::Relaxed);
        FREQ_BUS_KHZ.store(elapsed as u64 / 10, Ordering::Relaxed);
    }
    (ok && elapsed >= 10).then_some(elapsed / 10)
}

/// Acknowledges the interrupt being handled.
pub fn eoi() {
    if ENABLED.load(Ordering::Relaxed) {
        write(REG_EOI, 0);
    }
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        read(REG_ID)
    } else {
        read(REG_ID) >> 24
    }
}

/// Whether the local APICs run in x2APIC mode.
pub fn x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}
