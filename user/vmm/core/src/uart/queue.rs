//! A fixed-capacity first-in first-out byte queue without allocation: the UART's
//! receive FIFO and its queue of transmitted bytes. Invariant: `len <= N`, and the bytes
//! in the queue are `buf[head]`, `buf[head + 1]`, ... (indices modulo `N`).

#[derive(Clone, Debug)]
pub struct ByteQueue<const N: usize> {
    buf: [u8; N],
    head: usize,
    len: usize,
}

impl<const N: usize> ByteQueue<N> {
    pub const fn new() -> Self {
        ByteQueue {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `byte` unless `limit` bytes (at most `N`) are already queued; says whether
    /// it was stored.
    pub fn push_within(&mut self, byte: u8, limit: usize) -> bool {
        if self.len >= limit.min(N) {
            return false;
        }
        let tail = (self.head + self.len) % N;
        self.buf[tail] = byte;
        self.len += 1;
        true
    }

    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.buf[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(byte)
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}
