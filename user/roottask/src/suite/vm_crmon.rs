//! VMX-only VMM controls. Monitored control-register bits: the VMM asks, through MTD
//! CTRL, to see guest writes that change CR0.TS; the guest's MOV to CR0 is then a
//! CR-access exit with the register and the access in the qualification, and the VMM
//! completes the write. The VMM's timeout (MTD TSC_TIMEOUT): a guest spinning with
//! interrupts off exits to the VMM (reason 52) once the timeout has passed.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hip::{off, FEAT_VMX};
use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, utcb as u};
use facet_rt::hypercall::{reply, sm_down, sm_up};

use super::vmm::{Exit, TestVm, Utcb};
use super::{Fail, TestResult};
use crate::world::{World, SCRATCH};

const VM: TestVm = TestVm {
    vmm: 948,
    utcb: 0x3001_6000,
    done: 916,
    park: 917,
    vcpu: 966,
    sc: 967,
    evt: 8448,
};
/// The VMM handler's UTCB.
const H: Utcb = Utcb(VM.utcb);
/// Guest code in the first VM's code page: mov eax, cr0; or al, 8; mov cr0, eax; hlt
const CODE_AT: u64 = 0x1080;
const CODE: [u8; 9] = [0x0f, 0x20, 0xc0, 0x0c, 0x08, 0x0f, 0x22, 0xc0, 0xf4];
const CR0_TS: u64 = 1 << 3;

static CR_EXITS: AtomicU64 = AtomicU64::new(0);
static CR_QUAL: AtomicU64 = AtomicU64::new(0);
static HLT_CR0: AtomicU64 = AtomicU64::new(0);
static TIMEOUT_RIP: AtomicU64 = AtomicU64::new(0);
static TIMEOUT_LEFT: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.vm_crmon_stack, "aw", @nobits
    .balign 16
    .skip 0x4000
vm_crmon_stack:
    .section .text.vm_crmon_entries, "ax"
    .global __vm_crmon_startup
    .global __vm_crmon_cr
    .global __vm_crmon_hlt
    .global __vm_timeout_startup
    .global __vm_timeout_exit
__vm_crmon_startup:
    lea rsp, [rip + vm_crmon_stack]
    call {startup}
    ud2
__vm_crmon_cr:
    lea rsp, [rip + vm_crmon_stack]
    call {cr}
    ud2
__vm_crmon_hlt:
    lea rsp, [rip + vm_crmon_stack]
    call {hlt}
    ud2
__vm_timeout_startup:
    lea rsp, [rip + vm_crmon_stack]
    call {t_startup}
    ud2
__vm_timeout_exit:
    lea rsp, [rip + vm_crmon_stack]
    call {t_exit}
    ud2
"#,
    startup = sym crmon_startup,
    cr = sym crmon_cr,
    hlt = sym crmon_hlt,
    t_startup = sym timeout_startup,
    t_exit = sym timeout_exit,
);

extern "C" {
    fn __vm_crmon_startup();
    fn __vm_crmon_cr();
    fn __vm_crmon_hlt();
    fn __vm_timeout_startup();
    fn __vm_timeout_exit();
}

/// The timeout test's VM (with semaphores of its own: it does not depend on the CR0
/// test's).
const T_VM: TestVm = TestVm {
    vmm: 949,
    utcb: 0x3001_7000,
    done: 918,
    park: 919,
    vcpu: 968,
    sc: 969,
    evt: 8704,
};
const T: Utcb = Utcb(T_VM.utcb);
/// `jmp $` in the first VM's code page (at 0x1050), and the timeout the VMM sets.
const SPIN_AT: u64 = 0x1050;
const TIMEOUT_TICKS: u64 = 2_000_000;

/// Start-up: spin with interrupts off, and exit after TIMEOUT_TICKS.
extern "C" fn timeout_startup(_id: u64) -> ! {
    T.put(u::TSC_TIMEOUT, TIMEOUT_TICKS);
    let m = T.real_mode(SPIN_AT, 2);
    T.reply_with(m | mtd::TSC_TIMEOUT);
    reply()
}

