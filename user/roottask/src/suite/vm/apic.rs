//! The APIC-access page: `pd_ctrl map_access_page` puts the PD's page into its guest-
//! physical space; on VMX, with APIC-access virtualization turned on through MTD CTRL, a
//! guest write there is an APIC-access exit with the offset and the kind of access. On
//! SVM the page is ordinary guest memory.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{map_access_page, reply};
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{VMS, VM_EVENTS, VM_UTCBS};
use crate::suite::{ok, Env, Fail, TestResult};

const VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 7);
/// The VMM handler's UTCB.
const H: Utcb = VM.utcb();
/// The guest-physical page of the APIC-access page.
const ACCESS_GPA_PAGE: u64 = 3;
/// Guest code in the first VM's code page: mov [0x3080], al; hlt
const CODE_AT: u64 = 0x1070;
const CODE: [u8; 4] = [0xa2, 0x80, 0x30, 0xf4];
/// VMX's APIC-access exit.
const APIC_ACCESS: u64 = 44;

static ACCESS_EXITS: AtomicU64 = AtomicU64::new(0);
static ACCESS_QUAL: AtomicU64 = AtomicU64::new(0);
static HLT_RIP: AtomicU64 = AtomicU64::new(0);
static VMX: AtomicBool = AtomicBool::new(false);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => apic_startup);
facet_rt::portal_entry!(fn access_entry on STACK => apic_access);
facet_rt::portal_entry!(fn hlt_entry on STACK => apic_hlt);

/// Start-up: on VMX turn on APIC-access virtualization (secondary control bit 0); real
/// mode at the code.
extern "C" fn apic_startup(_id: u64) -> ! {
    let mut m = H.real_mode(CODE_AT, 2);
    if VMX.load(Ordering::SeqCst) {
        H.put(u::CTRL, H.get(u::CTRL) | 1 << 32);
        m |= mtd::CTRL;
    }
    H.reply_with(m);
    reply()
}

/// The APIC-access exit: record it and skip the 3-byte store.
extern "C" fn apic_access(_id: u64) -> ! {
    ACCESS_EXITS.fetch_add(1, Ordering::SeqCst);
    ACCESS_QUAL.store(H.get(u::QUAL), Ordering::SeqCst);
    H.put(u::RIP, H.get(u::RIP) + 3);
    H.reply_with(mtd::RIP_LEN);
    reply()
}

extern "C" fn apic_hlt(_id: u64) -> ! {
    HLT_RIP.store(H.get(u::RIP), Ordering::SeqCst);
    VM.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn apic_access_page(e: &Env) -> TestResult {
    let rw = perm::MEM_R | perm::MEM_W;
    // Bad input: not memory, other rights, a larger order.
    let page = |kind, order, rights| Crd::new(kind, ACCESS_GPA_PAGE, order, rights);
    ensure_eq!(
        map_access_page(page(Kind::Object, 0, perm::ALL)),
        Err(Status::BadPar)
    );
    ensure_eq!(
        map_access_page(page(Kind::Memory, 0, perm::MEM_R)),
        Err(Status::BadPar)
    );
    ensure_eq!(
        map_access_page(page(Kind::Memory, 1, rw)),
        Err(Status::BadPar)
    );
    ok(
        map_access_page(page(Kind::Memory, 0, rw)),
        "map_access_page",
    )?;
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    let vmx = r.vmx;
    VMX.store(vmx, Ordering::SeqCst);
    write_guest_code(CODE_AT, &CODE);
    // On SVM a nested page fault would land in the same handler (and fail the test): the
    // page must be plain guest memory there.
    let access = if vmx { APIC_ACCESS } else { r.npt };
    let startup_mtd = if vmx { mtd::CTRL } else { 0 };
    let exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, startup_mtd, startup_entry),
        (access, mtd::RIP_LEN | mtd::QUAL, access_entry),
        (r.hlt, mtd::RIP_LEN, hlt_entry),
    ];
    VM.run(&exits, "wait for the guest's HLT")?;
    ensure_eq!(HLT_RIP.load(Ordering::SeqCst), CODE_AT + 3);
    if vmx {
        // Offset 0x80, a linear write (access type 1 in bits 15:12).
        ensure_eq!(ACCESS_EXITS.load(Ordering::SeqCst), 1u64);
        ensure_eq!(ACCESS_QUAL.load(Ordering::SeqCst) & 0xffff, 0x1080u64);
    } else {
        ensure_eq!(ACCESS_EXITS.load(Ordering::SeqCst), 0u64);
    }
    Ok(())
}
