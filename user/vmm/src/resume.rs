//! The end of every exit: what the guest takes on its way back in, and the waits a
//! vCPU's handler does in place of the guest: HLT (until an interrupt it can take, or
//! its next timer deadline: never spinning) and, for an application vCPU, the wait for
//! a start-up IPI after power-up or INIT.
//!
//! Injection follows `facet_vmm_core::event`: an event the exit interrupted or the VMM
//! raises goes first; an interrupt is injected only where the guest can take it (else
//! the interrupt window is requested). vCPU 0 takes the PIC's interrupts through its
//! local APIC's LINT0 (ExtINT); every vCPU its own APIC's.

use core::sync::atomic::Ordering;

use facet_abi::status::Status;
use facet_abi::{mtd, utcb as off};
use facet_rt::hypercall::{reply, sm_down, sm_down_until, sm_up};
use facet_vmm_core::boot_params::{sipi_cpu_state, CpuState, Segment};
use facet_vmm_core::event::{carried_event, external_interrupt, nmi, EntryState, Injection};
use facet_vmm_core::exit::{Exit, ExitMessage};
use facet_vmm_core::msr::MsrStore;

use crate::exits::{Handler, Next};
use crate::layout::vcpu;
use crate::vm::NO_DEADLINE;

const RFLAGS_IF: u64 = 1 << 9;
/// DR7 after reset and INIT: no breakpoint enabled, bit 10 (reserved) set.
const DR7_RESET: u64 = 0x400;

/// Replies to the exit `m` (decoded as `exit`, handled as `next`): RIP, injection, and
/// the state `next` names. An application vCPU that received INIT resets instead.
pub fn finish(h: Handler, m: &ExitMessage, exit: Exit, next: Next, entered: u64) -> ! {
    let u = h.utcb;
    if h.vm.vcpus[h.index].init_pending.load(Ordering::SeqCst) {
        init_reset(h)
    }
    if let Some(rip) = next.rip {
        u.put(off::RIP, rip);
    }
    let extension = h.vm.extension;
    let sta = u.get(off::INTR_STATE);
    let state = EntryState {
        extension,
        interrupts_enabled: u.get(off::RFLAGS) & RFLAGS_IF != 0,
        interruptibility: sta as u32,
        instruction_completed: next.rip.is_some(),
        window_exit: exit == Exit::InterruptWindow,
        carried: carried_event(extension, &exit, m.interruption, u.get(off::VECT_INFO)),
        raised: next.raised,
    };
    let mut reply_mtd = next.mtd | mtd::RIP_LEN | mtd::INJ;
    if let Some(interruptibility) = state.interruptibility_after() {
        u.put(
            off::INTR_STATE,
            sta & !0xffff_ffff | interruptibility as u64,
        );
        reply_mtd |= mtd::STA;
    }
    let now = facet_rt::cpu::rdtsc();
    let window = |pending: bool| match pending {
        true => off::INJ_REQUEST_INTR_WINDOW,
        false => 0,
    };
    let inj = match state.injection() {
        Injection::Event(event) => event | window(interrupts(h, now, false).pending),
        Injection::Open => {
            let s = interrupts(h, now, true);
            s.taken.unwrap_or(0) | window(s.pending)
        }
        Injection::Closed => window(interrupts(h, now, false).pending),
    };
    u.put(off::INJ, inj);
    u.reply_with(reply_mtd);
    crate::profile::leave(&exit, entered);
    reply()
}

/// What [`interrupts`] found.
struct Interrupts {
    /// The event taken for injection.
    taken: Option<u64>,
    /// Whether (another) interrupt waits.
    pending: bool,
    /// The TSC value of the vCPU's next timer event.
    deadline: u64,
}

/// Brings vCPU `h.index`'s timers up to `now` (and, for vCPU 0, the platform's, with the
/// input typed meanwhile), takes the next interrupt if `take`, says whether one (more)
/// is pending, and publishes the vCPU's next deadline for its timer thread.
fn interrupts(h: Handler, now: u64, take: bool) -> Interrupts {
    let v = &h.vm.vcpus[h.index];
    let mut s = Interrupts {
        taken: None,
        pending: false,
        deadline: NO_DEADLINE,
    };
    if take && v.nmi_pending.swap(false, Ordering::SeqCst) {
        s.taken = Some(nmi());
    }
    if h.index == 0 {
        let mut platform = h.vm.platform.lock();
        let legacy = &mut platform.machine.legacy;
        while legacy.uart.rx_room() > 0 {
            match h.vm.input.pop() {
                Some(byte) => _ = legacy.serial_input(byte),
                None => break,
            }
        }
        legacy.poll(now);
        let mut lapic = v.lapic.lock();
        lapic.poll(now);
        if take && s.taken.is_none() {
            s.taken = legacy.take_interrupt(&mut lapic).map(external_interrupt);
        }
        s.pending = legacy.pending_interrupt(&lapic).is_some();
        s.deadline = earliest(lapic.next_deadline(), legacy.next_deadline());
    } else {
        let mut lapic = v.lapic.lock();
        lapic.poll(now);
        if take && s.taken.is_none() {
            if let Some(vector) = lapic.highest_injectable() {
                lapic.acknowledge(vector);
                s.taken = Some(external_interrupt(vector));
            }
        }
        s.pending = lapic.highest_injectable().is_some();
        s.deadline = earliest(lapic.next_deadline(), None);
    }
    s.pending |= v.nmi_pending.load(Ordering::SeqCst);
    if v.set_deadline(s.deadline) {
        let _ = sm_up(vcpu::timer_sm(h.index));
    }
    s
}

