//! What happens on an exception or interrupt, and on a kernel panic.
//!
//! A fault in the kernel is fatal (but for the MSR probes' fix-ups): the vector, error
//! code, RIP, CR2 and all registers go to every console and the CPU halts. A fault in
//! user mode is delivered to the faulting Ec's exception portal, or stops the Ec with a
//! (rate-limited) message. A fault on the way back to user mode is the returning Ec's
//! (see `super::interrupt`); an NMI is an event that is counted and reported, never a
//! fault (`arch::nmi`).

use core::panic::PanicInfo;

use crate::arch::cpu::{halt_forever, read_cr2, read_cr3};
use crate::arch::regs::Frame;
use crate::console::write_emergency;
use crate::exec::CurrentFrame;

use super::interrupt::RETURN_FAULT;

/// Mnemonics of the architectural exceptions.
const NAMES: [&str; 32] = [
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS", "#NP", "#SS",
    "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP", "#22", "#23", "#24", "#25",
    "#26", "#27", "#HV", "#VC", "#SX", "#31",
];

/// Called by the entry stubs with the saved frame.
pub extern "C" fn exception_entry(frame: &mut Frame) {
    // A shootdown is answered without the kernel lock: its sender holds it.
    if frame.vector == crate::smp::shootdown::VECTOR as u64 {
        crate::arch::lapic::eoi();
        crate::smp::shootdown::answer();
        return;
    }
    let held = crate::smp::bkl::enter();
    if frame.vector & RETURN_FAULT != 0 {
        // The return to the running Ec faulted (its saved state names something the
        // CPU refuses to enter): the Ec takes the fault as its own, with the state it
        // could not return to.
        // SAFETY: the one token of this kernel entry.
        let mut cur = unsafe { CurrentFrame::new() };
        cur.vector = frame.vector & !RETURN_FAULT;
        cur.error = frame.error;
        handle_user(&mut cur);
        crate::obj::reap();
        *frame = *cur;
    } else if frame.is_user() {
        // The running Ec's registers belong in the Ec (`exec::current`): copied there, the
        // entry is handled like a hypercall, and whichever Ec runs afterwards leaves
        // through this frame.
        // SAFETY: the one token of this kernel entry.
        let mut cur = unsafe { CurrentFrame::new() };
        *cur = *frame;
        handle_user(&mut cur);
        // Objects whose last reference went meanwhile (an Ec that left the CPU) are
        // destroyed now, as after a hypercall.
        crate::obj::reap();
        *frame = *cur;
    } else {
        handle_kernel(frame);
    }
    crate::smp::bkl::leave(held);
}

/// `syscall` from 32-bit code (AMD CPUs; see `super::syscall`): the running Ec's frame
/// holds a #UD at the instruction, which it takes like any exception of its own. The
/// stub leaves through the running Ec's frame afterwards.
pub extern "C" fn compat_syscall_entry() {
    let held = crate::smp::bkl::enter();
    // SAFETY: the one token of this kernel entry.
    let mut cur = unsafe { CurrentFrame::new() };
    handle_user(&mut cur);
    crate::obj::reap();
    crate::smp::bkl::leave(held);
}

/// Called by the paranoid entry (NMI, #DF, #MC) with the saved frame and GS holding
/// this CPU's per-CPU block, whatever the interrupted code had. It must not switch Ecs
/// or take locks the interrupted code may hold: the exit puts the interrupted GS base
/// back and returns to exactly where the CPU was.
pub extern "C" fn paranoid_entry(frame: &mut Frame) {
    match frame.vector {
        // An event, not a fault: counted here, reported (rate-limited) by a timer interrupt soon after
        // (`exec::timer` arms one while an NMI is unreported).
        2 => crate::arch::nmi::seen(),
        vector => {
            let cr2 = read_cr2();
            write_emergency(format_args!(
                "\nFACET EXCEPTION {} (vector {}) error {:#x} rip {:#x} cs {:#x}: fatal\n",
                NAMES[vector as usize % 32],
                vector,
                frame.error,
                frame.rip,
                frame.cs
            ));
            dump(frame, cr2);
            write_emergency(format_args!("FACET: halted\n"));
            halt_forever();
        }
    }
}

/// An exception or interrupt while user code (a thread) ran.
fn handle_user(frame: &mut CurrentFrame) {
    let vector = frame.vector as usize;
    if vector >= 32 {
        interrupt(vector as u8, Some(frame));
        return leave(frame);
    }
    let cr2 = read_cr2();
    // Delivered, or waiting for a busy handler (perhaps with nothing else to run).
    if crate::exec::exception::deliver(frame, vector as u64, cr2).is_some() {
        return leave(frame);
    }
    if crate::console::limited::allow(crate::console::limited::Kind::Stopped) {
        crate::println!(
            "FACET: user exception {} (vector {}) error {:#x} at rip {:#x} cr2 {:#x}: no exception portal, EC stopped",
            NAMES[vector], vector, frame.error, frame.rip, cr2
        );
        dump(frame, cr2);
    }
    let _ = crate::exec::exception::stop_current(frame);
    leave(frame)
}

