//! The console service's portable logic: everything the console (`user/console`) does
//! that needs neither the kernel nor the hardware. The binary links this crate and
//! connects it to its portals, the UART and the VGA text buffer; `cargo test` runs the
//! same code on the host. The client side (`facet_rt::console`) uses [`pack`] too, so
//! both ends of a message agree on the byte order by construction.
//!
//! Nothing here trusts a client: byte counts are checked against the words that came,
//! slot numbers against the slots there are, and every buffer is bounded (a full one
//! cuts a line or drops input, and says so).

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod focus;
pub mod output;
pub mod pack;
pub mod registration;
pub mod ring;
pub mod screen;
