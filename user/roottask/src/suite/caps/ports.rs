//! Port capabilities: the roottask's own ports follow its capabilities, and port I/O in
//! a child protection domain follows the child's at once, across switches between it
//! and the roottask: without the port the child's IN faults (its handler has no
//! exception portal, dies, and the call answers ABORT), with the port delegated it
//! succeeds, and after a remote revoke it faults again. The port is one the roottask
//! holds itself (COM1's scratch register), so a child that ran with the roottask's
//! bitmap would get through; the roottask's ports keep working throughout.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{lookup, pd_ctrl_delegate, revoke};
use facet_rt::io::{inb, outb};

use crate::suite::child::Child;
use crate::suite::fixture::{CAPS_PORTS, CAPS_PORTS_UTCBS};
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
const CHILD: Child = Child::new(CAPS_PORTS, CAPS_PORTS_UTCBS);
/// COM1's scratch register: reading it has no effect.
const PORT: u64 = 0x3ff;
const COM1_LSR: u16 = 0x3fd;

global_asm!(
    r#"
    .section .text.port_probe, "ax"
    .balign 4096
    .global __port_probe
    // A portal handler in the child: read the port, then reply (hypercall 1).
__port_probe:
    mov edx, 0x3ff
    in al, dx
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#
);

extern "C" {
    fn __port_probe();
}

pub fn ports_follow_capabilities(_: &Env) -> TestResult {
    let port = Crd::new(Kind::Pio, 0x80, 0, perm::PIO_A);
    pd_ctrl_delegate(PD, PD, port, FROM_KERNEL, port)
        .map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    let l = lookup(port).map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    ensure_eq!(l, port);
    outb(0x80, 0x42);
    ok(revoke(port, true, None), "revoke port")?;
    let l = lookup(port).map_err(|s| Fail::new(format_args!("{}", s.name())))?;
    ensure_eq!(l, Crd::NULL);
    // COM1 is still ours: the eight ports the roottask took from the kernel in one
    // delegation, which a lookup of any of them answers (as the reference answers the
    // range of its mapping-database node).
    for port in [0x3f8, 0x3fb, 0x3ff] {
        let com1 = lookup(Crd::new(Kind::Pio, port, 0, perm::PIO_A))
            .map_err(|s| Fail::new(format_args!("{}", s.name())))?;
        ensure_eq!(com1, Crd::new(Kind::Pio, 0x3f8, 3, perm::PIO_A));
    }
    Ok(())
}

pub fn child_ports_follow_capabilities(_: &Env) -> TestResult {
    CHILD.create(__port_probe)?;
    // No port: the child's IN raises #GP, which nobody handles.
    ensure_eq!(CHILD.call(0, __port_probe), Err(Status::Abort));
    // The roottask's own ports still work after the switch back.
    let _ = inb(COM1_LSR);
    let port = Crd::new(Kind::Pio, PORT, 0, perm::PIO_A);
    ok(
        pd_ctrl_delegate(PD, CHILD.pd(), port, DELEGATE, port).map(|_| ()),
        "port into the child",
    )?;
    ensure_eq!(CHILD.call(1, __port_probe), Ok(()));
    let _ = inb(COM1_LSR);
    ok(revoke(port, true, Some(CHILD.pd())), "remote revoke")?;
    ensure_eq!(CHILD.call(2, __port_probe), Err(Status::Abort));
    // The roottask keeps the port it delegated (the scratch register holds what it
    // writes).
    outb(PORT as u16, 0x5a);
    ensure_eq!(inb(PORT as u16), 0x5a);
    let _ = inb(COM1_LSR);
    CHILD.revoke(3)
}
