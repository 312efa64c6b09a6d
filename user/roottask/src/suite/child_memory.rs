//! Memory in a child protection domain follows what is delegated to it: a page mapped
//! read-only reads but faults on a write (the child's handler has no exception portal,
//! dies, and the call answers ABORT); unmapped again from the roottask with the remote
//! flag, even a read faults; mapped read-write, the child's write reaches the roottask's
//! page. The roottask's own mapping of the page stays throughout.

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
const CHILD: u64 = 2400;
/// Handler Ecs in the child and their portals in the roottask, one per attempt (a
/// handler that faults is gone).
const ECS: [u64; 6] = [2401, 2402, 2403, 2404, 2405, 2406];
const PTS: [u64; 6] = [2411, 2412, 2413, 2414, 2415, 2416];
/// Where each handler's UTCB goes in the child.
const UTCB_BASE: u64 = 0x300c_0000;
/// Where the child sees the roottask's page.
const CHILD_AT: u64 = 0x3100_0000;
/// What the roottask's page holds at first, and what the child writes.
const INITIAL: u64 = 0x1122_3344_5566_7788;
const WRITTEN: u64 = 0x5a;

/// The page the roottask lends its child.
#[repr(C, align(4096))]
struct Page([u64; 512]);
static mut PAGE: Page = Page([0; 512]);

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

/// Calls attempt `i` in the child: a new handler Ec running `entry`.
fn attempt(i: usize, entry: unsafe extern "C" fn()) -> Result<(), Status> {
    let utcb = UTCB_BASE + 0x1000 * i as u64;
    call_in_child(CHILD, ECS[i], PTS[i], utcb, entry)
}

fn page_word() -> u64 {
    // SAFETY: the roottask's page; the child writes it only while the roottask waits in
    // its call.
    unsafe { core::ptr::addr_of!(PAGE.0[0]).read_volatile() }
}

pub fn child_memory_follows_delegation() -> TestResult {
    // SAFETY: as for `page_word`; no child runs yet.
    unsafe { core::ptr::addr_of_mut!(PAGE.0[0]).write_volatile(INITIAL) };
    let page = core::ptr::addr_of!(PAGE) as u64;
    ok(create_pd(CHILD, PD, Crd::NULL, false), "create_pd")?;
    let stub = __child_mem_read as *const () as u64;
    let code = Crd::new(Kind::Memory, stub >> 12, 0, perm::MEM_R | perm::MEM_X);
    ok(
        pd_ctrl_delegate(PD, CHILD, code, DELEGATE, code).map(|_| ()),
        "code into the child",
    )?;
    let lend = |rights: u8| {
        let from = Crd::new(Kind::Memory, page >> 12, 0, rights);
        let to = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, rights);
        pd_ctrl_delegate(PD, CHILD, from, DELEGATE, to).map(|_| ())
    };
    // Read-only: the read goes through, the write faults.
    ok(lend(perm::MEM_R), "page read-only into the child")?;
    ensure_eq!(attempt(0, __child_mem_read), Ok(()));
    ensure_eq!(attempt(1, __child_mem_write), Err(Status::Abort));
    ensure_eq!(page_word(), INITIAL);
    // Unmapped from the child (the remote flag): the read faults now.
    let in_child = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_ALL);
    ok(revoke(in_child, true, Some(CHILD)), "remote unmap")?;
    ensure_eq!(attempt(2, __child_mem_read), Err(Status::Abort));
    // The roottask's own mapping is untouched.
    ensure_eq!(page_word(), INITIAL);
    // Read-write: the child's write lands in the roottask's page.
    ok(
        lend(perm::MEM_R | perm::MEM_W),
        "page read-write into the child",
    )?;
    ensure_eq!(attempt(3, __child_mem_write), Ok(()));
    ensure_eq!(page_word(), WRITTEN);
    // A UTCB is kernel memory that goes back to the pool with its EC: it is not handed
    // on (the reference marks it not delegable), so the child finds nothing there. The
    // HIP is, read-only.
    let lend_at = |addr: u64| {
        let from = Crd::new(Kind::Memory, addr >> 12, 0, perm::MEM_R);
        let to = Crd::new(Kind::Memory, CHILD_AT >> 12, 0, perm::MEM_R);
        pd_ctrl_delegate(PD, CHILD, from, DELEGATE, to).map(|_| ())
    };
    ok(revoke(in_child, true, Some(CHILD)), "remote unmap")?;
    ok(
        lend_at(facet_abi::layout::ROOT_UTCB_ADDR),
        "the roottask's UTCB",
    )?;
    ensure_eq!(attempt(4, __child_mem_read), Err(Status::Abort));
    ok(lend_at(facet_abi::layout::ROOT_HIP_ADDR), "the HIP")?;
    ensure_eq!(attempt(5, __child_mem_read), Ok(()));
    for sel in PTS.into_iter().chain(ECS).chain([CHILD]) {
        ok(
            revoke(Crd::new(Kind::Object, sel, 0, perm::ALL), true, None),
            "revoke",
        )?;
    }
    Ok(())
}
