//! A hypercall made from the last two bytes of user space. Its status comes back with
//! SYSRET to `USER_ADDR`, the first address above user space, which is canonical: user
//! space ends a page below the canonical boundary, and the kernel relies on that instead
//! of testing the return address (`docs/user-boundary.md`). Intel CPUs would refuse a
//! SYSRET to a non-canonical address with a #GP in ring 0; Bochs checks it as they do
//! (the `bochs-vmx` tier), QEMU's TCG does not.
//!
//! A child's portal handler runs in a code page mapped at the top of the child's address
//! space. Its SYSCALL, a `call` on an empty selector, lies in the page's last two bytes;
//! back from the kernel it fetches at `USER_ADDR` and takes a page fault there, with
//! BAD_CAP in RDI. The roottask's exception handler records the fault and sends the
//! child's handler to the page's first bytes, which reply.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::{ROOT_SEL_PD, USER_ADDR};
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{
    call, create_ec, create_pd, create_pt, pd_ctrl_delegate, pt_ctrl, reply,
};

use super::fixture::{SYSRET_TOP, SYSRET_TOP_CHILD_UTCB, SYSRET_TOP_UTCB};
use super::tools::{revoke_all, Handler};
use super::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const CHILD: u64 = SYSRET_TOP.at(0);
const CHILD_EC: u64 = SYSRET_TOP.at(1);
/// The roottask's portal to the child's handler.
const CHILD_PT: u64 = SYSRET_TOP.at(2);
const HANDLER: Handler = Handler::new(SYSRET_TOP.at(3), SYSRET_TOP_UTCB.utcb(0));
/// The roottask's portals for the child handler's #GP and #PF, and where the child
/// holds them (its event base is 0).
const GP_PT: u64 = SYSRET_TOP.at(4);
const PF_PT: u64 = SYSRET_TOP.at(5);
const GP: u64 = 13;
const PF: u64 = 14;
/// Where the code page lies in the child: the last page of user space.
const TOP_PAGE: u64 = USER_ADDR - 4096;
/// The child's handler's entry, 14 bytes before the page's end.
const ENTRY_OFFSET: u64 = 0xff0;
/// A selector the child holds nothing at.
const EMPTY_SEL: u64 = 100;

global_asm!(
    r#"
    .section .text.sysret_top, "ax"
    .balign 4096
    .global __sysret_top_page
__sysret_top_page:
    // Where the exception handler sends the child's handler: reply (hypercall 1).
    mov edi, 1
    syscall
    ud2
    .org {entry}, 0xcc
    // The child's handler: `call` (hypercall 0) on an empty selector, with the SYSCALL
    // in the page's last two bytes.
    mov edi, {arg1}
    .org 0xffe, 0x90
    syscall
"#,
    entry = const ENTRY_OFFSET,
    arg1 = const EMPTY_SEL << 8,
);

extern "C" {
    fn __sysret_top_page();
}

static HANDLER_STACK: Stack = Stack::new();
facet_rt::portal_entry!(fn fault_entry on HANDLER_STACK => fault_handler);

/// What the exception handler saw: the vector, RIP, and RDI's low byte.
static SEEN: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

/// The child's handler's exception (the portal id is the vector): recorded; the handler
/// goes on at the page's reply.
extern "C" fn fault_handler(vector: u64) -> ! {
    let h = HANDLER.utcb;
    SEEN[0].store(vector, Ordering::SeqCst);
    SEEN[1].store(h.get(u::RIP), Ordering::SeqCst);
    SEEN[2].store(h.get(u::RDI) & 0xff, Ordering::SeqCst);
    h.reply_with(h.start(TOP_PAGE, h.get(u::RSP)));
    reply()
}

pub fn a_status_returns_to_the_top_of_user_space(_: &Env) -> TestResult {
    let page = addr(__sysret_top_page);
    ensure_eq!(page % 4096, 0);
    ok(create_pd(CHILD, PD, Crd::NULL, false), "create_pd")?;
    let code = |at: u64| Crd::new(Kind::Memory, at >> 12, 0, perm::MEM_R | perm::MEM_X);
    ok(
        pd_ctrl_delegate(PD, CHILD, code(page), DELEGATE, code(TOP_PAGE)),
        "code page at the top of the child",
    )?;
    HANDLER.create()?;
    let m = mtd::RIP_LEN | mtd::RSP | mtd::GPR_BSD;
    for (pt, vector) in [(GP_PT, GP), (PF_PT, PF)] {
        HANDLER.portal(pt, m, fault_entry)?;
        ok(pt_ctrl(pt, vector), "portal id")?;
        let portal = |sel| Crd::new(Kind::Object, sel, 0, perm::PT_CALL);
        ok(
            pd_ctrl_delegate(PD, CHILD, portal(pt), DELEGATE, portal(vector)),
            "exception portal into the child",
        )?;
    }
    ok(
        create_ec(CHILD_EC, CHILD, 0, 0, SYSRET_TOP_CHILD_UTCB.addr(0), 0, 0),
        "the child's handler",
    )?;
    ok(
        create_pt(CHILD_PT, PD, CHILD_EC, 0, TOP_PAGE + ENTRY_OFFSET),
        "portal to it",
    )?;
    let called = call(CHILD_PT);
    let revoked = revoke_all([CHILD_PT, CHILD_EC, GP_PT, PF_PT, HANDLER.ec, CHILD]);
    ok(called, "call into the child")?;
    let seen = SEEN.each_ref().map(|s| s.load(Ordering::SeqCst));
    // A page fault at USER_ADDR, the status BAD_CAP: not a #GP of a refused SYSRET.
    ensure_eq!(seen, [PF, USER_ADDR, Status::BadCap as u64]);
    revoked
}
