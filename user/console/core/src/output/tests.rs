use std::format;
use std::string::String;
use std::vec::Vec;

use super::*;

/// Records the device's output as text, and the style of each piece.
#[derive(Default)]
struct Device {
    text: String,
    pieces: Vec<(String, Style)>,
}

impl Sink for Device {
    fn put(&mut self, bytes: &[u8], style: Style) {
        let s = String::from_utf8_lossy(bytes).into_owned();
        self.text.push_str(&s);
        self.pieces.push((s, style));
    }
}

fn out() -> (Output<3>, Device) {
    (Output::new(), Device::default())
}

#[test]
fn whole_lines_go_out_with_the_prefix() {
    let (mut o, mut d) = out();
    assert!(o.set_name(0, *b"vm0"));
    o.write(0, *b"hello\nwor", None, &mut d);
    assert_eq!(d.text, "vm0| hello\n");
    o.write(0, *b"ld\n\n", None, &mut d);
    assert_eq!(d.text, "vm0| hello\nvm0| world\nvm0| \n");
    assert_eq!(d.pieces[0], (String::from("vm0"), Style::Prefix(0)));
    assert_eq!(d.pieces[1], (String::from("| "), Style::Prefix(0)));
    assert_eq!(d.pieces[2], (String::from("hello"), Style::Text));
}

#[test]
fn unnamed_slots_show_their_number() {
    let (mut o, mut d) = out();
    o.write(2, *b"x\n", None, &mut d);
    assert_eq!(d.text, "3| x\n");
    assert!(!o.named(2));
    assert_eq!(o.label(2).as_bytes(), b"3");
    assert_eq!(Output::<12>::new().label(11).as_bytes(), b"12");
}

#[test]
fn two_clients_never_share_a_line() {
    let (mut o, mut d) = out();
    o.set_name(0, *b"a");
    o.set_name(1, *b"b");
    o.write(0, *b"one ", None, &mut d);
    o.write(1, *b"two ", None, &mut d);
    o.write(0, *b"three\n", None, &mut d);
    o.write(1, *b"four\n", None, &mut d);
    assert_eq!(d.text, "a| one three\nb| two four\n");
}

#[test]
fn a_full_buffer_cuts_the_line() {
    let (mut o, mut d) = out();
    let long: Vec<u8> = (0..LINE_MAX + 10).map(|i| b'a' + (i % 26) as u8).collect();
    o.write(1, long.iter().copied(), None, &mut d);
    let first = String::from_utf8(long[..LINE_MAX].to_vec()).unwrap();
    assert_eq!(d.text, format!("2| {first}\n"));
    o.write(1, *b"\n", None, &mut d);
    let rest = String::from_utf8(long[LINE_MAX..].to_vec()).unwrap();
    assert_eq!(d.text, format!("2| {first}\n2| {rest}\n"));
    // Exactly LINE_MAX and a newline: one line, not an empty one after it.
    let (mut o, mut d) = out();
    o.write(0, long[..LINE_MAX].iter().copied(), None, &mut d);
    assert_eq!(d.text, "");
    o.write(0, *b"\n", None, &mut d);
    assert_eq!(d.text, format!("1| {first}\n"));
}

#[test]
fn the_focus_slot_shows_partial_lines_at_once() {
    let (mut o, mut d) = out();
    o.set_name(0, *b"sh");
    o.write(0, *b"# ", Some(0), &mut d);
    assert_eq!(d.text, "sh| # ");
    o.write(0, *b"l", Some(0), &mut d);
    o.write(0, *b"s", Some(0), &mut d);
    assert_eq!(d.text, "sh| # ls");
    o.write(0, *b"\r\n", Some(0), &mut d);
    assert_eq!(d.text, "sh| # ls\r\n");
}

#[test]
fn another_line_breaks_the_open_one_which_is_shown_again() {
    let (mut o, mut d) = out();
    o.set_name(0, *b"sh");
    o.set_name(1, *b"log");
    o.write(0, *b"# ec", Some(0), &mut d);
    o.write(1, *b"tick\n", Some(0), &mut d);
    o.write(1, *b"tock\n", Some(0), &mut d);
    assert_eq!(d.text, "sh| # ec\nlog| tick\nlog| tock\n");
    o.write(0, *b"h", Some(0), &mut d);
    assert_eq!(d.text, "sh| # ec\nlog| tick\nlog| tock\nsh| # ech");
    o.write(0, *b"o\n", Some(0), &mut d);
    assert_eq!(d.text, "sh| # ec\nlog| tick\nlog| tock\nsh| # echo\n");
    // A partial line of a slot out of focus waits.
    o.write(1, *b"tack", Some(0), &mut d);
    o.write(0, *b"# ", Some(0), &mut d);
    assert_eq!(d.text, "sh| # ec\nlog| tick\nlog| tock\nsh| # echo\nsh| # ");
}

#[test]
fn notices_break_the_open_line_too() {
    let (mut o, mut d) = out();
    o.write(0, *b"# ", Some(0), &mut d);
    o.notice(&[b"console: input goes to ", b"x"], Some(0), &mut d);
    assert_eq!(d.text, "1| # \nconsole: input goes to x\n1| # ");
    assert!(d
        .pieces
        .iter()
        .any(|p| p == &(String::from("x"), Style::Notice)));
    // No open line: the notice is just a line.
    let (mut o, mut d) = out();
    o.notice(&[b"hi"], None, &mut d);
    assert_eq!(d.text, "hi\n");
}

#[test]
fn a_focus_change_leaves_the_old_line_to_end_later() {
    let (mut o, mut d) = out();
    o.write(0, *b"abc", Some(0), &mut d);
    o.write(1, *b"xyz", Some(1), &mut d);
    assert_eq!(d.text, "1| abc\n2| xyz");
    o.write(0, *b"def\n", Some(1), &mut d);
    assert_eq!(d.text, "1| abc\n2| xyz\n1| abcdef\n");
    o.write(1, *b"!", Some(1), &mut d);
    assert_eq!(d.text, "1| abc\n2| xyz\n1| abcdef\n2| xyz!");
}

#[test]
fn names_are_cleaned_and_bounded() {
    let (mut o, _) = out();
    assert!(o.set_name(0, *b"  \x1b[31mred\x07 "));
    assert_eq!(o.label(0).as_bytes(), b"[31mred");
    assert!(!o.set_name(0, *b"[31mred"));
    assert!(o.set_name(0, *b"a-very-long-name-indeed"));
    assert_eq!(o.label(0).as_bytes(), b"a-very-long-name");
    assert!(o.set_name(0, *b"\x01\x02"));
    assert!(!o.named(0));
    assert_eq!(o.label(0).as_bytes(), b"1");
}

#[test]
fn slots_that_do_not_exist_are_ignored() {
    let (mut o, mut d) = out();
    o.write(3, *b"x\n", Some(3), &mut d);
    o.write(usize::MAX, *b"x\n", Some(usize::MAX), &mut d);
    assert!(!o.set_name(3, *b"x"));
    assert!(!o.named(3));
    assert_eq!(o.label(7).as_bytes(), b"8");
    assert_eq!(d.text, "");
}
