//! Port I/O in a child protection domain follows its port capabilities at once, across
//! switches between it and the roottask: without the port the child's IN faults (its
//! handler has no exception portal, dies, and the call answers ABORT), with the port
//! delegated it succeeds, and after a remote revoke it faults again. The port is one the
//! roottask holds itself (COM1's scratch register), so a child that ran with the
//! roottask's bitmap would get through; the roottask's ports keep working throughout.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{create_pd, pd_ctrl_delegate, revoke};

use super::child::call_in_child;
use super::{ok, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const CHILD: u64 = 2200;
/// Handler Ecs in the child and their portals in the roottask, one per attempt (a
/// handler that faults is gone).
const ECS: [u64; 3] = [2201, 2202, 2203];
const PTS: [u64; 3] = [2211, 2212, 2213];
/// Where each handler's UTCB goes in the child.
const UTCB_BASE: u64 = 0x3009_0000;
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

fn probe(i: usize) -> Result<(), Status> {
    let utcb = UTCB_BASE + 0x1000 * i as u64;
    call_in_child(CHILD, ECS[i], PTS[i], utcb, __port_probe)
}

pub fn child_ports_follow_capabilities() -> TestResult {
    ok(create_pd(CHILD, PD, Crd::NULL, false), "create_pd")?;
    let stub = __port_probe as *const () as u64;
    let code = Crd::new(Kind::Memory, stub >> 12, 0, perm::MEM_R | perm::MEM_X);
    ok(
        pd_ctrl_delegate(PD, CHILD, code, DELEGATE, code).map(|_| ()),
        "code into the child",
    )?;
    // No port: the child's IN raises #GP, which nobody handles.
    ensure_eq!(probe(0), Err(Status::Abort));
    // The roottask's own ports still work after the switch back.
    let _ = facet_rt::io::inb(COM1_LSR);
    let port = Crd::new(Kind::Pio, PORT, 0, perm::PIO_A);
    ok(
        pd_ctrl_delegate(PD, CHILD, port, DELEGATE, port).map(|_| ()),
        "port into the child",
    )?;
    ensure_eq!(probe(1), Ok(()));
    let _ = facet_rt::io::inb(COM1_LSR);
    ok(revoke(port, true, Some(CHILD)), "remote revoke")?;
    ensure_eq!(probe(2), Err(Status::Abort));
    // The roottask keeps the port it delegated (the scratch register holds what it
    // writes).
    facet_rt::io::outb(PORT as u16, 0x5a);
    ensure_eq!(facet_rt::io::inb(PORT as u16), 0x5a);
    let _ = facet_rt::io::inb(COM1_LSR);
    for sel in PTS.into_iter().chain(ECS).chain([CHILD]) {
        ok(
            revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None),
            "revoke",
        )?;
    }
    Ok(())
}
