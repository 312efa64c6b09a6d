//! Fitting the firmware's memory map into the HIP's memory descriptors.
//!
//! The HIP is one page and holds at most 31 memory descriptors (the reference's
//! layout), and the modules and the kernel's own memory must follow the map there. A
//! UEFI firmware's map can be longer than what is left, so [`fit`] first merges
//! neighbouring entries of one type (which loses nothing), and only then leaves out
//! whole entries, those that matter least first: other types before ACPI NVS, NVS
//! before ACPI tables, and usable RAM last, the smallest of a kind first. What it kept
//! stays in map order. Nothing here panics, whatever the map holds.

use crate::bootinfo::MemRegion;

/// What [`fit`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fitted {
    /// Entries written to `out`.
    pub count: usize,
    /// Entries merged into a neighbour of the same type.
    pub merged: usize,
    /// Entries left out for want of room.
    pub dropped: usize,
}

/// How much an entry of type `kind` matters to the roottask (higher: kept longer).
fn rank(kind: u32) -> u8 {
    match kind {
        1 => 3,
        3 => 2,
        4 => 1,
        _ => 0,
    }
}

/// Writes `regions` into `out`, at most `room` entries (and no more than `out` holds),
/// merging touching entries of the same type and leaving out the least important
/// entries when there are still too many.
pub fn fit(regions: &[MemRegion], room: usize, out: &mut [MemRegion]) -> Fitted {
    let room = room.min(out.len());
    let mut f = Fitted::default();
    let mut n = 0usize;
    for r in regions {
        if n > 0 {
            let last = &mut out[n - 1];
            if last.kind == r.kind && last.addr.checked_add(last.len) == Some(r.addr) {
                last.len = last.len.saturating_add(r.len);
                f.merged += 1;
                continue;
            }
        }
        if n < out.len() {
            out[n] = *r;
            n += 1;
        } else {
            // `out` itself is full: the least important entry kept so far, or this one,
            // makes way.
            f.dropped += 1;
            if let Some(i) = least(&out[..n]) {
                if key(r) > key(&out[i]) {
                    out.copy_within(i + 1..n, i);
                    out[n - 1] = *r;
                }
            }
        }
    }
    while n > room {
        let Some(i) = least(&out[..n]) else { break };
        out.copy_within(i + 1..n, i);
        n -= 1;
        f.dropped += 1;
    }
    f.count = n;
    f
}

fn key(r: &MemRegion) -> (u8, u64) {
    (rank(r.kind), r.len)
}

/// The index of the least important entry (the first of equals).
fn least(list: &[MemRegion]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, r) in list.iter().enumerate() {
        if best.is_none_or(|b| key(r) < key(&list[b])) {
            best = Some(i);
        }
    }
    best
}

#[cfg(test)]
mod tests;
