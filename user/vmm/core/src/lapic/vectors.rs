//! A set of the 256 interrupt vectors, as the APIC's IRR, ISR and TMR hold them: eight
//! 32-bit words, word `i` holding vectors `32 * i` to `32 * i + 31` (the layout the
//! guest reads through the eight registers of each).

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct VectorSet([u32; 8]);

impl VectorSet {
    pub(super) const EMPTY: VectorSet = VectorSet([0; 8]);

    pub(super) fn contains(&self, vector: u8) -> bool {
        self.0[usize::from(vector / 32)] & (1 << (vector % 32)) != 0
    }

    pub(super) fn insert(&mut self, vector: u8) {
        self.0[usize::from(vector / 32)] |= 1 << (vector % 32);
    }

    pub(super) fn remove(&mut self, vector: u8) {
        self.0[usize::from(vector / 32)] &= !(1 << (vector % 32));
    }

    pub(super) fn assign(&mut self, vector: u8, present: bool) {
        if present {
            self.insert(vector);
        } else {
            self.remove(vector);
        }
    }

    /// The highest vector in the set (the highest priority).
    pub(super) fn highest(&self) -> Option<u8> {
        let (index, word) = self.0.iter().enumerate().rev().find(|(_, w)| **w != 0)?;
        Some((index * 32) as u8 + (31 - word.leading_zeros()) as u8)
    }

    /// Word `index` (0-7) of the register array.
    pub(super) fn word(&self, index: usize) -> u32 {
        self.0.get(index).copied().unwrap_or(0)
    }
}
