//! Where a CPU sits in the machine (package, core, SMT thread), decoded from its initial
//! APIC id the way the reference does: CPUID leaf 1 gives the logical processors per
//! package, leaf 4 (or, on AMD with CMP_LEGACY, the same count) the cores per package,
//! and the APIC id is thread bits, then core bits, then the package number.

/// A CPU's place: (thread, core, package).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub thread: u32,
    pub core: u32,
    pub package: u32,
}

/// Bits needed to number `n` things (0 for one).
fn bits_for(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

/// Decodes `apic_id` with `per_package` logical processors per package and `cores`
/// cores per package (both at least 1; nonsense counts are treated as 1).
pub fn place(apic_id: u32, per_package: u32, cores: u32) -> Place {
    let per_package = per_package.max(1);
    let cores = cores.clamp(1, per_package);
    let t_bits = bits_for(per_package / cores);
    let c_bits = bits_for(cores);
    let mask = |bits: u32| 1u32.checked_shl(bits).map_or(u32::MAX, |b| b - 1);
    Place {
        thread: apic_id & mask(t_bits),
        core: apic_id.checked_shr(t_bits).unwrap_or(0) & mask(c_bits),
        package: apic_id.checked_shr(t_bits + c_bits).unwrap_or(0),
    }
}

/// Chooses the CPUs to run from the APIC ids of the usable CPUs in the firmware's
/// table: the bootstrap CPU's own id `bsp` first (whether or not the table lists it),
/// then the others in table order, as many as `out` holds (the HIP describes 64). A
/// repeated `bsp` is skipped. Returns how many ids were written and how many of the
/// table's other CPUs did not fit.
pub fn pick_cpus(usable: impl Iterator<Item = u32>, bsp: u32, out: &mut [u32]) -> (usize, usize) {
    let Some(first) = out.first_mut() else {
        return (0, usable.filter(|&id| id != bsp).count());
    };
    *first = bsp;
    let (mut n, mut dropped) = (1, 0);
    for id in usable.filter(|&id| id != bsp) {
        match out.get_mut(n) {
            Some(slot) => {
                *slot = id;
                n += 1;
            }
            None => dropped += 1,
        }
    }
    (n, dropped)
}

#[cfg(test)]
mod tests;
