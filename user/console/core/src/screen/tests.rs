use std::format;
use std::string::String;

use super::*;

fn blank() -> [u16; CELLS] {
    [cell(b' ', TEXT); CELLS]
}

/// Row `r` as text (trailing blanks cut).
fn row(cells: &[u16; CELLS], r: usize) -> String {
    let s: String = cells[r * COLS..(r + 1) * COLS]
        .iter()
        .map(|&c| (c as u8) as char)
        .collect();
    String::from(s.trim_end())
}

#[test]
fn text_goes_on_the_bottom_row_and_lines_scroll() {
    let mut c = blank();
    let mut s = Screen::new();
    s.write(&mut c, b"first\nsecond", TEXT);
    assert_eq!(row(&c, ROWS - 2), "first");
    assert_eq!(row(&c, ROWS - 1), "second");
    assert_eq!(s.col(), 6);
    for i in 0..ROWS {
        s.write(&mut c, format!("\nline {i}").as_bytes(), TEXT);
    }
    assert_eq!(row(&c, 0), "line 0");
    assert_eq!(row(&c, ROWS - 1), format!("line {}", ROWS - 1));
}

#[test]
fn what_the_kernel_left_scrolls_up_unharmed() {
    let mut c = blank();
    for (i, b) in b"kernel".iter().enumerate() {
        c[(ROWS - 2) * COLS + i] = cell(*b, 0x1f);
    }
    let mut s = Screen::new();
    s.write(&mut c, b"console\n", TEXT);
    assert_eq!(row(&c, ROWS - 3), "kernel");
    assert_eq!(c[(ROWS - 3) * COLS] >> 8, 0x1f);
    assert_eq!(row(&c, ROWS - 2), "console");
    assert_eq!(row(&c, ROWS - 1), "");
}

#[test]
fn attributes_are_kept_per_cell() {
    let mut c = blank();
    let mut s = Screen::new();
    s.write(&mut c, b"vm0| ", attr(Style::Prefix(0)));
    s.write(&mut c, b"hi", attr(Style::Text));
    let bottom = &c[(ROWS - 1) * COLS..];
    assert_eq!(bottom[0], cell(b'v', PREFIX[0]));
    assert_eq!(bottom[5], cell(b'h', TEXT));
    assert_eq!(attr(Style::Prefix(9)), PREFIX[1]);
    assert_eq!(attr(Style::Notice), NOTICE);
}

#[test]
fn long_lines_wrap() {
    let mut c = blank();
    let mut s = Screen::new();
    let long: String = (0..COLS + 5)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    s.write(&mut c, long.as_bytes(), TEXT);
    assert_eq!(row(&c, ROWS - 2), &long[..COLS]);
    assert_eq!(row(&c, ROWS - 1), &long[COLS..]);
    // Exactly a row: the wrap waits for the next character.
    let mut c = blank();
    let mut s = Screen::new();
    s.write(&mut c, &long.as_bytes()[..COLS], TEXT);
    assert_eq!(row(&c, ROWS - 2), "");
    s.write(&mut c, b"\n", TEXT);
    assert_eq!(row(&c, ROWS - 2), &long[..COLS]);
    assert_eq!(row(&c, ROWS - 1), "");
}

#[test]
fn control_characters_and_escape_sequences_do_not_show() {
    let mut c = blank();
    let mut s = Screen::new();
    s.write(&mut c, b"\x1b[1;32mgreen\x1b[0m\r\x07 \x1bcx\xc3\xa9", TEXT);
    assert_eq!(row(&c, ROWS - 1), "green x??");
    // Backspace moves left; a space then overwrites.
    s.write(&mut c, b"\x08\x08 ", TEXT);
    assert_eq!(row(&c, ROWS - 1), "green x ?");
    s.write(
        &mut c,
        b"\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08\x08X",
        TEXT,
    );
    assert_eq!(row(&c, ROWS - 1), "Xreen x ?");
}

#[test]
fn a_broken_escape_sequence_ends() {
    let mut c = blank();
    let mut s = Screen::new();
    // A newline inside a sequence ends it and is a newline.
    s.write(&mut c, b"a\x1b[12\nb", TEXT);
    assert_eq!(row(&c, ROWS - 2), "a");
    assert_eq!(row(&c, ROWS - 1), "b");
    // A sequence that never ends stops hiding text after MAX_ESCAPE bytes.
    let mut c = blank();
    let mut s = Screen::new();
    let mut bytes = std::vec::Vec::from(&b"\x1b["[..]);
    bytes.extend(std::iter::repeat_n(b'1', 100));
    s.write(&mut c, &bytes, TEXT);
    assert_eq!(row(&c, ROWS - 1).len(), 100 - MAX_ESCAPE as usize);
}

#[test]
fn tabs_go_to_the_next_multiple_of_eight() {
    let mut c = blank();
    let mut s = Screen::new();
    s.write(&mut c, b"ab\tc\t\td", TEXT);
    assert_eq!(row(&c, ROWS - 1), "ab      c               d");
    let mut s = Screen::new();
    s.write(&mut c, &[b'x'; 78], TEXT);
    s.write(&mut c, b"\t", TEXT);
    assert_eq!(s.col(), COLS);
    s.write(&mut c, b"\ty", TEXT);
    assert_eq!(row(&c, ROWS - 1), "y");
}
