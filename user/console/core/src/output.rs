//! Output from several clients on one line-oriented device: each client (slot) has a
//! line buffer, and each line goes out whole, behind the slot's name (`name| `), so that
//! two clients' text never mixes within a line.
//!
//! A slot's text waits in its buffer until a newline ends the line or the buffer is full
//! ([`LINE_MAX`] bytes) and more comes: the line is cut there and continues on the next
//! one. The slot in focus (the one that gets the keyboard) is the exception: its partial
//! line is shown as it comes, so that a shell's prompt and the echo of what is typed
//! appear at once. That line stays open on the device until it ends; when another slot's
//! line (or a line of the console's own) must go out meanwhile, the open line is broken
//! off with a line end, and the focus slot's partial line is shown again in full, prefix
//! and all, when that slot writes next (the echo of the next key) or the console has
//! said something (a focus change shows the prompt of the slot that now has the input).
//! The device therefore always sees whole lines, and at most one open one (the focus
//! slot's, last).

/// Bytes of a line kept per slot.
pub const LINE_MAX: usize = 256;
/// Bytes of a slot's name.
pub const NAME_MAX: usize = 16;
/// What follows the name at the start of each line.
pub const SEPARATOR: &[u8] = b"| ";

/// What a piece of output is, for a device that shows it differently (colours).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// The prefix of slot `n`'s line.
    Prefix(usize),
    /// A client's text, and line ends.
    Text,
    /// A line of the console's own.
    Notice,
}

/// Where output goes. Line ends are `\n` (a serial device adds its carriage return).
pub trait Sink {
    fn put(&mut self, bytes: &[u8], style: Style);
}

/// A slot's name as it appears in its prefix: the name it set, or its number (1-based,
/// as the focus keys count) while it has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    bytes: [u8; NAME_MAX],
    len: usize,
}

impl Label {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    fn number(n: usize) -> Label {
        let mut l = Label {
            bytes: [0; NAME_MAX],
            len: 0,
        };
        let mut digits = [0u8; 20];
        let (mut v, mut k) = (n, 0);
        loop {
            digits[k] = b'0' + (v % 10) as u8;
            k += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for d in digits[..k.min(NAME_MAX)].iter().rev() {
            l.bytes[l.len] = *d;
            l.len += 1;
        }
        l
    }
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    name: [u8; NAME_MAX],
    name_len: usize,
    line: [u8; LINE_MAX],
    len: usize,
    /// Bytes of `line` on the device (only while the slot's line is the open one).
    shown: usize,
}

impl Slot {
    const EMPTY: Slot = Slot {
        name: [0; NAME_MAX],
        name_len: 0,
        line: [0; LINE_MAX],
        len: 0,
        shown: 0,
    };
}

/// The output side of `N` slots.
#[derive(Clone, Debug)]
pub struct Output<const N: usize> {
    slots: [Slot; N],
    /// The slot whose partial line ends the device's output, if any.
    open: Option<usize>,
}

impl<const N: usize> Output<N> {
    /// Every slot unnamed and empty.
    pub const fn new() -> Self {
        Output {
            slots: [Slot::EMPTY; N],
            open: None,
        }
    }

    /// Takes `bytes` from `slot` (ignored if there is no such slot). `focus` is the slot
    /// in focus, whose partial line is shown as it comes.
    pub fn write<I, S>(&mut self, slot: usize, bytes: I, focus: Option<usize>, sink: &mut S)
    where
        I: IntoIterator<Item = u8>,
        S: Sink + ?Sized,
    {
        if slot >= N {
            return;
        }
        for b in bytes {
            if b == b'\n' {
                self.end_line(slot, sink);
                continue;
            }
            if self.slots[slot].len == LINE_MAX {
                self.end_line(slot, sink);
            }
            let s = &mut self.slots[slot];
            s.line[s.len] = b;
            s.len += 1;
        }
        if focus == Some(slot) {
            self.show_focus(focus, sink);
        }
    }

    /// Sets `slot`'s name: its printable ASCII characters (space included), at most
    /// [`NAME_MAX`] of them. Returns whether the name changed (an empty name makes the
    /// slot unnamed again).
    pub fn set_name<I: IntoIterator<Item = u8>>(&mut self, slot: usize, name: I) -> bool {
        let Some(s) = self.slots.get_mut(slot) else {
            return false;
        };
        let mut new = [0u8; NAME_MAX];
        let mut len = 0;
        for b in name.into_iter().filter(|b| (0x20..0x7f).contains(b)) {
            if len == NAME_MAX {
                break;
            }
            new[len] = b;
            len += 1;
        }
        // Spaces at either end would only blur the prefix.
        let trimmed = new[..len].trim_ascii();
        let mut name = [0u8; NAME_MAX];
        name[..trimmed.len()].copy_from_slice(trimmed);
        let changed = s.name[..s.name_len] != *trimmed;
        s.name = name;
        s.name_len = trimmed.len();
        changed
    }

    /// Whether `slot` has a name.
    pub fn named(&self, slot: usize) -> bool {
        self.slots.get(slot).is_some_and(|s| s.name_len > 0)
    }

    /// What `slot`'s lines begin with (before the separator).
    pub fn label(&self, slot: usize) -> Label {
        match self.slots.get(slot) {
            Some(s) if s.name_len > 0 => Label {
                bytes: s.name,
                len: s.name_len,
            },
            _ => Label::number(slot + 1),
        }
    }

    /// A line of the console's own, made of `parts`, without a prefix.
    pub fn notice<S: Sink + ?Sized>(
        &mut self,
        parts: &[&[u8]],
        focus: Option<usize>,
        sink: &mut S,
    ) {
        self.break_open_line(sink);
        for p in parts {
            sink.put(p, Style::Notice);
        }
        sink.put(b"\n", Style::Text);
        self.show_focus(focus, sink);
    }

    /// Ends `slot`'s line: all of it on the device, then the line end.
    fn end_line<S: Sink + ?Sized>(&mut self, slot: usize, sink: &mut S) {
        self.show(slot, sink);
        sink.put(b"\n", Style::Text);
        self.open = None;
        let s = &mut self.slots[slot];
        s.len = 0;
        s.shown = 0;
    }

    /// Makes the device's output end with `slot`'s whole partial line.
    fn show<S: Sink + ?Sized>(&mut self, slot: usize, sink: &mut S) {
        if self.open != Some(slot) {
            self.break_open_line(sink);
            let label = self.label(slot);
            sink.put(label.as_bytes(), Style::Prefix(slot));
            sink.put(SEPARATOR, Style::Prefix(slot));
            self.open = Some(slot);
        }
        let s = &mut self.slots[slot];
        if s.shown < s.len {
            sink.put(&s.line[s.shown..s.len], Style::Text);
            s.shown = s.len;
        }
    }

    /// Ends the open line on the device; its slot keeps the text, to show it again.
    fn break_open_line<S: Sink + ?Sized>(&mut self, sink: &mut S) {
        if let Some(o) = self.open.take() {
            sink.put(b"\n", Style::Text);
            self.slots[o].shown = 0;
        }
    }

    fn show_focus<S: Sink + ?Sized>(&mut self, focus: Option<usize>, sink: &mut S) {
        if let Some(f) = focus.filter(|&f| f < N) {
            if self.slots[f].len > 0 {
                self.show(f, sink);
            }
        }
    }
}

impl<const N: usize> Default for Output<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests;
