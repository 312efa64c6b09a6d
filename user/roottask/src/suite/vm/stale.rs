//! A dead PD's guest translations die with it. Under VMX the CPU tags cached
//! guest-physical translations with the EPT root's address, which a later PD's guest
//! table may get again once the dead PD's frames are back in the pool: the kernel
//! invalidates them (INVEPT before the next entry) when a guest table is freed.
//!
//! A vCPU in a child PD (its VMM's portals are the roottask's, handed to the child at its
//! event base) reads a page at guest-physical G and halts. The child PD and everything
//! in it is revoked. A vCPU in a new child PD, whose guest table has nothing at G, reads
//! G: an EPT violation (SVM: a nested page fault) at G, never the old frame. (Whether an
//! emulator caches translations across this at all is its own business: the outcome is
//! the same on every CPU that is correct.)

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::delegate;
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{
    create_ec, create_pd, create_sc, ec_flags, pd_ctrl_delegate, reply, sm_down_until, sm_up,
};
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{
    VM_GUEST_RAM, VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, VM_STALE, VM_STALE_RAM,
};
use crate::suite::naps::tsc;
use crate::suite::tools::{map_from_kernel, revoke_all};
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// The old VM and the new one, each in a child PD at its first extra selector.
const OLD: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 5);
const NEW: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 6);
const H_OLD: Utcb = OLD.utcb();
const H_NEW: Utcb = NEW.utcb();
/// Guest-physical page 1 of both children is the first VM's code page.
const CODE_PAGE: u64 = 1;
/// G: the old guest's data page (the new guest has nothing there).
const DATA_PAGE: u64 = 5;
/// The old guest's data page as the VMM sees it, and the byte there.
const DATA: Window = VM_STALE.window();
const MARK: u64 = 0x3c;
/// Guest code in the first VM's code page: mov al, [0x5000]; hlt; jmp $
const CODE_AT: u64 = 0x1220;
const CODE: [u8; 6] = [0xa0, 0x00, 0x50, 0xf4, 0xeb, 0xfe];

/// AL at the old guest's HLT, and at the new one's (where it read something).
static OLD_READ: AtomicU64 = AtomicU64::new(u64::MAX);
static NEW_READ: AtomicU64 = AtomicU64::new(u64::MAX);
static NEW_HLTS: AtomicU64 = AtomicU64::new(0);
static FAULTS: AtomicU64 = AtomicU64::new(0);
static FAULT_GPA: AtomicU64 = AtomicU64::new(0);
static FAULT_QUAL: AtomicU64 = AtomicU64::new(0);

static STACK_OLD: Stack = Stack::new();
static STACK_NEW: Stack = Stack::new();

facet_rt::portal_entry!(fn old_startup_entry on STACK_OLD => old_startup);
facet_rt::portal_entry!(fn old_hlt_entry on STACK_OLD => old_hlt);
facet_rt::portal_entry!(fn new_startup_entry on STACK_NEW => new_startup);
facet_rt::portal_entry!(fn new_hlt_entry on STACK_NEW => new_hlt);
facet_rt::portal_entry!(fn new_npt_entry on STACK_NEW => new_npt);

extern "C" fn old_startup(_id: u64) -> ! {
    let m = H_OLD.real_mode(CODE_AT, 2);
    H_OLD.reply_with(m);
    reply()
}

/// The old guest read G: tell the test and let the guest spin after its HLT (a vCPU
/// its VMM still holds in an exit would keep its PD alive).
extern "C" fn old_hlt(_id: u64) -> ! {
    OLD_READ.store(H_OLD.get(u::RAX) & 0xff, Ordering::SeqCst);
    let _ = sm_up(OLD.done());
    H_OLD.put(u::RIP, H_OLD.get(u::RIP) + 1);
    H_OLD.reply_with(mtd::RIP_LEN);
    reply()
}

extern "C" fn new_startup(_id: u64) -> ! {
    let m = H_NEW.real_mode(CODE_AT, 2);
    H_NEW.reply_with(m);
    reply()
}

/// The new guest read something at G.
extern "C" fn new_hlt(_id: u64) -> ! {
    NEW_HLTS.fetch_add(1, Ordering::SeqCst);
    NEW_READ.store(H_NEW.get(u::RAX) & 0xff, Ordering::SeqCst);
    NEW.finish()
}

