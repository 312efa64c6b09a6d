//! A vCPU's local APIC in x2APIC mode: the registers behind MSRs 0x800-0x8ff, the
//! IA32_APIC_BASE and IA32_TSC_DEADLINE MSRs, interrupt acceptance and priority, EOI,
//! the timer and the decoding of IPIs. xAPIC (MMIO) mode is not offered: the APIC starts
//! enabled in x2APIC mode, and IA32_APIC_BASE can only disable it or return to x2APIC.
//!
//! The VMM routes the vCPU's RDMSR/WRMSR of [`Lapic::handles_msr`] MSRs here; an
//! `Err(GeneralProtection)` means "inject #GP", as hardware answers reserved registers,
//! reads of write-only and writes of read-only registers, reserved bits in the upper half
//! of any register but the ICR, and a non-zero write to EOI or ESR. Interrupts arrive
//! through [`Lapic::accept`]; before entering the guest the VMM asks
//! [`Lapic::highest_injectable`] and, when it injects, calls [`Lapic::acknowledge`]. A
//! write may have an [`MsrEffect`] for the VMM: an IPI to deliver, or the EOI of a
//! level-triggered vector (for the I/O side).
//!
//! Invariants: IRR, ISR and TMR never hold vectors 0-15; while the APIC is software
//! disabled every LVT entry stays masked; while it is disabled in IA32_APIC_BASE all
//! of its state is in the power-up state. Deliberately lenient: reserved bits in the
//! low 32 bits of a register are ignored (read as zero) instead of faulting. Not
//! modelled: the thermal, performance-counter and CMCI sources (their LVT entries are
//! storage), LINT1 (nothing drives it), EOI-broadcast suppression, remote IRR, and the
//! delivery status (always idle: delivery is instantaneous).

mod ipi;
mod registers;
mod timer;
mod vectors;

pub use ipi::{logical_id, IpiDestination, IpiKind, IpiRequest};
use registers::ICR;
use timer::{Timer, TimerMode};
use vectors::VectorSet;

pub const IA32_APIC_BASE: u32 = 0x1b;
pub const IA32_TSC_DEADLINE: u32 = 0x6e0;
pub const X2APIC_FIRST_MSR: u32 = 0x800;
pub const X2APIC_LAST_MSR: u32 = 0x8ff;
/// The architectural APIC base address reported in IA32_APIC_BASE.
pub const APIC_BASE_ADDRESS: u64 = 0xfee0_0000;

const BASE_BSP: u64 = 1 << 8;
const BASE_X2APIC: u64 = 1 << 10;
const BASE_ENABLE: u64 = 1 << 11;
/// Bits 0-7 and 9, and bits beyond the 52-bit physical address limit.
const BASE_RESERVED: u64 = 0xfff0_0000_0000_0000 | 0x2ff;

const SVR_ENABLE: u32 = 1 << 8;
const LVT_MASKED: u32 = 1 << 16;
const LVT_DELIVERY_MODE: u32 = 7 << 8;
const DELIVERY_EXTINT: u32 = 7 << 8;
const DELIVERY_NMI: u32 = 4 << 8;
const ESR_SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
const ESR_RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;

/// The LVT entries in the order of their registers 0x832-0x837, then CMCI (0x82f).
const LVT_COUNT: usize = 7;
const LVT_TIMER_INDEX: usize = 0;
const LVT_LINT0_INDEX: usize = 3;
const LVT_LINT1_INDEX: usize = 4;
const LVT_ERROR_INDEX: usize = 5;
const LVT_CMCI_INDEX: usize = 6;

/// The access faults: the VMM injects #GP(0) into the vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GeneralProtection;

/// What an MSR write asks of the VMM besides the register change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsrEffect {
    None,
    /// Deliver this IPI (to every APIC it targets, the sender's included).
    SendIpi(IpiRequest),
    /// The guest ended a level-triggered interrupt with this vector.
    LevelTriggeredEoi(u8),
}

/// One vCPU's local APIC.
#[derive(Clone, Debug)]
pub struct Lapic {
    id: u32,
    base: u64,
    tpr: u8,
    svr: u32,
    irr: VectorSet,
    isr: VectorSet,
    tmr: VectorSet,
    /// ESR as last latched by a write; errors since then accumulate in `esr_pending`.
    esr: u32,
    esr_pending: u32,
    icr: u64,
    lvt: [u32; LVT_COUNT],
    timer: Timer,
}

