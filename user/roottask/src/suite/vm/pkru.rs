//! Protection keys belong to their vCPU. A guest whose VMM sets CR4.PKE may use WRPKRU
//! and RDPKRU, which reach the CPU's one PKRU register; neither VMCS nor VMCB holds it,
//! so the kernel switches it with the vCPU's XSAVE state (XCR0 bit 9).
//!
//! Where the CPU has protection keys (CPUID.7.0:ECX bit 3): vCPU A, with CR4.PKE from
//! its VMM's start-up reply, writes PKRU and halts; its VMM keeps it in that exit while
//! vCPU B (PKE set too) runs on the same CPU, reads PKRU (what a new vCPU starts with),
//! writes its own and halts. Then A goes on and reads its own value back. Where the CPU
//! has none, a reply with CR4.PKE is a state the CPU refuses: the invalid-state exit,
//! which the VMM repairs.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::{ROOT_SEL_PD, VM_EVENT_STARTUP};
use facet_abi::{mtd, utcb as u};
use facet_rt::cpu::cpuid;
use facet_rt::entry::Stack;
use facet_rt::hypercall::{create_sm, reply, sm_down, sm_up};
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS};
use crate::suite::{ok, Env, Fail, TestResult};

const A: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 2);
const B: TestVm = TestVm::new(VM_ISOLATION, VM_ISOLATION_EVENTS, VM_ISOLATION_UTCBS, 3);
/// The semaphore A's VMM waits on, in its first HLT exit, until B is done.
const A_GO: u64 = A.extra(0);
const HA: Utcb = A.utcb();
const HB: Utcb = B.utcb();

/// CR4.PKE.
const PKE: u64 = 1 << 22;
/// A's keys (access disabled for every key but 0); B writes 0xc (key 1 disabled).
const A_PKRU: u64 = 0x5555_5554;

/// A's code in the first VM's code page (real mode):
/// mov eax, A_PKRU; xor ecx, ecx; xor edx, edx; wrpkru; hlt; xor ecx, ecx; rdpkru; hlt
const A_AT: u64 = 0x1180;
const A_CODE: [u8; 23] = [
    0x66, 0xb8, 0x54, 0x55, 0x55, 0x55, 0x66, 0x31, 0xc9, 0x66, 0x31, 0xd2, 0x0f, 0x01, 0xef, 0xf4,
    0x66, 0x31, 0xc9, 0x0f, 0x01, 0xee, 0xf4,
];
/// B's: xor ecx, ecx; rdpkru; mov ebx, eax; mov eax, 0xc; xor edx, edx; wrpkru; hlt
const B_AT: u64 = 0x11a0;
const B_CODE: [u8; 22] = [
    0x66, 0x31, 0xc9, 0x0f, 0x01, 0xee, 0x66, 0x89, 0xc3, 0x66, 0xb8, 0x0c, 0x00, 0x00, 0x00, 0x66,
    0x31, 0xd2, 0x0f, 0x01, 0xef, 0xf4,
];
/// Where the repaired guest goes when the CPU has no protection keys: hlt
const HLT_AT: u64 = 0x11b8;

static A_HLTS: AtomicU64 = AtomicU64::new(0);
/// PKRU as A read it back, and as B found it.
static A_SEEN: AtomicU64 = AtomicU64::new(u64::MAX);
static B_SEEN: AtomicU64 = AtomicU64::new(u64::MAX);
/// Without protection keys: the refused entries, the CR4 the VMM saw there, the HLTs.
static REFUSED: AtomicU64 = AtomicU64::new(0);
static REFUSED_CR4: AtomicU64 = AtomicU64::new(0);
static REPAIRED_HLTS: AtomicU64 = AtomicU64::new(0);

static STACK_A: Stack = Stack::new();
static STACK_B: Stack = Stack::new();

facet_rt::portal_entry!(fn a_startup_entry on STACK_A => a_startup);
facet_rt::portal_entry!(fn a_hlt_entry on STACK_A => a_hlt);
facet_rt::portal_entry!(fn refused_entry on STACK_A => refused);
facet_rt::portal_entry!(fn repaired_hlt_entry on STACK_A => repaired_hlt);
facet_rt::portal_entry!(fn b_startup_entry on STACK_B => b_startup);
facet_rt::portal_entry!(fn b_hlt_entry on STACK_B => b_hlt);

