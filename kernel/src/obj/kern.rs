//! The kernel's own protection domain: the source of the interrupt semaphores.
//!
//! As in the reference, the kernel Pd holds one semaphore per global system interrupt
//! at selector `NUM_CPU + gsi` of its object space. A privileged Pd obtains them with
//! `pd_ctrl delegate` and the hypervisor flag, routes a GSI to one with `assign_gsi`,
//! and waits for the interrupt with `sm_ctrl down`. The kernel Pd never runs.

use facet_abi::config::{NUM_CPU, NUM_GSI};
use facet_abi::perm;
use facet_kcore::capspace::{self, Cap};

use super::pd::Pd;
use super::sm::Sm;
use super::spaces::{obj_space, tools};
use super::{with, Handle, Kind};
use crate::sync::SpinLock;

static KERN: SpinLock<Handle> = SpinLock::new(0);

/// The kernel Pd (0 before `init`).
pub fn pd() -> Handle {
    *KERN.lock()
}

/// Creates the kernel Pd and its interrupt semaphores.
#[link_section = ".init.text"]
pub fn init() -> Result<(), facet_abi::status::Status> {
    let pd = Pd::create(true, false)?;
    *KERN.lock() = pd;
    let (mut spaces, mut mem, mut fs) = tools();
    for gsi in 0..NUM_GSI {
        let sm = Sm::create(0, 0)?;
        with::<Sm, _>(sm, |s| s.gsi = gsi + 1);
        let sel = NUM_CPU as u64 + gsi as u64;
        capspace::insert_root(
            &mut spaces,
            &mut mem,
            &mut fs,
            obj_space(pd),
            sel,
            Cap::new(sm, Kind::Sm as u8, perm::SM_ALL),
        )
        .map_err(|_| super::OUT_OF_MEMORY)?;
    }
    Ok(())
}

/// The interrupt semaphore of `gsi`.
pub fn gsi_sm(gsi: u32) -> Option<Handle> {
    if gsi >= NUM_GSI {
        return None;
    }
    let (spaces, mem, _) = tools();
    capspace::lookup(&spaces, &mem, obj_space(pd()), NUM_CPU as u64 + gsi as u64).map(|c| c.obj)
}
