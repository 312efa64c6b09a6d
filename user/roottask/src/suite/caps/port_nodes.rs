//! Port capabilities come in nodes, as in the reference's mapping database: a range
//! received in one delegation is one node, a lookup answers the node, a delegation onto
//! ports of which any are taken is skipped whole, and a revoke that touches a node takes
//! the rights from all of it. What other PDs hold is seen through translation (which
//! answers only for capabilities the PD holds) and through a child's port I/O.
//!
//! The ports 0x500-0x57f are unused on the emulated machines: reading them has no effect.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::{DELEGATE, TRANSLATE};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{create_pd, lookup, pd_ctrl_delegate, revoke};

use crate::suite::child::Child;
use crate::suite::fixture::{PORT_NODES, PORT_NODES_UTCBS};
use crate::suite::tools::revoke_all;
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// Two PDs; the probes run in X.
const X_CHILD: Child = Child::new(PORT_NODES, PORT_NODES_UTCBS);
const X: u64 = X_CHILD.pd();
const Y: u64 = PORT_NODES.at(20);

fn pio(base: u64, order: u8, perms: u8) -> Crd {
    Crd::new(Kind::Pio, base, order, perms)
}

/// Ports from the kernel into the roottask; the answer.
fn from_kernel(crd: Crd) -> Result<Crd, Fail> {
    ok(
        pd_ctrl_delegate(PD, PD, crd, FROM_KERNEL, crd),
        "from the kernel",
    )
    .map(|(c, _)| c)
}

/// The roottask's own capability for `port`.
fn own(port: u64) -> Result<Crd, Fail> {
    ok(lookup(pio(port, 0, perm::ALL)), "lookup")
}

/// Ports from `src` to `dst`; the answer.
fn give(src: u64, dst: u64, crd: Crd) -> Result<Crd, Fail> {
    ok(pd_ctrl_delegate(src, dst, crd, DELEGATE, crd), "delegate").map(|(c, _)| c)
}

/// What `pd`'s capability for the range `crd` translates to in the roottask (null if
/// `pd` holds none there).
fn held_by(pd: u64, crd: Crd) -> Result<Crd, Fail> {
    let window = pio(0, 16, perm::ALL);
    ok(
        pd_ctrl_delegate(pd, PD, crd, TRANSLATE, window),
        "translate",
    )
    .map(|(c, _)| c)
}

fn take_back(crd: Crd, include_self: bool) -> TestResult {
    ok(revoke(crd, include_self, None), "revoke")
}

pub fn port_nodes_from_the_kernel(_: &Env) -> TestResult {
    let a = perm::PIO_A;
    ensure_eq!(from_kernel(pio(0x500, 3, a))?, pio(0x500, 3, a));
    ensure_eq!(own(0x503)?, pio(0x500, 3, a));
    // Sixteen ports of which eight are ours already: nothing more arrives (the answer
    // names what was asked for, as the reference's does).
    ensure_eq!(from_kernel(pio(0x500, 4, a))?, pio(0x500, 4, a));
    ensure_eq!(own(0x508)?, Crd::NULL);
    ensure_eq!(own(0x507)?, pio(0x500, 3, a));
    // The kernel's ports have three rights: asked for all five, the node gets those three.
    ensure_eq!(
        from_kernel(pio(0x510, 4, perm::ALL))?,
        pio(0x510, 4, perm::ALL)
    );
    ensure_eq!(own(0x51f)?, pio(0x510, 4, 0b111));
    // Rights the kernel's ports lack give nothing.
    ensure_eq!(from_kernel(pio(0x520, 2, 0b1000))?, pio(0x520, 2, 0b1000));
    ensure_eq!(own(0x520)?, Crd::NULL);
    // Revoking one port of a node takes the whole node.
    take_back(pio(0x512, 0, perm::ALL), true)?;
    ensure_eq!(own(0x510)?, Crd::NULL);
    ensure_eq!(own(0x51f)?, Crd::NULL);
    // Revoking some of its rights keeps the node with the rest.
    ensure_eq!(
        from_kernel(pio(0x510, 4, perm::ALL))?,
        pio(0x510, 4, perm::ALL)
    );
    take_back(pio(0x51c, 2, 0b110), true)?;
    ensure_eq!(own(0x511)?, pio(0x510, 4, perm::PIO_A));
    take_back(pio(0x510, 4, perm::ALL), true)?;
    take_back(pio(0x500, 3, perm::ALL), true)?;
    ensure_eq!(own(0x500)?, Crd::NULL);
    // Beyond the 2^16 ports there are: the answer names the range, nothing arrives.
    ensure_eq!(from_kernel(pio(0x1_0000, 4, a))?, pio(0x1_0000, 4, a));
    ensure_eq!(own(0x1_0000)?, Crd::NULL);
    // All of them at once (order 20, one node of 2^16): the roottask holds some (COM1)
    // already, so the node is skipped whole.
    ensure_eq!(from_kernel(pio(0, 20, a))?, pio(0, 20, a));
    ensure_eq!(own(0x600)?, Crd::NULL);
    Ok(())
}

