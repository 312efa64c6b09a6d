//! QEMU's `edu` PCI device (a teaching device: a factorial unit, a 4 KiB buffer it
//! moves by DMA, MSIs) and the protocol of Facet's driver for it, without hardware.
//!
//! - [`regs`]: the device's registers and bits.
//! - [`dma`]: checking a transfer before the device sees it. The device refuses nothing
//!   itself: a transfer outside its buffer stops the whole emulator (QEMU's `hw_error`),
//!   so the driver must never start one.
//! - [`msi`]: finding the MSI capability in configuration space and what to write there.
//! - [`protocol`]: what clients send the driver's portal and what it answers, and where
//!   the roottask puts what the driver needs.

#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod dma;
pub mod msi;
pub mod protocol;
pub mod regs;

/// n! modulo 2^32, as the device computes it (in 32 bits).
pub const fn factorial(n: u32) -> u32 {
    let mut v = 1u32;
    let mut i = 2;
    while i <= n {
        v = v.wrapping_mul(i);
        i += 1;
    }
    v
}

#[cfg(test)]
mod tests;
