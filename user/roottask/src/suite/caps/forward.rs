//! A typed item a receiver gets never carries the hypervisor flag (delegate flag bit
//! 11), which makes a privileged sender delegate from the kernel itself: otherwise an
//! unprivileged child could reply to the roottask with an item flagged 0x801, and a
//! roottask that forwards or echoes its UTCB would hand the child physical memory, ports
//! or the kernel's semaphores. The reference passes the flag on; Facet clears it.
//!
//! A child's handler replies with a memory item flagged DELEGATE | HYPERVISOR; the
//! roottask finds the item's flags without bit 11, echoes its UTCB unchanged in a call
//! to a second child handler, and that handler finds nothing mapped in its delegate
//! window (its read faults: ABORT). With the flag passed on, the echo would have mapped
//! the physical page the item names from the kernel.

use core::arch::global_asm;

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::{delegate as dflag, xfer::DELEGATE};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_abi::utcb as u;
use facet_rt::hypercall::call;
use facet_rt::utcb::Utcb;

use crate::suite::child::Child;
use crate::suite::fixture::{
    Pages, FORWARD, FORWARD_CHILD_WINDOW, FORWARD_ITEM, FORWARD_READER_UTCB, FORWARD_ROOT_WINDOW,
    FORWARD_UTCB,
};
use crate::suite::{ok, Env, Fail, TestResult};

/// The child: attempt 0 is the replier (its UTCB in the child), attempt 1 the reader
/// (its UTCB in the roottask, so that the roottask can set its delegate window).
const CHILD: Child = Child::new(FORWARD, FORWARD_UTCB);
const READER_UTCB: Utcb = FORWARD_READER_UTCB.utcb(0);
/// The item the replier sends: a page of its own (nothing there either).
const ITEM_META: u64 = DELEGATE | dflag::HYPERVISOR;

global_asm!(
    r#"
    .section .text.forward_child, "ax"
    .balign 4096
    .global __forward_replier
    .global __forward_reader
    // In the child: reply with one typed item (a memory CRD flagged 0x801), no words.
__forward_replier:
    mov rcx, {utcb}
    mov qword ptr [rcx], 0x10000
    mov rax, {crd}
    mov [rcx + 4096 - 16], rax
    mov qword ptr [rcx + 4096 - 8], {meta}
    mov edi, 1
    syscall
    ud2
    // In the child: read the delegate window's first word, then reply.
__forward_reader:
    mov rcx, {window}
    mov rax, [rcx]
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#,
    utcb = const FORWARD_UTCB.addr(0),
    crd = const (FORWARD_ITEM.addr(0) >> 12) << 12 | (perm::MEM_R as u64) << 2 | 1,
    meta = const ITEM_META,
    window = const FORWARD_CHILD_WINDOW.addr(0),
);

extern "C" {
    fn __forward_replier();
    fn __forward_reader();
}

/// A readable and writable memory window at the page of `at`.
fn memory(at: Pages) -> Crd {
    Crd::new(Kind::Memory, at.addr(0) >> 12, 0, perm::MEM_R | perm::MEM_W)
}

pub fn forwarded_items_lose_the_hypervisor_flag(_: &Env) -> TestResult {
    CHILD.create(__forward_replier)?;
    let replier = ok(CHILD.prepare(0, __forward_replier), "replier")?;
    let reader = ok(
        CHILD.prepare_utcb_in_roottask(1, READER_UTCB, __forward_reader),
        "reader",
    )?;
    READER_UTCB.set_delegate_window(memory(FORWARD_CHILD_WINDOW));

    // The reply's item lands with its flags, but never the hypervisor flag.
    let root = Utcb::ROOT;
    let saved_window = root.get(u::DEL);
    root.set_items(0);
    root.set_delegate_window(memory(FORWARD_ROOT_WINDOW));
    let replied = call(replier);
    let items = root.items();
    let (crd, flags) = root.typed(0);
    // The echo: the same UTCB, unchanged, to the reader.
    let echoed = call(reader);
    root.set_items(0);
    root.put(u::DEL, saved_window);
    let revoked = CHILD.revoke(2);
    ok(replied, "the child's reply")?;
    ensure_eq!(items >> 16 & 0xffff, 1u64);
    ensure_eq!(crd.kind(), Kind::Memory);
    ensure_eq!(flags & dflag::HYPERVISOR, 0u64);
    ensure_eq!(flags & 3, DELEGATE);
    // Nothing reached the child's window: its read faulted.
    ensure_eq!(echoed, Err(Status::Abort));
    revoked
}
