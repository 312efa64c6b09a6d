use std::vec::Vec;

use super::*;

fn drain<const C: usize>(r: &mut InputRing<C>, chunk: usize) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = std::vec![0u8; chunk];
    loop {
        let n = r.pop(&mut buf);
        if n == 0 {
            return all;
        }
        all.extend_from_slice(&buf[..n]);
    }
}

#[test]
fn bytes_come_out_in_order() {
    let mut r = InputRing::<8>::new();
    assert!(r.is_empty());
    for b in b"hello" {
        assert!(r.push(*b));
    }
    assert_eq!(r.len(), 5);
    let mut two = [0u8; 2];
    assert_eq!(r.pop(&mut two), 2);
    assert_eq!(&two, b"he");
    // Wraps around the end of the buffer.
    for b in b"world" {
        assert!(r.push(*b));
    }
    assert_eq!(drain(&mut r, 3), b"lloworld");
    assert_eq!(r.pop(&mut two), 0);
    assert_eq!(r.pop(&mut []), 0);
}

#[test]
fn a_full_ring_drops_the_newest_and_counts() {
    let mut r = InputRing::<4>::new();
    let accepted: Vec<bool> = b"abcdef".iter().map(|&b| r.push(b)).collect();
    assert_eq!(accepted, [true, true, true, true, false, false]);
    assert_eq!(r.dropped(), 2);
    assert_eq!(r.take_new_drops(), 2);
    assert_eq!(r.take_new_drops(), 0);
    assert_eq!(drain(&mut r, 16), b"abcd");
    assert!(r.push(b'g'));
    assert_eq!(r.dropped(), 2);
    for _ in 0..10 {
        r.push(b'x');
    }
    assert_eq!(r.dropped(), 9);
    assert_eq!(r.take_new_drops(), 7);
}

#[test]
fn many_rounds_keep_every_byte_that_fit() {
    let mut r = InputRing::<4096>::new();
    let mut expected = Vec::new();
    let mut got = Vec::new();
    let mut next = 0u8;
    for round in 0..100usize {
        for _ in 0..(round * 137) % 5000 {
            if r.push(next) {
                expected.push(next);
            }
            next = next.wrapping_add(1);
        }
        got.extend(drain(&mut r, 1 + round % 700));
    }
    assert_eq!(got, expected);
    assert!(r.dropped() > 0);
    assert_eq!(
        r.dropped() as usize + expected.len(),
        (0..100).map(|r| (r * 137) % 5000).sum::<usize>()
    );
}
