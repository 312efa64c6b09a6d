//! A first look at an initial RAM disk before it is handed to the guest: Linux unpacks
//! a cpio archive (newc, with or without CRC), possibly compressed, and silently boots
//! without it if it cannot, which shows only much later as "no init found". So the VMM
//! refuses a file that starts with neither a cpio header nor the magic of a
//! decompressor Debian's kernels have (gzip, bzip2, LZMA, XZ, LZO, LZ4, Zstandard),
//! after the zero padding Linux skips between concatenated archives.

#[cfg(test)]
mod tests;

/// How the archive is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitrdFormat {
    Cpio,
    Gzip,
    Bzip2,
    Lzma,
    Xz,
    Lzo,
    Lz4,
    Zstd,
}

/// Why an initrd is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitrdError {
    /// No byte but zeros.
    Empty,
    /// The first bytes match no format.
    UnknownFormat([u8; 6]),
}

impl core::fmt::Display for InitrdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Empty => write!(f, "initrd: the file is empty (or all zeros)"),
            Self::UnknownFormat(start) => write!(
                f,
                "initrd: neither a cpio archive nor a compressed one (starts with {start:02x?})"
            ),
        }
    }
}

/// Magic numbers, longest first where one is a prefix of another.
const MAGICS: [(&[u8], InitrdFormat); 9] = [
    (b"070701", InitrdFormat::Cpio),
    (b"070702", InitrdFormat::Cpio),
    (&[0x1f, 0x8b], InitrdFormat::Gzip),
    (&[0x1f, 0x9e], InitrdFormat::Gzip),
    (b"BZh", InitrdFormat::Bzip2),
    (&[0x5d, 0x00, 0x00], InitrdFormat::Lzma),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], InitrdFormat::Xz),
    (&[0x89, b'L', b'Z', b'O', 0x00], InitrdFormat::Lzo),
    (&[0x02, 0x21, 0x4c, 0x18], InitrdFormat::Lz4),
];
const ZSTD: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The format of the initrd `bytes`, or why it is refused.
pub fn check(bytes: &[u8]) -> Result<InitrdFormat, InitrdError> {
    let first = bytes
        .iter()
        .position(|&b| b != 0)
        .ok_or(InitrdError::Empty)?;
    let bytes = &bytes[first..];
    if bytes.starts_with(&ZSTD) {
        return Ok(InitrdFormat::Zstd);
    }
    if let Some((_, format)) = MAGICS.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Ok(*format);
    }
    let mut start = [0u8; 6];
    let n = bytes.len().min(6);
    start[..n].copy_from_slice(&bytes[..n]);
    Err(InitrdError::UnknownFormat(start))
}
