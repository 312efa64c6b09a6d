//! A second virtual machine: a guest in its own protection domain climbs from real mode
//! through protected mode into long mode (its EFER write emulated by the VMM), executes
//! CPUID and shares a page with the VMM, while a vCPU of the first VM spins on the same
//! CPU; both make progress, and the spinning one is recalled afterwards.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{off, FEAT_SVM, FEAT_VMX};
use facet_abi::hypercall::delegate;
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_RECALL, VM_EVENT_STARTUP};
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pd, create_pt, create_sc, create_sm, ec_flags, ec_recall, pd_ctrl_delegate,
    reply, sc_time, sm_down, sm_up,
};

use super::vmm::Utcb;
use super::{ok, Fail, TestResult};
use crate::world::{World, SCRATCH};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// The second VM's protection domain and its vCPU.
const VM2: u64 = 970;
const VCPU2: u64 = 971;
const VCPU2_SC: u64 = 972;
/// Where its portals are made, aligned so that one CRD hands all 256 to the new PD,
/// which receives them at selector 0 onwards: its vCPU's event base is 0.
const EVT2: u64 = 8192;
/// The spinning vCPU of the first VM.
const SPINNER: u64 = 956;
const SPINNER_SC: u64 = 957;
const EVT_SPIN: u64 = 5000;
/// The VMM handler ECs and their UTCBs.
const VMM_A: u64 = 943;
const VMM_B: u64 = 944;
const UTCB_A: u64 = 0x3001_0000;
const UTCB_B: u64 = 0x3001_1000;
/// Semaphores: the second guest stopped, the spinner was recalled, and two for parking.
const SM_DONE: u64 = 906;
const SM_RECALLED: u64 = 907;
const SM_PARK_A: u64 = 908;
const SM_PARK_B: u64 = 909;
/// Eight RAM pages for the second guest at guest-physical 0x8000: code and GDT at
/// 0x8000, the page shared with the VMM at 0x9000, page tables at 0xa000..0xc000.
const RAM_PHYS: u64 = 0x0101_0000;
const GUEST_BASE: u64 = 0x8000;
const HOST: u64 = SCRATCH + 0x50_0000;
/// The second guest's virtual-APIC page, as the VMM sees it.
const VLAPIC: u64 = 0x3001_5000;

static EXITS: AtomicU64 = AtomicU64::new(0);
static CPUID_LEAF: AtomicU64 = AtomicU64::new(0);
static CPUID_LEN: AtomicU64 = AtomicU64::new(u64::MAX);
static EFER_WRITTEN: AtomicU64 = AtomicU64::new(0);
static HLT_EFER: AtomicU64 = AtomicU64::new(0);
static HLT_CS: AtomicU64 = AtomicU64::new(0);
static HLT_RIP: AtomicU64 = AtomicU64::new(0);
static HLT_KGS: AtomicU64 = AtomicU64::new(0);
static XSETBV_VALUE: AtomicU64 = AtomicU64::new(0);
static VMX_GUEST: AtomicU64 = AtomicU64::new(0);
static SPINNER_RIP: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .rodata.vm_long_guest, "a"
    .global __vm_long_guest_start
    .global __vm_long_guest_end
__vm_long_guest_start:
    .code16
    cli
    lgdtl (g2_gdtp - __vm_long_guest_start + 0x8000)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $(g2_pm - __vm_long_guest_start + 0x8000)
    .code32
g2_pm:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %cr4, %eax
    orl $0x40020, %eax
    movl %eax, %cr4
    movl $0xa000, %eax
    movl %eax, %cr3
    movl $0xc0000080, %ecx
    movl $0x101, %eax
    xorl %edx, %edx
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax
    movl %eax, %cr0
    ljmpl $0x18, $(g2_lm - __vm_long_guest_start + 0x8000)
    .code64
