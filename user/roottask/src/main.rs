//! Facet's default roottask.
//!
//! It takes the I/O ports of COM1 (and of QEMU's debug-exit device) from the kernel,
//! greets, reports what it was given (the HIP, its capabilities, its command line) and,
//! when its command line says `test`, runs the on-target test suite.

#![no_std]
#![no_main]

mod args;
mod bench;
mod init;
mod report;
mod suite;
mod world;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::{delegate, xfer};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_rt::println;

facet_rt::entry!(main);

/// Transfer metadata: a delegation from the kernel into the host space.
pub const FROM_KERNEL: u64 = xfer::DELEGATE | delegate::HYPERVISOR;

fn main(cpu: u64, hip: u64) -> ! {
    // Ports first: without them there is no console.
    let com1 = Crd::new(Kind::Pio, 0x3f8, 3, perm::PIO_A);
    let _ =
        facet_rt::hypercall::pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, com1, FROM_KERNEL, com1);
    let exit = Crd::new(Kind::Pio, 0xf4, 2, perm::PIO_A);
    let _ =
        facet_rt::hypercall::pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, exit, FROM_KERNEL, exit);

    println!("Hello from the Facet roottask on CPU {cpu}");
    let world = world::World::new(cpu, hip);
    report::print(&world);
    let args = args::Args::parse(world.cmdline());

    if args.bench {
        bench::run(&world, &args);
        facet_rt::io::debug_exit(0);
    } else if args.test {
        let (passed, failed) = suite::run(&world, &args);
        println!("{passed} passed, {failed} failed");
        if args.hold {
            println!("roottask: holding");
        } else {
            facet_rt::io::debug_exit(if failed == 0 { 0 } else { 1 });
        }
    } else if world_has_programs(&world) {
        init::run(&world, &args);
    } else {
        println!("roottask: done");
    }
    loop {
        core::hint::spin_loop();
    }
}

/// Whether any multiboot module besides the roottask was given (then it starts them).
fn world_has_programs(w: &world::World) -> bool {
    init::modules::Modules::read(&w.hip).iter().next().is_some()
}
