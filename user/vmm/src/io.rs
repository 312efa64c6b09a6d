//! Port-I/O exits: every port goes to the VM's [`facet_vmm_core::machine::Machine`]
//! (ports no device claims read as all ones and ignore writes), and the guest's serial
//! output on to the console, line by line.

use facet_abi::{mtd, utcb as off};
use facet_vmm_core::exit::PortAccess;
use facet_vmm_core::machine::MachineRequest;
use facet_vmm_core::pit;
use facet_vmm_core::ports::IoSize;

use crate::exits::{Handler, Next};
use crate::stop::{FAILED, POWERED_OFF, RESET};
use crate::vm::Platform;

/// IN or OUT (string forms are not emulated: nothing in this machine needs them).
pub fn port(h: Handler, access: PortAccess, rip: u64) -> Next {
    if access.string {
        h.stop(
            FAILED,
            format_args!(
                "string I/O at port {:#x}, which the VMM does not emulate",
                access.port
            ),
        )
    }
    let u = h.utcb;
    let now = facet_rt::cpu::rdtsc();
    let mask = match access.size {
        IoSize::Byte => 0xff,
        IoSize::Word => 0xffff,
        IoSize::Dword => 0xffff_ffff,
    };
    let mut platform = h.vm.platform.lock();
    if access.input {
        let value = platform.machine.io_in(access.port, access.size, now) as u64 & mask;
        let rax = u.get(off::RAX);
        // A 32-bit IN writes EAX, which clears RAX's upper half; 8 and 16 bits keep the
        // rest.
        let merged = match access.size {
            IoSize::Dword => value,
            _ => rax & !mask | value,
        };
        u.put(off::RAX, merged);
        drop(platform);
        return Next::completed(rip, mtd::GPR_ACDB);
    }
    let value = (u.get(off::RAX) & mask) as u32;
    let request = platform
        .machine
        .io_out(access.port, access.size, value, now);
    drain_output(h, &mut platform);
    // The PIC's output and the PIT belong to vCPU 0: another vCPU's access may have
    // raised an interrupt for it or moved its deadline.
    let for_vcpu0 =
        h.index != 0 && (platform.machine.legacy.pic.intr_pending() || pit::Pit::owns(access.port));
    drop(platform);
    if for_vcpu0 {
        crate::ipi::kick(0, Some(h.index));
    }
    match request {
        MachineRequest::None => Next::completed(rip, 0),
        MachineRequest::PowerOff => h.stop(POWERED_OFF, format_args!("the guest powered off")),
        MachineRequest::Reset => h.stop(
            RESET,
            format_args!("the guest reset the machine (reboot is not supported: stopped)"),
        ),
    }
}

/// Sends the guest's complete lines of serial output to the console.
fn drain_output(h: Handler, platform: &mut Platform) {
    while let Some(byte) = platform.machine.legacy.serial_output() {
        if let Some(line) = platform.output.push(byte) {
            h.sender().send(line);
        }
    }
}

/// Sends what the guest printed without ending the line yet (a prompt): when the vCPU
/// halts, nothing more is coming soon.
pub fn flush_output(h: Handler) {
    let mut platform = h.vm.platform.lock();
    drain_output(h, &mut platform);
    let rest = platform.output.take();
    if !rest.is_empty() {
        h.sender().send(rest);
    }
}
