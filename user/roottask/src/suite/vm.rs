//! Virtual CPUs: a guest runs under AMD SVM with nested paging or Intel VMX with EPT, and
//! its exits reach the VMM's portals with the state their MTDs select.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hip::{off, FEAT_SVM, FEAT_VMX};
use facet_abi::hypercall::delegate;
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, pd_ctrl_delegate, reply, sm_down, sm_up,
};

use super::{ok, Fail, TestResult};
use crate::world::{World, SCRATCH};
use crate::FROM_KERNEL;

const PD: u64 = ROOT_SEL_PD;
const VMM_UTCB: u64 = 0x3000_8000;
const EVT: u64 = 2000;
/// Guest physical page of the guest's code.
const GUEST_CODE_PAGE: u64 = 1;
/// A RAM page for the guest, away from the kernel and the modules.
const GUEST_RAM_PHYS: u64 = 0x0100_0000;

static SEEN_RAX: AtomicU64 = AtomicU64::new(0);
static SEEN_RIP: AtomicU64 = AtomicU64::new(0);
static SEEN_LEN: AtomicU64 = AtomicU64::new(0);
static SEEN_FS: AtomicU64 = AtomicU64::new(0);
static SEEN_IO: AtomicU64 = AtomicU64::new(0);
static SEEN_IO_RAX: AtomicU64 = AtomicU64::new(0);
static SEEN_NPF_GPA: AtomicU64 = AtomicU64::new(0);
static SEEN_NPF_ERR: AtomicU64 = AtomicU64::new(0);
static SEEN_GS: AtomicU64 = AtomicU64::new(0);

global_asm!(
    r#"
    .section .bss.vm_stack, "aw", @nobits
    .balign 16
    .skip 0x4000
__vmm_stack_top:
    .skip 0x4000
__vmm2_stack_top:
    .skip 0x4000
__vmm3_stack_top:
    .section .text.vm_entries, "ax"
__vm_startup_entry:
    lea rsp, [rip + __vmm_stack_top]
    call {startup}
    ud2
__vm_hlt_entry:
    lea rsp, [rip + __vmm_stack_top]
    call {hlt}
    ud2
__vm_io_entry:
    lea rsp, [rip + __vmm_stack_top]
    call {io}
    ud2
__vm_npf_entry:
    lea rsp, [rip + __vmm_stack_top]
    call {npf}
    ud2
__vm2_startup_entry:
    lea rsp, [rip + __vmm2_stack_top]
    call {startup2}
    ud2
__vm2_shutdown_entry:
    lea rsp, [rip + __vmm2_stack_top]
    call {shutdown2}
    ud2
__vm3_startup_entry:
    lea rsp, [rip + __vmm3_stack_top]
    call {startup3}
    ud2
__vm3_recall_entry:
    lea rsp, [rip + __vmm3_stack_top]
    call {recall3}
    ud2
    .global __vm3_startup_entry
    .global __vm3_recall_entry
    .global __vm2_startup_entry
    .global __vm2_shutdown_entry
    .global __vm_io_entry
    .global __vm_npf_entry
    .global __vm_startup_entry
    .global __vm_hlt_entry
"#,
    startup = sym vm_startup,
    hlt = sym vm_hlt,
    io = sym vm_io,
    npf = sym vm_npf,
    startup2 = sym vm2_startup,
    shutdown2 = sym vm2_shutdown,
    startup3 = sym vm3_startup,
    recall3 = sym vm3_recall,
);

extern "C" {
    fn __vm_startup_entry();
    fn __vm_hlt_entry();
    fn __vm_io_entry();
    fn __vm2_startup_entry();
    fn __vm3_startup_entry();
    fn __vm3_recall_entry();
    fn __vm2_shutdown_entry();
    fn __vm_npf_entry();
}

fn put(at: usize, v: u64) {
    // SAFETY: the VMM EC's UTCB is mapped read-write at VMM_UTCB.
    unsafe { ((VMM_UTCB + at as u64) as *mut u64).write_volatile(v) }
}

fn get(at: usize) -> u64 {
    // SAFETY: as for `put`.
    unsafe { ((VMM_UTCB + at as u64) as *const u64).read_volatile() }
}

