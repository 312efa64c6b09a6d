//! The guest's CR2 under MTD CR, on SVM and VMX alike: the VMM reads the value the
//! guest wrote and the guest reads the value the VMM set. (SVM keeps CR2 in the VMCB;
//! VMX leaves it in the register, which the kernel holds for the guest while it runs.)

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hip::{off, FEAT_SVM, FEAT_VMX};
use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, utcb as u};
use facet_rt::hypercall::{reply, sm_down, sm_up};

use super::vmm::{Exit, TestVm, Utcb};
use super::{Fail, TestResult};
use crate::world::{World, SCRATCH};

const VM: TestVm = TestVm {
    vmm: 973,
    utcb: 0x3001_8000,
    done: 920,
    park: 921,
    vcpu: 974,
    sc: 975,
    evt: 10240,
};
/// The VMM handler's UTCB.
const H: Utcb = Utcb(VM.utcb);
/// Guest code in the first VM's code page:
/// mov eax, 0x2badf00d; mov cr2, eax; hlt; mov eax, cr2; hlt
const CODE_AT: u64 = 0x10c0;
const CODE: [u8; 14] = [
    0x66, 0xb8, 0x0d, 0xf0, 0xad, 0x2b, 0x0f, 0x22, 0xd0, 0xf4, 0x0f, 0x20, 0xd0, 0xf4,
];
const GUEST_CR2: u64 = 0x2bad_f00d;
const VMM_CR2: u64 = 0x600d_cafe;

static HLTS: AtomicU64 = AtomicU64::new(0);
static SEEN_CR2: AtomicU64 = AtomicU64::new(0);
static SEEN_RAX: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.vm_cr2_stack, "aw", @nobits
    .balign 16
    .skip 0x4000
vm_cr2_stack:
    .section .text.vm_cr2_entries, "ax"
    .global __vm_cr2_startup
    .global __vm_cr2_hlt
__vm_cr2_startup:
    lea rsp, [rip + vm_cr2_stack]
    call {startup}
    ud2
__vm_cr2_hlt:
    lea rsp, [rip + vm_cr2_stack]
    call {hlt}
    ud2
"#,
    startup = sym cr2_startup,
    hlt = sym cr2_hlt,
);

extern "C" {
    fn __vm_cr2_startup();
    fn __vm_cr2_hlt();
}

/// Start-up: real mode at the code.
extern "C" fn cr2_startup(_id: u64) -> ! {
    let m = H.real_mode(CODE_AT, 2);
    H.reply_with(m);
    reply()
}

/// The first HLT: the CR2 the guest wrote, replaced by the VMM's. The second: what the
/// guest read back.
extern "C" fn cr2_hlt(_id: u64) -> ! {
    if HLTS.fetch_add(1, Ordering::SeqCst) == 0 {
        SEEN_CR2.store(H.get(u::CR2), Ordering::SeqCst);
        H.put(u::CR2, VMM_CR2);
        H.put(u::RIP, H.get(u::RIP) + 1);
        H.reply_with(mtd::CR | mtd::RIP_LEN);
        reply()
    }
    SEEN_RAX.store(H.get(u::RAX) & 0xffff_ffff, Ordering::SeqCst);
    let _ = sm_up(VM.done);
    loop {
        let _ = sm_down(VM.park);
    }
}

pub fn guest_cr2_follows_mtd_cr(w: &World) -> TestResult {
    let flags = w.hip.u32(off::API_FLG);
    if flags & (FEAT_SVM | FEAT_VMX) == 0 {
        return Ok(());
    }
    let host = SCRATCH + 0x40_0000 + (CODE_AT & 0xfff);
    for (i, b) in CODE.iter().enumerate() {
        // SAFETY: the first guest test mapped the code page read-write there.
        unsafe { ((host + i as u64) as *mut u8).write_volatile(*b) };
    }
    let hlt = if flags & FEAT_VMX != 0 { 12 } else { 0x78 };
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, __vm_cr2_startup),
        (hlt, mtd::GPR_ACDB | mtd::RIP_LEN | mtd::CR, __vm_cr2_hlt),
    ];
    VM.run(&exits, "wait for the guest's second HLT")?;
    ensure_eq!(HLTS.load(Ordering::SeqCst), 2u64);
    ensure_eq!(SEEN_CR2.load(Ordering::SeqCst), GUEST_CR2);
    ensure_eq!(SEEN_RAX.load(Ordering::SeqCst), VMM_CR2);
    Ok(())
}
