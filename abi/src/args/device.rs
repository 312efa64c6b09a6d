//! `assign_pci` and `assign_gsi`: devices and their interrupts.
//!
//! Both name a device by the address where a PD maps its PCI configuration page.

use super::{arg1, bit, sel, Args, Out, Regs, Results};
use crate::hypercall::Hypercall;

/// `assign_pci` (13): the device PD `pd` maps at `dev` to that PD's device page table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssignPci {
    /// ARG1 bits 63:8: a PD capability.
    pub pd: u64,
    /// ARG2: where that PD maps the device's PCI configuration page.
    pub dev: u64,
    /// ARG3: the reference's hint: the requester id of a device whose remapping unit
    /// takes the assignment (a driver passes its device's own).
    pub hint: u64,
}

impl Args for AssignPci {
    const HYPERCALL: Hypercall = Hypercall::AssignPci;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.pd),
            rsi: self.dev,
            rdx: self.hint,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        AssignPci {
            pd: sel(r.rdi),
            dev: r.rsi,
            hint: r.rdx,
        }
    }
}

/// [`AssignGsi::chain`] that leaves the interrupt semaphore's chain as it is.
pub const NO_CHAIN: u64 = u64::MAX;

/// `assign_gsi` (14): routes the GSI of interrupt semaphore `sm` to `cpu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssignGsi {
    /// ARG1 bits 63:8: a capability to one of the kernel's interrupt semaphores.
    pub sm: u64,
    /// ARG2, for an MSI: where the caller maps the device's PCI configuration page.
    pub dev: u64,
    /// ARG3 bits 31:0: the CPU.
    pub cpu: u32,
    /// ARG1 bit 4 set: override the pin's trigger mode and polarity with ARG3 bits 32
    /// and 33, which are read only with the bit (bits 63:34 never are).
    pub mode: Option<GsiMode>,
    /// ARG4: [`NO_CHAIN`]; the interrupt semaphore itself to unchain it; else an
    /// ordinary semaphore the interrupt signals instead.
    pub chain: u64,
}

/// Trigger mode and polarity of an I/O APIC pin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GsiMode {
    /// ARG3 bit 32: level-triggered (else edge).
    pub level: bool,
    /// ARG3 bit 33: active-low (else active-high).
    pub active_low: bool,
}

impl Args for AssignGsi {
    const HYPERCALL: Hypercall = Hypercall::AssignGsi;

    #[inline]
    fn to_regs(&self) -> Regs {
        let mode = match self.mode {
            Some(m) => (m.level as u64) << 32 | (m.active_low as u64) << 33,
            None => 0,
        };
        Regs {
            rdi: arg1(Self::HYPERCALL, self.mode.is_some() as u64, self.sm),
            rsi: self.dev,
            rdx: self.cpu as u64 | mode,
            rax: self.chain,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        AssignGsi {
            sm: sel(r.rdi),
            dev: r.rsi,
            cpu: r.rdx as u32,
            mode: bit(r.rdi, 4).then_some(GsiMode {
                level: bit(r.rdx, 32),
                active_low: bit(r.rdx, 33),
            }),
            chain: r.rax,
        }
    }
}

/// The answer of `assign_gsi`, in OUT2 (RSI) and OUT3 (RDX): the MSI address and data to
/// program into the device, both 0 for an I/O APIC pin. Unchaining answers none (both
/// registers keep what the caller passed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssignGsiOut {
    /// The MSI address.
    pub msi_address: u64,
    /// The MSI data.
    pub msi_data: u64,
}

impl Results for AssignGsiOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.msi_address;
        out.rdx = self.msi_data;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        AssignGsiOut {
            msi_address: out.rsi,
            msi_data: out.rdx,
        }
    }
}
