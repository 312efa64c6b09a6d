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
use facet_abi::layout::{ROOT_SEL_PD, ROOT_UTCB_ADDR};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_abi::utcb as u;
use facet_rt::hypercall::{
    call, create_ec, create_pd, create_pt, ec_flags, pd_ctrl_delegate, revoke,
};

use super::child::NO_PORTALS;
use super::vmm::Utcb;
use super::{ok, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const CHILD: u64 = 4200;
const REPLIER: u64 = 4201;
const READER: u64 = 4202;
const REPLIER_PT: u64 = 4203;
const READER_PT: u64 = 4204;
/// The replier's UTCB in the child; the reader's is in the roottask (UTCB in caller), so
/// that the roottask can set its delegate window.
const REPLIER_UTCB: u64 = 0x3300_0000;
const READER_UTCB: u64 = 0x3300_1000;
/// The roottask's delegate window for the reply (nothing mapped there), and the
/// reader's in the child.
const ROOT_WINDOW: u64 = 0x3301_0000;
const CHILD_WINDOW: u64 = 0x3302_0000;
/// The item the replier sends: a page of its own (nothing there either).
const ITEM_PAGE: u64 = 0x3303_0000;
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
    utcb = const REPLIER_UTCB,
    crd = const (ITEM_PAGE >> 12) << 12 | (perm::MEM_R as u64) << 2 | 1,
    meta = const ITEM_META,
    window = const CHILD_WINDOW,
);

extern "C" {
    fn __forward_replier();
    fn __forward_reader();
}

const ROOT: Utcb = Utcb(ROOT_UTCB_ADDR);

fn memory(at: u64) -> Crd {
    Crd::new(Kind::Memory, at >> 12, 0, perm::MEM_R | perm::MEM_W)
}

pub fn forwarded_items_lose_the_hypervisor_flag() -> TestResult {
    ok(create_pd(CHILD, PD, Crd::NULL, false), "create_pd")?;
    let stub = __forward_replier as *const () as u64;
    let code = Crd::new(Kind::Memory, stub >> 12, 0, perm::MEM_R | perm::MEM_X);
    ok(
        pd_ctrl_delegate(PD, CHILD, code, DELEGATE, code).map(|_| ()),
        "code into the child",
    )?;
    ok(
        create_ec(REPLIER, CHILD, 0, 0, REPLIER_UTCB, 0, NO_PORTALS),
        "replier",
    )?;
    ok(
        create_pt(REPLIER_PT, PD, REPLIER, 0, stub),
        "replier's portal",
    )?;
    let reader_flags = ec_flags::UTCB_IN_CALLER;
    ok(
        create_ec(READER, CHILD, reader_flags, 0, READER_UTCB, 0, NO_PORTALS),
        "reader",
    )?;
    ok(
        create_pt(
            READER_PT,
            PD,
            READER,
            0,
            __forward_reader as *const () as u64,
        ),
        "reader's portal",
    )?;
    Utcb(READER_UTCB).put(u::DEL, memory(CHILD_WINDOW).0);

    // The reply's item lands with its flags, but never the hypervisor flag.
    let saved_window = ROOT.get(u::DEL);
    ROOT.put(u::ITEMS, 0);
    ROOT.put(u::DEL, memory(ROOT_WINDOW).0);
    let replied = call(REPLIER_PT);
    let items = ROOT.get(u::ITEMS);
    let (crd, flags) = (ROOT.get(4096 - 16), ROOT.get(4096 - 8));
    // The echo: the same UTCB, unchanged, to the reader.
    let echoed = call(READER_PT);
    ROOT.put(u::ITEMS, 0);
    ROOT.put(u::DEL, saved_window);
    for sel in [READER_PT, REPLIER_PT, READER, REPLIER, CHILD] {
        let _ = revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None);
    }
    ok(replied, "the child's reply")?;
    ensure_eq!(items >> 16 & 0xffff, 1u64);
    ensure_eq!(Crd(crd).kind(), Kind::Memory);
    ensure_eq!(flags & dflag::HYPERVISOR, 0u64);
    ensure_eq!(flags & 3, DELEGATE);
    // Nothing reached the child's window: its read faulted.
    ensure_eq!(echoed, Err(Status::Abort));
    Ok(())
}
