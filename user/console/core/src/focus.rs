//! The keys that move the input focus between clients.
//!
//! Everything typed goes to the one client in focus, except the escape key Ctrl-T
//! (0x14), which starts a two-key sequence: Ctrl-T and a digit `d` (0 up to the number
//! of slots less one) gives slot `d` the focus (slot 0 is the roottask's, so the first
//! VM the roottask starts is Ctrl-T 1); Ctrl-T Ctrl-T sends one Ctrl-T; Ctrl-T and
//! anything else is dropped, both keys. Ctrl-T costs little (readline's transpose-chars
//! is its best-known use, and Ctrl-T Ctrl-T still sends it) and, unlike Ctrl-A, is not
//! QEMU's own escape on a serial line multiplexed with its monitor.

/// The escape key: Ctrl-T.
pub const ESCAPE: u8 = 0x14;

/// What a key means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// Input for the client in focus.
    Input(u8),
    /// Give this slot the focus.
    Focus(usize),
    /// Nothing (the first key of a sequence, or a dropped one).
    Nothing,
}

/// Where the key sequence stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FocusKeys {
    escaped: bool,
}

impl FocusKeys {
    /// No sequence begun.
    pub const fn new() -> FocusKeys {
        FocusKeys { escaped: false }
    }

    /// The meaning of the next key `b`, with `slots` slots to choose from (digits 0 to
    /// `min(slots, 10) - 1` name them).
    pub fn feed(&mut self, b: u8, slots: usize) -> Key {
        if !self.escaped {
            if b == ESCAPE {
                self.escaped = true;
                return Key::Nothing;
            }
            return Key::Input(b);
        }
        self.escaped = false;
        match b {
            ESCAPE => Key::Input(ESCAPE),
            b'0'..=b'9' if ((b - b'0') as usize) < slots => Key::Focus((b - b'0') as usize),
            _ => Key::Nothing,
        }
    }
}

#[cfg(test)]
mod tests;
