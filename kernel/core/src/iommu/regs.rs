//! A remapping unit's registers (offsets from its register base) and the decoding of its
//! capability (CAP) and extended capability (ECAP) registers.

/// Version (32 bits).
pub const VER: u64 = 0x00;
/// Capability (64 bits).
pub const CAP: u64 = 0x08;
/// Extended capability (64 bits).
pub const ECAP: u64 = 0x10;
/// Global command (32 bits, write-only).
pub const GCMD: u64 = 0x18;
/// Global status (32 bits).
pub const GSTS: u64 = 0x1c;
/// Root table address (64 bits).
pub const RTADDR: u64 = 0x20;
/// Context command (64 bits): register-based context-cache invalidation.
pub const CCMD: u64 = 0x28;
/// Fault status (32 bits).
pub const FSTS: u64 = 0x34;
/// Fault event control, data, address, upper address (32 bits each).
pub const FECTL: u64 = 0x38;
pub const FEDATA: u64 = 0x3c;
pub const FEADDR: u64 = 0x40;
pub const FEUADDR: u64 = 0x44;
/// Invalidation queue head, tail, address (64 bits each).
pub const IQH: u64 = 0x80;
pub const IQT: u64 = 0x88;
pub const IQA: u64 = 0x90;
/// Invalidation completion status (32 bits).
pub const ICS: u64 = 0x9c;
/// Interrupt remapping table address (64 bits).
pub const IRTA: u64 = 0xb8;
/// The IOTLB invalidate register, at the IOTLB registers' offset ([`Caps::iotlb`]) + 8.
pub const IOTLB_INVALIDATE: u64 = 8;

/// Global command and status bits (the status bit of each command is at the same place).
pub mod gcmd {
    /// Translation enable.
    pub const TE: u32 = 1 << 31;
    /// Set root table pointer (one-shot).
    pub const SRTP: u32 = 1 << 30;
    /// Set fault log (one-shot).
    pub const SFL: u32 = 1 << 29;
    /// Enable advanced fault logging.
    pub const EAFL: u32 = 1 << 28;
    /// Write buffer flush (one-shot; status bit set while it runs).
    pub const WBF: u32 = 1 << 27;
    /// Queued invalidation enable.
    pub const QIE: u32 = 1 << 26;
    /// Interrupt remapping enable.
    pub const IRE: u32 = 1 << 25;
    /// Set interrupt remapping table pointer (one-shot).
    pub const SIRTP: u32 = 1 << 24;
    /// Compatibility-format interrupts pass unremapped (never set by Facet).
    pub const CFI: u32 = 1 << 23;
    /// The status bits that report a one-shot command, not a state: a command written
    /// to change one state bit repeats the others' states and leaves these clear.
    pub const ONE_SHOT: u32 = SRTP | SFL | WBF | SIRTP;
}

/// What to write to the global command register to set (or clear) `bits`, given the
/// global status read just before: every other enabled state stays as it is, and no
/// one-shot command is repeated.
pub const fn command(gsts: u32, bits: u32, on: bool) -> u32 {
    let keep = gsts & !gcmd::ONE_SHOT;
    if on {
        keep | bits
    } else {
        keep & !bits
    }
}

/// Fault status bits.
pub mod fsts {
    /// Primary fault overflow (write 1 to clear).
    pub const PFO: u32 = 1 << 0;
    /// Primary pending fault: some fault recording register holds a fault (read-only).
    pub const PPF: u32 = 1 << 1;
    /// Invalidation queue error (write 1 to clear).
    pub const IQE: u32 = 1 << 4;
    /// Every write-1-to-clear bit (overflows, advanced faults, queue errors).
    pub const CLEAR: u32 = 0x7d;
    /// The fault record index: bits 15:8.
    pub const fn fri(fsts: u32) -> u32 {
        (fsts >> 8) & 0xff
    }
}

/// The interrupt remapping table's size field for 2^(`s`+1) entries; Facet's table has
/// 256 (one page of 16-byte entries).
pub const IRTA_SIZE_256: u64 = 7;
/// IRTA bit: extended interrupt mode (32-bit x2APIC destinations).
pub const IRTA_EIME: u64 = 1 << 11;

/// A unit's capability and extended capability registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caps {
    pub cap: u64,
    pub ecap: u64,
}