/// Start-up (its message carries the control registers): CR4.PKE on, real mode at `at`.
fn start_with_keys(h: Utcb, at: u64) -> ! {
    h.put(u::CR4, h.get(u::CR4) | PKE);
    let m = h.real_mode(at, 2);
    h.reply_with(m | mtd::CR);
    reply()
}

extern "C" fn a_startup(_id: u64) -> ! {
    start_with_keys(HA, A_AT)
}

extern "C" fn b_startup(_id: u64) -> ! {
    start_with_keys(HB, B_AT)
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
    A_SEEN.store(HA.get(u::RAX) & 0xffff_ffff, Ordering::SeqCst);
    A.finish()
}

extern "C" fn b_hlt(_id: u64) -> ! {
    B_SEEN.store(HB.get(u::RBX) & 0xffff_ffff, Ordering::SeqCst);
    B.finish()
}

/// No protection keys: the entry with CR4.PKE was refused. Take PKE out and halt.
extern "C" fn refused(_id: u64) -> ! {
    REFUSED.fetch_add(1, Ordering::SeqCst);
    REFUSED_CR4.store(HA.get(u::CR4), Ordering::SeqCst);
    HA.put(u::CR4, HA.get(u::CR4) & !PKE);
    HA.put(u::RIP, HLT_AT);
    HA.reply_with(mtd::CR | mtd::RIP_LEN);
    reply()
}

extern "C" fn repaired_hlt(_id: u64) -> ! {
    REPAIRED_HLTS.fetch_add(1, Ordering::SeqCst);
    A.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn protection_keys_are_per_vcpu(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    write_guest_code(A_AT, &A_CODE);
    write_guest_code(B_AT, &B_CODE);
    write_guest_code(HLT_AT, &[0xf4]);
    let pku = cpuid(7, 0).2 & (1 << 3) != 0;
    if !pku {
        let exits: [Exit; 3] = [
            (VM_EVENT_STARTUP, mtd::CR, a_startup_entry),
            (r.invalid, mtd::CR | mtd::RIP_LEN, refused_entry),
            (r.hlt, mtd::RIP_LEN, repaired_hlt_entry),
        ];
        A.run(&exits, "the repaired guest's HLT")?;
        ensure_eq!(REFUSED.load(Ordering::SeqCst), 1u64);
        let cr4 = REFUSED_CR4.load(Ordering::SeqCst);
        ensure!(cr4 & PKE != 0, "CR4 at the refused entry {:#x}", cr4);
        ensure_eq!(REPAIRED_HLTS.load(Ordering::SeqCst), 1u64);
        return Ok(());
    }
    // Both VMs on CPU 0: B runs while the CPU's PKRU is the value A wrote.
    let a_exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, mtd::CR, a_startup_entry),
        (r.hlt, mtd::GPR_ACDB | mtd::RIP_LEN, a_hlt_entry),
    ];
    A.create_vmm(&a_exits)?;
    ok(create_sm(A_GO, ROOT_SEL_PD, 0, 0), "A's go semaphore")?;
    A.start()?;
    A.wait("A's first HLT")?;
    let b_exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, mtd::CR, b_startup_entry),
        (r.hlt, mtd::GPR_ACDB, b_hlt_entry),
    ];
    B.run(&b_exits, "B's HLT")?;
    ok(sm_up(A_GO), "let A go on")?;
    A.wait("A's second HLT")?;
    // B started with PKRU clear, not with A's keys; A read its own keys back, not B's.
    let (b, a) = (B_SEEN.load(Ordering::SeqCst), A_SEEN.load(Ordering::SeqCst));
    ensure!(b == 0, "B found PKRU {:#x} (A wrote {:#x})", b, A_PKRU);
    ensure!(
        a == A_PKRU,
        "A read back PKRU {:#x}, wrote {:#x}",
        a,
        A_PKRU
    );
    ensure_eq!(A_HLTS.load(Ordering::SeqCst), 2u64);
    Ok(())
}