/// Start-up: real mode, CS base 0, at the guest's code page.
extern "C" fn vm_startup(_id: u64) -> ! {
    put(u::RIP, GUEST_CODE_PAGE << 12);
    // A stack inside the code page, for the injected interrupt's return frame.
    put(u::RSP, (GUEST_CODE_PAGE << 12) + 0x800);
    // Interrupts enabled: VMX injects an external interrupt only into a guest that
    // accepts it (SVM does not check).
    put(u::RFLAGS, 0x202);
    put(u::CS, 0x9b << 16 | 0xffff << 32);
    put(u::CS + 8, 0);
    put(u::SS, 0x93 << 16 | 0xffff << 32);
    put(u::SS + 8, 0);
    put(
        u::MTD,
        (mtd::RIP_LEN | mtd::RSP | mtd::RFLAGS | mtd::CS_SS) as u64,
    );
    reply()
}

/// The second VMM's UTCB (for the triple-fault guest).
const VMM2_UTCB: u64 = 0x3000_a000;
static SHUTDOWNS: AtomicU64 = AtomicU64::new(0);

fn put2(at: usize, v: u64) {
    // SAFETY: the second VMM EC's UTCB is mapped read-write at VMM2_UTCB.
    unsafe { ((VMM2_UTCB + at as u64) as *mut u64).write_volatile(v) }
}

/// Start-up of the second vCPU: real mode at 0x1030, where the guest makes its
/// interrupt table unusable and raises an exception.
extern "C" fn vm2_startup(_id: u64) -> ! {
    put2(u::RIP, 0x1030);
    put2(u::RFLAGS, 2);
    put2(u::CS, 0x9b << 16 | 0xffff << 32);
    put2(u::CS + 8, 0);
    put2(u::MTD, (mtd::RIP_LEN | mtd::RFLAGS | mtd::CS_SS) as u64);
    reply()
}

/// Shutdown (triple fault) exit: count it, wake the roottask, park.
extern "C" fn vm2_shutdown(_id: u64) -> ! {
    SHUTDOWNS.fetch_add(1, Ordering::SeqCst);
    let _ = sm_up(902);
    loop {
        let _ = sm_down(903);
    }
}

/// The third VMM's UTCB (for the spinning guest).
const VMM3_UTCB: u64 = 0x3000_b000;
static RECALLED_RIP: AtomicU64 = AtomicU64::new(0);

fn put3(at: usize, v: u64) {
    // SAFETY: the third VMM EC's UTCB is mapped read-write at VMM3_UTCB.
    unsafe { ((VMM3_UTCB + at as u64) as *mut u64).write_volatile(v) }
}

/// Start-up of the third vCPU: real mode at 0x1050, `jmp $` forever.
extern "C" fn vm3_startup(_id: u64) -> ! {
    put3(u::RIP, 0x1050);
    // Interrupts disabled: the kernel must get the CPU back all the same.
    put3(u::RFLAGS, 2);
    put3(u::CS, 0x9b << 16 | 0xffff << 32);
    put3(u::CS + 8, 0);
    put3(u::MTD, (mtd::RIP_LEN | mtd::RFLAGS | mtd::CS_SS) as u64);
    reply()
}

/// Recall exit: where the spinning guest was, then wake the roottask and park.
extern "C" fn vm3_recall(_id: u64) -> ! {
    // SAFETY: as for `put3`.
    let rip = unsafe { ((VMM3_UTCB + u::RIP as u64) as *const u64).read_volatile() };
    RECALLED_RIP.store(rip, Ordering::SeqCst);
    let _ = sm_up(904);
    loop {
        let _ = sm_down(905);
    }
}

/// I/O exit: record the qualification, continue after the instruction (SVM gives the
/// next RIP in the second qualification word).
extern "C" fn vm_io(_id: u64) -> ! {
    SEEN_IO.store(get(u::QUAL), Ordering::SeqCst);
    SEEN_IO_RAX.store(get(u::RAX), Ordering::SeqCst);
    // SVM reports the next RIP; on VMX it is RIP plus the instruction length.
    let next = if VMX.load(Ordering::SeqCst) != 0 {
        get(u::RIP) + get(u::INST_LEN)
    } else {
        get(u::QUAL + 8)
    };
    put(u::RIP, next);
    put(u::MTD, mtd::RIP_LEN as u64);
    reply()
}

/// Nested page fault: record the address and error, skip the 3-byte `mov [0x2000], al`.
extern "C" fn vm_npf(_id: u64) -> ! {
    SEEN_NPF_ERR.store(get(u::QUAL), Ordering::SeqCst);
    SEEN_NPF_GPA.store(get(u::QUAL + 8), Ordering::SeqCst);
    put(u::RIP, get(u::RIP) + 3);
    put(u::MTD, mtd::RIP_LEN as u64);
    reply()
}

