//! `machine_ctrl` (15): the reference's suspend and microcode update, and Facet's
//! statistics (sub-operation 3, ARG2 the statistic).

use super::{arg1, flags, Args, Out, Regs, Results};
use crate::hypercall::{machine_ctrl as op, Hypercall};

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
    /// 3 with ARG2 2, Facet's own: the pool's frames used for `item` (ARG3,
    /// `machine_ctrl::frames`; [`FrameStatsOut`]).
    FrameStats { item: u64 },
    /// 3 with ARG2 3, Facet's own: kernel objects of `kind` (ARG3,
    /// `machine_ctrl::objects`; [`ObjectStatsOut`]).
    ObjectStats { kind: u64 },
    /// 3 with ARG2 4, Facet's own: the frames of the PD at selector `pd` (ARG3) in `part`
    /// (ARG4, `machine_ctrl::pd_frames`; [`PdStatsOut`]).
    PdStats { pd: u64, part: u64 },
    /// 3 with ARG2 5, Facet's own: the timer interrupts CPU `cpu` (ARG3) took since boot
    /// ([`TimerStatsOut`]).
    TimerInterrupts { cpu: u64 },
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
            MachineCtrl::FrameStats { item } => Regs {
                rdi: arg1(h, op::FACET_STATS, 0),
                rsi: op::STATS_FRAMES,
                rdx: item,
                ..Regs::default()
            },
            MachineCtrl::ObjectStats { kind } => Regs {
                rdi: arg1(h, op::FACET_STATS, 0),
                rsi: op::STATS_OBJECTS,
                rdx: kind,
                ..Regs::default()
            },
            MachineCtrl::PdStats { pd, part } => Regs {
                rdi: arg1(h, op::FACET_STATS, 0),
                rsi: op::STATS_PD,
                rdx: pd,
                rax: part,
                ..Regs::default()
            },
            MachineCtrl::TimerInterrupts { cpu } => Regs {
                rdi: arg1(h, op::FACET_STATS, 0),
                rsi: op::STATS_TIMER,
                rdx: cpu,
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
                op::STATS_FRAMES => MachineCtrl::FrameStats { item: r.rdx },
                op::STATS_OBJECTS => MachineCtrl::ObjectStats { kind: r.rdx },
                op::STATS_PD => MachineCtrl::PdStats {
                    pd: r.rdx,
                    part: r.rax,
                },
                op::STATS_TIMER => MachineCtrl::TimerInterrupts { cpu: r.rdx },
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

/// The answer of `machine_ctrl`'s frame statistics, in OUT2 (RSI) and OUT3 (RDX).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStatsOut {
    /// Frames used for the item asked about.
    pub frames: u64,
    /// The number of items (`machine_ctrl::frames::COUNT`).
    pub uses: u64,
}

impl Results for FrameStatsOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.frames;
        out.rdx = self.uses;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        FrameStatsOut {
            frames: out.rsi,
            uses: out.rdx,
        }
    }
}

/// The answer of `machine_ctrl`'s object statistics, in OUT2 (RSI) and OUT3 (RDX).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectStatsOut {
    /// Objects of the kind alive now.
    pub live: u64,
    /// For SCs, the most alive at once since boot; 0 for the other kinds.
    pub peak: u64,
}

impl Results for ObjectStatsOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.live;
        out.rdx = self.peak;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        ObjectStatsOut {
            live: out.rsi,
            peak: out.rdx,
        }
    }
}

/// The answer of `machine_ctrl`'s PD statistics, in OUT2 (RSI).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PdStatsOut {
    /// The PD's frames in the part asked about.
    pub frames: u64,
}

impl Results for PdStatsOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.frames;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        PdStatsOut { frames: out.rsi }
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

/// The answer of `machine_ctrl` timer statistics, in OUT2 (RSI).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerStatsOut {
    /// Timer interrupts the CPU took since boot.
    pub interrupts: u64,
}

impl Results for TimerStatsOut {
    #[inline]
    fn to_out(&self, out: &mut Out) {
        out.rsi = self.interrupts;
    }

    #[inline]
    fn from_out(out: &Out) -> Self {
        TimerStatsOut {
            interrupts: out.rsi,
        }
    }
}
