//! Capability range descriptors (CRD).
//!
//! A CRD names a naturally aligned, power-of-two range in one capability space:
//! bits 1:0 the kind, 6:2 the permissions, 11:7 the order (log2 of the range length in
//! pages, ports or selectors) and 63:12 the base.

/// The capability space a CRD refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// No capabilities.
    Null = 0,
    /// Memory pages.
    Memory = 1,
    /// I/O ports.
    Pio = 2,
    /// Object selectors.
    Object = 3,
}

/// A capability range descriptor in its raw 64-bit encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Crd(pub u64);

impl Crd {
    /// The null CRD.
    pub const NULL: Crd = Crd(0);

    /// Builds a CRD. `perms` and `order` are truncated to their 5-bit fields.
    pub const fn new(kind: Kind, base: u64, order: u8, perms: u8) -> Crd {
        Crd(base << 12 | ((order as u64 & 0x1f) << 7) | ((perms as u64 & 0x1f) << 2) | kind as u64)
    }

    /// The kind of capability named.
    pub const fn kind(self) -> Kind {
        match self.0 & 3 {
            0 => Kind::Null,
            1 => Kind::Memory,
            2 => Kind::Pio,
            _ => Kind::Object,
        }
    }

    /// Permission bits (5 bits).
    pub const fn perms(self) -> u8 {
        ((self.0 >> 2) & 0x1f) as u8
    }

    /// Order: the range is `1 << order` units long.
    pub const fn order(self) -> u8 {
        ((self.0 >> 7) & 0x1f) as u8
    }

    /// Base: page number, port number or selector.
    pub const fn base(self) -> u64 {
        self.0 >> 12
    }

    /// Number of units in the range, if it fits in 64 bits.
    pub const fn len(self) -> u64 {
        1u64 << self.order()
    }

    /// Whether the range is empty (never: a CRD names at least one unit).
    pub const fn is_empty(self) -> bool {
        false
    }

    /// Whether the base is aligned to the order, as every CRD must be.
    pub const fn is_aligned(self) -> bool {
        self.base() & (self.len() - 1) == 0
    }
}

#[cfg(test)]
mod tests;
