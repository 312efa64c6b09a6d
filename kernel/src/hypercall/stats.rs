//! What `machine_ctrl`'s statistics of the kernel pool answer (`machine_ctrl.rs` decodes
//! and checks): where the frames are, how many objects there are, what a Pd holds.

use facet_abi::hypercall::machine_ctrl::{frames as item, objects};

use crate::mem::slots::For;
use crate::mem::usage::{self, Use};
use crate::obj::Kind;

/// Frames used for `which` (`machine_ctrl::frames`); `None` for an item there is not.
pub fn frames(which: u64) -> Option<u64> {
    Some(match which {
        item::EC => crate::obj::live(Kind::Ec).0,
        item::SLOTS => crate::mem::slots::frames(For::Others),
        item::SC_SLOTS => crate::mem::slots::frames(For::Sc),
        item::KEPT => crate::mem::frames::kept(),
        other => usage::frames(Use::of_item(other)?),
    })
}

/// The kind `machine_ctrl::objects` calls `which`.
pub fn kind(which: u64) -> Option<Kind> {
    Some(match which {
        objects::PD => Kind::Pd,
        objects::EC => Kind::Ec,
        objects::SC => Kind::Sc,
        objects::PT => Kind::Pt,
        objects::SM => Kind::Sm,
        _ => return None,
    })
}

/// Frames the statistics do not account for: 0 unless the kernel lost track of some
/// (the boot's self-check and the leak tests look at this).
pub fn unaccounted() -> u64 {
    let (free, total) = crate::mem::frames::stats();
    let used: u64 = (0..item::COUNT)
        .filter(|&i| i != item::KEPT)
        .filter_map(frames)
        .sum();
    total.wrapping_sub(free).wrapping_sub(used)
}