g2_lm:
    movl $0xfeedbeef, 0x9000
    movl $0x4711, %eax
    cpuid
    movl %eax, 0x9004
    // The XCR0 the VMM gave the guest, then one the guest sets (an exit the VMM emulates).
    xorl %ecx, %ecx
    xgetbv
    movl %eax, 0x9008
    movl $7, %eax
    xorl %edx, %edx
    xorl %ecx, %ecx
    xsetbv
    xorl %ecx, %ecx
    xgetbv
    movl %eax, 0x900c
    // Task priority 5: VMX keeps it in the virtual-APIC page (TPR shadow), SVM in V_TPR.
    movq $5, %rax
    movq %rax, %cr8
    syscall
    hlt
    // Where SYSCALL goes: the LSTAR the VMM set (the host's must not be used).
g2_syscall_target:
    hlt
    .balign 8
g2_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
g2_gdtp:
    .word 31
    .long g2_gdt - __vm_long_guest_start + 0x8000
    .global __vm_long_syscall_offset
    .set __vm_long_syscall_offset, g2_syscall_target - __vm_long_guest_start
__vm_long_guest_end:

    .section .bss.vm_long_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
vm_long_stack_a:
    .skip 0x4000
vm_long_stack_b:

    .section .text.vm_long_entries, "ax"
    .global __vm_long_startup
    .global __vm_long_wrmsr
    .global __vm_long_cpuid
    .global __vm_long_hlt
    .global __vm_long_xsetbv
    .global __vm_spin_startup
    .global __vm_spin_recall
__vm_long_startup:
    leaq vm_long_stack_a(%rip), %rsp
    call {startup}
    ud2
__vm_long_wrmsr:
    leaq vm_long_stack_a(%rip), %rsp
    call {wrmsr}
    ud2
__vm_long_cpuid:
    leaq vm_long_stack_a(%rip), %rsp
    call {cpuid}
    ud2
__vm_long_hlt:
    leaq vm_long_stack_a(%rip), %rsp
    call {hlt}
    ud2
__vm_long_xsetbv:
    leaq vm_long_stack_a(%rip), %rsp
    call {xsetbv}
    ud2
__vm_spin_startup:
    leaq vm_long_stack_b(%rip), %rsp
    call {spin_startup}
    ud2
__vm_spin_recall:
    leaq vm_long_stack_b(%rip), %rsp
    call {spin_recall}
    ud2
"#,
    startup = sym long_startup,
    wrmsr = sym long_wrmsr,
    cpuid = sym long_cpuid,
    hlt = sym long_hlt,
    xsetbv = sym long_xsetbv,
    spin_startup = sym spin_startup,
    spin_recall = sym spin_recall,
    options(att_syntax)
);

extern "C" {
    /// Not a variable: its address is the target's offset in the guest image.
    static __vm_long_syscall_offset: u8;
    static __vm_long_guest_start: u8;
    static __vm_long_guest_end: u8;
    fn __vm_long_startup();
    fn __vm_long_wrmsr();
    fn __vm_long_cpuid();
    fn __vm_long_hlt();
    fn __vm_long_xsetbv();
    fn __vm_spin_startup();
    fn __vm_spin_recall();
}

fn put(utcb: u64, at: usize, v: u64) {
    Utcb(utcb).put(at, v)
}

fn get(utcb: u64, at: usize) -> u64 {
    Utcb(utcb).get(at)
}

/// Real mode at `rip` with `rflags`, and reply.
fn real_mode_start(utcb: u64, rip: u64, rflags: u64) -> ! {
    let h = Utcb(utcb);
    let m = h.real_mode(rip, rflags);
    h.reply_with(m);
    reply()
}

extern "C" fn long_startup(_id: u64) -> ! {
    real_mode_start(UTCB_A, GUEST_BASE, 2)
}

/// Every instruction this VMM emulates (WRMSR, CPUID) is two bytes long; SVM under TCG
/// reports no instruction length.
fn skip_two(extra: u32) -> ! {
    put(UTCB_A, u::RIP, get(UTCB_A, u::RIP) + 2);
    put(UTCB_A, u::MTD, (mtd::RIP_LEN | extra) as u64);
    EXITS.fetch_add(1, Ordering::SeqCst);
    reply()
}

