//! The VGA text screen at physical 0xb8000: 80x25 cells, scrolling at the bottom.

use crate::mem::direct_map;

const COLS: usize = 80;
const ROWS: usize = 25;
const ATTR: u16 = 0x0700;

/// The text screen, written through the direct map.
pub struct Vga {
    col: usize,
}

impl Vga {
    /// Starts writing on the bottom row.
    pub fn new() -> Vga {
        Vga { col: 0 }
    }

    fn cell(index: usize) -> *mut u16 {
        (direct_map::virt(0xb8000) as *mut u16).wrapping_add(index)
    }

    fn newline(&mut self) {
        for i in 0..COLS * (ROWS - 1) {
            // SAFETY: both cells lie in the 4000-byte text buffer, which the direct map
            // always covers; volatile because it is device memory.
            unsafe { Self::cell(i).write_volatile(Self::cell(i + COLS).read_volatile()) }
        }
        for i in 0..COLS {
            // SAFETY: as above, the last row of the buffer.
            unsafe { Self::cell(COLS * (ROWS - 1) + i).write_volatile(ATTR | b' ' as u16) }
        }
        self.col = 0;
    }

    /// Writes text, wrapping long lines.
    pub fn write_str(&mut self, s: &str) {
        for b in s.bytes() {
            match b {
                b'\n' => self.newline(),
                b'\r' => self.col = 0,
                _ => {
                    if self.col == COLS {
                        self.newline();
                    }
                    let ch = if (0x20..0x7f).contains(&b) { b } else { b'?' };
                    // SAFETY: the cell is on the last row of the text buffer.
                    unsafe {
                        Self::cell(COLS * (ROWS - 1) + self.col).write_volatile(ATTR | ch as u16)
                    }
                    self.col += 1;
                }
            }
        }
    }
}
