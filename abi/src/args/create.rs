//! `create_pd`, `create_ec`, `create_sc`, `create_pt`, `create_sm`.
//!
//! Each puts the new object's capability at the selector in ARG1 bits 63:8 and names in
//! ARG2 the PD capability that allows the creation.

use super::{arg1, bit, sel, Args, Regs};
use crate::crd::Crd;
use crate::hypercall::Hypercall;

/// `create_pd` (2): an empty PD, which receives the caller's object capabilities `crd`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreatePd {
    /// Selector for the new capability (ARG1 bits 63:8).
    pub sel: u64,
    /// ARG1 bit 4: pass-through (honoured only under a pass-through parent).
    pub passthrough: bool,
    /// ARG2: the parent PD capability, with permission bit 0.
    pub parent: u64,
    /// ARG3: object capabilities of the caller to delegate to selector 0 onwards of the
    /// new PD (other kinds are ignored).
    pub crd: Crd,
}

impl Args for CreatePd {
    const HYPERCALL: Hypercall = Hypercall::CreatePd;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, self.passthrough as u64, self.sel),
            rsi: self.parent,
            rdx: self.crd.0,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        CreatePd {
            sel: sel(r.rdi),
            passthrough: bit(r.rdi, 4),
            parent: r.rsi,
            crd: Crd(r.rdx),
        }
    }
}

/// `create_ec` (3): a local EC, a global EC or a vCPU in PD `pd`, bound to `cpu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateEc {
    /// Selector for the new capability (ARG1 bits 63:8).
    pub sel: u64,
    /// ARG1 bit 4: a global EC (else local).
    pub global: bool,
    /// ARG1 bit 5: a vCPU.
    pub vcpu: bool,
    /// ARG1 bit 6: in the reference, the vCPU uses its PD's APIC-access page. Facet's
    /// kernel does not read it.
    pub apic_access_page: bool,
    /// ARG1 bit 7: map the UTCB into the caller's PD instead of the EC's.
    pub utcb_in_caller: bool,
    /// ARG2: the EC's PD, a PD capability with permission bit 1.
    pub pd: u64,
    /// ARG3 bits 11:0: the CPU.
    pub cpu: u16,
    /// ARG3 bits 63:12: the UTCB's address (0: none; a vCPU's virtual-APIC page on
    /// VMX). Bits 11:0 of this field are not encoded.
    pub utcb: u64,
    /// ARG4: the initial stack pointer.
    pub sp: u64,
    /// ARG5: the event base (all 64 bits; the reference keeps 32).
    pub evt: u64,
}

impl Args for CreateEc {
    const HYPERCALL: Hypercall = Hypercall::CreateEc;

    #[inline]
    fn to_regs(&self) -> Regs {
        let f = self.global as u64
            | (self.vcpu as u64) << 1
            | (self.apic_access_page as u64) << 2
            | (self.utcb_in_caller as u64) << 3;
        Regs {
            rdi: arg1(Self::HYPERCALL, f, self.sel),
            rsi: self.pd,
            rdx: (self.utcb & !0xfff) | (self.cpu as u64 & 0xfff),
            rax: self.sp,
            r8: self.evt,
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        CreateEc {
            sel: sel(r.rdi),
            global: bit(r.rdi, 4),
            vcpu: bit(r.rdi, 5),
            apic_access_page: bit(r.rdi, 6),
            utcb_in_caller: bit(r.rdi, 7),
            pd: r.rsi,
            cpu: (r.rdx & 0xfff) as u16,
            utcb: r.rdx & !0xfff,
            sp: r.rax,
            evt: r.r8,
        }
    }
}

/// `create_sc` (4): an SC for the global EC `ec`, with a priority and a quantum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateSc {
    /// Selector for the new capability (ARG1 bits 63:8).
    pub sel: u64,
    /// ARG2: a PD capability with permission bit 2.
    pub pd: u64,
    /// ARG3: an EC capability with permission bit 2.
    pub ec: u64,
    /// ARG4 bits 7:0: the priority (the kernel refuses 0 and 128 onwards).
    pub prio: u8,
    /// ARG4 bits 63:12 (52 bits): the quantum in microseconds (the kernel refuses 0 and
    /// more than 32 bits; the reference keeps bits 43:12 only). ARG4 bits 11:8 are
    /// ignored.
    pub quantum: u64,
}

impl Args for CreateSc {
    const HYPERCALL: Hypercall = Hypercall::CreateSc;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.sel),
            rsi: self.pd,
            rdx: self.ec,
            rax: self.quantum << 12 | self.prio as u64,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        CreateSc {
            sel: sel(r.rdi),
            pd: r.rsi,
            ec: r.rdx,
            prio: r.rax as u8,
            quantum: r.rax >> 12,
        }
    }
}

/// `create_pt` (5): a portal into the local EC `ec`, entered at `ip`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreatePt {
    /// Selector for the new capability (ARG1 bits 63:8).
    pub sel: u64,
    /// ARG2: a PD capability with permission bit 3.
    pub pd: u64,
    /// ARG3: an EC capability with permission bit 3.
    pub ec: u64,
    /// ARG4: the MTD, the state an exception or VM-exit message carries
    /// (`crate::mtd`; all 64 bits are kept).
    pub mtd: u64,
    /// ARG5: the handler's instruction pointer.
    pub ip: u64,
}

impl Args for CreatePt {
    const HYPERCALL: Hypercall = Hypercall::CreatePt;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.sel),
            rsi: self.pd,
            rdx: self.ec,
            rax: self.mtd,
            r8: self.ip,
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        CreatePt {
            sel: sel(r.rdi),
            pd: r.rsi,
            ec: r.rdx,
            mtd: r.rax,
            ip: r.r8,
        }
    }
}

/// `create_sm` (6): a semaphore with an initial count, optionally chained.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreateSm {
    /// Selector for the new capability (ARG1 bits 63:8).
    pub sel: u64,
    /// ARG2: a PD capability with permission bit 4.
    pub pd: u64,
    /// ARG3: the initial count.
    pub count: u64,
    /// ARG4: a semaphore capability with permission bit 0 to chain to (0: none).
    pub chain: u64,
}

impl Args for CreateSm {
    const HYPERCALL: Hypercall = Hypercall::CreateSm;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.sel),
            rsi: self.pd,
            rdx: self.count,
            rax: self.chain,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        CreateSm {
            sel: sel(r.rdi),
            pd: r.rsi,
            count: r.rdx,
            chain: r.rax,
        }
    }
}
