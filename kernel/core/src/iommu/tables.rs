//! The tables a unit reads: root entries (one per bus, naming that bus's context table),
//! context entries (one per device and function, naming its domain and second-level
//! table), interrupt remapping table entries (IRTEs), and the remappable interrupt
//! formats with which MSIs and I/O APIC pins name an IRTE.
//!
//! Every entry is 128 bits, kept as `[low, high]` 64-bit words.

/// An entry of the root, context or interrupt remapping table: `[bits 63:0, 127:64]`.
pub type Entry128 = [u64; 2];

/// Entries in each table: 256 root entries (buses), 256 context entries (device and
/// function of one bus), and the 256 IRTEs of Facet's interrupt remapping table (one per
/// GSI, `facet_abi::config::NUM_GSI` of them used).
pub const ENTRIES: usize = 256;

const PRESENT: u64 = 1;
const PAGE_MASK: u64 = !0xfff;
/// Bits a table address may use (52-bit physical addresses).
const ADDR_MASK: u64 = ((1 << 52) - 1) & PAGE_MASK;

/// The root entry of a bus whose context table is at physical `context_table`.
pub const fn root_entry(context_table: u64) -> Entry128 {
    [(context_table & ADDR_MASK) | PRESENT, 0]
}

/// The context table a root entry names, if it is present.
pub const fn root_context_table(e: Entry128) -> Option<u64> {
    if e[0] & PRESENT != 0 {
        Some(e[0] & ADDR_MASK)
    } else {
        None
    }
}

/// Where a requester id's entries are: the root entry's index (the bus) and the context
/// entry's index (device and function).
pub const fn split_rid(rid: u16) -> (usize, usize) {
    ((rid >> 8) as usize, (rid & 0xff) as usize)
}

/// The context entry that puts a device into domain `did`, translating untranslated
/// requests through the `levels`-level second-level table at `table` (translation type
/// 00, faults reported).
pub const fn context_entry(table: u64, levels: u8, did: u16) -> Entry128 {
    // AW: 1 = 39-bit (3 levels), 2 = 48-bit (4 levels), 3 = 57-bit (5 levels).
    let aw = (levels as u64).saturating_sub(2) & 7;
    [(table & ADDR_MASK) | PRESENT, aw | (did as u64) << 8]
}

/// The domain id and second-level table of a present context entry.
pub const fn context_domain(e: Entry128) -> Option<(u16, u64)> {
    if e[0] & PRESENT != 0 {
        Some(((e[1] >> 8) as u16, e[0] & ADDR_MASK))
    } else {
        None
    }
}

/// The table a unit of `levels` levels walks for a protection domain whose device page
/// table is the 4-level x86 table at `pml4`, given the entry in its slot 0 (`pml4_slot0`,
/// which must be present for 3 levels): the PML4 itself, or for 3 levels the table its
/// first entry names, which translates the device addresses below 512 GiB. `None` if the
/// depth is not one Facet builds or slot 0 is empty.
pub const fn domain_root(pml4: u64, pml4_slot0: u64, levels: u8) -> Option<u64> {
    match levels {
        4 => Some(pml4 & ADDR_MASK),
        3 if pml4_slot0 & PRESENT != 0 => Some(pml4_slot0 & ADDR_MASK),
        _ => None,
    }
}

/// What an interrupt remapping table entry delivers, and from whom it accepts requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irte {
    /// The vector.
    pub vector: u8,
    /// The destination local APIC id (physical destination mode, fixed delivery).
    pub dest: u32,
    /// Level-triggered (else edge).
    pub level: bool,
    /// The requester id that alone may use the entry (source-id verification over all
    /// 16 bits), or `None`: any requester (for a source firmware did not name).
    pub source: Option<u16>,
    /// The destination in the extended (x2APIC, 32-bit) format, else xAPIC (8-bit, in
    /// bits 47:40).
    pub x2apic: bool,
}

