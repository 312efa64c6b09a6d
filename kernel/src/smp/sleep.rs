//! Suspend to RAM (ACPI S3) and the way back.
//!
//! The CPU that suspends (holding the kernel lock) parks every other online CPU: each is
//! asked through `call::post`, from its IPI handler or its wait for the kernel lock,
//! saves what the CPU itself forgets in S3 (its user FPU state, CR3, the FS and GS
//! bases, a loaded VMCS through the hook `main` registers)
//! and its kernel context (callee-saved registers, stack pointer, return address: a
//! `setjmp`), reports parked and spins. The suspending CPU does the same for itself,
//! points the FACS waking vector at the start-up page and enters S3 through the PM1
//! control registers. Memory keeps everything else: the kernel has no per-thread kernel
//! stacks, and every Ec's state is in its object.
//!
//! On wake-up the firmware starts the boot CPU at the start-up page in real mode; the
//! trampoline brings it to long mode on the resume stack and into the entry `main`
//! registered (`boot::resume`), which sets up the CPU again, restores what the whole
//! machine lost (the legacy PICs, the I/O APICs, the FACS), starts every other CPU the
//! same way, one at a time, and finally jumps back into its own saved context (a
//! `longjmp`). Every CPU thereby returns from where it was parked, as if the IPI had
//! taken a moment: the interrupted user code, guest or idle loop goes on. The CPU that
//! suspended returns from its hypercall, once all are back.
//!
//! Nothing is saved or restored while any other CPU runs kernel code: they are parked
//! with interrupts off, and the suspending CPU holds the kernel lock throughout.

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use facet_abi::config::NUM_CPU;

use crate::arch::{cpu, fpu::FpuArea, lapic, msr, percpu::cpu_id};
use crate::mem::usage::Use;
use crate::mem::{direct_map::virt, frames};

/// A CPU's kernel context at the moment it saved it (`facet_save_context`).
#[repr(C)]
struct Context {
    rbx: u64,
    rbp: u64,
    r12: u64,
    r13: u64,
    r14: u64,
    r15: u64,
    rsp: u64,
    rip: u64,
}

/// What a CPU saves before S3.
#[repr(C)]
struct Saved {
    context: Context,
    cr3: u64,
    fs_base: u64,
    gs_base: u64,
    kernel_gs_base: u64,
    /// The frame holding its XSAVE image (0: none).
    fpu: u64,
}

struct PerCpu([UnsafeCell<Saved>; NUM_CPU]);

// SAFETY: each CPU writes and reads only its own slot, and the resume path reads a slot
// only for the CPU it restores, which is not running then.
unsafe impl Sync for PerCpu {}

static SAVED: PerCpu = PerCpu(
    [const {
        UnsafeCell::new(Saved {
            context: Context {
                rbx: 0,
                rbp: 0,
                r12: 0,
                r13: 0,
                r14: 0,
                r15: 0,
                rsp: 0,
                rip: 0,
            },
            cr3: 0,
            fs_base: 0,
            gs_base: 0,
            kernel_gs_base: 0,
            fpu: 0,
        })
    }; NUM_CPU],
);

global_asm!(
    r#"
    .global facet_save_context
facet_save_context:
    mov [rdi], rbx
    mov [rdi + 8], rbp
    mov [rdi + 16], r12
    mov [rdi + 24], r13
    mov [rdi + 32], r14
    mov [rdi + 40], r15
    lea rax, [rsp + 8]
    mov [rdi + 48], rax
    mov rax, [rsp]
    mov [rdi + 56], rax
    xor eax, eax
    ret

    .global facet_restore_context
facet_restore_context:
    mov rbx, [rdi]
    mov rbp, [rdi + 8]
    mov r12, [rdi + 16]
    mov r13, [rdi + 24]
    mov r14, [rdi + 32]
    mov r15, [rdi + 40]
    mov rsp, [rdi + 48]
    mov eax, 1
    jmp qword ptr [rdi + 56]
"#
);

extern "C" {
    /// Saves the callee-saved registers, the stack pointer and the return address;
    /// returns 0, and returns again with 1 when `facet_restore_context` is given them.
    fn facet_save_context(ctx: *mut Context) -> u64;
    /// Continues the context saved in `ctx` (its `facet_save_context` returns 1).
    fn facet_restore_context(ctx: *const Context) -> !;
}

/// Suspends completed (resumed from S3).
static COUNT: AtomicU64 = AtomicU64::new(0);

