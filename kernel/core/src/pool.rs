//! How big the kernel pool is: the frames every kernel object, page table, capability
//! table and UTCB comes from (docs/memory.md).
//!
//! The pool is set aside at boot and never grows: like the reference, Facet leaves the
//! rest of RAM to user space, which the roottask hands on by delegation, so the kernel
//! never has to take memory back from a user. By default it is a sixteenth of usable RAM
//! between 8 MiB and 512 MiB: enough on a small machine for thousands of objects (an Ec
//! takes a frame, a Pd, Sc, Pt or Sm a 128-byte slot, a Pd's tables a few frames), a
//! small share of a large one, whose user space gets the rest. The `pool=` word sets
//! another size; either way it is rounded down to 2 MiB and at least 8 MiB.

const MIB: u64 = 1 << 20;

/// The smallest pool.
pub const MIN: u64 = 8 * MIB;
/// The largest default pool (a `pool=` word may ask for more).
pub const MAX_DEFAULT: u64 = 512 * MIB;

/// The pool's size for `usable` bytes of RAM, or `asked` (the `pool=` word), in 2 MiB
/// units: at least [`MIN`], and never more than `usable` less [`MIN`] (user space keeps
/// at least that much) unless that is below [`MIN`]. Where the memory map has no free
/// range this big below 4 GiB, the kernel halves it until one fits.
pub fn size(usable: u64, asked: Option<u64>) -> u64 {
    let wanted = asked.unwrap_or_else(|| (usable / 16).clamp(MIN, MAX_DEFAULT));
    let most = usable.saturating_sub(MIN).max(MIN);
    wanted.clamp(MIN, most) & !(2 * MIB - 1)
}

#[cfg(test)]
mod tests;
