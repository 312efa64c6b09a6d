//! The local APIC: the timer that preempts scheduling contexts, end-of-interrupt, the
//! spurious vector and inter-processor interrupts.
//!
//! Where the CPU has x2APIC mode the kernel uses it (registers as MSRs 0x800 + offset/16,
//! 32-bit APIC ids, one 64-bit ICR write per IPI); firmware may have switched it on
//! already, and then the memory-mapped registers are gone. Otherwise the xAPIC page is
//! mapped uncached into the kernel's MMIO window.
//!
//! The timer is one-shot: `exec::timer` arms it for the earliest of the running
//! scheduling context's quantum end and the CPU's next semaphore deadline (an idle CPU
//! with nothing timed leaves it disarmed), in TSC-deadline mode where the CPU has it and
//! as a one-shot count of the bus clock (calibrated against the PIT) otherwise.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::io::{inb, outb};
use super::msr;
use facet_abi::config::NUM_CPU;

/// Vector of the timer interrupt.
pub const VECTOR_TIMER: u8 = 0x20;
/// Vector of spurious interrupts.
pub const VECTOR_SPURIOUS: u8 = 0xff;

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
/// Whether the timer runs in TSC-deadline mode.
static DEADLINE_MODE: AtomicBool = AtomicBool::new(false);
/// Whether the timer was calibrated (without it, nothing preempts).
static TIMER_USABLE: AtomicBool = AtomicBool::new(false);
const IA32_TSC_DEADLINE: u32 = 0x6e0;
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
/// Each CPU's armed deadline (a TSC value; 0: disarmed), so that arming it again for the
/// same time writes nothing.
static ARMED: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];
/// Timer interrupts each CPU took since boot (Facet's statistics, `machine_ctrl`).
static FIRED: [AtomicU64; NUM_CPU] = [const { AtomicU64::new(0) }; NUM_CPU];
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
/// sets its timer up one-shot, disarmed. Returns the APIC timer's ticks per millisecond,
/// or `None` if the APIC cannot be used.
#[link_section = ".init.text"]
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
    DEADLINE_MODE.store(tsc_deadline, Ordering::Relaxed);
    TIMER_USABLE.store(frequencies().0 != 0, Ordering::Relaxed);
    set_up_timer();
    Some(per_ms)
}

/// Whether the timer runs in TSC-deadline mode.
pub fn deadline_mode() -> bool {
    DEADLINE_MODE.load(Ordering::Relaxed)
}

/// Programs the executing CPU's timer mode (disarmed).
fn set_up_timer() {
    if !TIMER_USABLE.load(Ordering::Relaxed) {
        return;
    }
    ARMED[cpu()].store(0, Ordering::Relaxed);
    if DEADLINE_MODE.load(Ordering::Relaxed) {
        write(REG_LVT_TIMER, (0b10 << 17) | VECTOR_TIMER as u32);
        // The LVT write must be visible before a deadline is (xAPIC mode).
        // SAFETY: MFENCE only orders memory accesses.
        unsafe { core::arch::asm!("mfence", options(nostack, preserves_flags)) };
        return;
    }
    write(REG_TIMER_DIVIDE, 0b1011);
    write(REG_LVT_TIMER, VECTOR_TIMER as u32); // one-shot
    write(REG_TIMER_INIT, 0);
}

fn cpu() -> usize {
    super::percpu::cpu_id() as usize % NUM_CPU
}