/// WRMSR: the guest may write EFER (and only EFER).
extern "C" fn long_wrmsr(_id: u64) -> ! {
    if get(UTCB_A, u::RCX) & 0xffff_ffff == 0xc000_0080 {
        let value = get(UTCB_A, u::RAX) & 0xffff_ffff | get(UTCB_A, u::RDX) << 32;
        EFER_WRITTEN.store(value, Ordering::SeqCst);
        put(UTCB_A, u::EFER, value);
        skip_two(mtd::EFER_PAT)
    }
    skip_two(0)
}

/// CPUID: answer, and set up SYSCALL for the guest (STAR's kernel selectors, LSTAR at
/// the guest's target, no flag mask) as an OS would have by WRMSR.
extern "C" fn long_cpuid(_id: u64) -> ! {
    CPUID_LEAF.store(get(UTCB_A, u::RAX), Ordering::SeqCst);
    CPUID_LEN.store(get(UTCB_A, u::INST_LEN), Ordering::SeqCst);
    put(UTCB_A, u::RAX, 0x1234_5678);
    put(UTCB_A, u::STAR, 0x18 << 32);
    put(UTCB_A, u::LSTAR, syscall_target());
    put(UTCB_A, u::FMASK, 0);
    put(UTCB_A, u::KERNEL_GS_BASE, 0x4242_0000);
    // x87 and SSE state for the guest (its control registers as they are).
    put(UTCB_A, u::XCR0, 3);
    let mut m = mtd::GPR_ACDB | mtd::SYSCALL_SWAPGS | mtd::CR;
    if VMX_GUEST.load(Ordering::SeqCst) != 0 {
        // The TPR shadow (primary control bit 21) instead of CR8 exits (bits 19, 20,
        // which the kernel forces only without a shadow): MOV to CR8 does not exit.
        let ctrl = get(UTCB_A, u::CTRL) & !(3 << 19);
        put(UTCB_A, u::CTRL, ctrl | 1 << 21);
        m |= mtd::CTRL;
    }
    skip_two(m)
}

/// XSETBV: the guest's new XCR0 (EDX:EAX; ECX 0), after the 3-byte instruction.
extern "C" fn long_xsetbv(_id: u64) -> ! {
    let value = get(UTCB_A, u::RAX) & 0xffff_ffff | get(UTCB_A, u::RDX) << 32;
    XSETBV_VALUE.store(value, Ordering::SeqCst);
    put(UTCB_A, u::XCR0, value);
    put(UTCB_A, u::RIP, get(UTCB_A, u::RIP) + 3);
    put(UTCB_A, u::MTD, (mtd::RIP_LEN | mtd::CR) as u64);
    reply()
}

/// The guest-physical (= guest-virtual) address of the guest's SYSCALL target.
fn syscall_target() -> u64 {
    GUEST_BASE + core::ptr::addr_of!(__vm_long_syscall_offset) as u64
}

extern "C" fn long_hlt(_id: u64) -> ! {
    HLT_KGS.store(get(UTCB_A, u::KERNEL_GS_BASE), Ordering::SeqCst);
    HLT_EFER.store(get(UTCB_A, u::EFER), Ordering::SeqCst);
    HLT_CS.store(get(UTCB_A, u::CS), Ordering::SeqCst);
    HLT_RIP.store(get(UTCB_A, u::RIP), Ordering::SeqCst);
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK_A);
    }
}

/// The spinner runs `jmp $` at 0x1050 of the first VM, interrupts disabled.
extern "C" fn spin_startup(_id: u64) -> ! {
    real_mode_start(UTCB_B, 0x1050, 2)
}

extern "C" fn spin_recall(_id: u64) -> ! {
    SPINNER_RIP.store(get(UTCB_B, u::RIP), Ordering::SeqCst);
    let _ = sm_up(SM_RECALLED);
    loop {
        let _ = sm_down(SM_PARK_B);
    }
}

fn entry(f: unsafe extern "C" fn()) -> u64 {
    f as *const () as u64
}

/// Exit numbers (WRMSR, CPUID, HLT) of the enabled extension.
fn exits(vmx: bool) -> (u64, u64, u64, u64) {
    if vmx {
        (32, 10, 12, 55)
    } else {
        (0x7c, 0x72, 0x78, 0x8d)
    }
}