impl Caps {
    /// Domain ids the unit supports: 2^(4 + 2 * ND) (ND 7 is reserved: read as 6).
    pub const fn domains(&self) -> u32 {
        let nd = self.cap & 7;
        let nd = if nd > 6 { 6 } else { nd };
        1 << (4 + 2 * nd)
    }

    /// Software must flush the write buffer after changing tables (RWBF).
    pub const fn rwbf(&self) -> bool {
        self.cap & (1 << 4) != 0
    }

    /// Caching mode: not-present and faulting entries may be cached too, so every change
    /// of a table needs an invalidation (and domain id 0 is reserved).
    pub const fn caching_mode(&self) -> bool {
        self.cap & (1 << 7) != 0
    }

    /// Whether the unit walks second-level tables of `levels` levels (3: 39-bit, 4:
    /// 48-bit, 5: 57-bit addresses; SAGAW bits 8 + levels - 2).
    pub const fn supports_levels(&self, levels: u8) -> bool {
        levels >= 2 && levels <= 6 && self.cap & (1 << (8 + levels as u64 - 2)) != 0
    }

    /// Maximum guest (device) address width in bits.
    pub const fn mgaw(&self) -> u32 {
        ((self.cap >> 16) & 0x3f) as u32 + 1
    }

    /// Super-page sizes of second-level tables (bit 0: 2 MiB, bit 1: 1 GiB).
    pub const fn super_pages(&self) -> u8 {
        ((self.cap >> 34) & 0xf) as u8
    }

    /// Offset of the first fault recording register (FRO, in units of 16 bytes).
    pub const fn fault_records(&self) -> u64 {
        ((self.cap >> 24) & 0x3ff) * 16
    }

    /// Number of fault recording registers.
    pub const fn fault_record_count(&self) -> u32 {
        ((self.cap >> 40) & 0xff) as u32 + 1
    }

    /// The unit can drain writes and reads when it invalidates the IOTLB.
    pub const fn drain(&self) -> (bool, bool) {
        (self.cap & (1 << 54) != 0, self.cap & (1 << 55) != 0)
    }

    /// Page walks are coherent with the CPU's caches (ECAP.C): without it, every table
    /// line the kernel writes must be flushed from the caches.
    pub const fn coherent(&self) -> bool {
        self.ecap & 1 != 0
    }

    /// Queued invalidation.
    pub const fn queued_invalidation(&self) -> bool {
        self.ecap & (1 << 1) != 0
    }

    /// Interrupt remapping.
    pub const fn interrupt_remapping(&self) -> bool {
        self.ecap & (1 << 3) != 0
    }

    /// Extended interrupt mode (x2APIC destinations).
    pub const fn extended_interrupts(&self) -> bool {
        self.ecap & (1 << 4) != 0
    }

    /// Snoop control: bit 11 of a second-level entry is the SNP bit (else reserved).
    pub const fn snoop_control(&self) -> bool {
        self.ecap & (1 << 7) != 0
    }

    /// Offset of the IOTLB registers (IRO, in units of 16 bytes).
    pub const fn iotlb(&self) -> u64 {
        ((self.ecap >> 8) & 0x3ff) * 16
    }

    /// Bytes of the register set the kernel touches: up to the end of the last fault
    /// recording register and of the IOTLB registers, at least one page.
    pub const fn register_span(&self) -> u64 {
        let faults = self.fault_records() + self.fault_record_count() as u64 * 16;
        let iotlb = self.iotlb() + 16;
        let end = if faults > iotlb { faults } else { iotlb };
        if end > 4096 {
            end
        } else {
            4096
        }
    }
}

/// The table depth every unit supports, preferring 4 levels (48-bit device addresses)
/// over 3 (39-bit): one depth for all, so that a protection domain's device page table
/// has one root whichever unit walks it. `None` if some unit supports neither.
pub fn common_levels(units: &[Caps]) -> Option<u8> {
    [4u8, 3]
        .into_iter()
        .find(|&l| units.iter().all(|u| u.supports_levels(l)))
}

/// The domain ids every unit supports, from `first` on: `first..=max` (empty if a unit
/// supports fewer than `first + 1`).
pub fn common_domains(units: &[Caps], first: u32) -> core::ops::RangeInclusive<u32> {
    let max = units.iter().map(|u| u.domains()).min().unwrap_or(0);
    first..=max.saturating_sub(1)
}
