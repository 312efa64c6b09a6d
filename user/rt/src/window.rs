//! Memory a program maps at fixed addresses (delegated pages, device registers, UTCBs),
//! read and written through a [`Window`] instead of raw pointers.
//!
//! A program built on this runtime keeps its own image (code, data, stacks) below
//! [`MAPPABLE`] and leaves the addresses from there to the top of user space to the
//! mappings it asks the kernel for; its linker script asserts the first half (the
//! roottask's `link.ld` does). A window can only be made inside [`MAPPABLE`], so its
//! accesses never touch memory the compiler knows about: they are volatile, checked
//! against the window's bounds and alignment, and where nothing is mapped they fault,
//! which the kernel reports to the EC's exception portal (or ends the EC); no Rust
//! object is ever read or written through one.

use core::ops::Range;

use facet_abi::layout::USER_ADDR;

/// Addresses a program leaves to its fixed-address mappings: from 256 MiB to the top of
/// user space (the roottask's UTCB and HIP lie at its top).
pub const MAPPABLE: Range<u64> = 0x1000_0000..USER_ADDR;

/// `len` bytes at `base` inside [`MAPPABLE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    base: u64,
    len: u64,
}

impl Window {
    /// The `len` bytes at `base`; panics (at compile time in a constant) unless they lie
    /// inside [`MAPPABLE`].
    pub const fn new(base: u64, len: u64) -> Window {
        assert!(
            base >= MAPPABLE.start && len <= MAPPABLE.end - base,
            "a window lies inside MAPPABLE"
        );
        Window { base, len }
    }

    /// The page at `base` (page-aligned).
    pub const fn page(base: u64) -> Window {
        assert!(base.is_multiple_of(4096), "a page is page-aligned");
        Window::new(base, 4096)
    }

    /// Its first address.
    pub const fn base(self) -> u64 {
        self.base
    }

    /// Its first page number (what a memory CRD names).
    pub const fn page_number(self) -> u64 {
        self.base >> 12
    }

    /// Its length in bytes.
    pub const fn len(self) -> u64 {
        self.len
    }

    /// Whether it is empty.
    pub const fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The `len` bytes at `off` inside it.
    pub const fn sub(self, off: u64, len: u64) -> Window {
        assert!(
            off <= self.len && len <= self.len - off,
            "a sub-window lies inside its window"
        );
        Window {
            base: self.base + off,
            len,
        }
    }

    /// The address of a `size`-byte access at `off`, checked against the bounds and
    /// the access's natural alignment.
    fn at(self, off: u64, size: u64) -> u64 {
        assert!(
            off <= self.len && size <= self.len - off,
            "window access at {off:#x} beyond {:#x} bytes",
            self.len
        );
        let addr = self.base + off;
        assert!(
            addr.is_multiple_of(size),
            "misaligned window access at {addr:#x}"
        );
        addr
    }

    /// Reads the value at byte offset `off`.
    pub fn read<T: Word>(self, off: u64) -> T {
        let addr = self.at(off, size_of::<T>() as u64);
        // SAFETY: `addr` lies inside MAPPABLE (checked when the window was made), where
        // no Rust object lives, and is aligned for `T` (checked above): the read either
        // returns what the mapping holds or faults. `T` is a plain integer, valid for
        // any bit pattern.
        unsafe { (addr as *const T).read_volatile() }
    }

    /// Writes `v` at byte offset `off`.
    pub fn write<T: Word>(self, off: u64, v: T) {
        let addr = self.at(off, size_of::<T>() as u64);
        // SAFETY: as for `read`: nothing the compiler knows of lives at `addr`.
        unsafe { (addr as *mut T).write_volatile(v) }
    }

    /// Writes `bytes` from byte offset `off` on.
    pub fn write_bytes(self, off: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            self.write(off + i as u64, b);
        }
    }

    /// Sets every byte of the window to `b`.
    pub fn fill(self, b: u8) {
        for i in 0..self.len {
            self.write(i, b);
        }
    }
}

/// What a window reads and writes: plain integers.
pub trait Word: Copy + sealed::Sealed {}

impl Word for u8 {}
impl Word for u16 {}
impl Word for u32 {}
impl Word for u64 {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}
