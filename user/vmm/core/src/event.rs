//! Events the VMM injects into a vCPU, and when it may inject an external interrupt.
//!
//! Both extensions take an injected event in the same 64-bit word (the INJ word of a
//! reply): vector in bits 7:0, type in bits 10:8 (0 external interrupt, 2 NMI, 3
//! hardware exception), bit 11 "error code valid", bit 31 valid, the error code in bits
//! 63:32. The rules for an external interrupt differ:
//! - VMX refuses the entry unless the guest has RFLAGS.IF set and no interrupt shadow
//!   (blocking by STI or MOV SS in the interruptibility state, MTD STA);
//! - SVM injects whatever the guest's RFLAGS.IF and shadow say, and the message does not
//!   carry the shadow at all.
//!
//! So the VMM injects an interrupt only where it knows the guest could take one: at the
//! interrupt-window exit, or after it completed the exiting instruction (which ends any
//! shadow that instruction was in) with IF set. Elsewhere (a recall may stop the guest
//! right after an STI) it asks for the window instead. An event that must reach the
//! guest anyway goes first: one whose delivery the exit interrupted (VMX's IDT-vectoring
//! information), one still pending at a recall, or an exception the VMM raises for the
//! exiting instruction.

use crate::exit::{Exit, Extension};

#[cfg(test)]
mod tests;

/// The word's valid bit.
pub const VALID: u64 = 1 << 31;
const TYPE_NMI: u64 = 2 << 8;
const TYPE_EXCEPTION: u64 = 3 << 8;
const ERROR_CODE_VALID: u64 = 1 << 11;
/// Interruptibility: blocking by STI (bit 0) and by MOV SS (bit 1).
pub const SHADOW: u32 = 0b11;

/// #UD, #GP and #AC.
pub const UD: u8 = 6;
pub const GP: u8 = 13;
pub const AC: u8 = 17;

/// An external interrupt with `vector`.
pub fn external_interrupt(vector: u8) -> u64 {
    VALID | vector as u64
}

/// A non-maskable interrupt.
pub fn nmi() -> u64 {
    VALID | TYPE_NMI | 2
}

/// A hardware exception with `vector` and, if it has one, its error code.
pub fn exception(vector: u8, error_code: Option<u32>) -> u64 {
    match error_code {
        Some(code) => {
            VALID | TYPE_EXCEPTION | ERROR_CODE_VALID | vector as u64 | (code as u64) << 32
        }
        None => VALID | TYPE_EXCEPTION | vector as u64,
    }
}

/// The event that must reach the guest at the entry after `exit`, from the message's
/// INJ word `inj` and its VECT_INFO word `vectoring`: at a recall the kernel reports
/// what is still pending for injection (on both extensions), after other VMX exits the
/// event whose delivery the exit interrupted. SVM reports no such event (0).
pub fn carried_event(extension: Extension, exit: &Exit, inj: u64, vectoring: u64) -> u64 {
    let carried = match (exit, extension) {
        (Exit::Recall, _) => inj,
        (Exit::Startup, _) | (_, Extension::Svm) => 0,
        (_, Extension::Vmx) => vectoring,
    };
    if carried & VALID != 0 {
        carried
    } else {
        0
    }
}

/// What the guest's state says about injection at the end of an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryState {
    pub extension: Extension,
    /// RFLAGS.IF.
    pub interrupts_enabled: bool,
    /// VMX's interruptibility state (MTD STA); 0 on SVM, which does not report it.
    pub interruptibility: u32,
    /// The VMM completed the exiting instruction (RIP moved past it).
    pub instruction_completed: bool,
    /// The exit is the interrupt window the VMM asked for.
    pub window_exit: bool,
    /// An event that must be delivered at this entry (0: none): one whose delivery the
    /// exit interrupted, or one still pending for injection at a recall.
    pub carried: u64,
    /// An exception the VMM raises for the exiting instruction (0: none).
    pub raised: u64,
}

/// What the VMM does about interrupts before the guest runs again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// Inject this event; interrupts wait for the window.
    Event(u64),
    /// The guest can take an interrupt now: inject the next one, if any.
    Open,
    /// It cannot: ask for the interrupt window if an interrupt is pending.
    Closed,
}

impl EntryState {
    /// The decision for this entry.
    pub fn injection(&self) -> Injection {
        for event in [self.carried, self.raised] {
            if event & VALID != 0 {
                return Injection::Event(event);
            }
        }
        if self.interrupts_enabled && !self.in_shadow() {
            Injection::Open
        } else {
            Injection::Closed
        }
    }

    /// The interruptibility state to write back (MTD STA) if it must change: a completed
    /// instruction ends the shadow it was in, which VMX would otherwise keep (and refuse
    /// an injected interrupt for).
    pub fn interruptibility_after(&self) -> Option<u32> {
        let ended = self.extension == Extension::Vmx
            && self.instruction_completed
            && self.interruptibility & SHADOW != 0;
        ended.then_some(self.interruptibility & !SHADOW)
    }

    /// Whether an interrupt shadow holds interrupts back (or might, where the extension
    /// does not say).
    fn in_shadow(&self) -> bool {
        if self.instruction_completed || self.window_exit {
            return false;
        }
        match self.extension {
            Extension::Vmx => self.interruptibility & SHADOW != 0,
            Extension::Svm => true,
        }
    }
}
