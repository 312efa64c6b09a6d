//! The guest's console on its way out and in: its serial output cut into lines for the
//! console ([`LineBuffer`]), and the bytes typed for it on their way to the UART
//! ([`InputRing`], filled by one EC and emptied by another without a lock).

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

#[cfg(test)]
mod tests;

/// The guest's console output, cut into lines (or pieces of [`LINE_BYTES`]) for the
/// console.
pub struct LineBuffer {
    bytes: [u8; LINE_BYTES],
    len: usize,
}

/// Bytes of output sent at once at most.
pub const LINE_BYTES: usize = 160;

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuffer {
    pub const fn new() -> LineBuffer {
        LineBuffer {
            bytes: [0; LINE_BYTES],
            len: 0,
        }
    }

    /// Adds `byte`; the buffered bytes if they make a whole line now (or fill the
    /// buffer), which the caller sends before the next push.
    pub fn push(&mut self, byte: u8) -> Option<&[u8]> {
        self.bytes[self.len] = byte;
        self.len += 1;
        if byte == b'\n' || self.len == LINE_BYTES {
            return Some(self.take());
        }
        None
    }

    /// Whatever is buffered (a line not ended yet, such as a shell's prompt).
    pub fn take(&mut self) -> &[u8] {
        let n = core::mem::take(&mut self.len);
        &self.bytes[..n]
    }
}

/// A single-producer, single-consumer queue of input bytes: the EC that reads the
/// console pushes, vCPU 0's handler pops (into the UART's receive FIFO, as far as it has
/// room). Lock-free, so that neither waits for the other.
pub struct InputRing {
    bytes: [AtomicU8; INPUT_BYTES],
    /// Counts of bytes popped and pushed (indices modulo the size).
    head: AtomicUsize,
    tail: AtomicUsize,
}

const INPUT_BYTES: usize = 256;

impl Default for InputRing {
    fn default() -> Self {
        Self::new()
    }
}

impl InputRing {
    pub const fn new() -> InputRing {
        InputRing {
            bytes: [const { AtomicU8::new(0) }; INPUT_BYTES],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    /// Adds a byte (the producer); false if the queue is full.
    pub fn push(&self, byte: u8) -> bool {
        let tail = self.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(self.head.load(Ordering::Acquire)) == INPUT_BYTES {
            return false;
        }
        self.bytes[tail % INPUT_BYTES].store(byte, Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(1), Ordering::Release);
        true
    }

    /// Takes the oldest byte (the consumer).
    pub fn pop(&self) -> Option<u8> {
        let head = self.head.load(Ordering::Relaxed);
        if head == self.tail.load(Ordering::Acquire) {
            return None;
        }
        let byte = self.bytes[head % INPUT_BYTES].load(Ordering::Relaxed);
        self.head.store(head.wrapping_add(1), Ordering::Release);
        Some(byte)
    }
}
