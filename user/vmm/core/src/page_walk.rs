//! A software walk of the guest's own 4-level page tables, for reports: when a guest
//! dies of a fault on an address, the entries its walk met say whether its page tables
//! (guest memory as the VMM sees it) were wrong or the translation was.
//!
//! Only what a report needs: 4-level long-mode paging (CR4.PAE with EFER.LMA; 5-level
//! paging is not offered by the CPU model), large pages at the two upper levels, and no
//! permission checks beyond presence.

#[cfg(test)]
mod tests;

const PRESENT: u64 = 1;
const LARGE: u64 = 1 << 7;
/// Physical-address bits of an entry (bits 12-51).
const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// One step of a walk: the level (4: PML4 .. 1: page table), the guest-physical address
/// of the entry read, and the entry (`None`: the address lies outside guest RAM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub level: u8,
    pub entry_gpa: u64,
    pub entry: Option<u64>,
}

/// Where a walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The guest-physical address `va` translates to.
    Mapped(u64),
    /// An entry at this level was not present.
    NotPresent(u8),
    /// An entry lay outside guest RAM at this level.
    OutsideRam(u8),
}

/// The steps of a walk (at most four) and its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Walk {
    pub steps: [Option<Step>; 4],
    pub end: End,
}

/// Walks `va` from the page table at `cr3`, reading 8-byte entries through `read`
/// (a guest-physical address to its little-endian word, `None` outside RAM).
pub fn walk(cr3: u64, va: u64, read: impl Fn(u64) -> Option<u64>) -> Walk {
    let mut steps = [None; 4];
    let mut table = cr3 & ADDRESS;
    for (i, level) in (1..=4u8).rev().enumerate() {
        let shift = 12 + 9 * (level as u32 - 1);
        let entry_gpa = table + ((va >> shift) & 0x1ff) * 8;
        let entry = read(entry_gpa);
        steps[i] = Some(Step {
            level,
            entry_gpa,
            entry,
        });
        let Some(entry) = entry else {
            return Walk {
                steps,
                end: End::OutsideRam(level),
            };
        };
        if entry & PRESENT == 0 {
            return Walk {
                steps,
                end: End::NotPresent(level),
            };
        }
        let page = 1u64 << shift;
        if level == 1 || (level <= 3 && entry & LARGE != 0) {
            let base = entry & ADDRESS & !(page - 1);
            return Walk {
                steps,
                end: End::Mapped(base | (va & (page - 1))),
            };
        }
        table = entry & ADDRESS;
    }
    unreachable!("level 1 always ends the walk")
}