impl Lapic {
    /// The APIC of vCPU `vcpu` (its x2APIC ID; vCPU 0 is the bootstrap processor) after
    /// power-up, enabled in x2APIC mode; TSC and timer clock in kHz.
    pub fn new(vcpu: u32, tsc_khz: u32, timer_khz: u32) -> Lapic {
        let bsp = if vcpu == 0 { BASE_BSP } else { 0 };
        let mut lapic = Lapic {
            id: vcpu,
            base: APIC_BASE_ADDRESS | BASE_ENABLE | BASE_X2APIC | bsp,
            tpr: 0,
            svr: 0,
            irr: VectorSet::EMPTY,
            isr: VectorSet::EMPTY,
            tmr: VectorSet::EMPTY,
            esr: 0,
            esr_pending: 0,
            icr: 0,
            lvt: [0; LVT_COUNT],
            timer: Timer::new(tsc_khz, timer_khz),
        };
        lapic.reset_registers();
        lapic
    }

    /// The MSRs this model answers.
    pub fn handles_msr(msr: u32) -> bool {
        matches!(
            msr,
            IA32_APIC_BASE | IA32_TSC_DEADLINE | X2APIC_FIRST_MSR..=X2APIC_LAST_MSR
        )
    }

    pub fn id(&self) -> u32 {
        self.id
    }

    /// What a BIOS leaves on the bootstrap processor for an operating system that finds
    /// no I/O APIC (the MP specification's virtual-wire mode): software enabled, LINT0
    /// taking the PIC as ExtINT, LINT1 as NMI.
    pub fn enter_virtual_wire_mode(&mut self) {
        self.svr |= SVR_ENABLE;
        self.lvt[LVT_LINT0_INDEX] = DELIVERY_EXTINT;
        self.lvt[LVT_LINT1_INDEX] = DELIVERY_NMI;
    }

    /// The INIT signal: every register back to its power-up value except the ID and
    /// IA32_APIC_BASE (x2APIC mode survives INIT).
    pub fn init(&mut self) {
        self.reset_registers();
    }

    /// RDMSR of `msr` at TSC value `now`.
    pub fn read_msr(&mut self, msr: u32, now: u64) -> Result<u64, GeneralProtection> {
        self.poll(now);
        match msr {
            IA32_APIC_BASE => Ok(self.base),
            IA32_TSC_DEADLINE => Ok(self.timer.tsc_deadline(self.timer_mode())),
            X2APIC_FIRST_MSR..=X2APIC_LAST_MSR if self.enabled() => self.read_register(msr, now),
            _ => Err(GeneralProtection),
        }
    }

    /// WRMSR of `value` to `msr` at TSC value `now`.
    pub fn write_msr(
        &mut self,
        msr: u32,
        value: u64,
        now: u64,
    ) -> Result<MsrEffect, GeneralProtection> {
        self.poll(now);
        match msr {
            IA32_APIC_BASE => self.write_base(value).map(|()| MsrEffect::None),
            IA32_TSC_DEADLINE => {
                let mode = self.timer_mode();
                self.timer.write_tsc_deadline(value, mode);
                // A deadline already past fires at once.
                self.poll(now);
                Ok(MsrEffect::None)
            }
            X2APIC_FIRST_MSR..=X2APIC_LAST_MSR if self.enabled() => {
                if msr != ICR && value >> 32 != 0 {
                    return Err(GeneralProtection);
                }
                self.write_register(msr, value, now)
            }
            _ => Err(GeneralProtection),
        }
    }

    /// A fixed interrupt arrives (from an IPI or a device): set in IRR, and in TMR if
    /// level-triggered. Refused (returns false) while the APIC is disabled, and for the
    /// illegal vectors 0-15, which set the ESR's receive error instead.
    pub fn accept(&mut self, vector: u8, level_triggered: bool) -> bool {
        if !self.software_enabled() {
            return false;
        }
        if vector < 16 {
            self.signal_error(ESR_RECEIVE_ILLEGAL_VECTOR);
            return false;
        }
        self.irr.insert(vector);
        self.tmr.assign(vector, level_triggered);
        true
    }

    /// The vector the CPU would take now: the highest requested one whose priority class
    /// is above the processor priority.
    pub fn highest_injectable(&self) -> Option<u8> {
        if !self.enabled() {
            return None;
        }
        let vector = self.irr.highest()?;
        (vector >> 4 > self.processor_priority() >> 4).then_some(vector)
    }

