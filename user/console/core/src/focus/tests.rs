use std::vec::Vec;

use super::*;

fn feed_all(keys: &mut FocusKeys, bytes: &[u8], slots: usize) -> Vec<Key> {
    bytes.iter().map(|&b| keys.feed(b, slots)).collect()
}

#[test]
fn ordinary_keys_pass() {
    let mut k = FocusKeys::new();
    assert_eq!(
        feed_all(&mut k, b"ls\r", 8),
        [Key::Input(b'l'), Key::Input(b's'), Key::Input(b'\r')]
    );
}

#[test]
fn ctrl_t_and_a_digit_move_the_focus() {
    let mut k = FocusKeys::new();
    assert_eq!(feed_all(&mut k, b"\x140", 8), [Key::Nothing, Key::Focus(0)]);
    assert_eq!(
        feed_all(&mut k, b"\x147x", 8),
        [Key::Nothing, Key::Focus(7), Key::Input(b'x')]
    );
}

#[test]
fn a_digit_beyond_the_slots_is_dropped() {
    let mut k = FocusKeys::new();
    assert_eq!(
        feed_all(&mut k, b"\x148a", 8),
        [Key::Nothing, Key::Nothing, Key::Input(b'a')]
    );
    assert_eq!(feed_all(&mut k, b"\x142", 2), [Key::Nothing, Key::Nothing]);
    assert_eq!(feed_all(&mut k, b"\x14a", 8), [Key::Nothing, Key::Nothing]);
    assert_eq!(feed_all(&mut k, b"\x140", 0), [Key::Nothing, Key::Nothing]);
}

#[test]
fn ctrl_t_twice_sends_one() {
    let mut k = FocusKeys::new();
    assert_eq!(
        feed_all(&mut k, b"\x14\x14\x14\x14", 8),
        [
            Key::Nothing,
            Key::Input(ESCAPE),
            Key::Nothing,
            Key::Input(ESCAPE)
        ]
    );
    // Three in a row: one sent, the third begins a new sequence.
    assert_eq!(
        feed_all(&mut k, b"\x14\x14\x141", 8),
        [
            Key::Nothing,
            Key::Input(ESCAPE),
            Key::Nothing,
            Key::Focus(1)
        ]
    );
}

#[test]
fn anything_else_after_ctrl_t_is_dropped_with_it() {
    let mut k = FocusKeys::new();
    for b in [b'a', b'\r', 0x1b, 0, 0xff, 0x03] {
        assert_eq!(
            feed_all(&mut k, &[ESCAPE, b, b'z'], 8),
            [Key::Nothing, Key::Nothing, Key::Input(b'z')]
        );
    }
}
