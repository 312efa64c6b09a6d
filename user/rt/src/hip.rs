//! The HIP as the kernel mapped it.

use facet_abi::hip::HipReader;

/// The HIP page at `addr` (the address the program was started with).
pub fn at(addr: u64) -> HipReader<'static> {
    // SAFETY: the kernel maps the HIP read-only at this address for the program's whole
    // life, and the page is never written by anyone while it is mapped.
    HipReader::new(unsafe { core::slice::from_raw_parts(addr as *const u8, 4096) })
}
