//! Intel microcode updates (SDM vol. 3A, 10.11): the 48-byte header, the optional
//! extended signature table, and whether an update is meant for a processor.
//!
//! `machine_ctrl` update microcode hands an update to every CPU through
//! `IA32_BIOS_UPDT_TRIG`. The reference passes whatever it is given; the CPU itself
//! refuses a malformed update, with a #GP on some models and silently on others. Facet
//! checks the update first, on its own copy (so the caller cannot change it between the
//! check and the load), and answers a malformed one or one for another processor with a
//! status instead: [`check`] and [`Update::matches`]. Nothing here panics on any input.
//!
//! Layout (all fields little-endian `u32`):
//!
//! | offset | field | offset | field |
//! |---|---|---|---|
//! | 0 | header version (1) | 20 | loader revision (1) |
//! | 4 | update revision | 24 | processor flags (platform IDs) |
//! | 8 | date | 28 | data size (0: 2000) |
//! | 12 | processor signature | 32 | total size (0: 2048) |
//! | 16 | checksum | 36 | reserved (12 bytes) |
//!
//! The data follows the header; an extended signature table may follow the data: a count,
//! a checksum and 12 reserved bytes, then `count` entries of (signature, flags,
//! checksum).

/// Bytes of the header; the data the CPU loads starts here.
pub const HEADER_LEN: u32 = 48;
/// The largest update accepted: the reference's limit (what its kernel can map at once).
pub const MAX_LEN: u32 = 0x20_0000;
/// Data size when the header's field is 0 (the oldest format).
const DEFAULT_DATA: u32 = 2000;
/// Total size when the header's data-size field is 0.
const DEFAULT_TOTAL: u32 = 2048;
/// Extended signature table header: count, checksum, 12 reserved bytes.
const EXT_HEADER: u32 = 20;
/// One extended signature: signature, processor flags, checksum.
const EXT_ENTRY: u32 = 12;

/// Why an update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum McError {
    /// Shorter than its header.
    TooShort { len: u32 },
    /// Longer than [`MAX_LEN`].
    TooLong { len: u32 },
    /// Header version other than 1.
    HeaderVersion(u32),
    /// Loader revision other than 1.
    LoaderRevision(u32),
    /// Sizes that do not fit together or with the buffer: a data size not a multiple of
    /// 4, a total size not a multiple of 1 KiB, smaller than header and data, or larger
    /// than the bytes given.
    Sizes { data: u32, total: u32, given: u32 },
    /// Header and data do not sum to zero (in 32-bit words).
    Checksum,
    /// The extended signature table is malformed or its sums are wrong.
    ExtendedTable,
}

/// A checked update's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Update {
    /// The revision the CPU reports once it has loaded the update.
    pub revision: u32,
    /// The processor signature (CPUID leaf 1 EAX) it is for.
    pub signature: u32,
    /// The platform IDs it is for, one bit each (`IA32_PLATFORM_ID` bits 52:50).
    pub flags: u32,
    /// Its checksum field (extended signatures are checked against it).
    checksum: u32,
    /// Bytes of data after the header.
    pub data_size: u32,
    /// Bytes of the whole update, extended table included.
    pub total_size: u32,
}

fn word(b: &[u8], off: u32) -> Option<u32> {
    let off = off as usize;
    let w = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// The 32-bit word sum of `b[from..to]` (`to - from` a multiple of 4), or `None` past
/// the end.
fn sum(b: &[u8], from: u32, to: u32) -> Option<u32> {
    let mut s = 0u32;
    let mut at = from;
    while at < to {
        s = s.wrapping_add(word(b, at)?);
        at += 4;
    }
    Some(s)
}

/// Checks the update in `blob` (the bytes the caller named): header fields, sizes,
/// checksums, the extended signature table.
pub fn check(blob: &[u8]) -> Result<Update, McError> {
    let given = u32::try_from(blob.len()).unwrap_or(u32::MAX);
    if given > MAX_LEN {
        return Err(McError::TooLong { len: given });
    }
    if given < HEADER_LEN {
        return Err(McError::TooShort { len: given });
    }
    let w = |off| word(blob, off).unwrap_or(0);
    if w(0) != 1 {
        return Err(McError::HeaderVersion(w(0)));
    }
    if w(20) != 1 {
        return Err(McError::LoaderRevision(w(20)));
    }
    let (data, total) = match w(28) {
        0 => (DEFAULT_DATA, DEFAULT_TOTAL),
        d => (d, w(32)),
    };
    let bad_sizes = McError::Sizes { data, total, given };
    let body = HEADER_LEN.checked_add(data).ok_or(bad_sizes)?;
    if !data.is_multiple_of(4) || !total.is_multiple_of(1024) || total < body || total > given {
        return Err(bad_sizes);
    }
    if sum(blob, 0, body) != Some(0) {
        return Err(McError::Checksum);
    }
    let u = Update {
        revision: w(4),
        signature: w(12),
        flags: w(24),
        checksum: w(16),
        data_size: data,
        total_size: total,
    };
    if total > body {
        let ext = total - body;
        let count = word(blob, body).ok_or(McError::ExtendedTable)?;
        let want = count
            .checked_mul(EXT_ENTRY)
            .and_then(|n| n.checked_add(EXT_HEADER));
        if ext < EXT_HEADER || want != Some(ext) || sum(blob, body, total) != Some(0) {
            return Err(McError::ExtendedTable);
        }
        // Each extended signature carries the checksum the whole update would have
        // with that signature and flags in its header.
        let own = u.signature.wrapping_add(u.flags).wrapping_add(u.checksum);
        for i in 0..count {
            let e = body + EXT_HEADER + i * EXT_ENTRY;
            let (s, f, c) = (w(e), w(e + 4), w(e + 8));
            if s.wrapping_add(f).wrapping_add(c) != own {
                return Err(McError::ExtendedTable);
            }
        }
    }
    Ok(u)
}

/// Whether processor flags `flags` cover platform `platform` (0..7): its bit is set, or
/// no bit is (updates from before platform IDs).
fn platform_matches(flags: u32, platform: u32) -> bool {
    flags == 0 || flags & 1u32.checked_shl(platform).unwrap_or(0) != 0
}

impl Update {
    /// Whether the checked update in `blob` is for a processor with `signature`
    /// (CPUID leaf 1 EAX) on platform `platform` (`IA32_PLATFORM_ID` bits 52:50):
    /// by its header or one of its extended signatures.
    pub fn matches(&self, blob: &[u8], signature: u32, platform: u32) -> bool {
        if self.signature == signature && platform_matches(self.flags, platform) {
            return true;
        }
        let body = HEADER_LEN + self.data_size;
        if self.total_size <= body {
            return false;
        }
        let count = word(blob, body).unwrap_or(0);
        (0..count).any(|i| {
            let e = body + EXT_HEADER + i * EXT_ENTRY;
            word(blob, e) == Some(signature)
                && word(blob, e + 4).is_some_and(|f| platform_matches(f, platform))
        })
    }
}

/// The microcode revision in `IA32_BIOS_SIGN_ID` (read after writing 0 to it and
/// executing CPUID leaf 1): bits 63:32 on Intel, bits 31:0 (the patch level) on AMD.
pub fn revision_from_sign_id(value: u64, intel: bool) -> u32 {
    if intel {
        (value >> 32) as u32
    } else {
        value as u32
    }
}

#[cfg(test)]
mod tests;