/// How many times the machine has been suspended and resumed.
pub fn count() -> u64 {
    COUNT.load(Ordering::Acquire)
}

/// A suspend is under way (the reference's `in_progress`).
static IN_PROGRESS: AtomicBool = AtomicBool::new(false);
/// CPUs parked, and CPUs back from S3.
static PARKED: AtomicU64 = AtomicU64::new(0);
static RESUMED: AtomicU64 = AtomicU64::new(0);
/// The machine did not sleep: parked CPUs go on.
static RELEASE: AtomicBool = AtomicBool::new(false);
/// The TSC when the machine went to sleep.
static SUSPEND_TSC: AtomicU64 = AtomicU64::new(0);
/// What to add to a TSC that S3 reset (0: it kept counting).
static TSC_DELTA: AtomicU64 = AtomicU64::new(0);
/// Where the boot CPU and the others enter after S3, and what a CPU does about its
/// vCPU state before it sleeps (registered by `main`).
static ENTRY_BSP: AtomicUsize = AtomicUsize::new(0);
static ENTRY_AP: AtomicUsize = AtomicUsize::new(0);
static BEFORE_SLEEP: AtomicUsize = AtomicUsize::new(0);

/// The stacks the trampoline gives waking CPUs until they jump back to their own: the
/// boot CPU's (the upper half) and the others' (the lower half), which they use one at
/// a time: the boot CPU starts the next only when the last is off it.
#[repr(C, align(16))]
struct ResumeStacks(UnsafeCell<[u8; 2 * RESUME_STACK]>);
const RESUME_STACK: usize = 16384;
// SAFETY: each half is used by one waking CPU at a time (above); Rust never reads or
// writes them.
unsafe impl Sync for ResumeStacks {}
static RESUME_STACKS: ResumeStacks = ResumeStacks(UnsafeCell::new([0; 2 * RESUME_STACK]));

fn resume_stack_top(boot_cpu: bool) -> u64 {
    let base = RESUME_STACKS.0.get() as u64;
    base + RESUME_STACK as u64 * if boot_cpu { 2 } else { 1 }
}

/// Registers the entries of waking CPUs (`boot::resume`) and the per-CPU hook run
/// before a CPU sleeps (it clears a loaded VMCS).
pub fn set_entries(bsp: extern "C" fn(u32) -> !, ap: extern "C" fn(u32) -> !, before: fn()) {
    ENTRY_BSP.store(bsp as usize, Ordering::Relaxed);
    ENTRY_AP.store(ap as usize, Ordering::Relaxed);
    BEFORE_SLEEP.store(before as usize, Ordering::Relaxed);
}

/// Why a suspend did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepError {
    /// No FACS, PM1 registers the kernel cannot reach, no start-up page, no entries.
    Unsupported,
    /// Another suspend is under way.
    Busy,
    /// No pool memory for the FPU images.
    NoMemory,
    /// A CPU did not park within five seconds.
    NotParked,
    /// The PM1 write neither turned the machine off nor woke it (S1).
    DidNotSleep,
}

fn slot(cpu: u32) -> *mut Saved {
    SAVED.0[cpu as usize % NUM_CPU].get()
}

/// Saves what the executing CPU loses in S3, except its kernel context.
fn save_here(me: u32) {
    // SAFETY: this CPU's own slot (see `PerCpu`).
    let s = unsafe { &mut *slot(me) };
    s.cr3 = cpu::read_cr3();
    s.fs_base = cpu::user_fs_base();
    s.gs_base = msr::read_checked(msr::IA32_GS_BASE).unwrap_or(0);
    s.kernel_gs_base = msr::read_checked(msr::IA32_KERNEL_GS_BASE).unwrap_or(0);
    if s.fpu != 0 {
        // SAFETY: the frame was allocated for this CPU's image by `suspend` (page
        // aligned, larger than an FpuArea) and nothing else uses it.
        crate::arch::fpu::save(unsafe { &mut *(virt(s.fpu) as *mut FpuArea) });
    }
    let hook = BEFORE_SLEEP.load(Ordering::Relaxed);
    if hook != 0 {
        // SAFETY: only `set_entries` stores here, a `fn()`.
        let f: fn() = unsafe { core::mem::transmute::<usize, fn()>(hook) };
        f();
    }
}

