//! A deterministic pseudo-random generator for the device models' hostile-input tests
//! (xorshift64, as in the kernel's host tests), so that every test module draws from the
//! same few lines.

/// xorshift64 state; seed with any non-zero value.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n` (not exactly uniform; good enough for tests).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}
