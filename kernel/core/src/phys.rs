//! Access to physical memory, by physical address.
//!
//! The kernel implements these traits over its direct map of physical memory; host tests
//! implement them over a `Vec<u8>` that stands for RAM.

/// Reads physical memory during boot (boot information, modules).
pub trait PhysRead {
    /// Fills `buf` from physical address `addr`. Returns `false`, leaving `buf` in an
    /// unspecified state, if any byte of the range is outside readable memory.
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;
}

/// Reads and writes page-table words in physical memory.
pub trait PhysMem {
    /// Reads the 8-byte word at physical address `addr` (8-byte aligned).
    fn read_u64(&self, addr: u64) -> u64;
    /// Writes the 8-byte word at physical address `addr` (8-byte aligned).
    fn write_u64(&mut self, addr: u64, value: u64);
}

/// Hands out zeroed, 4 KiB-aligned physical frames for page tables and capability
/// tables, and takes back the ones they no longer need.
pub trait FrameSource {
    /// A zero-filled frame, or `None` when memory is exhausted.
    fn alloc_zeroed(&mut self) -> Option<u64>;
    /// Takes back a frame this source handed out, which the table it belonged to no
    /// longer links. A page table's frame may still sit in some processor's
    /// paging-structure caches until the caller's TLB flush: an implementation must not
    /// reuse it before then (the kernel's waits for the flush).
    fn free(&mut self, frame: u64);
}

/// Reads a NUL-terminated string of at most `buf.len()` bytes at `addr`.
/// Returns the bytes before the NUL (or all of `buf` if none was found), or `None` if the
/// first byte cannot be read.
pub fn read_cstr<'b>(mem: &impl PhysRead, addr: u64, buf: &'b mut [u8]) -> Option<&'b [u8]> {
    let mut n = 0;
    while n < buf.len() {
        let mut b = [0u8];
        if !mem.read(addr.checked_add(n as u64)?, &mut b) {
            if n == 0 {
                return None;
            }
            break;
        }
        if b[0] == 0 {
            break;
        }
        buf[n] = b[0];
        n += 1;
    }
    Some(&buf[..n])
}

/// Test doubles shared by the host tests of this crate.
#[cfg(test)]
pub mod fake {
    use std::vec::Vec;

    /// Simulated RAM starting at physical address `base`.
    pub struct Ram {
        pub base: u64,
        pub bytes: Vec<u8>,
    }

    impl Ram {
        pub fn new(base: u64, size: usize) -> Self {
            Ram {
                base,
                bytes: std::vec![0; size],
            }
        }
        pub fn put(&mut self, addr: u64, data: &[u8]) {
            let at = (addr - self.base) as usize;
            self.bytes[at..at + data.len()].copy_from_slice(data);
        }
    }

    impl super::PhysRead for Ram {
        fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
            let Some(start) = addr.checked_sub(self.base) else {
                return false;
            };
            let Some(end) = start.checked_add(buf.len() as u64) else {
                return false;
            };
            if end > self.bytes.len() as u64 {
                return false;
            }
            buf.copy_from_slice(&self.bytes[start as usize..end as usize]);
            true
        }
    }
}
