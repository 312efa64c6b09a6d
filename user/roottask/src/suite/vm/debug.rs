//! Guest debug registers belong to their vCPU. Neither extension switches DR0-DR3 (nor
//! VMX DR6), and neither makes a guest's MOV to or from them exit unless a VMM asks, so
//! the kernel switches them: one guest must neither read the breakpoint addresses
//! another set on the same CPU nor arm breakpoints in it.
//!
//! vCPU A writes DR0, DR3 and DR6 and halts; its VMM keeps it in that exit while vCPU B
//! runs on the same CPU, reads the three registers (what a new vCPU starts with), writes
//! DR0 and DR3 itself and halts. Then A goes on and reads its own values back.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::{create_sm, reply, sm_down, sm_up};
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS};
use crate::suite::{ok, Env, Fail, TestResult};

const A: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 0);
const B: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 1);
/// The semaphore A's VMM waits on, in its first HLT exit, until B is done.
const A_GO: u64 = A.extra(0);
const HA: Utcb = A.utcb();
const HB: Utcb = B.utcb();

/// A's values (B writes 0x0badb00b to DR0 and DR3).
const A_DR0: u64 = 0x1234_5678;
const A_DR3: u64 = 0xdead_beef;
/// DR6 with B0 (bit 0) recorded, as a breakpoint would leave it.
const A_DR6: u64 = 0xffff_0ff1;
/// DR6 as a new vCPU starts with it (no debug condition recorded).
const DR6_CLEAN: u64 = 0xffff_0ff0;

/// A's code in the first VM's code page (real mode; MOV to and from a debug register
/// takes 32-bit operands there):
/// mov eax, A_DR0; mov dr0, eax; mov eax, A_DR3; mov dr3, eax; mov eax, A_DR6;
/// mov dr6, eax; hlt; mov eax, dr0; mov ebx, dr3; mov ecx, dr6; hlt
const A_AT: u64 = 0x1100;
const A_CODE: [u8; 38] = [
    0x66, 0xb8, 0x78, 0x56, 0x34, 0x12, 0x0f, 0x23, 0xc0, 0x66, 0xb8, 0xef, 0xbe, 0xad, 0xde, 0x0f,
    0x23, 0xd8, 0x66, 0xb8, 0xf1, 0x0f, 0xff, 0xff, 0x0f, 0x23, 0xf0, 0xf4, 0x0f, 0x21, 0xc0, 0x0f,
    0x21, 0xdb, 0x0f, 0x21, 0xf1, 0xf4,
];
/// B's: mov eax, dr0; mov ebx, dr3; mov ecx, dr6; mov edx, 0x0badb00b; mov dr0, edx;
/// mov dr3, edx; hlt
const B_AT: u64 = 0x1140;
const B_CODE: [u8; 22] = [
    0x0f, 0x21, 0xc0, 0x0f, 0x21, 0xdb, 0x0f, 0x21, 0xf1, 0x66, 0xba, 0x0b, 0xb0, 0xad, 0x0b, 0x0f,
    0x23, 0xc2, 0x0f, 0x23, 0xda, 0xf4,
];

static A_HLTS: AtomicU64 = AtomicU64::new(0);
/// DR0, DR3 and DR6 as each guest read them (EAX, EBX, ECX at its last HLT).
static A_SEEN: [AtomicU64; 3] = [const { AtomicU64::new(u64::MAX) }; 3];
static B_SEEN: [AtomicU64; 3] = [const { AtomicU64::new(u64::MAX) }; 3];

static STACK_A: Stack = Stack::new();
static STACK_B: Stack = Stack::new();

facet_rt::portal_entry!(fn a_startup_entry on STACK_A => a_startup);
facet_rt::portal_entry!(fn a_hlt_entry on STACK_A => a_hlt);
facet_rt::portal_entry!(fn b_startup_entry on STACK_B => b_startup);
facet_rt::portal_entry!(fn b_hlt_entry on STACK_B => b_hlt);

/// The 32-bit EAX, EBX and ECX of a HLT exit.
fn record(h: Utcb, into: &[AtomicU64; 3]) {
    for (seen, at) in into.iter().zip([u::RAX, u::RBX, u::RCX]) {
        seen.store(h.get(at) & 0xffff_ffff, Ordering::SeqCst);
    }
}

extern "C" fn a_startup(_id: u64) -> ! {
    let m = HA.real_mode(A_AT, 2);
    HA.reply_with(m);
    reply()
}

/// A's first HLT: tell the test, wait (A stays in its exit) until B is done, go on
/// after the HLT. The second: what A read back.
extern "C" fn a_hlt(_id: u64) -> ! {
    if A_HLTS.fetch_add(1, Ordering::SeqCst) == 0 {
        let _ = sm_up(A.done());
        let _ = sm_down(A_GO);
        HA.put(u::RIP, HA.get(u::RIP) + 1);
        HA.reply_with(mtd::RIP_LEN);
        reply()
    }
    record(HA, &A_SEEN);
    A.finish()
}

extern "C" fn b_startup(_id: u64) -> ! {
    let m = HB.real_mode(B_AT, 2);
    HB.reply_with(m);
    reply()
}

extern "C" fn b_hlt(_id: u64) -> ! {
    record(HB, &B_SEEN);
    B.finish()
}

/// The values of a `[DR0, DR3, DR6]` record.
fn seen(r: &[AtomicU64; 3]) -> [u64; 3] {
    [0, 1, 2].map(|i| r[i].load(Ordering::SeqCst))
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn debug_registers_are_per_vcpu(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    write_guest_code(A_AT, &A_CODE);
    write_guest_code(B_AT, &B_CODE);
    // Both VMs on CPU 0: B runs while A's values are what the CPU last held.
    let a_exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, a_startup_entry),
        (r.hlt, mtd::GPR_ACDB | mtd::RIP_LEN, a_hlt_entry),
    ];
    A.create_vmm(&a_exits)?;
    ok(create_sm(A_GO, ROOT_SEL_PD, 0, 0), "A's go semaphore")?;
    A.start()?;
    A.wait("A's first HLT")?;
    let b_exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, 0, b_startup_entry),
        (r.hlt, mtd::GPR_ACDB, b_hlt_entry),
    ];
    B.run(&b_exits, "B's HLT")?;
    ok(sm_up(A_GO), "let A go on")?;
    A.wait("A's second HLT")?;
    // B started with clear debug registers, not A's.
    let [dr0, dr3, dr6] = seen(&B_SEEN);
    ensure!(
        [dr0, dr3, dr6] == [0, 0, DR6_CLEAN],
        "B found DR0 {:#x}, DR3 {:#x}, DR6 {:#x} (A wrote {:#x}, {:#x}, {:#x})",
        dr0,
        dr3,
        dr6,
        A_DR0,
        A_DR3,
        A_DR6
    );
    // A read its own values back, not B's.
    let [dr0, dr3, dr6] = seen(&A_SEEN);
    ensure!(
        [dr0, dr3, dr6] == [A_DR0, A_DR3, A_DR6],
        "A read back DR0 {:#x}, DR3 {:#x}, DR6 {:#x}",
        dr0,
        dr3,
        dr6
    );
    ensure_eq!(A_HLTS.load(Ordering::SeqCst), 2u64);
    Ok(())
}
