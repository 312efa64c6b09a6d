//! A second virtual machine: a guest in its own protection domain climbs from real mode
//! through protected mode into long mode (its EFER write emulated by the VMM), executes
//! CPUID and shares a page with the VMM, while a vCPU of the first VM spins on the same
//! CPU; both make progress, and the spinning one is recalled afterwards.

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::delegate;
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_RECALL, VM_EVENT_STARTUP};
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::cpu::cpuid;
use facet_rt::entry::Stack;
use facet_rt::hypercall::{
    create_ec, create_pd, create_sc, ec_flags, ec_recall, pd_ctrl_delegate, reply, sc_time,
};
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use super::vmm::{reasons, Exit, TestVm};
use super::SPIN_AT;
use crate::suite::fixture::{VMS, VM_EVENTS, VM_LONG, VM_LONG_RAM, VM_UTCBS, VM_VLAPIC};
use crate::suite::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
/// The second VM: its VMM (handler A), its vCPU (in a PD of its own, the VM's first
/// extra selector), whose portals are made at its event base (aligned so that one CRD
/// hands all 256 to the new PD, which receives them at selector 0 onwards: its vCPU's
/// event base is 0).
const VM2: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 3);
const VM2_PD: u64 = VM2.extra(0);
const A: Utcb = VM2.utcb();
/// A spinning vCPU of the first VM, with its VMM (handler B).
const SPINNER: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 4);
const B: Utcb = SPINNER.utcb();
/// Eight RAM pages for the second guest at guest-physical 0x8000: code and GDT at
/// 0x8000, the page shared with the VMM at 0x9000, page tables at 0xa000..0xc000.
const GUEST_BASE: u64 = 0x8000;
const HOST: Window = VM_LONG.window();
/// The second guest's virtual-APIC page, as the VMM sees it.
const VLAPIC: Window = VM_VLAPIC.window();

static EXITS: AtomicU64 = AtomicU64::new(0);
static CPUID_LEAF: AtomicU64 = AtomicU64::new(0);
static CPUID_LEN: AtomicU64 = AtomicU64::new(u64::MAX);
static EFER_WRITTEN: AtomicU64 = AtomicU64::new(0);
static HLT_EFER: AtomicU64 = AtomicU64::new(0);
static HLT_CS: AtomicU64 = AtomicU64::new(0);
static HLT_RIP: AtomicU64 = AtomicU64::new(0);
static HLT_KGS: AtomicU64 = AtomicU64::new(0);
static XSETBV_VALUE: AtomicU64 = AtomicU64::new(0);
static VMX_GUEST: AtomicBool = AtomicBool::new(false);
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

"#,
    options(att_syntax)
);

extern "C" {
    /// Not a variable: its address is the target's offset in the guest image.
    static __vm_long_syscall_offset: u8;
    static __vm_long_guest_start: u8;
    static __vm_long_guest_end: u8;
}

/// A stack per VMM handler EC.
static STACK_A: Stack = Stack::new();
static STACK_B: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK_A => long_startup);
facet_rt::portal_entry!(fn wrmsr_entry on STACK_A => long_wrmsr);
facet_rt::portal_entry!(fn cpuid_entry on STACK_A => long_cpuid);
facet_rt::portal_entry!(fn hlt_entry on STACK_A => long_hlt);
facet_rt::portal_entry!(fn xsetbv_entry on STACK_A => long_xsetbv);
facet_rt::portal_entry!(fn spin_startup_entry on STACK_B => spin_startup);
facet_rt::portal_entry!(fn spin_recall_entry on STACK_B => spin_recall);

/// Real mode at `rip` with `rflags`, and reply.
fn real_mode_start(h: Utcb, rip: u64, rflags: u64) -> ! {
    let m = h.real_mode(rip, rflags);
    h.reply_with(m);
    reply()
}

extern "C" fn long_startup(_id: u64) -> ! {
    real_mode_start(A, GUEST_BASE, 2)
}

/// Every instruction this VMM emulates (WRMSR, CPUID) is two bytes long; SVM under TCG
/// reports no instruction length.
fn skip_two(extra: u32) -> ! {
    A.put(u::RIP, A.get(u::RIP) + 2);
    A.reply_with(mtd::RIP_LEN | extra);
    EXITS.fetch_add(1, Ordering::SeqCst);
    reply()
}