static HLTS: AtomicU64 = AtomicU64::new(0);
/// 1 when the vCPUs run on VMX (exit numbers and qualifications differ from SVM's).
static VMX: AtomicU64 = AtomicU64::new(0);

/// Exit numbers: (HLT, I/O, nested page fault, shutdown) on SVM and on VMX.
fn exits() -> (u64, u64, u64, u64) {
    if VMX.load(Ordering::SeqCst) != 0 {
        (12, 30, 48, 2)
    } else {
        (0x78, 0x7b, 252, 0x7f)
    }
}
static SEEN_RBX: AtomicU64 = AtomicU64::new(0);

/// HLT exits. The first: record what the guest did and inject interrupt 0x20 after the
/// HLT. The second (in the guest's interrupt handler): record RBX, wake the roottask
/// and keep the vCPU parked.
extern "C" fn vm_hlt(_id: u64) -> ! {
    if HLTS.fetch_add(1, Ordering::SeqCst) == 0 {
        SEEN_RAX.store(get(u::RAX), Ordering::SeqCst);
        SEEN_RIP.store(get(u::RIP), Ordering::SeqCst);
        SEEN_LEN.store(get(u::INST_LEN), Ordering::SeqCst);
        SEEN_FS.store(get(u::FS + 8), Ordering::SeqCst);
        SEEN_GS.store(get(u::GS) & 0xffff, Ordering::SeqCst);
        put(u::RIP, get(u::RIP) + 1);
        // Valid (bit 31), type external interrupt (0), vector 0x20.
        put(u::INJ, 0x8000_0020);
        put(u::MTD, (mtd::RIP_LEN | mtd::INJ) as u64);
        reply()
    }
    SEEN_RBX.store(get(u::RBX), Ordering::SeqCst);
    let _ = sm_up(900);
    loop {
        let _ = sm_down(901);
    }
}

