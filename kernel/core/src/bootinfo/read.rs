//! Bounded, overflow-checked reads of the loader's memory: every failure is a
//! [`BootError`], never a panic.

use super::BootError;
use crate::phys::PhysRead;

/// `base + off`, or `Unreadable` naming `what` if the sum wraps: a structure that wraps
/// around the address space cannot be read.
pub(super) fn at(base: u64, off: u64, what: &'static str) -> Result<u64, BootError> {
    base.checked_add(off)
        .ok_or(BootError::Unreadable { what, addr: base })
}

/// Reads `N` bytes at `addr`.
pub(super) fn read_array<const N: usize>(
    mem: &impl PhysRead,
    addr: u64,
    what: &'static str,
) -> Result<[u8; N], BootError> {
    let mut buf = [0u8; N];
    // The range must not wrap either; `PhysRead` implementations need not check that.
    if addr.checked_add(N as u64).is_none() || !mem.read(addr, &mut buf) {
        return Err(BootError::Unreadable { what, addr });
    }
    Ok(buf)
}

/// Reads a little-endian `u32` at `addr`.
pub(super) fn read_u32(
    mem: &impl PhysRead,
    addr: u64,
    what: &'static str,
) -> Result<u32, BootError> {
    read_array(mem, addr, what).map(u32::from_le_bytes)
}

/// Reads a little-endian `u64` at `addr`.
pub(super) fn read_u64(
    mem: &impl PhysRead,
    addr: u64,
    what: &'static str,
) -> Result<u64, BootError> {
    read_array(mem, addr, what).map(u64::from_le_bytes)
}

/// Checks that the `len` bytes at `addr` contain a NUL, so the string starting at `addr`
/// ends inside its container.
pub(super) fn check_cstr(
    mem: &impl PhysRead,
    addr: u64,
    len: u64,
    what: &'static str,
) -> Result<(), BootError> {
    const CHUNK: u64 = 64;
    let mut buf = [0u8; CHUNK as usize];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(CHUNK) as usize;
        let chunk = &mut buf[..n];
        let p = at(addr, done, what)?;
        if p.checked_add(n as u64).is_none() || !mem.read(p, chunk) {
            return Err(BootError::Unreadable { what, addr: p });
        }
        if chunk.contains(&0) {
            return Ok(());
        }
        done += n as u64;
    }
    Err(BootError::Unterminated { what, addr })
}
