//! `revoke`, `ec_ctrl`, `sc_ctrl`, `pt_ctrl` and `machine_ctrl`.

use super::{arg1, bit, flags, sel, Args, Out, Regs, Results};
use crate::crd::Crd;
use crate::hypercall::{machine_ctrl as op, Hypercall};

/// `revoke` (7): takes permissions back from what was delegated from `crd`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Revoke {
    /// ARG2: the range and the permissions to take.
    pub crd: Crd,
    /// ARG1 bit 4: reduce the range's own capabilities too.
    pub include_self: bool,
    /// ARG1 bit 5 set: work on the PD whose capability is in ARG3 instead of the
    /// caller's. ARG3 is read only with the bit.
    pub remote: Option<u64>,
    /// ARG1 bits 63:8: a semaphore to `up` when done (0: none).
    pub sm: u64,
}

impl Args for Revoke {
    const HYPERCALL: Hypercall = Hypercall::Revoke;

    #[inline]
    fn to_regs(&self) -> Regs {
        let f = self.include_self as u64 | (self.remote.is_some() as u64) << 1;
        Regs {
            rdi: arg1(Self::HYPERCALL, f, self.sm),
            rsi: self.crd.0,
            rdx: self.remote.unwrap_or(0),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        Revoke {
            crd: Crd(r.rsi),
            include_self: bit(r.rdi, 4),
            remote: bit(r.rdi, 5).then_some(r.rdx),
            sm: sel(r.rdi),
        }
    }
}

/// `ec_ctrl` (9): recalls EC `ec`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EcCtrl {
    /// ARG1 bits 63:8: an EC capability with permission bit 0.
    pub ec: u64,
    /// ARG1 bits 5:4: the sub-operation, `crate::hypercall::ec_ctrl::RECALL` (the only
    /// one; others answer BAD_PAR).
    pub op: u8,
}

impl Args for EcCtrl {
    const HYPERCALL: Hypercall = Hypercall::EcCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, self.op as u64 & 3, self.ec),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        EcCtrl {
            ec: sel(r.rdi),
            op: (flags(r.rdi) & 3) as u8,
        }
    }
}

/// `sc_ctrl` (10): the time SC `sc` has consumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScCtrl {
    /// ARG1 bits 63:8: an SC capability with permission bit 0. Bits 7:4 are ignored.
    pub sc: u64,
}

impl Args for ScCtrl {
    const HYPERCALL: Hypercall = Hypercall::ScCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.sc),
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        ScCtrl { sc: sel(r.rdi) }
    }
}

/// The answer of `sc_ctrl`, as the reference gives it: bits 63:32 in OUT2 (RSI), the
/// whole value in OUT3 (RDX). Read back from OUT2 bits 31:0 and OUT3 bits 31:0, which
/// works with either half-filling of OUT3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScCtrlOut {
    /// Consumed time in microseconds.
    pub us: u64,
}

impl Results for ScCtrlOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.us >> 32;
        out.rdx = self.us;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        ScCtrlOut {
            us: out.rsi << 32 | (out.rdx & 0xffff_ffff),
        }
    }
}

/// `pt_ctrl` (11): sets portal `pt`'s id.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PtCtrl {
    /// ARG1 bits 63:8: a portal capability with permission bit 0.
    pub pt: u64,
    /// ARG2: the id the handler will receive in RDI.
    pub id: u64,
}

impl Args for PtCtrl {
    const HYPERCALL: Hypercall = Hypercall::PtCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        Regs {
            rdi: arg1(Self::HYPERCALL, 0, self.pt),
            rsi: self.id,
            ..Regs::default()
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        PtCtrl {
            pt: sel(r.rdi),
            id: r.rsi,
        }
    }
}

/// `machine_ctrl` (15), by ARG1 bits 5:4 (pass-through PDs only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineCtrl {
    /// 0, the reference's: enter ACPI sleep state SLP_TYPa/SLP_TYPb (ARG1 bits 15:8 and
    /// 23:16) and return once the machine has woken ([`SuspendOut`]).
    Suspend { slp_typa: u8, slp_typb: u8 },
    /// 1, the reference's: load the microcode update of `size` bytes (ARG1 bits 31:8) at
    /// physical `address` (ARG2) on every CPU ([`MicrocodeOut`]).
    UpdateMicrocode { size: u32, address: u64 },
    /// 2: BAD_PAR, as in the reference.
    Reserved,
    /// 3 with ARG2 0, Facet's own: the kernel pool's frames ([`PoolStatsOut`]).
    PoolStats,
    /// 3 with ARG2 1, Facet's own: the IOMMU's faults ([`IommuFaultsOut`]).
    IommuFaults,
}