/// Builds the second guest's memory: code and GDT, a zeroed shared page, and page
/// tables mapping the first 2 MiB one to one with a large page.
fn build_guest_memory() -> TestResult {
    let ram = Crd::new(Kind::Memory, RAM_PHYS >> 12, 3, perm::MEM_ALL);
    let host = Crd::new(Kind::Memory, HOST >> 12, 3, perm::MEM_R | perm::MEM_W);
    ok(pd_ctrl_delegate(PD, PD, ram, FROM_KERNEL, host), "VMM view")?;
    // SAFETY: the eight pages were just mapped read-write at HOST; the guest image is
    // the bytes between the two symbols.
    unsafe {
        core::ptr::write_bytes(HOST as *mut u8, 0, 8 * 4096);
        let start = core::ptr::addr_of!(__vm_long_guest_start);
        let len = core::ptr::addr_of!(__vm_long_guest_end) as usize - start as usize;
        core::ptr::copy_nonoverlapping(start, HOST as *mut u8, len);
        let table = |gpa: u64| (HOST + gpa - GUEST_BASE) as *mut u64;
        table(0xa000).write_volatile(0xb000 | 3);
        table(0xb000).write_volatile(0xc000 | 3);
        table(0xc000).write_volatile(0x83);
    }
    let gpa = Crd::new(Kind::Memory, GUEST_BASE >> 12, 3, perm::MEM_ALL);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    ok(pd_ctrl_delegate(PD, VM2, ram, meta, gpa), "guest memory")?;
    Ok(())
}

