//! What the console's ECs share, behind one lock: the output side of every slot, the
//! screen, the input rings and the focus. The devices are written while the lock is
//! held, so lines from different CPUs reach COM1 and the screen one at a time and in the
//! same order.

use core::fmt::{self, Write};

use facet_console_core::focus::{FocusKeys, Key};
use facet_console_core::output::{Output, Sink, Style};
use facet_console_core::ring::InputRing;
use facet_console_core::screen::{self, Cells, Screen, CELLS};
use facet_rt::console_protocol::{INPUT_RING, SLOTS};
use facet_rt::window::Window;

use crate::lock::SpinLock;
use crate::uart;

pub static STATE: SpinLock<State> = SpinLock::new(State::new());

pub struct State {
    out: Output<SLOTS>,
    screen: Screen,
    /// The VGA text buffer, if the console was given it.
    vga: Option<Window>,
    rings: [InputRing<INPUT_RING>; SLOTS],
    keys: FocusKeys,
    focus: Option<usize>,
    /// Whether the user has moved the focus (then no client takes it by naming itself).
    focus_moved: bool,
}

impl State {
    const fn new() -> State {
        State {
            out: Output::new(),
            screen: Screen::new(),
            vga: None,
            rings: [const { InputRing::new() }; SLOTS],
            keys: FocusKeys::new(),
            focus: None,
            focus_moved: false,
        }
    }

    /// Shows the output on the VGA text buffer too (`vga`: at least [`CELLS`] cells).
    pub fn set_vga(&mut self, vga: Window) {
        self.vga = Some(vga);
    }

    /// Text from `slot`.
    pub fn write<I: IntoIterator<Item = u8>>(&mut self, slot: usize, bytes: I) {
        let State {
            out,
            screen,
            vga,
            focus,
            ..
        } = self;
        out.write(slot, bytes, *focus, &mut Devices { screen, vga: *vga });
    }

    /// A line of the console's own.
    pub fn notice(&mut self, args: fmt::Arguments) {
        let mut line = Line::default();
        let _ = line.write_fmt(args);
        let State {
            out,
            screen,
            vga,
            focus,
            ..
        } = self;
        out.notice(&[line.bytes()], *focus, &mut Devices { screen, vga: *vga });
    }

    /// `slot` names itself. The first slot with a name gets the focus, and the first
    /// client's after that takes it from the roottask's slot 0 (which reads no input).
    pub fn set_name<I: IntoIterator<Item = u8>>(&mut self, slot: usize, name: I) {
        if !self.out.set_name(slot, name) || !self.out.named(slot) {
            return;
        }
        let label = self.out.label(slot);
        let label = Text(label.as_bytes());
        self.notice(format_args!(
            "console: Ctrl-T {} gives {label} the input",
            slot
        ));
        if self.focus.is_none() || (self.focus == Some(0) && slot != 0 && !self.focus_moved) {
            self.set_focus(slot);
        }
    }

    fn set_focus(&mut self, slot: usize) {
        self.focus = Some(slot);
        let label = self.out.label(slot);
        self.notice(format_args!(
            "console: input goes to {}",
            Text(label.as_bytes())
        ));
    }

    /// A byte from the keyboard (the UART). Returns the slot whose input it became.
    pub fn key(&mut self, b: u8) -> Option<usize> {
        match self.keys.feed(b, SLOTS) {
            Key::Input(b) => {
                let f = self.focus?;
                self.rings.get_mut(f)?.push(b);
                Some(f)
            }
            Key::Focus(slot) => {
                self.focus_moved = true;
                self.set_focus(slot);
                None
            }
            Key::Nothing => None,
        }
    }

    /// Moves the oldest of `slot`'s input into `out` (as much as fits); returns how much.
    pub fn take_input(&mut self, slot: usize, out: &mut [u8]) -> usize {
        self.rings.get_mut(slot).map_or(0, |r| r.pop(out))
    }

    /// Reports input for `slot` dropped since the last report.
    pub fn report_drops(&mut self, slot: usize) {
        let Some(dropped) = self.rings.get_mut(slot).map(|r| r.take_new_drops()) else {
            return;
        };
        if dropped > 0 {
            let label = self.out.label(slot);
            self.notice(format_args!(
                "console: {dropped} input bytes for {} were dropped (its buffer was full)",
                Text(label.as_bytes())
            ));
        }
    }
}

/// COM1, and the screen if there is one.
struct Devices<'a> {
    screen: &'a mut Screen,
    vga: Option<Window>,
}

impl Sink for Devices<'_> {
    fn put(&mut self, bytes: &[u8], style: Style) {
        uart::write(bytes);
        if let Some(vga) = self.vga {
            self.screen
                .write(&mut VgaCells(vga), bytes, screen::attr(style));
        }
    }
}

/// The VGA text buffer's cells (two bytes each, character then attribute).
struct VgaCells(Window);

impl Cells for VgaCells {
    fn get(&self, i: usize) -> u16 {
        if i < CELLS {
            self.0.read(2 * i as u64)
        } else {
            0
        }
    }

    fn set(&mut self, i: usize, v: u16) {
        if i < CELLS {
            self.0.write(2 * i as u64, v)
        }
    }
}

/// Bytes shown as text (a slot's label: printable ASCII already).
struct Text<'a>(&'a [u8]);

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.iter().try_for_each(|&b| f.write_char(b as char))
    }
}

/// A line of the console's own, formatted without a heap (cut at 128 bytes).
struct Line {
    buf: [u8; 128],
    len: usize,
}

impl Default for Line {
    fn default() -> Line {
        Line {
            buf: [0; 128],
            len: 0,
        }
    }
}

impl Line {
    fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