impl Args for MachineCtrl {
    const HYPERCALL: Hypercall = Hypercall::MachineCtrl;

    #[inline]
    fn to_regs(&self) -> Regs {
        let h = Self::HYPERCALL;
        match *self {
            MachineCtrl::Suspend { slp_typa, slp_typb } => Regs {
                rdi: arg1(h, op::SUSPEND, slp_typa as u64 | (slp_typb as u64) << 8),
                ..Regs::default()
            },
            MachineCtrl::UpdateMicrocode { size, address } => Regs {
                rdi: arg1(h, op::UPDATE_MICROCODE, size as u64 & 0xff_ffff),
                rsi: address,
                ..Regs::default()
            },
            MachineCtrl::Reserved => Regs {
                rdi: arg1(h, op::RESERVED, 0),
                ..Regs::default()
            },
            MachineCtrl::PoolStats => Regs {
                rdi: arg1(h, op::FACET_STATS, 0),
                rsi: op::STATS_POOL,
                ..Regs::default()
            },
            MachineCtrl::IommuFaults => Regs {
                rdi: arg1(h, op::FACET_STATS, 0),
                rsi: op::STATS_IOMMU_FAULTS,
                ..Regs::default()
            },
        }
    }

    #[inline]
    fn from_regs(r: &Regs) -> Self {
        match flags(r.rdi) & 3 {
            op::SUSPEND => MachineCtrl::Suspend {
                slp_typa: (r.rdi >> 8) as u8,
                slp_typb: (r.rdi >> 16) as u8,
            },
            op::UPDATE_MICROCODE => MachineCtrl::UpdateMicrocode {
                size: (r.rdi as u32) >> 8,
                address: r.rsi,
            },
            op::FACET_STATS => match r.rsi {
                op::STATS_POOL => MachineCtrl::PoolStats,
                op::STATS_IOMMU_FAULTS => MachineCtrl::IommuFaults,
                // No such statistic: BAD_PAR, as for sub-operation 2.
                _ => MachineCtrl::Reserved,
            },
            _ => MachineCtrl::Reserved,
        }
    }
}

/// The answer of `machine_ctrl` pool statistics, in OUT2 (RSI) and OUT3 (RDX).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStatsOut {
    /// Free frames in the kernel pool.
    pub free: u64,
    /// All frames of the kernel pool.
    pub total: u64,
}

impl Results for PoolStatsOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.free;
        out.rdx = self.total;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        PoolStatsOut {
            free: out.rsi,
            total: out.rdx,
        }
    }
}

/// The answer of `machine_ctrl`'s IOMMU fault statistics, in OUT2 (RSI), OUT3 (RDX) and
/// OUT4 (RAX).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IommuFaultsOut {
    /// Faults the units recorded since boot (DMA and interrupt remapping faults).
    pub count: u64,
    /// The last fault: bits 15:0 the requester id, 23:16 the VT-d reason code, bit 24 a
    /// DMA write (else a read), bit 25 an interrupt remapping fault, bits 31:28 the
    /// unit's DMAR index. 0 while there was none.
    pub last: u64,
    /// The last fault's page address (DMA) or interrupt index (interrupt remapping).
    pub info: u64,
}

impl IommuFaultsOut {
    /// The last fault's requester id.
    pub const fn source(&self) -> u16 {
        self.last as u16
    }

    /// The last fault's reason code.
    pub const fn reason(&self) -> u8 {
        (self.last >> 16) as u8
    }

    /// Whether the last fault was a DMA write.
    pub const fn write(&self) -> bool {
        self.last & (1 << 24) != 0
    }

    /// Whether the last fault was an interrupt remapping fault.
    pub const fn interrupt(&self) -> bool {
        self.last & (1 << 25) != 0
    }
}

impl Results for IommuFaultsOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.count;
        out.rdx = self.last;
        out.rax = self.info;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        IommuFaultsOut {
            count: out.rsi,
            last: out.rdx,
            info: out.rax,
        }
    }
}

/// The answer of `machine_ctrl` suspend, in OUT2 (RSI), with every status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SuspendOut {
    /// The FACS waking vector the firmware had (bits 61:0); the wake-up mode in bits
    /// 63:62 (0: real mode, the only one).
    pub waking_vector: u64,
}

impl Results for SuspendOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.waking_vector;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        SuspendOut {
            waking_vector: out.rsi,
        }
    }
}

/// The answer of `machine_ctrl` update microcode (Facet's), in OUT2 (RSI), with SUCCESS
/// and ABORT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MicrocodeOut {
    /// The microcode revision the calling CPU runs afterwards.
    pub revision: u64,
}

impl Results for MicrocodeOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.revision;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        MicrocodeOut { revision: out.rsi }
    }
}