/// Parks the executing CPU (asked by the suspending one through `call::post`): saves its
/// state and context and waits. Returns when the machine did not sleep, or, after S3,
/// when the resume path jumped back here.
fn park(_: u64) -> u64 {
    let me = cpu_id() as u32;
    save_here(me);
    wait_here(me, || {
        while !RELEASE.load(Ordering::Acquire) {
            core::hint::spin_loop();
        }
    });
    0
}

/// Saves the executing CPU's context, reports it parked and runs `wait`; returns true if
/// it came back through S3 (the resume path restored the context), false if `wait`
/// returned.
#[inline(never)]
fn wait_here(me: u32, wait: impl FnOnce()) -> bool {
    // SAFETY: the slot is this CPU's; the context is restored only by the resume path,
    // on this CPU, while this function's frame is still on its stack (the CPU never
    // leaves `wait` except by losing power or by `wait` returning).
    if unsafe { facet_save_context(&mut (*slot(me)).context) } == 0 {
        PARKED.fetch_or(1 << me, Ordering::AcqRel);
        wait();
        PARKED.fetch_and(!(1 << me), Ordering::AcqRel);
        return false;
    }
    RESUMED.fetch_or(1 << me, Ordering::AcqRel);
    true
}

/// Spins until every CPU in `mask` has its bit in `bits`, for up to five seconds.
fn wait_for(bits: &AtomicU64, mask: u64) -> bool {
    let khz = lapic::frequencies().0.max(1);
    let end = cpu::tsc() + khz * 5000;
    while bits.load(Ordering::Acquire) & mask != mask {
        if cpu::tsc() > end {
            return false;
        }
        // The parked CPUs answer nothing; the others may want this one's help.
        super::shootdown::answer();
        core::hint::spin_loop();
    }
    true
}

/// Suspends the machine to S3 with the sleep types SLP_TYPa/SLP_TYPb (checked by the
/// caller), and returns once it has woken and every CPU is back. The caller holds the
/// kernel lock and runs with interrupts off.
pub fn suspend(slp_typa: u8, slp_typb: u8) -> Result<(), SleepError> {
    let page = super::trampoline_page();
    if !crate::acpi::can_sleep() || page == 0 || ENTRY_BSP.load(Ordering::Relaxed) == 0 {
        return Err(SleepError::Unsupported);
    }
    if IN_PROGRESS.swap(true, Ordering::AcqRel) {
        return Err(SleepError::Busy);
    }
    let result = suspend_with(slp_typa, slp_typb, page);
    for c in 0..NUM_CPU as u32 {
        // SAFETY: no CPU sleeps any more; the slots' frames are freed once.
        let s = unsafe { &mut *slot(c) };
        if s.fpu != 0 {
            frames::free(s.fpu, 0, Use::Machine);
            s.fpu = 0;
        }
    }
    PARKED.store(0, Ordering::Release);
    RESUMED.store(0, Ordering::Release);
    IN_PROGRESS.store(false, Ordering::Release);
    result
}

fn suspend_with(slp_typa: u8, slp_typb: u8, page: u64) -> Result<(), SleepError> {
    let me = cpu_id() as u32;
    let all = super::all_online();
    for c in super::cpus_in(all) {
        // Zeroed: XSAVE leaves most of the area's header alone, and XRSTOR refuses a
        // header with stray bits.
        let f = frames::alloc_zeroed(0, Use::Machine).ok_or(SleepError::NoMemory)?;
        // SAFETY: the CPUs are not parked yet; nobody reads the slot before they are.
        unsafe { (*slot(c)).fpu = f };
    }
    let others = super::others_online(me);
    RELEASE.store(false, Ordering::Release);
    RESUMED.store(0, Ordering::Release);
    crate::println!(
        "acpi: entering S3 (SLP_TYPa {slp_typa}, SLP_TYPb {slp_typb}), waking at {page:#x}"
    );
    for c in super::cpus_in(others) {
        super::call::post(c, park, 0);
    }
    if !wait_for(&PARKED, others) {
        RELEASE.store(true, Ordering::Release);
        wait_gone(others);
        return Err(SleepError::NotParked);
    }
    save_here(me);
    crate::arch::ioapic::save_all();
    // Where the boot CPU starts when the machine wakes.
    super::write_param(
        super::trampoline::PARAM_ENTRY,
        ENTRY_BSP.load(Ordering::Relaxed) as u64,
    );
    super::write_param(super::trampoline::PARAM_STACK, resume_stack_top(true));
    super::write_param(super::trampoline::PARAM_CPU, 0);
    crate::acpi::set_waking_vector(page);
    TSC_DELTA.store(0, Ordering::Release);
    SUSPEND_TSC.store(cpu::tsc(), Ordering::Release);
    let khz = lapic::frequencies().0;
    let mut woke = false;
    let resumed = wait_here(me, || {
        // SAFETY: WBINVD writes the caches back, as ACPI requires before S3; nothing
        // else runs.
        unsafe { core::arch::asm!("wbinvd", options(nostack)) };
        woke = crate::acpi::enter_sleep(slp_typa, slp_typb, khz);
    });
    if resumed {
        // Every CPU comes back before the caller goes on (the boot CPU last); one that
        // did not was taken offline.
        if !wait_for(&RESUMED, super::all_online()) {
            crate::println!("acpi: not every CPU came back from S3");
        }
        COUNT.fetch_add(1, Ordering::AcqRel);
        crate::println!("acpi: resumed from S3");
        return Ok(());
    }
    // S1, or no sleep at all: the CPUs kept their state.
    crate::acpi::restore_facs();
    RELEASE.store(true, Ordering::Release);
    wait_gone(others);
    if woke {
        Ok(())
    } else {
        Err(SleepError::DidNotSleep)
    }
}