pub fn long_mode_guest_beside_a_spinning_vm(w: &World) -> TestResult {
    let flags = w.hip.u32(off::API_FLG);
    if flags & (FEAT_SVM | FEAT_VMX) == 0 {
        return Ok(());
    }
    let (wrmsr, cpuid, hlt, xsetbv) = exits(flags & FEAT_VMX != 0);
    VMX_GUEST.store((flags & FEAT_VMX != 0) as u64, Ordering::SeqCst);
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    ok(create_ec(VMM_A, PD, 0, 0, UTCB_A, 0, 0), "VMM EC A")?;
    ok(create_ec(VMM_B, PD, 0, 0, UTCB_B, 0, 0), "VMM EC B")?;
    for (sm, what) in [
        (SM_DONE, "sm"),
        (SM_RECALLED, "sm"),
        (SM_PARK_A, "sm"),
        (SM_PARK_B, "sm"),
    ] {
        ok(create_sm(sm, PD, 0, 0), what)?;
    }
    // The second VM's portals, made here and handed over with the new PD.
    let gprs = mtd::GPR_ACDB | mtd::RIP_LEN;
    for (event, m, f) in [
        (
            VM_EVENT_STARTUP,
            0,
            __vm_long_startup as unsafe extern "C" fn(),
        ),
        (wrmsr, gprs | mtd::EFER_PAT, __vm_long_wrmsr),
        (cpuid, gprs | mtd::CR | mtd::CTRL, __vm_long_cpuid),
        (xsetbv, gprs | mtd::CR, __vm_long_xsetbv),
        (
            hlt,
            mtd::RIP_LEN | mtd::EFER_PAT | mtd::CS_SS | mtd::SYSCALL_SWAPGS,
            __vm_long_hlt,
        ),
    ] {
        ok(
            create_pt(EVT2 + event, PD, VMM_A, m as u64, entry(f)),
            "VM2 portal",
        )?;
    }
    let portals = Crd::new(Kind::Object, EVT2, 8, perm::ALL);
    ok(create_pd(VM2, PD, portals, false), "VM2 PD")?;
    build_guest_memory()?;
    // The spinner of the first VM.
    ok(
        create_pt(
            EVT_SPIN + VM_EVENT_STARTUP,
            PD,
            VMM_B,
            0,
            entry(__vm_spin_startup),
        ),
        "spinner start-up portal",
    )?;
    ok(
        create_pt(
            EVT_SPIN + VM_EVENT_RECALL,
            PD,
            VMM_B,
            mtd::RIP_LEN as u64,
            entry(__vm_spin_recall),
        ),
        "spinner recall portal",
    )?;
    ok(create_ec(SPINNER, PD, vcpu, 0, 0, 0, EVT_SPIN), "spinner")?;
    ok(create_sc(SPINNER_SC, PD, SPINNER, 1, 1000), "spinner SC")?;
    // The second VM's vCPU, same priority: the two share the CPU.
    // Its virtual-APIC page (VMX's TPR shadow) goes into this PD, for the VMM to read.
    let vcpu_in_owner = vcpu | ec_flags::UTCB_IN_CALLER;
    ok(
        create_ec(VCPU2, VM2, vcpu_in_owner, 0, VLAPIC, 0, 0),
        "VM2 vCPU",
    )?;
    ok(create_sc(VCPU2_SC, PD, VCPU2, 1, 1000), "VM2 SC")?;
    ok(sm_down(SM_DONE), "wait for the second guest's HLT")?;

    ensure_eq!(EFER_WRITTEN.load(Ordering::SeqCst), 0x101u64);
    ensure_eq!(CPUID_LEAF.load(Ordering::SeqCst) & 0xffff_ffff, 0x4711u64);
    let vmx = flags & FEAT_VMX != 0;
    let nrips = super::cpu::cpuid(0x8000_000a, 0).3 & (1 << 3) != 0;
    ensure_eq!(
        CPUID_LEN.load(Ordering::SeqCst),
        if vmx || nrips { 2 } else { 0 }
    );
    ensure_eq!(EXITS.load(Ordering::SeqCst), 2u64);
    // In long mode at the HLT: EFER.LMA and LME, a 64-bit code segment (L, bit 9 of the
    // compressed access rights), and RIP at the HLT.
    let efer = HLT_EFER.load(Ordering::SeqCst);
    ensure!(efer & 0x500 == 0x500, "EFER at the HLT {:#x}", efer);
    let cs = HLT_CS.load(Ordering::SeqCst);
    ensure!(
        cs & 0xffff == 0x18 && (cs >> 16) & 0x200 != 0,
        "CS at the HLT {:#x}",
        cs
    );
    // SAFETY: the shared page is mapped at HOST + 0x1000 in the VMM.
    let shared = unsafe { ((HOST + 0x1000) as *const u64).read_volatile() };
    ensure_eq!(shared, 0x1234_5678_feed_beefu64);
    // The guest ran with the XCR0 its VMM gave it, and with the one it set through XSETBV.
    // SAFETY: as above.
    let xcr0s = unsafe { ((HOST + 0x1008) as *const u64).read_volatile() };
    ensure_eq!(xcr0s, 7u64 << 32 | 3);
    ensure_eq!(XSETBV_VALUE.load(Ordering::SeqCst), 7u64);
    if flags & FEAT_VMX != 0 {
        // The guest's MOV to CR8 landed in the virtual-APIC page's TPR (bits 7:4).
        // SAFETY: the virtual-APIC page is mapped read-write at VLAPIC in this PD.
        let vtpr = unsafe { ((VLAPIC + 0x80) as *const u32).read_volatile() };
        ensure_eq!(vtpr, 0x50u32);
    }
    // SYSCALL went to the guest's LSTAR (the HLT there), and the guest's KERNEL_GS_BASE
    // came back as the VMM set it.
    ensure_eq!(HLT_RIP.load(Ordering::SeqCst), syscall_target());
    ensure_eq!(HLT_KGS.load(Ordering::SeqCst), 0x4242_0000u64);
    // The spinner had the CPU in between, and answers a recall where it spins.
    let spun = ok(sc_time(SPINNER_SC), "spinner time")?;
    ensure!(spun > 0, "the spinning vCPU never ran");
    ok(ec_recall(SPINNER), "recall")?;
    ok(sm_down(SM_RECALLED), "wait for the recall")?;
    ensure_eq!(SPINNER_RIP.load(Ordering::SeqCst), 0x1050u64);
    Ok(())
}
