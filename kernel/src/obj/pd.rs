//! Pd: a protection domain, the unit of spatial isolation.

use facet_abi::layout::{ROOT_SEL_EC, ROOT_SEL_PD, ROOT_SEL_SC};

use crate::sync::SpinLock;

/// A protection domain.
#[derive(Clone, Copy, Debug)]
pub struct Pd {
    /// Physical address of its PML4 (host page table).
    pub pml4: u64,
    /// May delegate from the kernel itself (the hypervisor delegate flag).
    pub privileged: bool,
    /// May access MSRs and passes devices' interrupts through.
    #[allow(dead_code)] // read by msr_access, which comes with the capability model
    pub passthrough: bool,
}

static ROOT: SpinLock<Option<Pd>> = SpinLock::new(None);

/// Records the roottask's PD.
pub fn set_root(pd: Pd) {
    *ROOT.lock() = Some(pd);
}

/// What a selector of the roottask names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootCap {
    Pd,
    Ec,
    Sc,
}

/// Looks a selector up in the roottask's object space.
pub fn lookup(sel: u64) -> Option<RootCap> {
    match sel {
        ROOT_SEL_PD => Some(RootCap::Pd),
        ROOT_SEL_EC => Some(RootCap::Ec),
        ROOT_SEL_SC => Some(RootCap::Sc),
        _ => None,
    }
}

/// The roottask's PD.
pub fn root() -> Option<Pd> {
    *ROOT.lock()
}
