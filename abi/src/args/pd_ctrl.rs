//! `pd_ctrl` (8) and its four sub-operations, selected by ARG1 bits 5:4: lookup,
//! map_access_page, delegate and msr_access.

use super::{arg1, bit, flags, sel, Args, Out, Regs, Results};
use crate::crd::Crd;
use crate::hypercall::{pd_ctrl as op, Hypercall};

/// `pd_ctrl`, by its sub-operation. Each sub-operation's struct decodes on its own as
/// well, for a handler that has dispatched already.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdCtrl {
    /// Sub-operation 0.
    Lookup(Lookup),
    /// Sub-operation 1.
    MapAccessPage(MapAccessPage),
    /// Sub-operation 2.
    Delegate(Delegate),
    /// Sub-operation 3.
    MsrAccess(MsrAccess),
}

impl Args for PdCtrl {
    const HYPERCALL: Hypercall = Hypercall::PdCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        match self {
            PdCtrl::Lookup(a) => a.to_regs(),
            PdCtrl::MapAccessPage(a) => a.to_regs(),
            PdCtrl::Delegate(a) => a.to_regs(),
            PdCtrl::MsrAccess(a) => a.to_regs(),
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        match flags(r.rdi) & 3 {
            op::LOOKUP => PdCtrl::Lookup(Lookup::from_regs(r)),
            op::MAP_ACCESS_PAGE => PdCtrl::MapAccessPage(MapAccessPage::from_regs(r)),
            op::DELEGATE => PdCtrl::Delegate(Delegate::from_regs(r)),
            _ => PdCtrl::MsrAccess(MsrAccess::from_regs(r)),
        }
    }
}

/// `pd_ctrl lookup`: what the caller holds at the base of `crd`. ARG1 bits 63:8 are not
/// read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lookup {
    /// ARG2: the CRD whose kind and base count.
    pub crd: Crd,
}

impl Args for Lookup {
    const HYPERCALL: Hypercall = Hypercall::PdCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, op::LOOKUP, 0),
            rsi: self.crd.0,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        Lookup { crd: Crd(r.rsi) }
    }
}

/// The answer of `pd_ctrl lookup`, in OUT2 (RSI).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupOut {
    /// The capability's node, with its permissions; null if there is none.
    pub crd: Crd,
}

impl Results for LookupOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.crd.0;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        LookupOut { crd: Crd(out.rsi) }
    }
}

/// `pd_ctrl map_access_page`: maps the caller's APIC-access page at the guest-physical
/// page `crd` names. ARG1 bits 63:8 are not read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapAccessPage {
    /// ARG2: a memory CRD of order 0 with read and write permission.
    pub crd: Crd,
}

impl Args for MapAccessPage {
    const HYPERCALL: Hypercall = Hypercall::PdCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, op::MAP_ACCESS_PAGE, 0),
            rsi: self.crd.0,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        MapAccessPage { crd: Crd(r.rsi) }
    }
}

/// `pd_ctrl delegate`: transfers `crd` of PD `src` into the window `window` of PD `dst`,
/// as a typed item with metadata `meta` would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delegate {
    /// ARG1 bits 63:8: the source PD.
    pub src: u64,
    /// ARG2: the destination PD.
    pub dst: u64,
    /// ARG3: the source CRD.
    pub crd: Crd,
    /// ARG4: the typed item's metadata (transfer kind, `crate::hypercall::delegate`
    /// flags, hotspot), decoded where typed items are.
    pub meta: u64,
    /// ARG5: the destination CRD, both translate and delegate window.
    pub window: Crd,
}

impl Args for Delegate {
    const HYPERCALL: Hypercall = Hypercall::PdCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, op::DELEGATE, self.src),
            rsi: self.dst,
            rdx: self.crd.0,
            rax: self.meta,
            r8: self.window.0,
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        Delegate {
            src: sel(r.rdi),
            dst: r.rsi,
            crd: Crd(r.rdx),
            meta: r.rax,
            window: Crd(r.r8),
        }
    }
}

/// The answer of `pd_ctrl delegate`, in OUT3 (RDX) and OUT4 (RAX).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelegateOut {
    /// The resulting CRD (null where nothing was transferred).
    pub crd: Crd,
    /// The metadata's bits 11:0, bit 0 set where "translate, else delegate" delegated.
    pub meta: u64,
}

impl Results for DelegateOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rdx = self.crd.0;
        out.rax = self.meta;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        DelegateOut {
            crd: Crd(out.rdx),
            meta: out.rax,
        }
    }
}

/// `pd_ctrl msr_access`: reads or writes MSR `index` on the calling CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsrAccess {
    /// ARG1 bits 39:8: the MSR (bits 63:40 are ignored).
    pub index: u32,
    /// ARG1 bit 6: write `value` (else read).
    pub write: bool,
    /// ARG2: the value to write (not read for a read).
    pub value: u64,
}

impl Args for MsrAccess {
    const HYPERCALL: Hypercall = Hypercall::PdCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        let f = op::MSR_ACCESS | if self.write { op::MSR_WRITE } else { 0 };
        Regs {
            rdi: arg1(Self::HYPERCALL, f, self.index as u64),
            rsi: self.value,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        MsrAccess {
            index: sel(r.rdi) as u32,
            write: bit(r.rdi, 6),
            value: r.rsi,
        }
    }
}

/// The answer of an MSR read, in OUT2 (RSI). A write answers only a status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsrAccessOut {
    /// The MSR's value.
    pub value: u64,
}

impl Results for MsrAccessOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.value;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        MsrAccessOut { value: out.rsi }
    }
}
