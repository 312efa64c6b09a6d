//! Virtual CPUs: a guest runs under AMD SVM with nested paging or Intel VMX with EPT, and
//! its exits reach the VMM's portals with the state their MTDs select. Every test's VMM
//! is a [`vmm::TestVm`]; the first test maps the first VM's memory, which the later
//! guests' code goes into.

mod activity;
mod apic;
mod bad;
mod cr2;
mod crmon;
mod debug;
mod fast;
mod long;
mod pkru;
mod revoke;
mod smp;
mod stale;
mod start;
pub(crate) mod vmm;
mod window;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::hypercall::delegate;
use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_RECALL, VM_EVENT_STARTUP};
use facet_abi::status::Status;
use facet_abi::{mtd, perm, utcb as u};
use facet_rt::cpu::cpuid;
use facet_rt::entry::Stack;
use facet_rt::hypercall::{create_ec, ec_flags, ec_recall, pd_ctrl_delegate, reply};
use facet_rt::utcb::Utcb;

pub use activity::parked_activity_states_are_left;
pub use apic::apic_access_page;
pub use bad::malformed_state_is_refused_and_repairable;
pub use cr2::guest_cr2_follows_mtd_cr;
pub use crmon::{monitored_cr0_bit_exits, vmm_timeout_exits};
pub use debug::debug_registers_are_per_vcpu;
pub use fast::fast_and_general_exits_agree;
pub use long::long_mode_guest_beside_a_spinning_vm;
pub use pkru::protection_keys_are_per_vcpu;
pub use revoke::revoked_guest_memory_faults;
pub use smp::vcpus_on_every_cpu;
pub use stale::stale_guest_translations_do_not_survive_their_pd;
pub use start::vcpus_start_in_the_reference_state;
pub use window::intercepts_and_interrupt_window;

use super::fixture::{VMS, VM_EVENTS, VM_GUEST, VM_GUEST_RAM, VM_UTCBS};
use super::naps::spin_until;
use super::tools::map_from_kernel;
use super::{ok, Env, Fail, TestResult};
use crate::FROM_KERNEL;
use vmm::{reasons, write_guest_code, Exit, TestVm, GUEST_CODE};

const PD: u64 = ROOT_SEL_PD;
/// The three VMs of this file: the first guest, the one that triple-faults, the one that
/// spins.
const FIRST: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 0).quantum(10_000);
const TRIPLE: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 1).quantum(10_000);
const SPIN: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 2);
const H: Utcb = FIRST.utcb();
/// Guest physical page of the first VM's code (page 0 holds its interrupt table).
const GUEST_CODE_PAGE: u64 = 1;
/// Where the spinning guests spin: `jmp $` (written by the first test).
pub const SPIN_AT: u64 = 0x1050;

static SEEN_RAX: AtomicU64 = AtomicU64::new(0);
static SEEN_RBX: AtomicU64 = AtomicU64::new(0);
static SEEN_RIP: AtomicU64 = AtomicU64::new(0);
static SEEN_LEN: AtomicU64 = AtomicU64::new(0);
static SEEN_FS: AtomicU64 = AtomicU64::new(0);
static SEEN_GS: AtomicU64 = AtomicU64::new(0);
static SEEN_IO: AtomicU64 = AtomicU64::new(0);
static SEEN_IO_RAX: AtomicU64 = AtomicU64::new(0);
static SEEN_NPF_GPA: AtomicU64 = AtomicU64::new(0);
static SEEN_NPF_ERR: AtomicU64 = AtomicU64::new(0);
static HLTS: AtomicU64 = AtomicU64::new(0);
static SHUTDOWNS: AtomicU64 = AtomicU64::new(0);
static RECALLED_RIP: AtomicU64 = AtomicU64::new(0);
/// Whether the vCPUs run on VMX (exit qualifications differ from SVM's).
static VMX: AtomicBool = AtomicBool::new(false);

/// A stack per VMM handler EC (each parks on its own when its guest is done).
static FIRST_STACK: Stack = Stack::new();
static TRIPLE_STACK: Stack = Stack::new();
static SPIN_STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on FIRST_STACK => first_startup);
facet_rt::portal_entry!(fn hlt_entry on FIRST_STACK => first_hlt);
facet_rt::portal_entry!(fn io_entry on FIRST_STACK => first_io);
facet_rt::portal_entry!(fn npf_entry on FIRST_STACK => first_npf);
facet_rt::portal_entry!(fn triple_startup_entry on TRIPLE_STACK => triple_startup);
facet_rt::portal_entry!(fn shutdown_entry on TRIPLE_STACK => triple_shutdown);
facet_rt::portal_entry!(fn spin_startup_entry on SPIN_STACK => spin_startup);
facet_rt::portal_entry!(fn recall_entry on SPIN_STACK => spin_recall);

/// Start-up: real mode, CS base 0, at the guest's code page.
extern "C" fn first_startup(_id: u64) -> ! {
    // Interrupts enabled: VMX injects an external interrupt only into a guest that
    // accepts it (SVM does not check).
    let m = H.real_mode(GUEST_CODE_PAGE << 12, 0x202);
    // A stack inside the code page, for the injected interrupt's return frame.
    H.put(u::RSP, (GUEST_CODE_PAGE << 12) + 0x800);
    H.reply_with(m | mtd::RSP);
    reply()
}

