//! facet-rt: the user-mode runtime for Facet programs.
//!
//! Start code that takes the initial state the kernel gives a roottask (RSP at the HIP,
//! RDI the boot CPU), hypercall wrappers, HIP access, and a serial console for programs
//! that own COM1.

#![no_std]

pub mod console;
pub mod hip;
pub mod hypercall;
pub mod io;
pub mod start;
pub mod start_info;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("user panic: {}", info);
    io::debug_exit(1);
    loop {
        core::hint::spin_loop();
    }
}