/// WRMSR: the guest may write EFER (and only EFER).
extern "C" fn long_wrmsr(_id: u64) -> ! {
    if A.get(u::RCX) & 0xffff_ffff == 0xc000_0080 {
        let value = A.get(u::RAX) & 0xffff_ffff | A.get(u::RDX) << 32;
        EFER_WRITTEN.store(value, Ordering::SeqCst);
        A.put(u::EFER, value);
        skip_two(mtd::EFER_PAT)
    }
    skip_two(0)
}

/// CPUID: answer, and set up SYSCALL for the guest (STAR's kernel selectors, LSTAR at
/// the guest's target, no flag mask) as an OS would have by WRMSR.
extern "C" fn long_cpuid(_id: u64) -> ! {
    CPUID_LEAF.store(A.get(u::RAX), Ordering::SeqCst);
    CPUID_LEN.store(A.get(u::INST_LEN), Ordering::SeqCst);
    A.put(u::RAX, 0x1234_5678);
    A.put(u::STAR, 0x18 << 32);
    A.put(u::LSTAR, syscall_target());
    A.put(u::FMASK, 0);
    A.put(u::KERNEL_GS_BASE, 0x4242_0000);
    // x87 and SSE state for the guest (its control registers as they are).
    A.put(u::XCR0, 3);
    let mut m = mtd::GPR_ACDB | mtd::SYSCALL_SWAPGS | mtd::CR;
    if VMX_GUEST.load(Ordering::SeqCst) {
        // The TPR shadow (primary control bit 21) instead of CR8 exits (bits 19, 20,
        // which the kernel forces only without a shadow): MOV to CR8 does not exit.
        let ctrl = A.get(u::CTRL) & !(3 << 19);
        A.put(u::CTRL, ctrl | 1 << 21);
        m |= mtd::CTRL;
    }
    skip_two(m)
}

/// XSETBV: the guest's new XCR0 (EDX:EAX; ECX 0), after the 3-byte instruction.
extern "C" fn long_xsetbv(_id: u64) -> ! {
    let value = A.get(u::RAX) & 0xffff_ffff | A.get(u::RDX) << 32;
    XSETBV_VALUE.store(value, Ordering::SeqCst);
    A.put(u::XCR0, value);
    A.put(u::RIP, A.get(u::RIP) + 3);
    A.reply_with(mtd::RIP_LEN | mtd::CR);
    reply()
}

/// The guest-physical (= guest-virtual) address of the guest's SYSCALL target.
fn syscall_target() -> u64 {
    GUEST_BASE + core::ptr::addr_of!(__vm_long_syscall_offset) as u64
}

extern "C" fn long_hlt(_id: u64) -> ! {
    HLT_KGS.store(A.get(u::KERNEL_GS_BASE), Ordering::SeqCst);
    HLT_EFER.store(A.get(u::EFER), Ordering::SeqCst);
    HLT_CS.store(A.get(u::CS), Ordering::SeqCst);
    HLT_RIP.store(A.get(u::RIP), Ordering::SeqCst);
    VM2.finish()
}

/// The spinner runs `jmp $` at SPIN_AT of the first VM, interrupts disabled.
extern "C" fn spin_startup(_id: u64) -> ! {
    real_mode_start(B, SPIN_AT, 2)
}

extern "C" fn spin_recall(_id: u64) -> ! {
    SPINNER_RIP.store(B.get(u::RIP), Ordering::SeqCst);
    SPINNER.finish()
}

