//! The x2APIC register file behind MSRs 0x800-0x83f: which registers exist, which bits
//! of each are writable, and what a read or write of each does. Anything not listed here
//! is reserved and faults.

use super::{
    logical_id, GeneralProtection, IpiRequest, Lapic, MsrEffect, TimerMode,
    ESR_SEND_ILLEGAL_VECTOR, LVT_CMCI_INDEX, LVT_COUNT, LVT_MASKED, LVT_TIMER_INDEX,
};

// x2APIC registers: MSR 0x800 + (xAPIC offset >> 4).
pub(super) const ID: u32 = 0x802;
pub(super) const VERSION: u32 = 0x803;
pub(super) const TPR: u32 = 0x808;
pub(super) const PPR: u32 = 0x80a;
pub(super) const EOI: u32 = 0x80b;
pub(super) const LDR: u32 = 0x80d;
pub(super) const SVR: u32 = 0x80f;
pub(super) const ISR_FIRST: u32 = 0x810;
pub(super) const TMR_FIRST: u32 = 0x818;
pub(super) const IRR_FIRST: u32 = 0x820;
pub(super) const ESR: u32 = 0x828;
pub(super) const LVT_CMCI: u32 = 0x82f;
pub(super) const ICR: u32 = 0x830;
pub(super) const LVT_TIMER: u32 = 0x832;
pub(super) const LVT_ERROR: u32 = 0x837;
pub(super) const TIMER_INITIAL: u32 = 0x838;
pub(super) const TIMER_CURRENT: u32 = 0x839;
pub(super) const TIMER_DIVIDE: u32 = 0x83e;
pub(super) const SELF_IPI: u32 = 0x83f;

/// Version 0x14 (an integrated APIC) with 7 LVT entries (max LVT index 6: CMCI).
pub(super) const VERSION_VALUE: u64 = 0x0006_0014;
/// Spurious vector, software enable and focus-checking disable.
pub(super) const SVR_WRITABLE: u32 = 0x3ff;
/// The ICR bits that exist in x2APIC mode (the delivery status, bit 12, always reads 0).
pub(super) const ICR_WRITABLE: u64 = 0xffff_ffff_000c_cfff;

/// Writable bits of each entry: timer (vector, mask, mode); thermal and performance
/// (vector, delivery mode, mask); LINT0/1 (also polarity and trigger); error (vector,
/// mask); CMCI (vector, delivery mode, mask).
pub(super) const LVT_WRITABLE: [u32; LVT_COUNT] = [
    0x0007_00ff,
    0x0001_07ff,
    0x0001_07ff,
    0x0001_a7ff,
    0x0001_a7ff,
    0x0001_00ff,
    0x0001_07ff,
];

impl Lapic {
    pub(super) fn read_register(&self, msr: u32, now: u64) -> Result<u64, GeneralProtection> {
        let value = match msr {
            ID => u64::from(self.id),
            VERSION => VERSION_VALUE,
            TPR => u64::from(self.tpr),
            PPR => u64::from(self.processor_priority()),
            LDR => u64::from(logical_id(self.id)),
            SVR => u64::from(self.svr),
            ISR_FIRST..=0x817 => u64::from(self.isr.word((msr - ISR_FIRST) as usize)),
            TMR_FIRST..=0x81f => u64::from(self.tmr.word((msr - TMR_FIRST) as usize)),
            IRR_FIRST..=0x827 => u64::from(self.irr.word((msr - IRR_FIRST) as usize)),
            ESR => u64::from(self.esr),
            ICR => self.icr,
            LVT_CMCI | LVT_TIMER..=LVT_ERROR => u64::from(self.lvt[lvt_index(msr)]),
            TIMER_INITIAL => u64::from(self.timer.initial_count),
            TIMER_CURRENT => u64::from(self.timer.current_count(self.timer_mode(), now)),
            TIMER_DIVIDE => u64::from(self.timer.divide_config),
            // EOI and SELF IPI are write-only; everything else is reserved.
            _ => return Err(GeneralProtection),
        };
        Ok(value)
    }

    pub(super) fn write_register(
        &mut self,
        msr: u32,
        value: u64,
        now: u64,
    ) -> Result<MsrEffect, GeneralProtection> {
        let low = value as u32;
        match msr {
            TPR => self.tpr = low as u8,
            EOI if low != 0 => return Err(GeneralProtection),
            EOI => return Ok(self.end_of_interrupt()),
            SVR => {
                self.svr = low & SVR_WRITABLE;
                if !self.software_enabled() {
                    for entry in &mut self.lvt {
                        *entry |= LVT_MASKED;
                    }
                }
            }
            ESR if low != 0 => return Err(GeneralProtection),
            ESR => self.esr = core::mem::take(&mut self.esr_pending),
            ICR => return Ok(self.write_icr(value)),
            LVT_CMCI | LVT_TIMER..=LVT_ERROR => self.write_lvt(lvt_index(msr), low),
            TIMER_INITIAL => self.timer.write_initial(low, self.timer_mode(), now),
            TIMER_DIVIDE => self.timer.write_divide(low, self.timer_mode(), now),
            SELF_IPI => {
                self.accept(low as u8, false);
            }
            // Read-only (ID, version, PPR, LDR, ISR, TMR, IRR, current count) or reserved.
            _ => return Err(GeneralProtection),
        }
        Ok(MsrEffect::None)
    }

    fn write_lvt(&mut self, index: usize, value: u32) {
        let mut value = value & LVT_WRITABLE[index];
        if !self.software_enabled() {
            value |= LVT_MASKED;
        }
        if index == LVT_TIMER_INDEX {
            let old = TimerMode::from_lvt(self.lvt[index]);
            self.timer.change_mode(old, TimerMode::from_lvt(value));
        }
        self.lvt[index] = value;
    }

    fn write_icr(&mut self, value: u64) -> MsrEffect {
        self.icr = value & ICR_WRITABLE;
        let Some(request) = IpiRequest::decode(self.icr) else {
            return MsrEffect::None;
        };
        match request.fixed_vector() {
            Some(vector) if vector < 16 => {
                self.signal_error(ESR_SEND_ILLEGAL_VECTOR);
                MsrEffect::None
            }
            _ => MsrEffect::SendIpi(request),
        }
    }
}

/// Index into `Lapic::lvt` of an LVT register.
fn lvt_index(msr: u32) -> usize {
    match msr {
        LVT_CMCI => LVT_CMCI_INDEX,
        _ => msr.wrapping_sub(LVT_TIMER) as usize % LVT_CMCI_INDEX,
    }
}