pub fn port_nodes_are_delegated_and_revoked_whole(_: &Env) -> TestResult {
    let a = perm::PIO_A;
    from_kernel(pio(0x540, 3, a))?;
    ok(create_pd(X, PD, Crd::NULL, false), "create_pd X")?;
    ok(create_pd(Y, PD, Crd::NULL, false), "create_pd Y")?;
    ensure_eq!(give(PD, X, pio(0x540, 3, a))?, pio(0x540, 3, a));
    ensure_eq!(give(X, Y, pio(0x542, 1, a))?, pio(0x542, 1, a));
    // Translation answers where the ranges meet: one port, X's node, Y's node.
    ensure_eq!(held_by(X, pio(0x541, 0, a))?, pio(0x541, 0, a));
    ensure_eq!(held_by(X, pio(0x540, 3, a))?, pio(0x540, 3, a));
    ensure_eq!(held_by(Y, pio(0x542, 3, a))?, pio(0x542, 1, a));
    ensure_eq!(held_by(Y, pio(0x540, 0, a))?, Crd::NULL);
    // Y holds two of the eight ports: the whole node is skipped.
    ensure_eq!(give(PD, Y, pio(0x540, 3, a))?, pio(0x540, 3, a));
    ensure_eq!(held_by(Y, pio(0x540, 0, a))?, Crd::NULL);
    ensure_eq!(held_by(Y, pio(0x547, 0, a))?, Crd::NULL);
    // Revoking one port from the others takes every node that has it, whole, with what
    // was delegated from it; the roottask keeps its node.
    take_back(pio(0x547, 0, a), false)?;
    ensure_eq!(held_by(X, pio(0x540, 0, a))?, Crd::NULL);
    ensure_eq!(held_by(Y, pio(0x542, 0, a))?, Crd::NULL);
    ensure_eq!(own(0x547)?, pio(0x540, 3, a));
    // Two nodes in X: only the one with the port goes.
    give(PD, X, pio(0x540, 2, a))?;
    give(PD, X, pio(0x544, 2, a))?;
    take_back(pio(0x547, 0, a), false)?;
    ensure_eq!(held_by(X, pio(0x544, 0, a))?, Crd::NULL);
    ensure_eq!(held_by(X, pio(0x540, 2, a))?, pio(0x540, 2, a));
    // With `self`, the roottask's node goes whole, and X's from it.
    take_back(pio(0x541, 0, a), true)?;
    ensure_eq!(own(0x547)?, Crd::NULL);
    ensure_eq!(held_by(X, pio(0x540, 0, a))?, Crd::NULL);
    revoke_all([X, Y])
}

global_asm!(
    r#"
    .section .text.port_node_probe, "ax"
    .balign 4096
    .global __port_node_probe
    // A portal handler in X: read ports 0x3ff and 0x507, then reply (hypercall 1).
__port_node_probe:
    mov edx, 0x3ff
    in al, dx
    mov edx, 0x507
    in al, dx
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#
);

extern "C" {
    fn __port_node_probe();
}

/// Whether a handler in X can read both probed ports (a handler that faults is gone and
/// the call answers ABORT).
fn probe(i: u64) -> Result<bool, Fail> {
    match X_CHILD.call(i, __port_node_probe) {
        Ok(()) => Ok(true),
        Err(Status::Abort) => Ok(false),
        Err(s) => Err(Fail::new(format_args!("probe {}: {}", i, s.name()))),
    }
}

pub fn port_bitmap_follows_whole_nodes(_: &Env) -> TestResult {
    X_CHILD.create(__port_node_probe)?;
    // COM1's eight ports as the roottask's node, and 0x500-0x507 with the access right
    // and another one.
    let other = 0b010;
    let both = perm::PIO_A | other;
    from_kernel(pio(0x500, 3, both))?;
    ensure_eq!(own(0x507)?, pio(0x500, 3, both));
    give(PD, X, pio(0x3f8, 3, perm::PIO_A))?;
    give(PD, X, pio(0x500, 3, both))?;
    ensure!(probe(0)?, "X cannot read its ports");
    // Taking 0x3f8 alone from X closes 0x3ff too: the node goes whole.
    take_back(pio(0x3f8, 0, perm::PIO_A), false)?;
    ensure!(!probe(1)?, "X still reads port 0x3ff");
    give(PD, X, pio(0x3f8, 3, perm::PIO_A))?;
    ensure!(probe(2)?, "X cannot read its ports again");
    // The access right taken back from 0x500 closes 0x507, though X keeps the node with
    // the other right: only the access right opens a port (the reference's bitmap opens
    // it for any right; see interface.md).
    take_back(pio(0x500, 0, perm::PIO_A), false)?;
    ensure!(!probe(3)?, "X still reads port 0x507");
    // The roottask's console ports are untouched.
    ensure_eq!(own(0x3ff)?, pio(0x3f8, 3, perm::PIO_A));
    take_back(pio(0x500, 3, perm::ALL), true)?;
    X_CHILD.revoke(4)
}