fn earliest(a: Option<u64>, b: Option<u64>) -> u64 {
    a.unwrap_or(NO_DEADLINE).min(b.unwrap_or(NO_DEADLINE))
}

/// HLT: waits until the guest has an interrupt it can take (with interrupts enabled:
/// an interrupt or an NMI; without: nothing but INIT), blocked on the vCPU's semaphore
/// with its next deadline, which is when its timer fires.
pub fn halt(h: Handler) {
    let v = &h.vm.vcpus[h.index];
    let enabled = h.utcb.get(off::RFLAGS) & RFLAGS_IF != 0;
    crate::io::flush_output(h);
    let wake = |s: &Interrupts| {
        v.init_pending.load(Ordering::SeqCst)
            || (enabled && (s.pending || v.nmi_pending.load(Ordering::SeqCst)))
    };
    loop {
        if wake(&interrupts(h, facet_rt::cpu::rdtsc(), false)) {
            return;
        }
        // From here on, whoever delivers something kicks with an `up` (see
        // `ipi::kick`); look once more for what came before.
        v.halted.store(true, Ordering::SeqCst);
        let s = interrupts(h, facet_rt::cpu::rdtsc(), false);
        if wake(&s) {
            v.halted.store(false, Ordering::SeqCst);
            return;
        }
        let deadline = match (enabled, s.deadline) {
            (true, d) if d != NO_DEADLINE => d,
            _ => 0,
        };
        let woken = sm_down_until(vcpu::halt_sm(h.index), deadline);
        v.halted.store(false, Ordering::SeqCst);
        if matches!(woken, Err(s) if s != Status::Timeout) {
            crate::stop::park()
        }
    }
}

/// The vCPU's start-up message: vCPU 0 starts at the kernel's 64-bit entry, the others
/// wait for their start-up IPI.
pub fn start(h: Handler) -> ! {
    if h.index == 0 {
        reply_state(h, &h.vm.boot_cpu)
    }
    wait_for_sipi(h)
}

/// INIT: the vCPU's APIC and MSRs as after reset; it waits for a start-up IPI.
fn init_reset(h: Handler) -> ! {
    let v = &h.vm.vcpus[h.index];
    v.lapic.lock().init();
    *v.msrs.lock() = MsrStore::default();
    v.nmi_pending.store(false, Ordering::SeqCst);
    v.waiting_for_sipi.store(true, Ordering::SeqCst);
    v.init_pending.store(false, Ordering::SeqCst);
    wait_for_sipi(h)
}

/// Waits for a start-up IPI, then starts in real mode at its vector.
fn wait_for_sipi(h: Handler) -> ! {
    let v = &h.vm.vcpus[h.index];
    while v.waiting_for_sipi.load(Ordering::SeqCst) {
        if sm_down(vcpu::sipi_sm(h.index)).is_err() {
            crate::stop::park()
        }
    }
    v.init_pending.store(false, Ordering::SeqCst);
    let state = sipi_cpu_state(v.sipi_vector.load(Ordering::SeqCst));
    reply_state(h, &state)
}

/// Replies with the complete state `s` (general registers zero but RSI), nothing to
/// inject, no interrupt shadow, XCR0 with x87 only, DR7 as after reset. A vCPU starts
/// with every register zero (the kernel's start state is the reference's, not the
/// architecture's after reset), and INIT must not keep what the guest had: so the VMM
/// sets all of it.
fn reply_state(h: Handler, s: &CpuState) -> ! {
    let u = h.utcb;
    for gpr in 0..16 {
        u.put(off::RAX + 8 * gpr, 0);
    }
    u.put(off::RSI, s.rsi);
    u.put(off::RSP, s.rsp);
    u.put(off::RIP, s.rip);
    u.put(off::RFLAGS, s.rflags);
    for (at, value) in [
        (off::CR0, s.cr0),
        (off::CR2, 0),
        (off::CR3, s.cr3),
        (off::CR4, s.cr4),
        (off::XCR0, 1),
        (off::EFER, s.efer),
        (off::PAT, s.pat),
        (off::INJ, 0),
        (off::INTR_STATE, 0),
        (off::DR7, DR7_RESET),
    ] {
        u.put(at, value);
    }
    for (at, seg) in [
        (off::CS, s.cs),
        (off::SS, s.ss),
        (off::DS, s.ds),
        (off::ES, s.es),
        (off::FS, s.fs),
        (off::GS, s.gs),
        (off::TR, s.tr),
        (off::LDTR, s.ldtr),
    ] {
        put_segment(h, at, seg);
    }
    for (at, table) in [(off::GDTR, s.gdtr), (off::IDTR, s.idtr)] {
        u.put(at, (table.limit as u64) << 32);
        u.put(at + 8, table.base);
    }
    u.reply_with(
        mtd::GPR_ACDB
            | mtd::GPR_BSD
            | mtd::GPR_R8_R15
            | mtd::RSP
            | mtd::RIP_LEN
            | mtd::RFLAGS
            | mtd::DS_ES
            | mtd::FS_GS
            | mtd::CS_SS
            | mtd::TR
            | mtd::LDTR
            | mtd::GDTR
            | mtd::IDTR
            | mtd::CR
            | mtd::DR
            | mtd::EFER_PAT
            | mtd::INJ
            | mtd::STA,
    );
    reply()
}

/// A segment register in the UTCB's form: selector, access rights, limit; base.
fn put_segment(h: Handler, at: usize, seg: Segment) {
    h.utcb.put(
        at,
        seg.selector as u64 | (seg.access_rights as u64) << 16 | (seg.limit as u64) << 32,
    );
    h.utcb.put(at + 8, seg.base);
}
