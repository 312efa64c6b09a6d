use super::*;
use std::vec::Vec;

fn feed(b: &mut LineBuffer, bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .iter()
        .filter_map(|&c| b.push(c).map(<[u8]>::to_vec))
        .collect()
}

#[test]
fn lines_end_at_newlines() {
    let mut b = LineBuffer::new();
    assert_eq!(
        feed(&mut b, b"ab\ncd\n"),
        [b"ab\n".to_vec(), b"cd\n".to_vec()]
    );
    // A prompt stays until taken.
    assert!(feed(&mut b, b"~ # ").is_empty());
    assert_eq!(b.take(), b"~ # ");
    assert_eq!(b.take(), b"");
}

#[test]
fn long_lines_are_cut_where_the_buffer_is_full() {
    let mut b = LineBuffer::new();
    let long = [b'x'; LINE_BYTES + 5];
    let out = feed(&mut b, &long);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), LINE_BYTES);
    assert_eq!(b.take().len(), 5);
}

#[test]
fn the_ring_keeps_order_and_refuses_when_full() {
    let r = InputRing::new();
    assert_eq!(r.pop(), None);
    for round in 0..3u32 {
        for i in 0..INPUT_BYTES {
            assert!(r.push((i as u32 + round) as u8));
        }
        assert!(!r.push(0xff), "full");
        for i in 0..INPUT_BYTES {
            assert_eq!(r.pop(), Some((i as u32 + round) as u8));
        }
        assert_eq!(r.pop(), None);
    }
}

#[test]
fn one_producer_and_one_consumer_on_two_threads() {
    let r = std::sync::Arc::new(InputRing::new());
    let producer = {
        let r = r.clone();
        std::thread::spawn(move || {
            for i in 0..100_000u32 {
                while !r.push(i as u8) {
                    std::thread::yield_now();
                }
            }
        })
    };
    for i in 0..100_000u32 {
        let b = loop {
            if let Some(b) = r.pop() {
                break b;
            }
            std::thread::yield_now();
        };
        assert_eq!(b, i as u8);
    }
    producer.join().unwrap();
}
