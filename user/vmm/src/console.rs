//! Where the VMM's and the guest's text goes, and where the guest's input comes from:
//! the console service if the roottask started one (it labels every line with the
//! name the VMM gives its slot, and hands input to the VM in focus), or else COM1
//! itself, which the roottask then gives the VMM (the VMM labels the lines the same way,
//! `name| `, and looks for input every few milliseconds).
//!
//! Text goes out from the EC that has it, through its own UTCB: a vCPU's handler keeps
//! the exit's state in its UTCB, so [`Sender::send`] saves the state words a message
//! overwrites and puts them back afterwards.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use facet_abi::utcb::STATE_END;
use facet_rt::io::{inb, outb};
use facet_rt::start_info::StartInfo;
use facet_rt::utcb::Utcb;

use crate::lock::SpinLock;

/// The console service is in use (else COM1 directly).
static SERVICE: AtomicBool = AtomicBool::new(false);
/// With COM1: the next byte starts a line (gets the label); and one writer at a time.
static SERIAL: SpinLock<bool> = SpinLock::new(true);
/// The label of this VMM's lines.
static NAME: SpinLock<crate::vm::Name> = SpinLock::new(crate::vm::Name::EMPTY);

const COM1: u16 = 0x3f8;
const LSR: u16 = 5;
const LSR_DATA_READY: u8 = 1;
const LSR_THR_EMPTY: u8 = 0x20;

/// Chooses the console: the service if the roottask gave its capabilities.
pub fn init(info: &StartInfo, main_cpu: u32) {
    if info.console != 0 {
        SERVICE.store(true, Ordering::Release);
        facet_rt::console::use_service(main_cpu);
    }
}

/// Whether input comes from the service (an input thread waits for it) rather than
/// from COM1 (the main EC looks).
pub fn uses_service() -> bool {
    SERVICE.load(Ordering::Acquire)
}

/// Labels this VMM's lines with `name` (the main EC calls it).
pub fn set_name(name: crate::vm::Name) {
    *NAME.lock() = name;
    if uses_service() {
        facet_rt::console::set_name(name.as_str());
    }
}

/// An EC that sends text: its CPU and its UTCB.
#[derive(Clone, Copy, Debug)]
pub struct Sender {
    pub cpu: u32,
    pub utcb: Utcb,
}

impl Sender {
    /// Sends `bytes` as they are (the guest's output; lines end where its `\n`s are).
    pub fn send(&self, bytes: &[u8]) {
        if !uses_service() {
            serial_write(bytes);
            return;
        }
        // A message overwrites the words from the header on: keep the exit state.
        let mut saved = [0u64; STATE_END / 8];
        for (i, w) in saved.iter_mut().enumerate() {
            *w = self.utcb.get(8 * i);
        }
        facet_rt::console::write_on(self.cpu, self.utcb, bytes);
        for (i, w) in saved.iter().enumerate() {
            self.utcb.put(8 * i, *w);
        }
    }

    /// Prints one line of the VMM's own (after `vmm: `, which tells it from the guest's
    /// lines under the same label).
    pub fn report(&self, args: fmt::Arguments) {
        let mut line = Line {
            bytes: [0; 200],
            len: 0,
        };
        let _ = write!(line, "vmm: {args}");
        self.send(line.ended());
    }
}

/// A line being formatted (cut at its size).
struct Line {
    bytes: [u8; 200],
    len: usize,
}

impl Line {
    /// The line with its newline; one cut short ends in `...` (the newline always
    /// comes, or the next line would run on from it).
    fn ended(&mut self) -> &[u8] {
        if self.len >= self.bytes.len() {
            self.len = self.bytes.len() - 4;
            self.bytes[self.len..].copy_from_slice(b"...\n");
            self.len = self.bytes.len();
        } else {
            self.bytes[self.len] = b'\n';
            self.len += 1;
        }
        &self.bytes[..self.len]
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.bytes.len() {
                self.bytes[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// Writes to COM1, labelling each line.
fn serial_write(bytes: &[u8]) {
    let name = *NAME.lock();
    let mut at_line_start = SERIAL.lock();
    for &b in bytes {
        if *at_line_start {
            for &c in name.as_str().as_bytes().iter().chain(b"| ") {
                serial_put(c);
            }
        }
        if b == b'\n' {
            serial_put(b'\r');
        }
        serial_put(b);
        *at_line_start = b == b'\n';
    }
}

fn serial_put(b: u8) {
    for _ in 0..100_000 {
        if inb(COM1 + LSR) & LSR_THR_EMPTY != 0 {
            break;
        }
        core::hint::spin_loop();
    }
    outb(COM1, b);
}

/// Moves what was typed at COM1 into `buf` (without the service); how many bytes.
pub fn poll_serial_input(buf: &mut [u8]) -> usize {
    let mut n = 0;
    while n < buf.len() && inb(COM1 + LSR) & LSR_DATA_READY != 0 {
        buf[n] = inb(COM1);
        n += 1;
    }
    n
}
