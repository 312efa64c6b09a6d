//! Child PDs that make hypercalls of their own: each runs a proxy, a handler EC behind
//! a portal of the roottask, which takes five words (ARG1..ARG5), makes that hypercall
//! in the child and replies with RDI and RSI. Through it the random load creates,
//! delegates and revokes in a child's own space, with the child's capability to itself,
//! as a program that manages its own threads does.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::entry::addr;
use facet_rt::hypercall::{call, create_ec, create_pd, create_pt, pd_ctrl_delegate, pt_ctrl};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::LOAD;

global_asm!(
    r#"
    .section .text.leak_proxy, "ax"
    .balign 4096
    .global __leak_proxy
    // A portal handler in a child PD whose portal id is its UTCB's address: makes the
    // hypercall whose five arguments are the message's words and replies with RDI and
    // RSI as two words.
__leak_proxy:
    mov rbx, rdi
    mov rdi, [rbx + 32]
    mov rsi, [rbx + 40]
    mov rdx, [rbx + 48]
    mov rax, [rbx + 56]
    mov r8, [rbx + 64]
    syscall
    mov [rbx + 32], rdi
    mov [rbx + 40], rsi
    mov qword ptr [rbx], 2
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#
);

extern "C" {
    fn __leak_proxy();
}

/// The children: at most this many at once.
pub const CHILDREN: u64 = 8;
/// Selectors of the roottask below this in [`LOAD`] belong to the children and their
/// proxies; the random load makes its objects above.
pub const RESERVED: u64 = 3 * CHILDREN;
/// In each child: its capability to itself.
pub const CHILD_SELF: u64 = 1;
/// In each child: the selectors its random objects go to.
pub const CHILD_SELS: (u64, u64) = (0x40, 0x240);
/// In each child: the event base of the ECs made there (nothing is ever made at it, so
/// a thread there that faults or starts stops).
pub const CHILD_EVENTS: u64 = 0x1000;
/// In each child: the proxy's UTCB.
pub const PROXY_UTCB: u64 = 0x7fff_0000_0000;

/// Child `i`'s PD in the roottask.
pub const fn pd(i: u64) -> u64 {
    LOAD.at(i)
}

/// Child `i`'s proxy EC in the roottask.
const fn proxy_ec(i: u64) -> u64 {
    LOAD.at(CHILDREN + i)
}

/// Child `i`'s proxy portal in the roottask.
const fn proxy_pt(i: u64) -> u64 {
    LOAD.at(2 * CHILDREN + i)
}

/// The page of the proxy's code, which every child maps at the same address.
pub fn code_page() -> u64 {
    addr(__leak_proxy) & !0xfff
}

/// Whether a child may map something at `page` (not over its proxy's code or UTCB).
pub fn free_in_child(page: u64) -> bool {
    page != code_page() && page != PROXY_UTCB
}

/// Makes child `i` (at `pd(i)`, which the caller has found empty) on CPU 0: the PD, the
/// proxy's code page, its capability to itself, the proxy and its portal. Any step may
/// fail under the random load (the pool may be short); what was made stays for the
/// final revoke.
pub fn make(i: u64) -> Result<(), Status> {
    let child = pd(i);
    create_pd(child, ROOT_SEL_PD, Crd::NULL, false)?;
    let code = Crd::new(
        Kind::Memory,
        code_page() >> 12,
        0,
        perm::MEM_R | perm::MEM_X,
    );
    pd_ctrl_delegate(ROOT_SEL_PD, child, code, DELEGATE, code)?;
    let me = Crd::new(Kind::Object, child, 0, perm::ALL);
    let at = Crd::new(Kind::Object, CHILD_SELF, 0, perm::ALL);
    pd_ctrl_delegate(ROOT_SEL_PD, child, me, DELEGATE, at)?;
    create_ec(proxy_ec(i), child, 0, 0, PROXY_UTCB, 0, CHILD_EVENTS)?;
    create_pt(proxy_pt(i), ROOT_SEL_PD, proxy_ec(i), 0, addr(__leak_proxy))?;
    pt_ctrl(proxy_pt(i), PROXY_UTCB)
}

/// Has child `i` make the hypercall `args` (ARG1..ARG5): its status and RSI, or the
/// status of the call itself when the proxy is gone or faulted.
pub fn hypercall(i: u64, args: [u64; 5]) -> Result<(Status, u64), Status> {
    let root = Utcb::ROOT;
    root.send(&args);
    call(proxy_pt(i))?;
    if root.items() & 0xffff != 2 {
        return Err(Status::Abort);
    }
    let status = Status::from_out1(root.word(0)).ok_or(Status::Abort)?;
    Ok((status, root.word(1)))
}
