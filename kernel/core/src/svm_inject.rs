//! How an event the VMM injects reaches an SVM guest.
//!
//! Exceptions, NMIs and software interrupts go into EVENTINJ, as the VMM wrote them.
//! External interrupts go in as a virtual interrupt instead (V_IRQ with the vector,
//! priority 15, the virtual TPR ignored, its delivery not intercepted): QEMU's TCG
//! (10.0) delivers an EVENTINJ external interrupt inside VMRUN and leaves it as the
//! CPU's pending exception, so it is delivered a second time as soon as the CPU next
//! leaves its execution loop; a Linux guest then takes its timer interrupt twice, the
//! second time on the first instruction of the handler, before its SWAPGS, and dies of
//! a page fault on the user's GS base. A virtual interrupt is delivered once, on QEMU and
//! on hardware, and the VMM sees no difference: it injects interrupts only when the
//! guest can take them (RFLAGS.IF set, no interrupt shadow), and then a virtual
//! interrupt is taken before the guest's next instruction, as an injected one is.
//!
//! Two consequences the kernel hides from the VMM:
//!
//! - A virtual interrupt still pending at an exit (an exit for a physical interrupt or a
//!   recall came first) is reported in the exit's injection field as the VMM wrote it,
//!   as an EVENTINJ event not yet delivered would be ([`pending`]).
//! - A virtual interrupt and an interrupt-window request (the VMM injects one interrupt
//!   and wants to hear when the guest can take the next) cannot share V_IRQ. The kernel
//!   then intercepts the guest's next IRET (the end of the handler it just entered) and
//!   reports that exit as the interrupt window ([`Programmed::own_iret`]); the guest's
//!   RFLAGS.IF is still clear there, so the VMM asks for the window again, and the next
//!   exit is the real one.

/// EVENTINJ: vector (bits 7:0), type (10:8), error code valid (11), valid (31).
const VECTOR: u64 = 0xff;
const TYPE: u64 = 0x7 << 8;
const TYPE_EXTERNAL_INTERRUPT: u64 = 0;
const VALID: u64 = 1 << 31;

/// The VMCB's V_INTR word: V_IRQ (bit 8), V_INTR_PRIO (19:16), V_IGN_TPR (20),
/// V_INTR_VECTOR (39:32). V_INTR_MASKING (24) and the rest stay as they are.
pub const V_IRQ: u64 = 1 << 8;
const V_PRIO: u64 = 0xf << 16;
pub const V_IGN_TPR: u64 = 1 << 20;
const V_VECTOR_SHIFT: u32 = 32;
const V_VECTOR: u64 = 0xff << V_VECTOR_SHIFT;

/// Intercept word 1: VINTR (bit 4) and IRET (bit 20).
pub const INTERCEPT_VINTR: u32 = 1 << 4;
pub const INTERCEPT_IRET: u32 = 1 << 20;

/// Exit codes: the interrupt window (VINTR) and IRET.
pub const EXIT_VINTR: u64 = 0x64;
pub const EXIT_IRET: u64 = 0x74;

/// The UTCB's window requests (`facet_abi::utcb`), which are not events.
pub const REQUEST_INTR_WINDOW: u64 = 1 << 12;
pub const REQUEST_NMI_WINDOW: u64 = 1 << 13;

/// What the kernel writes into the VMCB for the VMM's injection word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Programmed {
    pub vintr: u64,
    pub misc1: u32,
    pub eventinj: u64,
    /// The IRET intercept is the kernel's (an interrupt window next to a virtual
    /// interrupt): its exit is reported as [`EXIT_VINTR`].
    pub own_iret: bool,
}

/// Programs `inj` (the UTCB's injection word) over the VMCB's V_INTR word `vintr` and
/// intercept word `misc1`. `own_iret`: whether the IRET intercept in `misc1` is the
/// kernel's from the last programming (it is replaced; a VMM's own stays).
pub fn program(inj: u64, vintr: u64, misc1: u32, own_iret: bool) -> Programmed {
    let event = inj & !(REQUEST_INTR_WINDOW | REQUEST_NMI_WINDOW);
    let window = inj & REQUEST_INTR_WINDOW != 0;
    let vintr = vintr & !(V_IRQ | V_PRIO | V_IGN_TPR | V_VECTOR);
    let mut misc1 = misc1 & !INTERCEPT_VINTR;
    if own_iret {
        misc1 &= !INTERCEPT_IRET;
    }
    if event & VALID != 0 && event & TYPE == TYPE_EXTERNAL_INTERRUPT {
        let vector = event & VECTOR;
        let vmm_iret = misc1 & INTERCEPT_IRET != 0;
        return Programmed {
            vintr: vintr | V_IRQ | V_PRIO | V_IGN_TPR | vector << V_VECTOR_SHIFT,
            misc1: misc1 | if window { INTERCEPT_IRET } else { 0 },
            eventinj: 0,
            own_iret: window && !vmm_iret,
        };
    }
    Programmed {
        vintr: if window {
            vintr | V_IRQ | V_IGN_TPR
        } else {
            vintr
        },
        misc1: if window {
            misc1 | INTERCEPT_VINTR
        } else {
            misc1
        },
        eventinj: event,
        own_iret: false,
    }
}

/// The injection word an exit reports: an EVENTINJ event not delivered, or a virtual
/// interrupt still pending (V_IRQ without the VINTR intercept, which only a window
/// request sets), as the external interrupt the VMM injected.
pub fn pending(eventinj: u64, vintr: u64, misc1: u32) -> u64 {
    if eventinj & VALID != 0 {
        eventinj
    } else if vintr & V_IRQ != 0 && misc1 & INTERCEPT_VINTR == 0 {
        VALID | TYPE_EXTERNAL_INTERRUPT | (vintr & V_VECTOR) >> V_VECTOR_SHIFT
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