/// HLT exits. The first: record what the guest did and inject interrupt 0x20 after the
/// HLT. The second (in the guest's interrupt handler): record RBX, wake the roottask
/// and keep the vCPU parked.
extern "C" fn first_hlt(_id: u64) -> ! {
    if HLTS.fetch_add(1, Ordering::SeqCst) == 0 {
        SEEN_RAX.store(H.get(u::RAX), Ordering::SeqCst);
        SEEN_RIP.store(H.get(u::RIP), Ordering::SeqCst);
        SEEN_LEN.store(H.get(u::INST_LEN), Ordering::SeqCst);
        SEEN_FS.store(H.get(u::FS + 8), Ordering::SeqCst);
        SEEN_GS.store(H.get(u::GS) & 0xffff, Ordering::SeqCst);
        H.put(u::RIP, H.get(u::RIP) + 1);
        // Valid (bit 31), type external interrupt (0), vector 0x20.
        H.put(u::INJ, 0x8000_0020);
        H.reply_with(mtd::RIP_LEN | mtd::INJ);
        reply()
    }
    SEEN_RBX.store(H.get(u::RBX), Ordering::SeqCst);
    FIRST.finish()
}

/// I/O exit: record the qualification, continue after the instruction (SVM gives the
/// next RIP in the second qualification word; on VMX it is RIP plus the length).
extern "C" fn first_io(_id: u64) -> ! {
    SEEN_IO.store(H.get(u::QUAL), Ordering::SeqCst);
    SEEN_IO_RAX.store(H.get(u::RAX), Ordering::SeqCst);
    let next = if VMX.load(Ordering::SeqCst) {
        H.get(u::RIP) + H.get(u::INST_LEN)
    } else {
        H.get(u::QUAL + 8)
    };
    H.put(u::RIP, next);
    H.reply_with(mtd::RIP_LEN);
    reply()
}

/// Nested page fault: record the address and error, skip the 3-byte `mov [0x2000], al`.
extern "C" fn first_npf(_id: u64) -> ! {
    SEEN_NPF_ERR.store(H.get(u::QUAL), Ordering::SeqCst);
    SEEN_NPF_GPA.store(H.get(u::QUAL + 8), Ordering::SeqCst);
    H.put(u::RIP, H.get(u::RIP) + 3);
    H.reply_with(mtd::RIP_LEN);
    reply()
}

/// Start-up of the second vCPU: real mode at 0x1030, where the guest makes its
/// interrupt table unusable and raises an exception.
extern "C" fn triple_startup(_id: u64) -> ! {
    let h = TRIPLE.utcb();
    let m = h.real_mode(0x1030, 2);
    h.reply_with(m);
    reply()
}

/// Shutdown (triple fault) exit: count it, wake the roottask, park.
extern "C" fn triple_shutdown(_id: u64) -> ! {
    SHUTDOWNS.fetch_add(1, Ordering::SeqCst);
    TRIPLE.finish()
}

/// Start-up of the third vCPU: real mode at SPIN_AT, `jmp $` forever, interrupts
/// disabled (the kernel must get the CPU back all the same).
extern "C" fn spin_startup(_id: u64) -> ! {
    let h = SPIN.utcb();
    let m = h.real_mode(SPIN_AT, 2);
    h.reply_with(m);
    reply()
}

/// Recall exit: where the spinning guest was, then wake the roottask and park.
extern "C" fn spin_recall(_id: u64) -> ! {
    RECALLED_RIP.store(SPIN.utcb().get(u::RIP), Ordering::SeqCst);
    SPIN.finish()
}

