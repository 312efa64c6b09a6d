//! Facet's virtual machine monitor: one VM per VMM, in a PD of its own.
//!
//! The roottask starts it from a multiboot module named `vmm` with guest RAM, the guest
//! kernel and initrd modules and the CPUs it may use (`docs/vmm.md`, "The VMM program"):
//! it loads Linux by the 64-bit boot protocol, creates a vCPU (with its exit handler and
//! timer thread) per CPU or as `vcpus=` says, emulates the PC platform and the CPU model
//! of `facet-vmm-core`, and tells the roottask when the guest powered off or died. A
//! fault in the VMM stops this VMM alone (the roottask's exception portals).

#![no_std]
#![no_main]

mod boot;
mod console;
mod exits;
mod global;
mod guest;
mod io;
mod ipi;
mod layout;
mod lock;
mod msr;
mod profile;
mod resume;
mod setup;
mod stop;
mod threads;
mod vm;

use facet_rt::start_info::{StartInfo, MAIN_UTCB_ADDR};
use facet_rt::utcb::Utcb;

facet_rt::entry!(main);

/// How often the main EC looks at COM1's input without the console service.
const INPUT_POLL_MS: u64 = 10;

fn main(cpu: u64, info: u64) -> ! {
    let started = facet_rt::cpu::rdtsc();
    let Some(info) = StartInfo::at(info) else {
        // Not started by the roottask: nobody to tell.
        stop::park()
    };
    let cpu = cpu as u32;
    console::init(info, cpu);
    let out = console::Sender {
        cpu,
        utcb: Utcb::at(MAIN_UTCB_ADDR),
    };
    match setup::start(cpu, info, out, started) {
        Ok(tsc_khz) => stop::main_loop(out, tsc_khz * INPUT_POLL_MS),
        Err(()) => stop::exit_now(stop::FAILED),
    }
}
