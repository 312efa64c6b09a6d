use super::*;

#[test]
fn formats() {
    assert_eq!(check(b"070701000000"), Ok(InitrdFormat::Cpio));
    assert_eq!(check(b"070702"), Ok(InitrdFormat::Cpio));
    assert_eq!(check(&[0x1f, 0x8b, 8, 0]), Ok(InitrdFormat::Gzip));
    assert_eq!(check(b"BZh91AY"), Ok(InitrdFormat::Bzip2));
    assert_eq!(check(&[0x5d, 0, 0, 0x80]), Ok(InitrdFormat::Lzma));
    assert_eq!(
        check(&[0xfd, b'7', b'z', b'X', b'Z', 0]),
        Ok(InitrdFormat::Xz)
    );
    assert_eq!(
        check(&[0x89, b'L', b'Z', b'O', 0, 0x0d]),
        Ok(InitrdFormat::Lzo)
    );
    assert_eq!(check(&[0x02, 0x21, 0x4c, 0x18]), Ok(InitrdFormat::Lz4));
    assert_eq!(check(&[0x28, 0xb5, 0x2f, 0xfd]), Ok(InitrdFormat::Zstd));
}

#[test]
fn zero_padding_is_skipped() {
    let mut padded = [0u8; 16];
    padded[8..14].copy_from_slice(b"070701");
    assert_eq!(check(&padded), Ok(InitrdFormat::Cpio));
}

#[test]
fn refusals() {
    assert_eq!(check(&[]), Err(InitrdError::Empty));
    assert_eq!(check(&[0; 64]), Err(InitrdError::Empty));
    assert_eq!(
        check(b"\x7fELF\x02\x01"),
        Err(InitrdError::UnknownFormat(*b"\x7fELF\x02\x01"))
    );
    // Shorter than a magic: the bytes it has, zero-filled.
    assert_eq!(
        check(b"07"),
        Err(InitrdError::UnknownFormat(*b"07\0\0\0\0"))
    );
    assert_eq!(
        check(&[0x1f]),
        Err(InitrdError::UnknownFormat([0x1f, 0, 0, 0, 0, 0]))
    );
}
