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
mod tests {
    use super::*;

    #[test]
    fn a_sixteenth_of_ram_between_8_and_512_mib() {
        assert_eq!(size(64 * MIB, None), MIN);
        assert_eq!(size(512 * MIB, None), 32 * MIB);
        assert_eq!(size(1000 * MIB, None), 62 * MIB);
        assert_eq!(size(4 << 30, None), 256 * MIB);
        assert_eq!(size(64 << 30, None), MAX_DEFAULT);
    }

    #[test]
    fn the_pool_word_overrides_within_bounds() {
        assert_eq!(size(512 * MIB, Some(100 * MIB)), 100 * MIB);
        assert_eq!(size(512 * MIB, Some(101 * MIB)), 100 * MIB, "2 MiB units");
        assert_eq!(size(512 * MIB, Some(MIB)), MIN);
        assert_eq!(
            size(512 * MIB, Some(1 << 30)),
            504 * MIB,
            "user space keeps 8 MiB"
        );
        assert_eq!(
            size(64 << 30, Some(2 << 30)),
            2 << 30,
            "beyond the default's 512 MiB"
        );
        assert_eq!(size(12 * MIB, Some(64 * MIB)), MIN);
    }
}