/// The new guest's read of G faulted: where, and how.
extern "C" fn new_npt(_id: u64) -> ! {
    FAULTS.fetch_add(1, Ordering::SeqCst);
    FAULT_QUAL.store(H_NEW.get(u::QUAL), Ordering::SeqCst);
    FAULT_GPA.store(H_NEW.get(u::QUAL + 8), Ordering::SeqCst);
    NEW.finish()
}

/// Guest-physical pages from RAM page `ram` at `gpa` of child `pd`'s guest table only.
fn guest_page(pd: u64, ram: u64, gpa: u64, what: &str) -> TestResult {
    let from = Crd::new(Kind::Memory, ram, 0, perm::MEM_ALL);
    let to = Crd::new(Kind::Memory, gpa, 0, perm::MEM_ALL);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    ok(pd_ctrl_delegate(PD, pd, from, meta, to), what).map(|_| ())
}

/// VM `vm` in a child PD (at its first extra selector) that receives the VMM's portals
/// at its event base 0 and the code page; the vCPU starts once `data` (if any) is in.
fn child_vm(vm: TestVm, exits: &[Exit], data: Option<(u64, u64)>) -> TestResult {
    vm.create_vmm(exits)?;
    let pd = vm.extra(0);
    let portals = Crd::new(Kind::Object, vm.evt(), 8, perm::ALL);
    ok(create_pd(pd, PD, portals, false), "child PD")?;
    guest_page(pd, VM_GUEST_RAM.page(0), CODE_PAGE, "code page")?;
    if let Some((ram, gpa)) = data {
        guest_page(pd, ram, gpa, "data page")?;
    }
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    ok(create_ec(vm.vcpu(), pd, vcpu, 0, 0, 0, 0), "child vCPU")?;
    ok(
        create_sc(vm.sc(), PD, vm.vcpu(), 1, 1000),
        "child vCPU's SC",
    )
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's code page, where the code
/// goes).
pub fn stale_guest_translations_do_not_survive_their_pd(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    write_guest_code(CODE_AT, &CODE);
    let rw = perm::MEM_R | perm::MEM_W;
    map_from_kernel(VM_STALE_RAM.page(0), 0, rw, DATA, "VMM's view")?;
    DATA.write::<u8>(0, MARK as u8);
    let old_exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, old_startup_entry),
        (r.hlt, mtd::GPR_ACDB | mtd::RIP_LEN, old_hlt_entry),
    ];
    child_vm(OLD, &old_exits, Some((VM_STALE_RAM.page(0), DATA_PAGE)))?;
    OLD.wait("the old guest's HLT")?;
    // A nap (nobody signals the parking semaphore of this VMM, which never parks): the
    // VMM's reply goes out and the guest spins on.
    let nap = sm_down_until(OLD.park(), tsc() + 2 * e.per_ms());
    ensure_eq!(nap, Err(Status::Timeout));
    ensure_eq!(OLD_READ.load(Ordering::SeqCst), MARK);
    // The old VM goes: its SC, its vCPU, its PD with everything in it.
    revoke_all([OLD.sc(), OLD.vcpu(), OLD.extra(0)])?;

    let new_exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, 0, new_startup_entry),
        (r.hlt, mtd::GPR_ACDB, new_hlt_entry),
        (r.npt, mtd::QUAL, new_npt_entry),
    ];
    child_vm(NEW, &new_exits, None)?;
    NEW.wait("the new guest's read")?;
    ensure!(
        NEW_HLTS.load(Ordering::SeqCst) == 0,
        "the new guest read the old PD's page (AL {:#x})",
        NEW_READ.load(Ordering::SeqCst)
    );
    ensure_eq!(FAULTS.load(Ordering::SeqCst), 1u64);
    ensure_eq!(FAULT_GPA.load(Ordering::SeqCst), DATA_PAGE << 12);
    // A read of nothing (see `vm::revoked_guest_memory_faults`).
    let qual = FAULT_QUAL.load(Ordering::SeqCst);
    let read_of_nothing = if r.vmx {
        qual & 0x3b == 1
    } else {
        qual & 3 == 0
    };
    ensure!(read_of_nothing, "fault qualification {:#x}", qual);
    Ok(())
}