/// Waits (up to five seconds) until the CPUs in `mask` have left their parking.
fn wait_gone(mask: u64) {
    let khz = lapic::frequencies().0.max(1);
    let end = cpu::tsc() + khz * 5000;
    while PARKED.load(Ordering::Acquire) & mask != 0 && cpu::tsc() < end {
        core::hint::spin_loop();
    }
}

/// First thing on a CPU waking from S3: a TSC that the sleep reset is moved on to where
/// it stood at the suspend (the boot CPU measures by how much; every CPU, reset at the
/// same moment, adds the same), as the reference writes the saved value back.
pub fn fix_tsc(boot_cpu: bool) {
    if boot_cpu {
        let before = SUSPEND_TSC.load(Ordering::Acquire);
        let now = cpu::tsc();
        TSC_DELTA.store(before.saturating_sub(now), Ordering::Release);
    }
    let delta = TSC_DELTA.load(Ordering::Acquire);
    if delta != 0 {
        // TCG ignores the write, but its TSC also keeps counting through S3.
        let _ = msr::write_checked(0x10, cpu::tsc().wrapping_add(delta));
    }
}

/// Gives the executing CPU back what `save_here` saved (after its descriptor tables,
/// control registers and FPU set-up are back) and continues its saved context.
///
/// # Safety
/// 1. The executing CPU is `me`, waking from S3, set up again (control registers,
///    XCR0, GDT, IDT, local APIC), on the resume stack.
pub unsafe fn continue_here(me: u32) -> ! {
    // SAFETY: this CPU's slot, written by `save_here` before the sleep.
    let s = unsafe { &*slot(me) };
    // SAFETY: the saved CR3 maps the kernel half (every address space does) and PCIDs
    // are on again if they were (point 1).
    unsafe { cpu::write_cr3(s.cr3) };
    cpu::set_user_fs_base(s.fs_base);
    let _ = msr::write_checked(msr::IA32_GS_BASE, s.gs_base);
    let _ = msr::write_checked(msr::IA32_KERNEL_GS_BASE, s.kernel_gs_base);
    if s.fpu != 0 {
        // SAFETY: the image `save_here` wrote into this CPU's frame.
        crate::arch::fpu::restore(unsafe { &*(virt(s.fpu) as *const FpuArea) });
    }
    // SAFETY: the context was saved by `wait_here` on this CPU, whose frame is still
    // on the CPU's own stack (memory kept it through S3).
    unsafe { facet_restore_context(&s.context) }
}

/// Starts every other CPU that was online before S3 through the start-up code, each
/// entering `ENTRY_AP`, one at a time on the resume stack. Run by the boot CPU.
pub fn wake_others() {
    // The firmware may still be busy with the other CPUs as it hands over (SeaBIOS
    // starts them on a wake-up of its own): give it a moment before INIT takes them.
    for _ in 0..2 {
        lapic::pit_wait_us(50_000);
    }
    let entry = ENTRY_AP.load(Ordering::Relaxed) as u64;
    super::write_param(super::trampoline::PARAM_ENTRY, entry);
    for c in super::cpus_in(super::others_online(0)) {
        if !super::restart(c, resume_stack_top(false), &RESUMED) {
            crate::println!("acpi: CPU {c} did not come back from S3");
        }
    }
}
