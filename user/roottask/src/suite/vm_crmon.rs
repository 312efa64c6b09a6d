//! VMX-only VMM controls. Monitored control-register bits: the VMM asks, through MTD
//! CTRL, to see guest writes that change CR0.TS; the guest's MOV to CR0 is then a
//! CR-access exit with the register and the access in the qualification, and the VMM
//! completes the write. The VMM's timeout (MTD TSC_TIMEOUT): a guest spinning with
//! interrupts off exits to the VMM (reason 52) once the timeout has passed.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hip::{off, FEAT_VMX};
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::{mtd, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, reply, sm_down, sm_up,
};

use super::vmm::Utcb;
use super::{ok, Fail, TestResult};
use crate::world::{World, SCRATCH};

const PD: u64 = ROOT_SEL_PD;
const VMM: u64 = 948;
const UTCB: u64 = 0x3001_6000;
/// The VMM handler's UTCB.
const H: Utcb = Utcb(UTCB);
const VCPU: u64 = 966;
const VCPU_SC: u64 = 967;
/// Event bases of 256 (NUM_VMI) selectors each, apart from every other test's.
const EVT: u64 = 8448;
const SM_DONE: u64 = 916;
const SM_PARK: u64 = 917;
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

/// The timeout test's VMM handler and vCPU.
const T_VMM: u64 = 949;
const T_UTCB: u64 = 0x3001_7000;
const T: Utcb = Utcb(T_UTCB);
const T_VCPU: u64 = 968;
const T_VCPU_SC: u64 = 969;
const T_EVT: u64 = 8704;
/// The timeout test's own semaphores (it does not depend on the CR0 test's).
const T_SM_DONE: u64 = 918;
const T_SM_PARK: u64 = 919;
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
    let _ = sm_up(T_SM_DONE);
    loop {
        let _ = sm_down(T_SM_PARK);
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
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
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
    ok(create_ec(VMM, PD, 0, 0, UTCB, 0, 0), "VMM EC")?;
    ok(create_sm(SM_DONE, PD, 0, 0), "sm")?;
    ok(create_sm(SM_PARK, PD, 0, 0), "parking sm")?;
    let gprs = mtd::GPR_ACDB | mtd::RIP_LEN;
    for (event, m, f) in [
        (
            VM_EVENT_STARTUP,
            mtd::CTRL,
            __vm_crmon_startup as unsafe extern "C" fn(),
        ),
        (28, gprs | mtd::QUAL | mtd::CR, __vm_crmon_cr),
        (12, mtd::CR, __vm_crmon_hlt),
    ] {
        ok(
            create_pt(EVT + event, PD, VMM, m as u64, f as *const () as u64),
            "portal",
        )?;
    }
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    ok(create_ec(VCPU, PD, vcpu, 0, 0, 0, EVT), "vCPU")?;
    ok(create_sc(VCPU_SC, PD, VCPU, 1, 1000), "vCPU SC")?;
    ok(sm_down(SM_DONE), "wait for the guest's HLT")?;
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
    ok(create_sm(T_SM_DONE, PD, 0, 0), "sm")?;
    ok(create_sm(T_SM_PARK, PD, 0, 0), "parking sm")?;
    ok(create_ec(T_VMM, PD, 0, 0, T_UTCB, 0, 0), "VMM EC")?;
    let entry = |f: unsafe extern "C" fn()| f as *const () as u64;
    ok(
        create_pt(
            T_EVT + VM_EVENT_STARTUP,
            PD,
            T_VMM,
            0,
            entry(__vm_timeout_startup),
        ),
        "start-up portal",
    )?;
    let m = mtd::RIP_LEN | mtd::TSC_TIMEOUT;
    ok(
        create_pt(T_EVT + 52, PD, T_VMM, m as u64, entry(__vm_timeout_exit)),
        "timeout portal",
    )?;
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    ok(create_ec(T_VCPU, PD, vcpu, 0, 0, 0, T_EVT), "vCPU")?;
    ok(create_sc(T_VCPU_SC, PD, T_VCPU, 1, 1000), "vCPU SC")?;
    ok(sm_down(T_SM_DONE), "wait for the timeout")?;
    ensure_eq!(TIMEOUT_RIP.load(Ordering::SeqCst), SPIN_AT);
    ensure_eq!(TIMEOUT_LEFT.load(Ordering::SeqCst), u64::MAX);
    Ok(())
}