/// The way back to user mode or a guest after an exception or interrupt: an Ec made
/// ready with a higher priority, or the end of a quantum, switches first
/// (`sched::check`); a CPU left with no Ec (the one that ran waits for a busy handler,
/// or stopped, and nothing else is ready) idles until one is.
fn leave(frame: &mut CurrentFrame) {
    crate::exec::sched::check(frame);
    if crate::exec::sched::current_ec() == 0 {
        crate::exec::sched::idle_until_ready(frame);
    }
    crate::exec::resume(frame);
}

/// An exception or interrupt in the kernel (an idle CPU, or a vCPU's exit taking its
/// interrupt): interrupts only queue work; a fault is fatal unless expected.
fn handle_kernel(frame: &mut Frame) {
    let vector = frame.vector as usize;
    if vector >= 32 {
        interrupt(vector as u8, None);
        return;
    }
    if let Some(landing) = fixup(frame.rip) {
        frame.rip = landing;
        return;
    }
    let cr2 = read_cr2();
    write_emergency(format_args!(
        "\nFACET EXCEPTION {} (vector {}) in the kernel: error {:#x} rip {:#x} cr2 {:#x}\n",
        NAMES[vector], vector, frame.error, frame.rip, cr2
    ));
    dump(frame, cr2);
    write_emergency(format_args!("FACET: halted\n"));
    halt_forever();
}

/// Spurious interrupts seen (counted, never fatal).
static SPURIOUS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// A device, timer or inter-processor interrupt. A device interrupt ups its GSI's
/// semaphore (one nobody assigned is counted there too, never fatal); a spurious one is
/// ignored.
fn interrupt(vector: u8, user: Option<&mut CurrentFrame>) {
    use crate::arch::lapic;
    if vector == lapic::VECTOR_SPURIOUS {
        SPURIOUS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        return;
    }
    let base = crate::arch::ioapic::VECTOR_BASE;
    if vector >= base && ((vector - base) as u32) < crate::arch::ioapic::NUM_GSI {
        // A level-triggered pin is masked before the EOI: the EOI lets the I/O APIC send
        // it again at once while the device still asserts it. An Ec it wakes with a
        // higher priority runs on the way out (`sched::check`).
        crate::exec::semaphore::interrupt((vector - base) as u32);
        lapic::eoi();
        return;
    }
    if vector == crate::iommu::VECTOR {
        // A unit blocked a DMA or an interrupt: read and clear its records first, so
        // that it can raise the next fault event after the EOI.
        crate::iommu::fault_interrupt();
        lapic::eoi();
        return;
    }
    lapic::eoi();
    if vector == crate::smp::VECTOR_RESCHEDULE {
        // Another CPU made an Sc of this one ready (it may have a higher priority than
        // the running one: `sched::check` on the way out), or recalls the Ec running
        // here.
        crate::exec::sched::look_again();
        if let Some(frame) = user {
            let _ = crate::exec::sched::deliver_recall(frame);
        }
        return;
    }
    if vector == lapic::VECTOR_TIMER {
        crate::exec::timer::interrupt();
    }
}

extern "C" {
    static __fixup_start: [u64; 2];
    static __fixup_end: [u64; 2];
}

/// The landing address for a fault at `rip` in an instruction that may fault on
/// purpose (an MSR probe), from the `.fixup` table of (instruction, landing) pairs.
fn fixup(rip: u64) -> Option<u64> {
    let start = core::ptr::addr_of!(__fixup_start);
    let end = core::ptr::addr_of!(__fixup_end);
    let n = (end as usize - start as usize) / 16;
    // SAFETY: the linker script places the table of 16-byte pairs between the two
    // symbols, in read-only data.
    let table = unsafe { core::slice::from_raw_parts(start, n) };
    table.iter().find(|e| e[0] == rip).map(|e| e[1])
}

fn dump(f: &Frame, cr2: u64) {
    write_emergency(format_args!(
        "  rax {:016x} rbx {:016x} rcx {:016x} rdx {:016x}\n  rsi {:016x} rdi {:016x} rbp {:016x} rsp {:016x}\n",
        f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp, f.rsp
    ));
    write_emergency(format_args!(
        "  r8  {:016x} r9  {:016x} r10 {:016x} r11 {:016x}\n  r12 {:016x} r13 {:016x} r14 {:016x} r15 {:016x}\n",
        f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14, f.r15
    ));
    write_emergency(format_args!(
        "  rip {:016x} cs {:04x} rflags {:016x} ss {:04x} cr2 {:016x} cr3 {:016x}\n",
        f.rip,
        f.cs,
        f.rflags,
        f.ss,
        cr2,
        read_cr3()
    ));
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    match info.location() {
        Some(l) => write_emergency(format_args!(
            "\nFACET PANIC at {}:{}:{}: {}\n",
            l.file(),
            l.line(),
            l.column(),
            info.message()
        )),
        None => write_emergency(format_args!("\nFACET PANIC: {}\n", info.message())),
    }
    let rsp: u64;
    // SAFETY: reading the stack pointer has no effects.
    unsafe {
        core::arch::asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags))
    };
    write_emergency(format_args!(
        "  rsp {:016x} cr2 {:016x} cr3 {:016x}\nFACET: halted\n",
        rsp,
        read_cr2(),
        read_cr3()
    ));
    halt_forever();
}