/// Maps the first VM's memory: guest page 1 (the code of this file's guests and of the
/// later tests') and page 0 (the real-mode interrupt table), both from RAM, both
/// mapped for the VMM too.
pub(crate) fn first_vm_memory() -> TestResult {
    let rw = perm::MEM_R | perm::MEM_W;
    map_from_kernel(VM_GUEST_RAM.page(0), 0, rw, GUEST_CODE, "map")?;
    // mov ax, 0x10; mov fs, ax; mov gs, ax   (the guest's FS and GS, not the kernel's)
    // mov ax, 0x1234; out 0x80, al           (an I/O exit)
    // mov [0x2000], al                       (a nested page fault: nothing there)
    // hlt
    write_guest_code(
        0x1000,
        &[
            0xb8, 0x10, 0x00, 0x8e, 0xe0, 0x8e, 0xe8, 0xb8, 0x34, 0x12, 0xe6, 0x80, 0xa2, 0x00,
            0x20, 0xf4,
        ],
    );
    // The guest's interrupt handler for vector 0x20 at 0x1020: mov bx, 0x5678; hlt
    write_guest_code(0x1020, &[0xbb, 0x78, 0x56, 0xf4]);
    // At 0x1030 (second guest): lidt [0x1040]; int3 -- with a zero-limit interrupt
    // table the exception escalates to a triple fault. At 0x1040: limit 0, base 0.
    write_guest_code(0x1030, &[0x0f, 0x01, 0x1e, 0x40, 0x10, 0xcc]);
    write_guest_code(0x1040, &[0; 6]);
    // At SPIN_AT (third guest): jmp $
    write_guest_code(SPIN_AT, &[0xeb, 0xfe]);
    // Guest page 0 holds the real-mode interrupt table: entry 0x20 -> 0000:1020.
    let ivt = VM_GUEST.window().sub(0x1000, 0x1000);
    map_from_kernel(VM_GUEST_RAM.page(1), 0, rw, ivt, "map")?;
    ivt.write::<u32>(0x20 * 4, 0x0000_1020);
    let meta = FROM_KERNEL | delegate::NOT_HOST | delegate::GUEST;
    let ivt_ram = Crd::new(Kind::Memory, VM_GUEST_RAM.page(1), 0, perm::MEM_ALL);
    let ivt_gpa = Crd::new(Kind::Memory, 0, 0, perm::MEM_ALL);
    pd_ctrl_delegate(PD, PD, ivt_ram, meta, ivt_gpa)
        .map_err(|s| Fail::new(format_args!("guest IVT: {}", s.name())))?;
    // ... and the code page at guest-physical page 1 (guest page table only). It comes
    // from the kernel again: delegated from the VMM's read-write mapping it would lack
    // the execute right (rights are only ever reduced).
    let ram = Crd::new(Kind::Memory, VM_GUEST_RAM.page(0), 0, perm::MEM_ALL);
    let gpa = Crd::new(Kind::Memory, GUEST_CODE_PAGE, 0, perm::MEM_ALL);
    pd_ctrl_delegate(PD, PD, ram, meta, gpa)
        .map_err(|s| Fail::new(format_args!("guest map: {}", s.name())))?;
    Ok(())
}

pub fn guest_runs_and_exits(e: &Env) -> TestResult {
    let vcpu = ec_flags::GLOBAL | ec_flags::VCPU;
    let Some(r) = reasons(e) else {
        // Without a usable extension no vCPU can be made.
        let made = create_ec(FIRST.vcpu(), PD, vcpu, 0, 0, 0, FIRST.evt());
        ensure!(
            made == Err(Status::BadFtr),
            "vCPU without SVM or VMX: {:?}",
            made
        );
        return Ok(());
    };
    VMX.store(r.vmx, Ordering::SeqCst);
    first_vm_memory()?;
    let exits: [Exit; 4] = [
        (VM_EVENT_STARTUP, 0, startup_entry),
        (r.hlt, mtd::GPR_ACDB | mtd::RIP_LEN | mtd::FS_GS, hlt_entry),
        (r.io, mtd::GPR_ACDB | mtd::QUAL | mtd::RIP_LEN, io_entry),
        (r.npt, mtd::QUAL | mtd::RIP_LEN, npf_entry),
    ];
    FIRST.create_vmm(&exits)?;
    ensure!(
        create_ec(FIRST.vcpu(), PD, vcpu, e.offline_cpu(), 0, 0, FIRST.evt())
            == Err(Status::BadCpu),
        "vCPU on an offline CPU"
    );
    FIRST.start()?;
    FIRST.wait("wait for the guest")?;
    ensure_eq!(SEEN_RAX.load(Ordering::SeqCst) & 0xffff, 0x1234u64);
    ensure_eq!(
        SEEN_RIP.load(Ordering::SeqCst),
        (GUEST_CODE_PAGE << 12) + 15
    );
    ensure_eq!(SEEN_FS.load(Ordering::SeqCst), 0x100u64);
    ensure_eq!(SEEN_GS.load(Ordering::SeqCst), 0x10u64);
    // The instruction length: VMX reports it; SVM derives it from the next-RIP the CPU
    // saves, where it has that feature (CPUID 0x8000000A EDX bit 3; QEMU's TCG does not).
    let vmx = r.vmx;
    let nrips = cpuid(0x8000_000a, 0).3 & (1 << 3) != 0;
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

/// Needs `guest_runs_and_exits` first (the guest's code).
pub fn triple_fault_is_an_exit(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, triple_startup_entry),
        (r.shutdown, 0, shutdown_entry),
    ];
    TRIPLE.run(&exits, "wait for the shutdown exit")?;
    ensure_eq!(SHUTDOWNS.load(Ordering::SeqCst), 1u64);
    Ok(())
}

/// Needs `guest_runs_and_exits` first (the guest's code).
pub fn recall_of_a_spinning_vcpu(e: &Env) -> TestResult {
    if reasons(e).is_none() {
        return Ok(());
    }
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, spin_startup_entry),
        (VM_EVENT_RECALL, mtd::RIP_LEN, recall_entry),
    ];
    SPIN.create_vmm(&exits)?;
    SPIN.start()?;
    // Let it spin for a while (the timer shares the CPU), then recall it.
    spin_until(50_000_000, || false);
    ok(ec_recall(SPIN.vcpu()), "recall")?;
    SPIN.wait("wait for the recall exit")?;
    ensure_eq!(RECALLED_RIP.load(Ordering::SeqCst), SPIN_AT);
    Ok(())
}
