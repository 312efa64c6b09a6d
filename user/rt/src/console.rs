//! The console a program prints to: COM1 directly, for a program that owns the port
//! range 0x3f8..0x3ff (the roottask until it starts the console service, and the console
//! itself; the kernel has already programmed the UART when it was started with
//! `serial`), or the console service, after [`use_service`].
//!
//! Through the service, `print!` and `println!` send what one call formats as messages
//! of a line at most (the console keeps each client's lines whole). They use the main
//! EC's UTCB, so only the main EC may print through them; another EC sends its text with
//! [`write_on`] from its own UTCB. A call that fails (no portal, a dead console) drops
//! the text: printing never panics and never waits for more than the call itself. The
//! runtime has no heap and no thread-locals: the only state is the mode, an atomic.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::console_protocol::{
    answer, pack_word, sel, unpack, words_for, LINE_MAX, MAX_READ, MAX_WRITE, MESSAGE_WORDS,
    OP_NAME, OP_READ, OP_WRITE,
};
use crate::hypercall::{call, sm_down};
use crate::io::{inb, outb};
use crate::start_info::MAIN_UTCB_ADDR;
use crate::utcb::Utcb;

const COM1: u16 = 0x3f8;

/// The CPU whose output portal `print!` uses, or [`DIRECT`].
static MODE: AtomicU64 = AtomicU64::new(DIRECT);
/// `print!` writes to COM1 itself.
const DIRECT: u64 = u64::MAX;

/// From now on `print!` and `println!` go to the console service, through the output
/// portal of `cpu` (the main EC's CPU).
pub fn use_service(cpu: u32) {
    MODE.store(cpu as u64, Ordering::Release);
}

/// From now on `print!` and `println!` write to COM1 directly (the start-up default).
pub fn use_serial() {
    MODE.store(DIRECT, Ordering::Release);
}

/// The main EC's UTCB (the roottask's too: it lies at the same address).
fn main_utcb() -> Utcb {
    Utcb::at(MAIN_UTCB_ADDR)
}

/// Writer for COM1.
pub struct Serial;

impl Write for Serial {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                put(b'\r');
            }
            put(b);
        }
        Ok(())
    }
}

fn put(b: u8) {
    for _ in 0..100_000 {
        if inb(COM1 + 5) & 0x20 != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    outb(COM1, b);
}

/// Prints formatted text.
pub fn print(args: fmt::Arguments) {
    match MODE.load(Ordering::Acquire) {
        DIRECT => {
            let _ = Serial.write_fmt(args);
        }
        cpu => {
            let mut w = Lines {
                cpu: cpu as u32,
                from: main_utcb(),
                buf: [0; LINE_MAX],
                len: 0,
                failed: false,
            };
            let _ = w.write_fmt(args);
            w.flush();
        }
    }
}

/// Calls `pt` with `[op, n, bytes…]` (at most [`MAX_WRITE`] bytes) from the UTCB
/// `from`; the reply's word 0, or `None` if the call failed or the reply was empty.
fn send(from: Utcb, pt: u64, op: u64, bytes: &[u8]) -> Option<u64> {
    let bytes = &bytes[..bytes.len().min(MAX_WRITE)];
    from.set_word(0, op);
    from.set_word(1, bytes.len() as u64);
    for (i, chunk) in bytes.chunks(8).enumerate() {
        from.set_word(2 + i as u64, pack_word(chunk));
    }
    from.set_items(2 + words_for(bytes.len()) as u64);
    call(pt).ok()?;
    (from.untyped() > 0).then(|| from.word(0))
}

/// Sends `bytes` to the console through the output portal of `cpu` (the CPU the sending
/// EC runs on), from `from`, the sending EC's own UTCB (the kernel takes a call's
/// message from the caller's UTCB). Returns whether the console took all of it.
pub fn write_on(cpu: u32, from: Utcb, bytes: &[u8]) -> bool {
    let Some(pt) = sel::console_out(cpu) else {
        return false;
    };
    bytes
        .chunks(MAX_WRITE)
        .all(|c| send(from, pt, OP_WRITE, c) == Some(answer::OK))
}

/// Names this program's console slot: its lines begin with `name| `. Sent from the main
/// EC, through the portal of the CPU given to [`use_service`] (CPU 0 before).
pub fn set_name(name: &str) -> bool {
    let cpu = match MODE.load(Ordering::Acquire) {
        DIRECT => 0,
        cpu => cpu as u32,
    };
    let Some(pt) = sel::console_out(cpu) else {
        return false;
    };
    send(main_utcb(), pt, OP_NAME, name.as_bytes()) == Some(answer::OK)
}

/// Moves the input waiting for this program into `buf`; returns how many bytes (0 if
/// none waits or the call failed). Only ECs on CPU 0 can reach the input portal; this
/// one sends from the main EC's UTCB.
pub fn read_input(buf: &mut [u8]) -> usize {
    read_input_from(main_utcb(), buf)
}

/// [`read_input`] for an EC on CPU 0 whose UTCB is `from`.
pub fn read_input_from(from: Utcb, buf: &mut [u8]) -> usize {
    read_through(sel::CONSOLE_IN, from, buf)
}

/// [`read_input_from`] for an EC on CPU `cpu`: through that CPU's output portal, which
/// answers reads too.
pub fn read_input_on(cpu: u32, from: Utcb, buf: &mut [u8]) -> usize {
    match sel::console_out(cpu) {
        Some(portal) => read_through(portal, from, buf),
        None => 0,
    }
}

fn read_through(portal: u64, from: Utcb, buf: &mut [u8]) -> usize {
    from.send(&[OP_READ, buf.len().min(MAX_READ) as u64]);
    if call(portal).is_err() {
        return 0;
    }
    let words = (from.untyped() as usize).min(MESSAGE_WORDS);
    if words == 0 {
        return 0;
    }
    let Ok(bytes) = unpack(from.word(0), words - 1, |i| from.word(1 + i as u64)) else {
        return 0;
    };
    let mut n = 0;
    for (o, b) in buf.iter_mut().zip(bytes) {
        *o = b;
        n += 1;
    }
    n
}

/// Waits until the console signals that input for this program may be waiting (then
/// [`read_input`]; it may find nothing). False if there is no input semaphore.
pub fn wait_input() -> bool {
    sm_down(sel::CONSOLE_IN_SM).is_ok()
}

/// `print!`'s buffer in service mode: sends at each line end, when full, and at the end.
struct Lines {
    cpu: u32,
    from: Utcb,
    buf: [u8; LINE_MAX],
    len: usize,
    /// A send failed: the rest is dropped.
    failed: bool,
}

impl Lines {
    fn flush(&mut self) {
        if self.len > 0 && !self.failed {
            self.failed = !write_on(self.cpu, self.from, &self.buf[..self.len]);
        }
        self.len = 0;
    }
}

impl Write for Lines {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' || self.len == LINE_MAX {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print(format_args!($($arg)*)));
}

/// Prints a line to the console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print(format_args!("{}\n", format_args!($($arg)*))));
}
