//! Capability spaces and the mapping database (MDB) for object and port I/O capabilities.
//!
//! A protection domain owns one object space (selectors `0..2^26`) and one port space
//! (ports `0..2^16`). Each space is a sparse radix [`Table`] of 32-byte [`Slot`]s kept in
//! 4 KiB frames from a [`FrameSource`](crate::phys::FrameSource) and reached through
//! [`PhysMem`](crate::phys::PhysMem), so the same code runs on the host over a fake memory
//! and in the kernel over the direct map. Memory capabilities are not kept here.
//!
//! Besides its capability, every slot holds three links that make the delegation tree: its
//! parent (the slot it was delegated from), its first child and its next sibling. Links
//! name a slot in any space by a [`SlotRef`], so one tree spans several PDs.
//!
//! Capabilities come in *nodes*, as in the reference kernel's mapping database: the
//! naturally aligned `2^order` slots that one delegation (or one root insertion) filled
//! in one space, each slot recording that order ([`Cap::order`]). Every operation keeps
//! nodes whole: a delegation copies node by node and skips a node whose destination is
//! partly occupied, a revoke takes rights from whole nodes. Objects are created one by one,
//! so their nodes are single slots; ports come in ranges. Storing slots rather than nodes
//! keeps lookups a table walk. The MDB
//! functions ([`insert_root`], [`delegate`], [`revoke`], [`lookup`]) reach the spaces
//! through the caller's [`Spaces`], which also receives a callback for every capability
//! that appears, changes or disappears.
//!
//! Invariants the MDB functions keep (and the tests check after every operation):
//! - Every stored capability has at least one permission bit, and a child's permissions
//!   are a subset of its parent's; a child names the same object as its parent.
//! - Every slot of a node holds a capability with the same object, kind, permissions and
//!   order, and the slots of a node were delegated from consecutive slots of one node.
//! - A slot with a parent appears exactly once in that parent's child list, and every slot
//!   in a child list names the owner of the list as its parent. Links never dangle.
//! - [`Spaces::added`] and [`Spaces::dropped`] are called exactly once per capability
//!   created and deleted, so their difference is the number of capabilities to an object.
//!
//! Nothing here recurses deeper than the (at most four) table levels: trees are walked
//! through their links, so an arbitrarily deep delegation chain costs no kernel stack.

mod mdb;
mod table;
#[cfg(test)]
mod tests;

pub use mdb::{
    delegate, insert_root, lookup, lookup_in, lookup_word_in, meet, object_lookup_word, revoke,
    translate, DelegateOutcome, RevokeOutcome, Spaces,
};
pub use table::{build_empty, Table, TableMem, EMPTY_LEVELS};

/// Index bits of an object space: selectors `0..2^26`, as many as the reference's
/// (its HIP reports 2^26).
pub const OBJECT_BITS: u32 = 26;
/// Index bits of a port space: ports `0..2^16`.
pub const PORT_BITS: u32 = 16;
/// The most index bits a table can have (a [`SlotRef`] holds a 26-bit index), as many as
/// an object space's.
pub const MAX_BITS: u32 = 26;
/// Space ids are below this (a [`SlotRef`] holds a 26-bit space id).
pub const SPACE_LIMIT: u32 = 1 << 26;
/// Bytes in one slot: four 64-bit words.
pub const SLOT_BYTES: u64 = 32;
/// Slots in one leaf frame (7 index bits).
pub const LEAF_SLOTS: u64 = 128;
/// Entries in one directory frame (9 index bits).
pub const DIR_ENTRIES: u64 = 512;
/// Object handles must be below this (they are stored in 50 bits).
pub const OBJ_LIMIT: u64 = 1 << 50;
/// All five permission bits.
pub const PERMS: u8 = 0x1f;

/// Word offsets (in bytes) within a slot.
const W_CAP: u64 = 0;
const W_PARENT: u64 = 8;
const W_CHILD: u64 = 16;
const W_SIBLING: u64 = 24;

