//! The APIC-access page: `pd_ctrl map_access_page` puts the PD's page into its guest-
//! physical space; on VMX, with APIC-access virtualization turned on through MTD CTRL, a
//! guest write there is an APIC-access exit with the offset and the kind of access. On
//! SVM the page is ordinary guest memory.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{off, FEAT_SVM, FEAT_VMX};
use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{map_access_page, reply, sm_down, sm_up};

use super::vmm::{Exit, TestVm, Utcb};
use super::{ok, Fail, TestResult};
use crate::world::{World, SCRATCH};

const VM: TestVm = TestVm {
    vmm: 947,
    utcb: 0x3001_4000,
    done: 914,
    park: 915,
    vcpu: 964,
    sc: 965,
    evt: 7500,
};
/// The VMM handler's UTCB.
const H: Utcb = Utcb(VM.utcb);
/// The guest-physical page of the APIC-access page.
const ACCESS_GPA_PAGE: u64 = 3;
/// Guest code in the first VM's code page: mov [0x3080], al; hlt
const CODE_AT: u64 = 0x1070;
const CODE: [u8; 4] = [0xa2, 0x80, 0x30, 0xf4];

static ACCESS_EXITS: AtomicU64 = AtomicU64::new(0);
static ACCESS_QUAL: AtomicU64 = AtomicU64::new(0);
static HLT_RIP: AtomicU64 = AtomicU64::new(0);
static VMX: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.vm_apic_stack, "aw", @nobits
    .balign 16
    .skip 0x4000
vm_apic_stack:
    .section .text.vm_apic_entries, "ax"
    .global __vm_apic_startup
    .global __vm_apic_access
    .global __vm_apic_hlt
__vm_apic_startup:
    lea rsp, [rip + vm_apic_stack]
    call {startup}
    ud2
__vm_apic_access:
    lea rsp, [rip + vm_apic_stack]
    call {access}
    ud2
__vm_apic_hlt:
    lea rsp, [rip + vm_apic_stack]
    call {hlt}
    ud2
"#,
    startup = sym apic_startup,
    access = sym apic_access,
    hlt = sym apic_hlt,
);

extern "C" {
    fn __vm_apic_startup();
    fn __vm_apic_access();
    fn __vm_apic_hlt();
}

/// Start-up: on VMX turn on APIC-access virtualization (secondary control bit 0); real
/// mode at the code.
extern "C" fn apic_startup(_id: u64) -> ! {
    let mut m = H.real_mode(CODE_AT, 2);
    if VMX.load(Ordering::SeqCst) != 0 {
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
    H.put(u::MTD, mtd::RIP_LEN as u64);
    reply()
}

extern "C" fn apic_hlt(_id: u64) -> ! {
    HLT_RIP.store(H.get(u::RIP), Ordering::SeqCst);
    let _ = sm_up(VM.done);
    loop {
        let _ = sm_down(VM.park);
    }
}

pub fn apic_access_page(w: &World) -> TestResult {
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
    let flags = w.hip.u32(off::API_FLG);
    if flags & (FEAT_SVM | FEAT_VMX) == 0 {
        return Ok(());
    }
    let vmx = flags & FEAT_VMX != 0;
    VMX.store(vmx as u64, Ordering::SeqCst);
    let host = SCRATCH + 0x40_0000 + (CODE_AT & 0xfff);
    for (i, b) in CODE.iter().enumerate() {
        // SAFETY: the first guest test mapped the code page read-write there.
        unsafe { ((host + i as u64) as *mut u8).write_volatile(*b) };
    }
    // On SVM a nested page fault would land in the same handler (and fail the test): the
    // page must be plain guest memory there.
    let (hlt, access) = if vmx {
        (12, 44)
    } else {
        (0x78, facet_abi::layout::VM_EVENT_NPT)
    };
    let startup_mtd = if vmx { mtd::CTRL } else { 0 };
    let exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, startup_mtd, __vm_apic_startup),
        (access, mtd::RIP_LEN | mtd::QUAL, __vm_apic_access),
        (hlt, mtd::RIP_LEN, __vm_apic_hlt),
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