/// Builds the second guest's memory: code and GDT, a zeroed shared page, and page
/// tables mapping the first 2 MiB one to one with a large page.
fn build_guest_memory() -> TestResult {
    let ram = Crd::new(Kind::Memory, VM_LONG_RAM.page(0), 3, perm::MEM_ALL);
    let host = Crd::new(
        Kind::Memory,
        HOST.page_number(),
        3,
        perm::MEM_R | perm::MEM_W,
    );
    ok(pd_ctrl_delegate(PD, PD, ram, FROM_KERNEL, host), "VMM view")?;
    HOST.fill(0);
    let start = core::ptr::addr_of!(__vm_long_guest_start);
    let len = core::ptr::addr_of!(__vm_long_guest_end) as usize - start as usize;
    // SAFETY: the guest image is the bytes the assembly above places between the two
    // symbols, in read-only data; nothing writes them.
    let image = unsafe { core::slice::from_raw_parts(start, len) };
    HOST.write_bytes(0, image);
    let table = |gpa: u64| gpa - GUEST_BASE;
    HOST.write::<u64>(table(0xa000), 0xb000 | 3);
    HOST.write::<u64>(table(0xb000), 0xc000 | 3);
    HOST.write::<u64>(table(0xc000), 0x83);
    let gpa = Crd::new(Kind::Memory, GUEST_BASE >> 12, 3, perm::MEM_ALL);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    ok(pd_ctrl_delegate(PD, VM2_PD, ram, meta, gpa), "guest memory")?;
    Ok(())
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn long_mode_guest_beside_a_spinning_vm(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    VMX_GUEST.store(r.vmx, Ordering::SeqCst);
    // The second VM's portals, made here and handed over with the new PD.
    let gprs = mtd::GPR_ACDB | mtd::RIP_LEN;
    let vm2_exits: [Exit; 5] = [
        (VM_EVENT_STARTUP, 0, startup_entry),
        (r.wrmsr, gprs | mtd::EFER_PAT, wrmsr_entry),
        (r.cpuid, gprs | mtd::CR | mtd::CTRL, cpuid_entry),
        (r.xsetbv, gprs | mtd::CR, xsetbv_entry),
        (
            r.hlt,
            mtd::RIP_LEN | mtd::EFER_PAT | mtd::CS_SS | mtd::SYSCALL_SWAPGS,
            hlt_entry,
        ),
    ];
    VM2.create_vmm(&vm2_exits)?;
    let portals = Crd::new(Kind::Object, VM2.evt(), 8, perm::ALL);
    ok(create_pd(VM2_PD, PD, portals, false), "VM2 PD")?;
    build_guest_memory()?;
    // The spinner of the first VM.
    let spinner_exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, spin_startup_entry),
        (VM_EVENT_RECALL, mtd::RIP_LEN, spin_recall_entry),
    ];
    SPINNER.create_vmm(&spinner_exits)?;
    SPINNER.start()?;
    // The second VM's vCPU, same priority: the two share the CPU.
    // Its virtual-APIC page (VMX's TPR shadow) goes into this PD, for the VMM to read.
    let vcpu_in_owner = ec_flags::GLOBAL | ec_flags::VCPU | ec_flags::UTCB_IN_CALLER;
    ok(
        create_ec(VM2.vcpu(), VM2_PD, vcpu_in_owner, 0, VLAPIC.base(), 0, 0),
        "VM2 vCPU",
    )?;
    ok(create_sc(VM2.sc(), PD, VM2.vcpu(), 1, 1000), "VM2 SC")?;
    VM2.wait("wait for the second guest's HLT")?;

    ensure_eq!(EFER_WRITTEN.load(Ordering::SeqCst), 0x101u64);
    ensure_eq!(CPUID_LEAF.load(Ordering::SeqCst) & 0xffff_ffff, 0x4711u64);
    let vmx = r.vmx;
    let nrips = cpuid(0x8000_000a, 0).3 & (1 << 3) != 0;
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
    // The page the guest shares with its VMM.
    let shared: u64 = HOST.read(0x1000);
    ensure_eq!(shared, 0x1234_5678_feed_beefu64);
    // The guest ran with the XCR0 its VMM gave it, and with the one it set through XSETBV.
    let xcr0s: u64 = HOST.read(0x1008);
    ensure_eq!(xcr0s, 7u64 << 32 | 3);
    ensure_eq!(XSETBV_VALUE.load(Ordering::SeqCst), 7u64);
    if vmx {
        // The guest's MOV to CR8 landed in the virtual-APIC page's TPR (bits 7:4).
        let vtpr: u32 = VLAPIC.read(0x80);
        ensure_eq!(vtpr, 0x50u32);
    }
    // SYSCALL went to the guest's LSTAR (the HLT there), and the guest's KERNEL_GS_BASE
    // came back as the VMM set it.
    ensure_eq!(HLT_RIP.load(Ordering::SeqCst), syscall_target());
    ensure_eq!(HLT_KGS.load(Ordering::SeqCst), 0x4242_0000u64);
    // The spinner had the CPU in between, and answers a recall where it spins.
    let spun = ok(sc_time(SPINNER.sc()), "spinner time")?;
    ensure!(spun > 0, "the spinning vCPU never ran");
    ok(ec_recall(SPINNER.vcpu()), "recall")?;
    SPINNER.wait("wait for the recall")?;
    ensure_eq!(SPINNER_RIP.load(Ordering::SeqCst), SPIN_AT);
    Ok(())
}