    /// The CPU takes `vector` (injected into the vCPU): from IRR to ISR.
    pub fn acknowledge(&mut self, vector: u8) {
        if self.irr.contains(vector) {
            self.irr.remove(vector);
            self.isr.insert(vector);
        }
    }

    /// Delivers a timer expiry that happened by `now` (into IRR unless the LVT entry is
    /// masked). Returns whether the timer expired.
    pub fn poll(&mut self, now: u64) -> bool {
        let mode = self.timer_mode();
        if !self.timer.poll(mode, now) {
            return false;
        }
        let lvt = self.lvt[LVT_TIMER_INDEX];
        if lvt & LVT_MASKED == 0 {
            self.accept(lvt as u8, false);
        }
        true
    }

    /// The TSC value at which [`Lapic::poll`] must next be called (the timer's expiry).
    pub fn next_deadline(&self) -> Option<u64> {
        self.timer.next_expiry()
    }

    /// Whether LINT0 is unmasked with ExtINT delivery (virtual-wire mode): the PIC's
    /// INTR reaches the CPU, which takes its vector from the PIC.
    pub fn lint0_extint(&self) -> bool {
        let lint0 = self.lvt[LVT_LINT0_INDEX];
        self.enabled() && lint0 & LVT_MASKED == 0 && lint0 & LVT_DELIVERY_MODE == DELIVERY_EXTINT
    }

    /// Whether the PIC's INTR reaches this CPU: through LINT0 as ExtINT, or directly
    /// while the APIC is disabled in IA32_APIC_BASE.
    pub fn accepts_pic_interrupts(&self) -> bool {
        !self.enabled() || self.lint0_extint()
    }

    fn write_base(&mut self, value: u64) -> Result<(), GeneralProtection> {
        if value & BASE_RESERVED != 0 {
            return Err(GeneralProtection);
        }
        match (value & BASE_ENABLE != 0, value & BASE_X2APIC != 0) {
            // Back to (or staying in) x2APIC mode; from disabled this skips xAPIC mode,
            // which this APIC does not have.
            (true, true) => {}
            (false, false) => {
                if self.enabled() {
                    self.reset_registers();
                }
            }
            // xAPIC mode is not offered; x2APIC without enable is invalid.
            _ => return Err(GeneralProtection),
        }
        // The BSP flag is the processor's, not software's.
        self.base = value & !BASE_BSP | self.base & BASE_BSP;
        Ok(())
    }

    /// Ends the highest-priority interrupt in service.
    fn end_of_interrupt(&mut self) -> MsrEffect {
        let Some(vector) = self.isr.highest() else {
            return MsrEffect::None;
        };
        self.isr.remove(vector);
        if self.tmr.contains(vector) {
            MsrEffect::LevelTriggeredEoi(vector)
        } else {
            MsrEffect::None
        }
    }

    fn signal_error(&mut self, error: u32) {
        self.esr_pending |= error;
        let lvt = self.lvt[LVT_ERROR_INDEX];
        // An illegal error vector would only report another error: drop it.
        if lvt & LVT_MASKED == 0 && lvt as u8 >= 16 {
            self.accept(lvt as u8, false);
        }
    }

    fn processor_priority(&self) -> u8 {
        let in_service = self.isr.highest().unwrap_or(0);
        if self.tpr >> 4 >= in_service >> 4 {
            self.tpr
        } else {
            in_service & 0xf0
        }
    }

    fn timer_mode(&self) -> TimerMode {
        TimerMode::from_lvt(self.lvt[LVT_TIMER_INDEX])
    }

    fn enabled(&self) -> bool {
        self.base & BASE_ENABLE != 0
    }

    fn software_enabled(&self) -> bool {
        self.enabled() && self.svr & SVR_ENABLE != 0
    }

    fn reset_registers(&mut self) {
        self.tpr = 0;
        self.svr = 0xff;
        self.irr = VectorSet::EMPTY;
        self.isr = VectorSet::EMPTY;
        self.tmr = VectorSet::EMPTY;
        self.esr = 0;
        self.esr_pending = 0;
        self.icr = 0;
        self.lvt = [LVT_MASKED; LVT_COUNT];
        self.timer.reset();
    }
}

#[cfg(test)]
mod tests;