/// The timeout's exit: where the guest was and what is left of the timeout (none).
extern "C" fn timeout_exit(_id: u64) -> ! {
    TIMEOUT_RIP.store(T.get(u::RIP), Ordering::SeqCst);
    TIMEOUT_LEFT.store(T.get(u::TSC_TIMEOUT), Ordering::SeqCst);
    let _ = sm_up(T_VM.done);
    loop {
        let _ = sm_down(T_VM.park);
    }
}

/// Start-up: monitor CR0.TS, real mode at the code.
extern "C" fn crmon_startup(_id: u64) -> ! {
    H.put(u::CR0_MON, CR0_TS);
    let m = H.real_mode(CODE_AT, 2);
    H.reply_with(m | mtd::CTRL);
    reply()
}

/// The CR access: complete the write of EAX to CR0 and skip the 3-byte instruction.
extern "C" fn crmon_cr(_id: u64) -> ! {
    CR_EXITS.fetch_add(1, Ordering::SeqCst);
    CR_QUAL.store(H.get(u::QUAL), Ordering::SeqCst);
    H.put(u::CR0, H.get(u::RAX) & 0xffff_ffff);
    H.put(u::RIP, H.get(u::RIP) + 3);
    H.reply_with(mtd::CR | mtd::RIP_LEN);
    reply()
}

extern "C" fn crmon_hlt(_id: u64) -> ! {
    HLT_CR0.store(H.get(u::CR0), Ordering::SeqCst);
    let _ = sm_up(VM.done);
    loop {
        let _ = sm_down(VM.park);
    }
}

pub fn monitored_cr0_bit_exits(w: &World) -> TestResult {
    if w.hip.u32(off::API_FLG) & FEAT_VMX == 0 {
        // Monitoring masks are VMX's (SVM intercepts whole CR writes).
        return Ok(());
    }
    let host = SCRATCH + 0x40_0000 + (CODE_AT & 0xfff);
    for (i, b) in CODE.iter().enumerate() {
        // SAFETY: the first guest test mapped the code page read-write there.
        unsafe { ((host + i as u64) as *mut u8).write_volatile(*b) };
    }
    let gprs = mtd::GPR_ACDB | mtd::RIP_LEN;
    let exits: [Exit; 3] = [
        (VM_EVENT_STARTUP, mtd::CTRL, __vm_crmon_startup),
        (28, gprs | mtd::QUAL | mtd::CR, __vm_crmon_cr),
        (12, mtd::CR, __vm_crmon_hlt),
    ];
    VM.run(&exits, "wait for the guest's HLT")?;
    // One exit: MOV to CR0 (access type 0 in bits 5:4, CR 0 in bits 3:0) from EAX
    // (register 0 in bits 11:8); afterwards the guest sees TS set.
    ensure_eq!(CR_EXITS.load(Ordering::SeqCst), 1u64);
    ensure_eq!(CR_QUAL.load(Ordering::SeqCst) & 0xfff, 0u64);
    ensure!(
        HLT_CR0.load(Ordering::SeqCst) & CR0_TS != 0,
        "CR0 at the HLT {:#x}",
        HLT_CR0.load(Ordering::SeqCst)
    );
    Ok(())
}

pub fn vmm_timeout_exits(w: &World) -> TestResult {
    if w.hip.u32(off::API_FLG) & FEAT_VMX == 0 {
        // The timeout rides on VMX's preemption timer.
        return Ok(());
    }
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, __vm_timeout_startup),
        (52, mtd::RIP_LEN | mtd::TSC_TIMEOUT, __vm_timeout_exit),
    ];
    T_VM.run(&exits, "wait for the timeout")?;
    ensure_eq!(TIMEOUT_RIP.load(Ordering::SeqCst), SPIN_AT);
    ensure_eq!(TIMEOUT_LEFT.load(Ordering::SeqCst), u64::MAX);
    Ok(())
}