/// Arms the executing CPU's timer to interrupt once the TSC reaches `deadline` (at once
/// if it has), or disarms it (`deadline` 0). Writes nothing if it is armed so already.
pub fn arm(deadline: u64) {
    if !TIMER_USABLE.load(Ordering::Relaxed) {
        return;
    }
    let armed = &ARMED[cpu()];
    if armed.load(Ordering::Relaxed) == deadline {
        return;
    }
    armed.store(deadline, Ordering::Relaxed);
    if DEADLINE_MODE.load(Ordering::Relaxed) {
        // SAFETY: IA32_TSC_DEADLINE exists when CPUID reports TSC-deadline mode (checked
        // at boot); writing it only arms this CPU's timer (0 disarms it, a past value
        // fires at once).
        unsafe { msr::write(IA32_TSC_DEADLINE, deadline) };
        return;
    }
    let count = match deadline {
        0 => 0,
        d => facet_kcore::timer::one_shot_count(d.saturating_sub(super::cpu::tsc()), frequencies()),
    };
    write(REG_TIMER_INIT, count);
}

/// Arms the executing CPU's timer for `deadline` unless it is armed for an earlier
/// time already.
pub fn arm_by(deadline: u64) {
    let armed = armed();
    if armed == 0 || deadline < armed {
        arm(deadline);
    }
}

/// The deadline the executing CPU's timer is armed for (0: none).
pub fn armed() -> u64 {
    ARMED[cpu()].load(Ordering::Relaxed)
}

/// A timer interrupt on the executing CPU: counted, and the timer is disarmed (it fired;
/// a one-shot timer needs no write for that).
pub fn fired() {
    let c = cpu();
    FIRED[c].fetch_add(1, Ordering::Relaxed);
    ARMED[c].store(0, Ordering::Relaxed);
}

/// The timer interrupts CPU `cpu` took since boot.
pub fn fired_on(cpu: usize) -> u64 {
    FIRED.get(cpu).map_or(0, |f| f.load(Ordering::Relaxed))
}

/// Brings the executing CPU's local APIC back after a resume from S3, which reset it:
/// mode, spurious vector, priority and the timer's mode, disarmed (the scheduler arms it
/// again before the CPU leaves the kernel).
pub fn resume_here() {
    init_ap();
}

/// Enables the local APIC of an application processor (same mapping and timer mode as
/// the bootstrap CPU's; the timer disarmed).
pub fn init_ap() {
    if X2APIC.load(Ordering::Relaxed) {
        enable_x2apic();
    }
    write(REG_TPR, 0);
    write(REG_SVR, 0x100 | VECTOR_SPURIOUS as u32);
    set_up_timer();
}

/// Sends an inter-processor interrupt: `command` is the ICR's low word. Out of line:
/// beside what an IPI costs the call is nothing, and each of the callers it was inlined
/// into carried both APIC modes (about 180 bytes a time).
#[inline(never)]
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
///
/// Three measurements, of which the one with the fewest TSC ticks counts: a CPU held up
/// between starting its clocks and starting the PIT (an emulator's thread the host did
/// not run, an SMI) counts time the PIT does not, so a measurement can only come out too
/// high, never too low. Seen under emulators on a busy host: a single measurement gave
/// 20 GHz.
fn calibrate() -> Option<u32> {
    write(REG_LVT_TIMER, 1 << 16); // masked, one-shot
    let mut best: Option<(u64, u32)> = None;
    for _ in 0..CALIBRATIONS {
        write(REG_TIMER_INIT, u32::MAX);
        let t0 = crate::arch::cpu::tsc();
        let ok = pit_wait_us(10_000);
        let t1 = crate::arch::cpu::tsc();
        let elapsed = u32::MAX - read(REG_TIMER_CURRENT);
        if !ok {
            break;
        }
        let ticks = t1.wrapping_sub(t0);
        if best.is_none_or(|(fewest, _)| ticks < fewest) {
            best = Some((ticks, elapsed));
        }
    }
    write(REG_TIMER_INIT, 0);
    let (ticks, elapsed) = best?;
    FREQ_TSC_KHZ.store(ticks / 10, Ordering::Relaxed);
    FREQ_BUS_KHZ.store(elapsed as u64 / 10, Ordering::Relaxed);
    (elapsed >= 10).then_some(elapsed / 10)
}

/// How often [`calibrate`] measures.
const CALIBRATIONS: usize = 3;

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
