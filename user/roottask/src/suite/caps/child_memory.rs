//! Memory in a child protection domain follows what is delegated to it: a page mapped
//! read-only reads but faults on a write (the child's handler has no exception portal,
//! dies, and the call answers ABORT); unmapped again from the roottask with the remote
//! flag, even a read faults; mapped read-write, the child's write reaches the roottask's
//! page. The roottask's own mapping of the page stays throughout.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::xfer::DELEGATE;
use facet_abi::layout::{ROOT_HIP_ADDR, ROOT_SEL_PD, ROOT_UTCB_ADDR};
use facet_abi::perm;
use facet_abi::status::Status;
use facet_rt::hypercall::{pd_ctrl_delegate, revoke};

use crate::suite::child::Child;
use crate::suite::fixture::{CHILD_MEMORY, CHILD_MEMORY_AT, CHILD_MEMORY_UTCBS};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const CHILD: Child = Child::new(CHILD_MEMORY, CHILD_MEMORY_UTCBS);
/// Where the child sees the roottask's page.
const CHILD_AT: u64 = CHILD_MEMORY_AT.addr(0);
/// What the roottask's page holds at first, and what the child writes.
const INITIAL: u64 = 0x1122_3344_5566_7788;
const WRITTEN: u64 = 0x5a;

/// The page the roottask lends its child (the child writes its first word only while
/// the roottask waits in its call).
#[repr(C, align(4096))]
struct Page([AtomicU64; 512]);
static PAGE: Page = Page([const { AtomicU64::new(0) }; 512]);

global_asm!(
    r#"
    .section .text.child_memory, "ax"
    .balign 4096
    .global __child_mem_read
    .global __child_mem_write
    // Portal handlers in the child: read (or write) the lent page's first word, then
    // reply (hypercall 1).
__child_mem_read:
    mov rcx, {at}
    mov rax, [rcx]
    mov edi, 1
    syscall
    ud2
__child_mem_write:
    mov rcx, {at}
    mov qword ptr [rcx], {written}
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#,
    at = const CHILD_AT,
    written = const WRITTEN,
);

extern "C" {
    fn __child_mem_read();
    fn __child_mem_write();
}

fn page_word() -> u64 {
    PAGE.0[0].load(Ordering::SeqCst)
}

pub fn child_memory_follows_delegation(_: &Env) -> TestResult {
    PAGE.0[0].store(INITIAL, Ordering::SeqCst);
    let page = core::ptr::addr_of!(PAGE) as u64;
    CHILD.create(__child_mem_read)?;
    let lend = |rights: u8| {
        let from = Crd::new(Kind::Memory, page >> 12, 0, rights);
        let to = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, rights);
        pd_ctrl_delegate(PD, CHILD.pd(), from, DELEGATE, to).map(|_| ())
    };
    // Read-only: the read goes through, the write faults.
    ok(lend(perm::MEM_R), "page read-only into the child")?;
    ensure_eq!(CHILD.call(0, __child_mem_read), Ok(()));
    ensure_eq!(CHILD.call(1, __child_mem_write), Err(Status::Abort));
    ensure_eq!(page_word(), INITIAL);
    // Unmapped from the child (the remote flag): the read faults now.
    let in_child = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_ALL);
    ok(revoke(in_child, true, Some(CHILD.pd())), "remote unmap")?;
    ensure_eq!(CHILD.call(2, __child_mem_read), Err(Status::Abort));
    // The roottask's own mapping is untouched.
    ensure_eq!(page_word(), INITIAL);
    // Read-write: the child's write lands in the roottask's page.
    ok(
        lend(perm::MEM_R | perm::MEM_W),
        "page read-write into the child",
    )?;
    ensure_eq!(CHILD.call(3, __child_mem_write), Ok(()));
    ensure_eq!(page_word(), WRITTEN);
    // A UTCB is kernel memory that goes back to the pool with its EC: it is not handed
    // on (the reference marks it not delegable), so the child finds nothing there. The
    // HIP is, read-only.
    let lend_at = |addr: u64| {
        let from = Crd::new(Kind::Memory, addr >> 12, 0, perm::MEM_R);
        let to = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_R);
        pd_ctrl_delegate(PD, CHILD.pd(), from, DELEGATE, to).map(|_| ())
    };
    ok(revoke(in_child, true, Some(CHILD.pd())), "remote unmap")?;
    ok(lend_at(ROOT_UTCB_ADDR), "the roottask's UTCB")?;
    ensure_eq!(CHILD.call(4, __child_mem_read), Err(Status::Abort));
    ok(lend_at(ROOT_HIP_ADDR), "the HIP")?;
    ensure_eq!(CHILD.call(5, __child_mem_read), Ok(()));
    CHILD.revoke(6)
}
