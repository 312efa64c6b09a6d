//! The kernel consoles: COM1 when `serial` is given, the VGA text screen unless `novga`.
//!
//! Output goes to every enabled console. `print!`/`println!` take the console lock; the
//! fault and panic paths use [`write_emergency`], which does not wait for a lock that
//! the failing code might hold.

pub mod limited;
mod serial;
mod vga;

use core::fmt::{self, Write};

use crate::sync::SpinLock;

/// The set of enabled consoles.
pub struct Consoles {
    serial: Option<serial::Serial>,
    vga: Option<vga::Vga>,
}

impl Consoles {
    const fn none() -> Self {
        Consoles {
            serial: None,
            vga: None,
        }
    }
}

impl Write for Consoles {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(sp) = self.serial.as_mut() {
            sp.write_str(s);
        }
        if let Some(v) = self.vga.as_mut() {
            v.write_str(s);
        }
        Ok(())
    }
}

static CONSOLES: SpinLock<Consoles> = SpinLock::new(Consoles::none());

/// Enables the consoles the command line asks for.
pub fn init(serial: bool, vga: bool) {
    let mut c = CONSOLES.lock();
    c.serial = serial.then(serial::Serial::init_com1);
    c.vga = vga.then(vga::Vga::new);
}

/// Writes formatted text to every console. Out of line and cold: printing is never on a
/// path worth inlining into, and each of the many callers would carry the lock and the
/// formatting call.
#[cold]
#[inline(never)]
pub fn print(args: fmt::Arguments) {
    let _ = CONSOLES.lock().write_fmt(args);
}

/// Writes on the fatal paths: takes the lock if it can, and otherwise writes anyway
/// (the holder is this CPU's interrupted code, which will never run again).
#[cold]
#[inline(never)]
pub fn write_emergency(args: fmt::Arguments) {
    match CONSOLES.try_lock() {
        Some(mut c) => {
            let _ = c.write_fmt(args);
        }
        None => {
            let mut c = Consoles {
                serial: Some(serial::Serial::assume_com1()),
                vga: Some(vga::Vga::new()),
            };
            let _ = c.write_fmt(args);
        }
    }
}

/// Prints to every kernel console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::print(format_args!($($arg)*)));
}

/// Prints a line to every kernel console.
#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::print(format_args!("{}\n", format_args!($($arg)*))));
}