pub fn guest_runs_and_exits(w: &World) -> TestResult {
    let flags = w.hip.u32(off::API_FLG);
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    if flags & (FEAT_SVM | FEAT_VMX) == 0 {
        // Without a usable extension no vCPU can be made.
        let r = create_ec(950, PD, vcpu, 0, 0, 0, EVT);
        ensure!(r == Err(Status::BadFtr), "vCPU without SVM or VMX: {:?}", r);
        return Ok(());
    }
    VMX.store((flags & FEAT_VMX != 0) as u64, Ordering::SeqCst);
    let (hlt, io, npf, _) = exits();
    // Guest memory: a RAM page, mapped for the VMM to write the guest's code ...
    let host = SCRATCH + 0x40_0000;
    let ram = Crd::new(Kind::Memory, GUEST_RAM_PHYS >> 12, 0, perm::MEM_ALL);
    let at = Crd::new(Kind::Memory, host >> 12, 0, perm::MEM_R | perm::MEM_W);
    pd_ctrl_delegate(PD, PD, ram, FROM_KERNEL, at)
        .map_err(|s| Fail::new(format_args!("map: {}", s.name())))?;
    // mov ax, 0x10; mov fs, ax; mov gs, ax   (the guest's FS and GS, not the kernel's)
    // mov ax, 0x1234; out 0x80, al           (an I/O exit)
    // mov [0x2000], al                       (a nested page fault: nothing there)
    // hlt
    let code: [u8; 16] = [
        0xb8, 0x10, 0x00, 0x8e, 0xe0, 0x8e, 0xe8, 0xb8, 0x34, 0x12, 0xe6, 0x80, 0xa2, 0x00, 0x20,
        0xf4,
    ];
    for (i, b) in code.iter().enumerate() {
        // SAFETY: the page was just mapped read-write at `host`.
        unsafe { ((host + i as u64) as *mut u8).write_volatile(*b) };
    }
    // The guest's interrupt handler for vector 0x20 at 0x1020: mov bx, 0x5678; hlt
    for (i, b) in [0xbbu8, 0x78, 0x56, 0xf4].iter().enumerate() {
        // SAFETY: as above.
        unsafe { ((host + 0x20 + i as u64) as *mut u8).write_volatile(*b) };
    }
    // At 0x1030 (second guest): lidt [0x1040]; int3 -- with a zero-limit interrupt
    // table the exception escalates to a triple fault. At 0x1040: limit 0, base 0.
    for (i, b) in [0x0fu8, 0x01, 0x1e, 0x40, 0x10, 0xcc].iter().enumerate() {
        // SAFETY: as above.
        unsafe { ((host + 0x30 + i as u64) as *mut u8).write_volatile(*b) };
    }
    for i in 0..6u64 {
        // SAFETY: as above.
        unsafe { ((host + 0x40 + i) as *mut u8).write_volatile(0) };
    }
    // At 0x1050 (third guest): jmp $
    for (i, b) in [0xebu8, 0xfe].iter().enumerate() {
        // SAFETY: as above.
        unsafe { ((host + 0x50 + i as u64) as *mut u8).write_volatile(*b) };
    }
    // Guest page 0 holds the real-mode interrupt table: entry 0x20 -> 0000:1020.
    let ivt_host = host + 0x1000;
    let ivt_ram = Crd::new(Kind::Memory, (GUEST_RAM_PHYS >> 12) + 1, 0, perm::MEM_ALL);
    let ivt_at = Crd::new(Kind::Memory, ivt_host >> 12, 0, perm::MEM_R | perm::MEM_W);
    pd_ctrl_delegate(PD, PD, ivt_ram, FROM_KERNEL, ivt_at)
        .map_err(|s| Fail::new(format_args!("map: {}", s.name())))?;
    // SAFETY: the page was just mapped read-write at `ivt_host`.
    unsafe { ((ivt_host + 0x20 * 4) as *mut u32).write_volatile(0x0000_1020) };
    let ivt_gpa = Crd::new(Kind::Memory, 0, 0, perm::MEM_ALL);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    pd_ctrl_delegate(PD, PD, ivt_ram, meta, ivt_gpa)
        .map_err(|s| Fail::new(format_args!("guest IVT: {}", s.name())))?;
    // ... and given to the guest at guest-physical page 1 (guest page table only). It
    // comes from the kernel again: delegated from the VMM's read-write mapping it would
    // lack the execute right (rights are only ever reduced).
    let gpa = Crd::new(Kind::Memory, GUEST_CODE_PAGE, 0, perm::MEM_ALL);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    pd_ctrl_delegate(PD, PD, ram, meta, gpa)
        .map_err(|s| Fail::new(format_args!("guest map: {}", s.name())))?;

    ok(create_ec(940, PD, 0, 0, VMM_UTCB, 0, 0), "VMM handler EC")?;
    ok(
        create_pt(
            EVT + 254,
            PD,
            940,
            0,
            __vm_startup_entry as *const () as u64,
        ),
        "start-up portal",
    )?;
    ok(
        create_pt(
            EVT + hlt,
            PD,
            940,
            (mtd::GPR_ACDB | mtd::RIP_LEN | mtd::FS_GS) as u64,
            __vm_hlt_entry as *const () as u64,
        ),
        "HLT portal",
    )?;
    ok(
        create_pt(
            EVT + io,
            PD,
            940,
            (mtd::GPR_ACDB | mtd::QUAL | mtd::RIP_LEN) as u64,
            __vm_io_entry as *const () as u64,
        ),
        "I/O portal",
    )?;
    ok(
        create_pt(
            EVT + npf,
            PD,
            940,
            (mtd::QUAL | mtd::RIP_LEN) as u64,
            __vm_npf_entry as *const () as u64,
        ),
        "NPT fault portal",
    )?;
    ok(create_sm(900, PD, 0, 0), "sm")?;
    ok(create_sm(901, PD, 0, 0), "parking sm")?;
    ensure!(
        create_ec(950, PD, vcpu, 7, 0, 0, EVT) == Err(Status::BadCpu),
        "vCPU on CPU 7"
    );
    ok(create_ec(950, PD, vcpu, 0, 0, 0, EVT), "vCPU")?;
    ok(create_sc(951, PD, 950, 1, 10_000), "vCPU SC")?;
    ok(sm_down(900), "wait for the guest")?;
    ensure_eq!(SEEN_RAX.load(Ordering::SeqCst) & 0xffff, 0x1234u64);
    ensure_eq!(
        SEEN_RIP.load(Ordering::SeqCst),
        (GUEST_CODE_PAGE << 12) + 15
    );
    ensure_eq!(SEEN_FS.load(Ordering::SeqCst), 0x100u64);
    ensure_eq!(SEEN_GS.load(Ordering::SeqCst), 0x10u64);
    // The instruction length: VMX reports it; SVM derives it from the next-RIP the CPU
    // saves, where it has that feature (CPUID 0x8000000A EDX bit 3; QEMU's TCG does not).
    let vmx = VMX.load(Ordering::SeqCst) != 0;
    let nrips = super::cpu::cpuid(0x8000_000a, 0).3 & (1 << 3) != 0;
    ensure_eq!(SEEN_LEN.load(Ordering::SeqCst), (vmx || nrips) as u64);
    // OUT to port 0x80, 8 bits: port in bits 31:16 on both; SVM: "in" bit 0 clear, size
    // 8 in bit 4; VMX: size - 1 in bits 2:0, "in" bit 3 clear, immediate operand bit 6.
    let io = SEEN_IO.load(Ordering::SeqCst);
    let shape = if vmx {
        io & 0x7 == 0 && io & 8 == 0 && io & 0x40 != 0
    } else {
        io & 1 == 0 && io & 0x70 == 0x10
    };
    ensure!(
        io >> 16 & 0xffff == 0x80 && shape,
        "I/O qualification {:#x}",
        io
    );
    ensure_eq!(SEEN_IO_RAX.load(Ordering::SeqCst) & 0xff, 0x34u64);
    // A write to guest-physical 0x2000, where nothing is mapped: SVM error code (present
    // bit 0 clear, write bit 1); VMX qualification (write bit 1, no rights in bits 5:3).
    ensure_eq!(SEEN_NPF_GPA.load(Ordering::SeqCst), 0x2000u64);
    let err = SEEN_NPF_ERR.load(Ordering::SeqCst);
    let not_present = if vmx { err >> 3 & 7 == 0 } else { err & 1 == 0 };
    ensure!(
        not_present && err & 2 != 0,
        "nested page fault qualification {:#x}",
        err
    );
    // The interrupt the VMM injected at the HLT ran the guest's handler, which stopped at
    // its own HLT with BX set.
    ensure_eq!(HLTS.load(Ordering::SeqCst), 2u64);
    ensure_eq!(SEEN_RBX.load(Ordering::SeqCst) & 0xffff, 0x5678u64);
    Ok(())
}

