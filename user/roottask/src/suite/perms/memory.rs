//! The rights of port and memory capabilities, seen from a child PD whose handler does
//! the access (a handler that faults has no exception portal, dies, and the call
//! answers ABORT).
//!
//! - Ports: only the access right (`a`, bit 0) opens a port. The kernel's ports carry
//!   three rights, so a capability with the other two exists and must not open it.
//! - Memory: code runs only from a page mapped with the execute right (`x`, bit 2).
//!   On x86 every mapping is readable, so the read right means "mapped at all" (a
//!   delegation without any right unmaps); the write right is shown by
//!   `caps::child_memory_follows_delegation`.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::entry::addr;
use facet_rt::hypercall::{create_pd, lookup, pd_ctrl_delegate, revoke};

use crate::suite::child::Child;
use crate::suite::fixture::{
    PERMS_CODE_CHILD, PERMS_CODE_UTCBS, PERMS_PORT_CHILD, PERMS_PORT_UTCBS,
};
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
const PORT_CHILD: Child = Child::new(PERMS_PORT_CHILD, PERMS_PORT_UTCBS);
const CODE_CHILD: Child = Child::new(PERMS_CODE_CHILD, PERMS_CODE_UTCBS);
/// An unused port of the emulated machines (reading it has no effect).
const PORT: u64 = 0x560;
/// The rights of a kernel port other than access.
const OTHER: u8 = perm::PIO_KERNEL & !perm::PIO_A;

global_asm!(
    r#"
    .section .text.perms_port_probe, "ax"
    .balign 4096
    .global __perms_port_probe
    // A portal handler in the child: read the port, then reply (hypercall 1).
__perms_port_probe:
    mov edx, {port}
    in al, dx
    mov edi, 1
    syscall
    ud2
    .balign 4096
    .section .text.perms_code, "ax"
    .balign 4096
    .global __perms_code
    // A portal handler in the child that only replies.
__perms_code:
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#,
    port = const PORT,
);

extern "C" {
    fn __perms_port_probe();
    fn __perms_code();
}

fn pio(perms: u8) -> Crd {
    Crd::new(Kind::Pio, PORT, 0, perms)
}

/// Whether attempt `i` of the child's probe read the port.
fn reads(i: u64) -> Result<bool, Fail> {
    match PORT_CHILD.call(i, __perms_port_probe) {
        Ok(()) => Ok(true),
        Err(Status::Abort) => Ok(false),
        Err(s) => Err(Fail::new(format_args!("probe {}: {}", i, s.name()))),
    }
}

pub fn port_access_needs_the_a_right(_: &Env) -> TestResult {
    PORT_CHILD.create(__perms_port_probe)?;
    // The port with the two other rights, from the kernel into the roottask, on to the
    // child: the child's IN faults.
    ok(
        pd_ctrl_delegate(PD, PD, pio(OTHER), FROM_KERNEL, pio(OTHER)),
        "port from the kernel",
    )?;
    ensure_eq!(ok(lookup(pio(perm::ALL)), "lookup")?, pio(OTHER));
    ok(
        pd_ctrl_delegate(PD, PORT_CHILD.pd(), pio(OTHER), DELEGATE, pio(OTHER)),
        "port into the child",
    )?;
    ensure!(
        !reads(0)?,
        "the child reads a port without the access right"
    );
    // With the access right too, it reads.
    ok(revoke(pio(perm::ALL), true, None), "revoke")?;
    let all = perm::PIO_KERNEL;
    ok(
        pd_ctrl_delegate(PD, PD, pio(all), FROM_KERNEL, pio(all)),
        "port from the kernel",
    )?;
    ok(
        pd_ctrl_delegate(PD, PORT_CHILD.pd(), pio(all), DELEGATE, pio(all)),
        "port into the child",
    )?;
    ensure!(reads(1)?, "the child cannot read its port");
    // The access right taken back: the child keeps a capability, but not the port.
    ok(revoke(pio(perm::PIO_A), false, None), "revoke access")?;
    ensure!(
        !reads(2)?,
        "the child reads its port after the access right went"
    );
    ok(revoke(pio(perm::ALL), true, None), "revoke")?;
    PORT_CHILD.revoke(3)
}

pub fn execution_needs_the_x_right(_: &Env) -> TestResult {
    ok(
        create_pd(CODE_CHILD.pd(), PD, Crd::NULL, false),
        "create_pd",
    )?;
    let code = |rights| {
        let page = Crd::new(Kind::Memory, addr(__perms_code) >> 12, 0, rights);
        ok(
            pd_ctrl_delegate(PD, CODE_CHILD.pd(), page, DELEGATE, page),
            "code into the child",
        )
    };
    // Readable, not executable: the handler's first instruction faults.
    code(perm::MEM_R)?;
    ensure_eq!(CODE_CHILD.call(0, __perms_code), Err(Status::Abort));
    // With the execute right it runs.
    code(perm::MEM_R | perm::MEM_X)?;
    ensure_eq!(CODE_CHILD.call(1, __perms_code), Ok(()));
    CODE_CHILD.revoke(2)
}
