//! Fault events: a unit that blocks a DMA or an interrupt records it and raises its fault
//! event interrupt (vector [`VECTOR`] on the bootstrap CPU). The handler reads every
//! record, counts it, keeps the last for `machine_ctrl`'s statistics and prints it
//! (rate-limited: a device can fault millions of times a second), then clears the
//! records so that the unit can report the next ones. The access itself was blocked by
//! the unit; nothing here decides anything.

use facet_kcore::iommu::fault::{self, Bdf, Record, RECORDED};
use facet_kcore::iommu::regs::{self, fsts};

use super::unit::Unit;
use crate::console::limited::Kind;
use crate::sync::SpinLock;

/// The fault event interrupt's vector.
pub const VECTOR: u8 = 0xf2;

/// Faults recorded since boot, and the last one with its unit.
struct Stats {
    count: u64,
    last: Option<(u8, Record)>,
}

static STATS: SpinLock<Stats> = SpinLock::new(Stats {
    count: 0,
    last: None,
});

/// Reads and clears the fault records of `units` (from the interrupt handler).
pub fn service(units: &[Unit]) {
    for u in units {
        // A unit keeps reporting while records are pending; a bounded number of rounds
        // leaves the rest for the next interrupt.
        for _ in 0..4 {
            let status = u.read32(regs::FSTS);
            if status & (fsts::PPF | fsts::CLEAR) == 0 {
                break;
            }
            if status & fsts::PPF != 0 {
                read_records(u, fsts::fri(status));
            }
            if status & fsts::PFO != 0 {
                crate::println_limited!(
                    Kind::Iommu,
                    "iommu: unit {} had more faults than records: some went unreported",
                    u.index
                );
            }
            u.write32(regs::FSTS, status & fsts::CLEAR);
        }
    }
}

/// Reads the records from `first` on, round the ring, until one holds no fault.
fn read_records(u: &Unit, first: u32) {
    let n = u.caps.fault_record_count();
    for k in 0..n {
        let at = u.caps.fault_records() + ((first + k) % n) as u64 * 16;
        let Some(r) = fault::decode(u.read64(at), u.read64(at + 8)) else {
            break;
        };
        u.write64(at + 8, RECORDED);
        record(u.index, r);
    }
}

fn record(unit: u8, r: Record) {
    {
        let mut s = STATS.lock();
        s.count += 1;
        s.last = Some((unit, r));
    }
    if r.interrupt() {
        crate::println_limited!(
            Kind::Iommu,
            "iommu: unit {unit} blocked an interrupt from {} (entry {}): reason {:#x}, {}",
            Bdf(r.source),
            r.info,
            r.reason,
            fault::reason(r.reason)
        );
    } else {
        crate::println_limited!(
            Kind::Iommu,
            "iommu: unit {unit} blocked a DMA {} by {} at {:#x}: reason {:#x}, {}",
            if r.write { "write" } else { "read" },
            Bdf(r.source),
            r.info,
            r.reason,
            fault::reason(r.reason)
        );
    }
}

/// Faults recorded since boot; the last one: bits 15:0 its requester, 23:16 its reason,
/// bit 24 a write, bit 25 an interrupt fault, bits 31:28 its unit; and its page address
/// (DMA) or interrupt index (0s when there was none).
pub fn stats() -> (u64, u64, u64) {
    let s = STATS.lock();
    match s.last {
        Some((unit, r)) => (
            s.count,
            r.source as u64
                | (r.reason as u64) << 16
                | (r.write as u64) << 24
                | (r.interrupt() as u64) << 25
                | ((unit & 0xf) as u64) << 28,
            r.info,
        ),
        None => (s.count, 0, 0),
    }
}
