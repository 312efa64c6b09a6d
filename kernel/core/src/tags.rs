//! A set of small numeric tags (TLB tags: VMX VPIDs, SVM ASIDs) handed out one per
//! user and taken back when it goes, so that no two live users ever share one.

/// Tags `1..=max` (0 is the host's), at most [`TagSet::CAPACITY`].
pub struct TagSet {
    used: [u64; Self::WORDS],
    max: u32,
    /// Where the next search starts, so freed tags are reused last.
    next: u32,
}

impl TagSet {
    const WORDS: usize = 1024;
    /// The most tags a set can hold (VPIDs are 16 bits wide).
    pub const CAPACITY: u32 = (Self::WORDS * 64) as u32 - 1;

    /// An empty set of the tags `1..=max` (clamped to the capacity).
    pub const fn new(max: u32) -> TagSet {
        TagSet {
            used: [0; Self::WORDS],
            max: if max > Self::CAPACITY {
                Self::CAPACITY
            } else {
                max
            },
            next: 1,
        }
    }

    /// Changes the range to `1..=max` (tags already out stay valid; none above `max` is
    /// handed out again).
    pub fn set_max(&mut self, max: u32) {
        self.max = max.min(Self::CAPACITY);
    }

    fn is_used(&self, t: u32) -> bool {
        self.used[t as usize / 64] & (1 << (t % 64)) != 0
    }

    /// A free tag, now taken; `None` when all are out.
    pub fn alloc(&mut self) -> Option<u32> {
        if self.max == 0 {
            return None;
        }
        let start = self.next.clamp(1, self.max);
        let mut t = start;
        loop {
            if !self.is_used(t) {
                self.used[t as usize / 64] |= 1 << (t % 64);
                self.next = if t == self.max { 1 } else { t + 1 };
                return Some(t);
            }
            t = if t == self.max { 1 } else { t + 1 };
            if t == start {
                return None;
            }
        }
    }

    /// Gives `t` back; tags that are not out (or out of range) are ignored.
    pub fn free(&mut self, t: u32) {
        if t != 0 && t <= Self::CAPACITY {
            self.used[t as usize / 64] &= !(1 << (t % 64));
        }
    }
}

#[cfg(test)]
mod tests;
