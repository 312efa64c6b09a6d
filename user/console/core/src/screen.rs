//! The VGA text screen: 80 columns by 25 rows of cells, each a character (code page 437)
//! in its low byte and an attribute (foreground colour in bits 3:0, background in bits
//! 6:4) in its high byte. Text goes onto the bottom row and the screen scrolls up a row
//! at each line end, as the kernel's own screen console does, so the console simply
//! continues below what the kernel wrote at boot.
//!
//! The screen is a terminal of the simplest kind: carriage returns are ignored (every
//! line end scrolls), a tab moves to the next multiple of 8, backspace moves one cell
//! left, other control characters and ANSI escape sequences (which Linux and shells
//! send for colours and line editing) are skipped, and bytes outside printable ASCII
//! show as `?`, as on the kernel's screen. The cells are reached through [`Cells`], so
//! the same code writes the mapped text buffer on target and an array in host tests.

use crate::output::Style;

/// Columns and rows.
pub const COLS: usize = 80;
pub const ROWS: usize = 25;
/// Cells on the screen (4000 bytes of text buffer).
pub const CELLS: usize = COLS * ROWS;

/// Light grey on black: ordinary text, and blank cells.
pub const TEXT: u8 = 0x07;
/// White on black: the console's own lines.
pub const NOTICE: u8 = 0x0f;
/// Bright colours on black for the slots' prefixes, one per slot (repeating).
pub const PREFIX: [u8; 8] = [0x0b, 0x0e, 0x0a, 0x0d, 0x0c, 0x09, 0x03, 0x06];

/// Longest escape sequence skipped; a longer one ends there (a lost ESC must not hide
/// the rest of the output).
const MAX_ESCAPE: u8 = 32;

/// The attribute text of `style` gets.
pub fn attr(style: Style) -> u8 {
    match style {
        Style::Prefix(slot) => PREFIX[slot % PREFIX.len()],
        Style::Text => TEXT,
        Style::Notice => NOTICE,
    }
}

/// A cell value: character `ch` with attribute `attr`.
pub const fn cell(ch: u8, attr: u8) -> u16 {
    (attr as u16) << 8 | ch as u16
}

/// The screen's cells, row by row from the top (index `row * COLS + col`). Indexes are
/// below [`CELLS`].
pub trait Cells {
    fn get(&self, i: usize) -> u16;
    fn set(&mut self, i: usize, v: u16);
}

impl Cells for [u16; CELLS] {
    fn get(&self, i: usize) -> u16 {
        self[i]
    }

    fn set(&mut self, i: usize, v: u16) {
        self[i] = v;
    }
}

/// Where an escape sequence stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    None,
    /// After ESC.
    Start,
    /// Inside ESC `[` …, this many bytes in.
    Csi(u8),
}

/// The writer's state: the column on the bottom row, and any escape sequence begun.
#[derive(Clone, Copy, Debug)]
pub struct Screen {
    col: usize,
    escape: Escape,
}

const BOTTOM: usize = (ROWS - 1) * COLS;

impl Screen {
    /// At the start of the bottom row.
    pub const fn new() -> Screen {
        Screen {
            col: 0,
            escape: Escape::None,
        }
    }

    /// The column the next character goes to.
    pub fn col(&self) -> usize {
        self.col
    }

    /// Writes `bytes` with attribute `attr`.
    pub fn write<C: Cells + ?Sized>(&mut self, cells: &mut C, bytes: &[u8], attr: u8) {
        for &b in bytes {
            self.put(cells, b, attr);
        }
    }

    fn put<C: Cells + ?Sized>(&mut self, cells: &mut C, b: u8, attr: u8) {
        match self.escape {
            Escape::None => {}
            Escape::Start => {
                self.escape = if b == b'[' {
                    Escape::Csi(0)
                } else {
                    Escape::None
                };
                return;
            }
            // A control character inside a sequence ends it and counts as itself.
            Escape::Csi(n) if b >= 0x20 => {
                self.escape = if (0x40..=0x7e).contains(&b) || n + 1 >= MAX_ESCAPE {
                    Escape::None
                } else {
                    Escape::Csi(n + 1)
                };
                return;
            }
            Escape::Csi(_) => self.escape = Escape::None,
        }
        match b {
            b'\n' => self.newline(cells),
            b'\t' => {
                let next = (self.col / 8 + 1) * 8;
                while self.col < next.min(COLS) {
                    self.glyph(cells, b' ', attr);
                }
            }
            0x08 => self.col = self.col.saturating_sub(1),
            0x1b => self.escape = Escape::Start,
            0x20..=0x7e => self.glyph(cells, b, attr),
            0x80..=0xff => self.glyph(cells, b'?', attr),
            // Carriage return and the other control characters.
            _ => {}
        }
    }

    fn glyph<C: Cells + ?Sized>(&mut self, cells: &mut C, ch: u8, attr: u8) {
        if self.col == COLS {
            self.newline(cells);
        }
        cells.set(BOTTOM + self.col, cell(ch, attr));
        self.col += 1;
    }

    /// Ends the bottom row: every row moves up one, the bottom row is blank.
    pub fn newline<C: Cells + ?Sized>(&mut self, cells: &mut C) {
        for i in 0..BOTTOM {
            cells.set(i, cells.get(i + COLS));
        }
        for i in BOTTOM..CELLS {
            cells.set(i, cell(b' ', TEXT));
        }
        self.col = 0;
    }
}

impl Default for Screen {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
