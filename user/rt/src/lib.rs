//! facet-rt: the user-mode runtime for Facet programs.
//!
//! Start code that takes the initial state the kernel gives a roottask (RSP at the HIP,
//! RDI the boot CPU), hypercall wrappers, HIP access, the console (COM1 for programs that
//! own it, the console service for the others: [`console`], and the service's protocol:
//! [`console_protocol`]), the entries and stacks of portal handlers and threads
//! ([`entry`]), typed access to UTCBs ([`utcb`]) and to memory mapped at fixed addresses
//! ([`window`]), and the unprivileged CPU instructions programs read the CPU with
//! ([`cpu`]).

#![no_std]

pub mod console;
pub mod console_protocol;
pub mod cpu;
pub mod entry;
pub mod hip;
pub mod hypercall;
pub mod io;
pub mod start;
pub mod start_info;
pub mod utcb;
pub mod window;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("user panic: {}", info);
    io::debug_exit(1);
    loop {
        core::hint::spin_loop();
    }
}