impl Irte {
    /// The 128-bit entry: present, remapped (not posted) fixed delivery, physical
    /// destination, faults reported.
    pub const fn encode(&self) -> Entry128 {
        let dest = if self.x2apic {
            (self.dest as u64) << 32
        } else {
            ((self.dest & 0xff) as u64) << 40
        };
        let low = PRESENT | (self.level as u64) << 4 | (self.vector as u64) << 16 | dest;
        let high = match self.source {
            // SVT 01 (verify the full requester id; SQ 00 compares all bits).
            Some(sid) => sid as u64 | 1 << 18,
            None => 0,
        };
        [low, high]
    }

    /// The entry `e` describes, if it is present (reserved bits ignored).
    pub const fn decode(e: Entry128, x2apic: bool) -> Option<Irte> {
        if e[0] & PRESENT == 0 {
            return None;
        }
        let dest = if x2apic {
            (e[0] >> 32) as u32
        } else {
            ((e[0] >> 40) & 0xff) as u32
        };
        Some(Irte {
            vector: (e[0] >> 16) as u8,
            dest,
            level: e[0] & (1 << 4) != 0,
            source: if (e[1] >> 18) & 3 == 1 {
                Some(e[1] as u16)
            } else {
                None
            },
            x2apic,
        })
    }
}

/// The base of the interrupt address range.
pub const MSI_BASE: u64 = 0xfee0_0000;
/// MSI address bits of the remappable format: interrupt format (4) and sub-handle valid
/// (3).
const MSI_REMAPPABLE: u64 = 1 << 4;
const MSI_SHV: u64 = 1 << 3;

/// The MSI address and data that name IRTE `index` in the remappable format, as the
/// reference builds them: handle 0 with a valid sub-handle, the data being the
/// sub-handle (the index).
pub const fn msi_remappable(index: u16) -> (u64, u32) {
    (MSI_BASE | MSI_REMAPPABLE | MSI_SHV, index as u32)
}

/// The IRTE an MSI names, as a unit computes it: `None` for a compatibility-format
/// message (which Facet's units block) or one outside the interrupt range, else
/// `Some(Err(()))` for a remappable one with reserved bits set, `Some(Ok(index))`.
pub const fn msi_index(address: u64, data: u32) -> Option<Result<u32, ()>> {
    if address >> 32 != 0 || address & 0xfff0_0000 != MSI_BASE {
        return None;
    }
    if address & MSI_REMAPPABLE == 0 {
        return None;
    }
    // Handle: bits 19:5 are handle[14:0], bit 2 is handle[15].
    let handle = ((address >> 5) & 0x7fff) as u32 | (((address >> 2) & 1) as u32) << 15;
    if address & MSI_SHV != 0 {
        if data >> 16 != 0 {
            return Some(Err(()));
        }
        Some(Ok(handle + (data & 0xffff)))
    } else {
        Some(Ok(handle))
    }
}

/// The high doubleword of an I/O APIC redirection entry in the remappable format naming
/// IRTE `index`: index bits 14:0 in bits 31:17, the format bit 16.
pub const fn rte_high_remappable(index: u16) -> u32 {
    ((index as u32) & 0x7fff) << 17 | 1 << 16
}

/// The low doubleword of a remappable redirection entry (unmasked): the vector (which
/// must equal the IRTE's, for the end-of-interrupt broadcast), trigger mode, polarity,
/// and index bit 15 in bit 11.
pub const fn rte_low_remappable(index: u16, vector: u8, level: bool, active_low: bool) -> u32 {
    vector as u32
        | ((index as u32 >> 15) & 1) << 11
        | (active_low as u32) << 13
        | (level as u32) << 15
}

/// The IRTE a remappable redirection entry names (`None` for the compatibility format).
pub const fn rte_index(high: u32, low: u32) -> Option<u32> {
    if high & (1 << 16) == 0 {
        return None;
    }
    Some((high >> 17) | ((low >> 11) & 1) << 15)
}
