//! A client's input: a ring of bytes the console has read from the UART for it and the
//! client has not fetched yet. The ring is bounded; bytes that find it full are dropped
//! (the newest ones: what was typed first stays in order) and counted.

/// A ring of `CAP` bytes.
#[derive(Clone, Debug)]
pub struct InputRing<const CAP: usize> {
    buf: [u8; CAP],
    /// Index of the oldest byte.
    head: usize,
    len: usize,
    /// Bytes dropped since the start, and how many of them were reported.
    dropped: u64,
    reported: u64,
}

impl<const CAP: usize> InputRing<CAP> {
    /// An empty ring.
    pub const fn new() -> Self {
        InputRing {
            buf: [0; CAP],
            head: 0,
            len: 0,
            dropped: 0,
            reported: 0,
        }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `b`; false (and counted) if the ring is full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.len == CAP {
            self.dropped = self.dropped.saturating_add(1);
            return false;
        }
        self.buf[(self.head + self.len) % CAP] = b;
        self.len += 1;
        true
    }

    /// Moves the oldest bytes into `out`, as many as wait and fit; returns how many.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for o in &mut out[..n] {
            *o = self.buf[self.head];
            self.head = (self.head + 1) % CAP;
        }
        self.len -= n;
        n
    }

    /// Bytes dropped since the start.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes dropped since the last call (for a report).
    pub fn take_new_drops(&mut self) -> u64 {
        let new = self.dropped - self.reported;
        self.reported = self.dropped;
        new
    }
}

impl<const CAP: usize> Default for InputRing<CAP> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
