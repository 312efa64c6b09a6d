use std::vec::Vec;

use super::*;

fn roundtrip(bytes: &[u8]) -> Vec<u8> {
    let mut words = [0u64; 8];
    let packed = pack(bytes, &mut words);
    assert_eq!(packed, bytes.len());
    unpack(bytes.len() as u64, words_for(bytes.len()), |i| words[i])
        .unwrap()
        .collect()
}

#[test]
fn little_endian_eight_to_a_word() {
    let mut w = [0u64; 2];
    assert_eq!(pack(b"ABCDEFGHIJ", &mut w), 10);
    assert_eq!(w[0], u64::from_le_bytes(*b"ABCDEFGH"));
    assert_eq!(w[1], u64::from_le_bytes(*b"IJ\0\0\0\0\0\0"));
    assert_eq!(pack_word(b"hi"), 0x6968);
    assert_eq!(pack_word(b"123456789"), u64::from_le_bytes(*b"12345678"));
}

#[test]
fn every_size_round_trips() {
    let text: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37)).collect();
    for n in 0..=text.len() {
        assert_eq!(roundtrip(&text[..n]), &text[..n], "n = {n}");
        assert_eq!(words_for(n), n.div_ceil(8));
    }
}

#[test]
fn pack_stops_where_the_words_end() {
    let mut w = [0u64; 1];
    assert_eq!(pack(b"0123456789", &mut w), 8);
    assert_eq!(pack(b"", &mut w), 0);
    assert_eq!(pack(b"abc", &mut []), 0);
}

#[test]
fn a_count_beyond_the_words_sent_is_refused_before_any_read() {
    let read = core::cell::Cell::new(0);
    let word = |i: usize| {
        read.set(read.get() + 1);
        assert!(i < 2, "read beyond the words sent");
        u64::MAX
    };
    assert!(unpack(17, 2, word).is_err());
    assert!(unpack(u64::MAX, 2, word).is_err());
    assert!(unpack(1, 0, word).is_err());
    assert!(unpack(u64::MAX, usize::MAX, |_| 0).is_ok_and(|b| b.len() == usize::MAX));
    assert_eq!(read.get(), 0);
    // Exactly full is fine, and reads each word once.
    assert_eq!(unpack(16, 2, word).unwrap().count(), 16);
    assert_eq!(read.get(), 2);
}

#[test]
fn zero_bytes_read_no_word() {
    let b = unpack(0, 0, |_| panic!("no word to read")).unwrap();
    assert_eq!(b.len(), 0);
    assert_eq!(b.count(), 0);
    assert_eq!(
        unpack(0, 5, |_| panic!("no word to read")).unwrap().count(),
        0
    );
}

#[test]
fn odd_sizes_ignore_the_padding() {
    // Garbage in the padding of the last word never shows.
    let words = [
        u64::from_le_bytes(*b"abcdefgh"),
        u64::from_le_bytes(*b"ijk\xff\xff\xff\xff\xff"),
    ];
    let got: Vec<u8> = unpack(11, 2, |i| words[i]).unwrap().collect();
    assert_eq!(got, b"abcdefghijk");
    let got: Vec<u8> = unpack(3, 2, |i| words[i]).unwrap().collect();
    assert_eq!(got, b"abc");
}

#[test]
fn unpack_into_cuts_at_the_buffer() {
    let words = [
        u64::from_le_bytes(*b"abcdefgh"),
        u64::from_le_bytes(*b"ij\0\0\0\0\0\0"),
    ];
    let mut out = [0u8; 4];
    assert_eq!(unpack_into(10, &words, &mut out), Ok(4));
    assert_eq!(&out, b"abcd");
    let mut big = [0u8; 32];
    assert_eq!(unpack_into(10, &words, &mut big), Ok(10));
    assert_eq!(&big[..10], b"abcdefghij");
    assert_eq!(unpack_into(17, &words, &mut big), Err(TooLong));
    assert_eq!(unpack_into(0, &[], &mut big), Ok(0));
}
