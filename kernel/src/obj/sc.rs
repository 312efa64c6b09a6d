//! Sc: a scheduling context, a share of CPU time (priority and quantum) for a global Ec.
//!
//! Created and destroyed here; the scheduler that runs Ecs under their Scs comes with
//! the IPC and scheduling work.

use super::{get, Handle, Header, Kind, Object};
use facet_abi::status::Status;

/// Default priority of the roottask's Sc (the reference's).
pub const DEFAULT_PRIO: u8 = 1;
/// Default quantum of the roottask's Sc in microseconds (the reference's).
pub const DEFAULT_QUANTUM: u32 = 10_000;

/// A scheduling context.
#[repr(C)]
pub struct Sc {
    hdr: Header,
    /// The Ec it runs (a counted reference).
    pub ec: Handle,
    pub prio: u8,
    pub quantum: u32,
    /// Time consumed so far, in TSC ticks.
    pub consumed: u64,
    /// Next Sc in the same run queue, or parked on the same Ec.
    pub next: Handle,
    /// Previous Sc parked on the same Ec.
    pub prev: Handle,
    /// The Ec it is parked on (`exec::sched`), 0 if none.
    pub parked_on: Handle,
    /// Whether the Sc is in a run queue.
    pub queued: bool,
    /// TSC ticks left of the current quantum (`exec::sched`).
    pub left: u64,
    /// Unique among all Scs ever created: an Ec that records the Sc to wake with
    /// (`Ec::blocked_sc`) records this too, so that a destroyed Sc, or another Sc that
    /// took its place in memory, is not taken for it.
    pub serial: u64,
}

/// The next Sc's serial.
static NEXT_SERIAL: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

impl Sc {
    /// Creates an Sc for `ec`.
    pub fn create(ec: Handle, prio: u8, quantum: u32) -> Result<Handle, Status> {
        let h = super::alloc(Sc {
            hdr: Header::new(Kind::Sc),
            ec,
            prio,
            quantum,
            consumed: 0,
            next: 0,
            prev: 0,
            parked_on: 0,
            queued: false,
            left: quantum_ticks(quantum),
            serial: NEXT_SERIAL.fetch_add(1, core::sync::atomic::Ordering::Relaxed),
        })?;
        get(ec);
        Ok(h)
    }
}

/// A quantum of `us` microseconds in TSC ticks.
pub fn quantum_ticks(us: u32) -> u64 {
    facet_kcore::timer::quantum_ticks(us, crate::arch::lapic::frequencies().0)
}

impl Object for Sc {
    const KIND: Kind = Kind::Sc;
}
