//! Sm: a counting semaphore, optionally chained to another one that it signals (the way
//! interrupts reach user space). Blocking `down` comes with the IPC and scheduling work.

use super::{get, Handle, Header, Kind, Object};
use facet_abi::status::Status;

/// A semaphore.
#[repr(C)]
pub struct Sm {
    hdr: Header,
    pub counter: u64,
    /// The semaphore this one signals, 0 if none (a counted reference).
    pub chained: Handle,
    /// For the kernel's interrupt semaphores: the GSI plus one (0 for ordinary ones).
    pub gsi: u32,
    /// First and last Ec waiting (linked through `Ec::next_waiter`).
    pub waiters: Handle,
    pub last_waiter: Handle,
}

impl Sm {
    /// Creates a semaphore with an initial count.
    pub fn create(counter: u64, chained: Handle) -> Result<Handle, Status> {
        let h = super::alloc(Sm {
            hdr: Header::new(Kind::Sm),
            counter,
            chained,
            gsi: 0,
            waiters: 0,
            last_waiter: 0,
        })?;
        if chained != 0 {
            get(chained);
        }
        Ok(h)
    }
}

impl Object for Sm {
    const KIND: Kind = Kind::Sm;
}