pub fn triple_fault_is_an_exit(w: &World) -> TestResult {
    if w.hip.u32(off::API_FLG) & (FEAT_SVM | FEAT_VMX) == 0 {
        return Ok(());
    }
    let (_, _, _, shutdown) = exits();
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    let evt = EVT + 1000;
    ok(create_ec(941, PD, 0, 0, VMM2_UTCB, 0, 0), "second VMM EC")?;
    ok(
        create_pt(
            evt + 254,
            PD,
            941,
            0,
            __vm2_startup_entry as *const () as u64,
        ),
        "start-up portal",
    )?;
    ok(
        create_pt(
            evt + shutdown,
            PD,
            941,
            0,
            __vm2_shutdown_entry as *const () as u64,
        ),
        "shutdown portal",
    )?;
    ok(create_sm(902, PD, 0, 0), "sm")?;
    ok(create_sm(903, PD, 0, 0), "parking sm")?;
    ok(create_ec(952, PD, vcpu, 0, 0, 0, evt), "second vCPU")?;
    ok(create_sc(953, PD, 952, 1, 10_000), "its SC")?;
    ok(sm_down(902), "wait for the shutdown exit")?;
    ensure_eq!(SHUTDOWNS.load(Ordering::SeqCst), 1u64);
    Ok(())
}

pub fn recall_of_a_spinning_vcpu(w: &World) -> TestResult {
    if w.hip.u32(off::API_FLG) & (FEAT_SVM | FEAT_VMX) == 0 {
        return Ok(());
    }
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    let evt = EVT + 2000;
    ok(create_ec(942, PD, 0, 0, VMM3_UTCB, 0, 0), "third VMM EC")?;
    ok(
        create_pt(
            evt + 254,
            PD,
            942,
            0,
            __vm3_startup_entry as *const () as u64,
        ),
        "start-up portal",
    )?;
    ok(
        create_pt(
            evt + 255,
            PD,
            942,
            mtd::RIP_LEN as u64,
            __vm3_recall_entry as *const () as u64,
        ),
        "recall portal",
    )?;
    ok(create_sm(904, PD, 0, 0), "sm")?;
    ok(create_sm(905, PD, 0, 0), "parking sm")?;
    ok(create_ec(954, PD, vcpu, 0, 0, 0, evt), "spinning vCPU")?;
    ok(create_sc(955, PD, 954, 1, 1000), "its SC")?;
    // Let it spin for a while (the timer shares the CPU), then recall it.
    let start = unsafe_tsc();
    while unsafe_tsc().wrapping_sub(start) < 50_000_000 {
        core::hint::spin_loop();
    }
    ok(facet_rt::hypercall::ec_recall(954), "recall")?;
    ok(sm_down(904), "wait for the recall exit")?;
    ensure_eq!(RECALLED_RIP.load(Ordering::SeqCst), 0x1050u64);
    Ok(())
}

fn unsafe_tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}