/// A capability: an object handle, a kind tag, permission bits and the order of the
/// range it was delegated in.
///
/// Stored in one word as `obj << 14 | order << 8 | kind << 5 | perms`; the word 0 means
/// "no capability", which is why `obj` must not be 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cap {
    /// The object, as an opaque handle the kernel chooses: non-zero, below [`OBJ_LIMIT`].
    pub obj: u64,
    /// A tag the caller chooses, `0..=7` (e.g. the object type; always 1 for ports).
    pub kind: u8,
    /// Permission bits, `0..=0x1f` (see `facet_abi::perm`).
    pub perms: u8,
    /// The capability is one of the `2^order` slots, naturally aligned, of its node
    /// (`0..=`[`MAX_BITS`]; 0 for a capability created on its own): what a lookup answers
    /// as its range, as the reference's mapping database answers the node a slot belongs
    /// to. [`delegate`] gives each copy the smaller of its source's order and the order
    /// delegated.
    pub order: u8,
}

/// A link field's bits (space id or index).
const FIELD: u64 = (1 << MAX_BITS) - 1;
/// Where a link starts in its word.
const LINK_SHIFT: u32 = 12;
/// The bits of a link word that hold the link.
const LINK_MASK: u64 = !((1 << LINK_SHIFT) - 1);

const KIND_SHIFT: u32 = 5;
const ORDER_SHIFT: u32 = 8;
const OBJ_SHIFT: u32 = 14;

impl Cap {
    /// A capability with these fields and order 0 (not checked; see [`Cap::is_valid`]).
    pub const fn new(obj: u64, kind: u8, perms: u8) -> Cap {
        Cap {
            obj,
            kind,
            perms,
            order: 0,
        }
    }

    /// Whether every field fits its encoding: `obj` non-zero and below [`OBJ_LIMIT`],
    /// `kind <= 7`, `perms <= 0x1f`, `order <= MAX_BITS`.
    pub const fn is_valid(self) -> bool {
        self.obj != 0
            && self.obj < OBJ_LIMIT
            && self.kind < 8
            && self.perms <= PERMS
            && self.order as u32 <= MAX_BITS
    }

    /// The stored word. Fields that do not fit are truncated, so encode only valid caps.
    pub const fn encode(self) -> u64 {
        (self.obj << OBJ_SHIFT)
            | ((self.order as u64 & 0x3f) << ORDER_SHIFT)
            | ((self.kind as u64 & 7) << KIND_SHIFT)
            | (self.perms as u64 & PERMS as u64)
    }

    /// The capability in a stored word; `None` for 0.
    pub const fn decode(word: u64) -> Option<Cap> {
        if word == 0 {
            return None;
        }
        Some(Cap {
            obj: word >> OBJ_SHIFT,
            kind: ((word >> KIND_SHIFT) & 7) as u8,
            perms: (word & PERMS as u64) as u8,
            order: ((word >> ORDER_SHIFT) & 0x3f) as u8,
        })
    }

    /// Whether the stored word `word` is a capability of kind `kind` (non-zero) that has
    /// every permission of `perms`: one masked comparison, because kind and permissions
    /// share the word's low byte. The empty word 0 never matches.
    #[inline(always)]
    pub const fn word_grants(word: u64, kind: u8, perms: u8) -> bool {
        let mask = (7 << KIND_SHIFT) | (perms & PERMS) as u64;
        word & mask == ((kind as u64 & 7) << KIND_SHIFT) | (perms & PERMS) as u64 && kind != 0
    }

    /// The object of a stored word (meaningful only for a non-zero word).
    #[inline(always)]
    pub const fn word_obj(word: u64) -> u64 {
        word >> OBJ_SHIFT
    }

    /// The same capability with other permission bits.
    pub const fn with_perms(self, perms: u8) -> Cap {
        Cap { perms, ..self }
    }

    /// The same capability as part of a range of order `order`.
    pub const fn with_order(self, order: u8) -> Cap {
        Cap { order, ..self }
    }

    /// The first slot of the range slot `index` belongs to (see [`Cap::order`]).
    pub const fn range_base(self, index: u64) -> u64 {
        index & !((1u64 << (self.order as u32 & 63)) - 1)
    }
}

/// The name of a slot in some space: the caller's non-zero space id and the index.
///
/// Stored as `space << 38 | index << 12`, in bits 63:12 of a link word; space id 0 means
/// "no link", which is why space ids must not be 0. Bits 11:0 of a link word are never
/// part of a link: in the first slot of every leaf frame those of the parent word count
/// the frame's used slots (`table.rs`), where one instruction adds or takes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotRef {
    /// The space id, as [`Spaces::table`] knows it; never 0, below [`SPACE_LIMIT`].
    pub space: u32,
    /// The slot's index in that space (below `1 << MAX_BITS`).
    pub index: u32,
}

