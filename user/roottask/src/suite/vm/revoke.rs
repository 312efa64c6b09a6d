//! Memory revoke reaches the guest: `revoke` of a memory CRD takes the range from every
//! page table of the PD (host, guest and device), with the cached guest translations
//! dropped before it returns. A guest-physical page number is a page number of the
//! CRD like any other.
//!
//! The guest reads a data page and halts; its VMM revokes that page from its own PD
//! (whose host space has nothing at the same page number) and resumes it; the guest's
//! second read is a nested page fault (SVM) or EPT violation (VMX) at the page.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::delegate;
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{pd_ctrl_delegate, reply, revoke};
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{
    VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, VM_REVOKED, VM_REVOKED_RAM,
};
use crate::suite::tools::map_from_kernel;
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const VM: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 4);
const H: Utcb = VM.utcb();
/// The guest-physical page of the data page. The roottask's host space has nothing at
/// this page number (its image starts at 4 MiB), so the revoke takes the guest's
/// mapping only.
const DATA_PAGE: u64 = 6;
/// The data page as the VMM sees it, and the byte the guest reads there.
const DATA: Window = VM_REVOKED.window();
const MARK: u64 = 0xa5;
/// Guest code in the first VM's code page: mov al, [0x6000]; hlt; mov al, [0x6000]; hlt
const CODE_AT: u64 = 0x1200;
const CODE: [u8; 8] = [0xa0, 0x00, 0x60, 0xf4, 0xa0, 0x00, 0x60, 0xf4];

static HLTS: AtomicU64 = AtomicU64::new(0);
/// AL at the HLT after the first read, and after the second (where the guest read on).
static FIRST_READ: AtomicU64 = AtomicU64::new(u64::MAX);
static READ_ON: AtomicU64 = AtomicU64::new(u64::MAX);
static REVOKED: AtomicU64 = AtomicU64::new(u64::MAX);
static FAULTS: AtomicU64 = AtomicU64::new(0);
static FAULT_GPA: AtomicU64 = AtomicU64::new(0);
static FAULT_QUAL: AtomicU64 = AtomicU64::new(0);
static FAULT_RIP: AtomicU64 = AtomicU64::new(0);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => revoke_startup);
facet_rt::portal_entry!(fn hlt_entry on STACK => revoke_hlt);
facet_rt::portal_entry!(fn npt_entry on STACK => revoke_npt);

extern "C" fn revoke_startup(_id: u64) -> ! {
    let m = H.real_mode(CODE_AT, 2);
    H.reply_with(m);
    reply()
}

/// The first HLT: the guest read the page; revoke it and go on. A second HLT means the
/// guest read the page after the revoke.
extern "C" fn revoke_hlt(_id: u64) -> ! {
    if HLTS.fetch_add(1, Ordering::SeqCst) == 0 {
        FIRST_READ.store(H.get(u::RAX) & 0xff, Ordering::SeqCst);
        let page = Crd::new(Kind::Memory, DATA_PAGE, 0, perm::MEM_ALL);
        let revoked = revoke(page, true, None).map_or_else(|s| s as u64, |_| 0);
        REVOKED.store(revoked, Ordering::SeqCst);
        H.put(u::RIP, H.get(u::RIP) + 1);
        H.reply_with(mtd::RIP_LEN);
        reply()
    }
    READ_ON.store(H.get(u::RAX) & 0xff, Ordering::SeqCst);
    VM.finish()
}

/// The second read faults: where, and how.
extern "C" fn revoke_npt(_id: u64) -> ! {
    FAULTS.fetch_add(1, Ordering::SeqCst);
    FAULT_QUAL.store(H.get(u::QUAL), Ordering::SeqCst);
    FAULT_GPA.store(H.get(u::QUAL + 8), Ordering::SeqCst);
    FAULT_RIP.store(H.get(u::RIP), Ordering::SeqCst);
    VM.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn revoked_guest_memory_faults(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    // The data page: RAM the VMM marks through its own mapping, delegated into the guest
    // table only (from the kernel again, as the first VM's pages are).
    let rw = perm::MEM_R | perm::MEM_W;
    map_from_kernel(VM_REVOKED_RAM.page(0), 0, rw, DATA, "VMM's view")?;
    DATA.write::<u8>(0, MARK as u8);
    let ram = Crd::new(Kind::Memory, VM_REVOKED_RAM.page(0), 0, perm::MEM_ALL);
    let gpa = Crd::new(Kind::Memory, DATA_PAGE, 0, perm::MEM_ALL);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    ok(
        pd_ctrl_delegate(ROOT_SEL_PD, ROOT_SEL_PD, ram, meta, gpa),
        "guest data page",
    )?;
    write_guest_code(CODE_AT, &CODE);
    let exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, 0, startup_entry),
        (r.hlt, mtd::GPR_ACDB | mtd::RIP_LEN, hlt_entry),
        (r.npt, mtd::QUAL | mtd::RIP_LEN, npt_entry),
    ];
    VM.run(&exits, "the fault after the revoke")?;
    ensure_eq!(FIRST_READ.load(Ordering::SeqCst), MARK);
    ensure_eq!(REVOKED.load(Ordering::SeqCst), 0u64);
    ensure!(
        HLTS.load(Ordering::SeqCst) == 1,
        "the guest read on after the revoke (AL {:#x})",
        READ_ON.load(Ordering::SeqCst)
    );
    ensure_eq!(FAULTS.load(Ordering::SeqCst), 1u64);
    ensure_eq!(FAULT_GPA.load(Ordering::SeqCst), DATA_PAGE << 12);
    ensure_eq!(FAULT_RIP.load(Ordering::SeqCst), CODE_AT + 4);
    // A read of a page that is not there: SVM's error code (bit 0 present and bit 1
    // write clear); VMX's qualification (bit 0 read, bit 1 write clear, no rights in
    // bits 5:3).
    let qual = FAULT_QUAL.load(Ordering::SeqCst);
    let read_of_nothing = if r.vmx {
        qual & 0x3b == 1
    } else {
        qual & 3 == 0
    };
    ensure!(read_of_nothing, "fault qualification {:#x}", qual);
    // The VMM's own mapping of the frame is another page number: still there.
    ensure_eq!(DATA.read::<u8>(0) as u64, MARK);
    Ok(())
}