impl SlotRef {
    /// The slot `index` of space `space`.
    pub const fn new(space: u32, index: u32) -> SlotRef {
        SlotRef { space, index }
    }

    /// The stored word for an optional link (fields that do not fit are cut to their 26
    /// bits: encode only valid links).
    pub const fn encode(link: Option<SlotRef>) -> u64 {
        match link {
            Some(r) => {
                ((r.space as u64 & FIELD) << (MAX_BITS + LINK_SHIFT))
                    | ((r.index as u64 & FIELD) << LINK_SHIFT)
            }
            None => 0,
        }
    }

    /// The link in a stored word, whose bits 11:0 are ignored; `None` for no link (space
    /// id 0, which no link has).
    #[inline(always)]
    pub const fn decode(word: u64) -> Option<SlotRef> {
        let space = (word >> (MAX_BITS + LINK_SHIFT)) as u32;
        if space == 0 {
            return None;
        }
        Some(SlotRef {
            space,
            index: (word >> LINK_SHIFT) as u32 & FIELD as u32,
        })
    }
}

/// The contents of one slot: a capability and its three delegation-tree links.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Slot {
    /// The capability, or `None` for an empty slot.
    pub cap: Option<Cap>,
    /// The slot this capability was delegated from; `None` for a root capability.
    pub parent: Option<SlotRef>,
    /// The most recently delegated child still present.
    pub first_child: Option<SlotRef>,
    /// The next (older) child of the same parent.
    pub next_sibling: Option<SlotRef>,
}

impl Slot {
    /// The empty slot, as every absent index reads.
    pub const EMPTY: Slot = Slot {
        cap: None,
        parent: None,
        first_child: None,
        next_sibling: None,
    };

    /// A slot holding `cap` with no links: a root capability.
    pub const fn root(cap: Cap) -> Slot {
        Slot {
            cap: Some(cap),
            parent: None,
            first_child: None,
            next_sibling: None,
        }
    }

    /// Whether the slot holds nothing at all (no capability and no links).
    pub const fn is_empty(&self) -> bool {
        self.cap.is_none()
            && self.parent.is_none()
            && self.first_child.is_none()
            && self.next_sibling.is_none()
    }

    /// Whether every field fits its encoding (see [`Cap::is_valid`]; links need a
    /// non-zero space id below [`SPACE_LIMIT`] and an index below `1 << MAX_BITS`) and
    /// links come with a capability: a slot is used exactly when it holds one.
    pub const fn is_valid(&self) -> bool {
        match self.cap {
            Some(cap) if !cap.is_valid() => return false,
            None if !self.is_empty() => return false,
            _ => {}
        }
        link_ok(self.parent) && link_ok(self.first_child) && link_ok(self.next_sibling)
    }

    /// The four stored words.
    pub const fn encode(&self) -> [u64; 4] {
        [
            match self.cap {
                Some(c) => c.encode(),
                None => 0,
            },
            SlotRef::encode(self.parent),
            SlotRef::encode(self.first_child),
            SlotRef::encode(self.next_sibling),
        ]
    }

    /// The slot stored in these four words.
    pub const fn decode(words: [u64; 4]) -> Slot {
        Slot {
            cap: Cap::decode(words[0]),
            parent: SlotRef::decode(words[1]),
            first_child: SlotRef::decode(words[2]),
            next_sibling: SlotRef::decode(words[3]),
        }
    }
}

const fn link_ok(link: Option<SlotRef>) -> bool {
    match link {
        Some(r) => r.space != 0 && r.space < SPACE_LIMIT && (r.index as u64) <= FIELD,
        None => true,
    }
}

/// Why a capability-space operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapError {
    /// The frame source ran dry.
    OutOfMemory,
    /// An index, or a range's end, is beyond the table (or the order is 64 or more).
    IndexOutOfRange,
    /// The destination slot already holds something.
    Occupied,
    /// A space id is 0 or unknown to [`Spaces::table`].
    UnknownSpace,
    /// A capability field or a link does not fit its encoding (see [`Slot::is_valid`]).
    Malformed,
    /// A root capability without permission bits was offered.
    NoPermissions,
    /// A range's base is not a multiple of its length.
    Misaligned,
}
