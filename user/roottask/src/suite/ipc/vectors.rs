//! Every exception a user program can raise reaches the portal at its event base plus the
//! vector, with the state the portal's MTD selects (RIP, error code, fault address), and
//! resumes where the handler's reply says: #DE, #DB (INT1), #BP (INT3), #UD, #GP (HLT in
//! user mode, INT n through a kernel-only gate), #PF (a read of address 0) and #XM (an
//! unmasked SSE division by zero). (#AC needs CR0.AM, which the kernel leaves clear; #NM
//! never happens with eager FPU switching; INTO and BOUND do not exist in 64-bit mode.)
//! Also: a semaphore's zero-down takes every count at once.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::hypercall::{arg1, Hypercall};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::cpu::cpuid;
use facet_rt::entry::{addr, Stack};
use facet_rt::hypercall::{create_sm, pt_ctrl, raw, reply, sm_down, sm_down_until, sm_up};
use facet_rt::utcb::Utcb;

use crate::suite::fixture::{VECTORS, VECTORS_EVENTS, VECTORS_UTCBS};
use crate::suite::tools::{semaphores, thread, Handler};
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const HANDLER: Handler = Handler::new(VECTORS.at(0), VECTORS_UTCBS.utcb(0));
const WORKER: u64 = VECTORS.at(1);
const WORKER_SC: u64 = VECTORS.at(2);
const SM_DONE: u64 = VECTORS.at(3);
const SM_PARK: u64 = VECTORS.at(4);
const SM_COUNT: u64 = VECTORS.at(5);
/// The worker's event base: its exception portals at +vector, start-up at +30.
const EVT: u64 = VECTORS_EVENTS.base(0);
const H: Utcb = HANDLER.utcb;
const WORKER_UTCB: u64 = VECTORS_UTCBS.addr(1);

/// The faults in the order the worker raises them: (vector, bytes the handler skips
/// (0 for traps, which report the next instruction), fault address expected (#PF)).
const FAULTS: [(u64, u64); 8] = [
    (0, 3),  // div rcx (rcx = 0)
    (1, 0),  // int1: a trap
    (3, 0),  // int3: a trap
    (6, 2),  // ud2
    (13, 1), // hlt
    (13, 2), // int 0x80
    (14, 3), // mov rax, [rcx] (rcx = 0)
    (19, 4), // divss xmm0, xmm1 (1/0, unmasked)
];

static SEEN: [AtomicU64; 8] = [const { AtomicU64::new(u64::MAX) }; 8];
static RIPS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static ERRORS: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];
static CR2: AtomicU64 = AtomicU64::new(u64::MAX);
static NEXT: AtomicU64 = AtomicU64::new(0);

static HANDLER_STACK: Stack = Stack::new();
static WORKER_STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn handler_entry on HANDLER_STACK => exc_handler);
facet_rt::portal_entry!(fn startup_entry on HANDLER_STACK => exc_startup);

global_asm!(
    r#"
    .section .text.exc_worker, "ax"
    .global __exc_vec_worker
    .global __exc_vec_faults
    .global __exc_vec_faults_end
    // The worker: each instruction below faults once; the handler moves RIP on.
__exc_vec_worker:
    xor ecx, ecx
__exc_vec_faults:
    div rcx
    .byte 0xf1
    int3
    ud2
    hlt
    int 0x80
    mov rax, [rcx]
    // MXCSR with the divide-by-zero exception unmasked, then 1.0 / 0.0.
    sub rsp, 8
    stmxcsr [rsp]
    and dword ptr [rsp], 0xfffffdff
    ldmxcsr [rsp]
    add rsp, 8
    mov eax, 0x3f800000
    movd xmm0, eax
    xorps xmm1, xmm1
    divss xmm0, xmm1
__exc_vec_faults_end:
    call {done}
    ud2
"#,
    done = sym worker_done,
);

extern "C" {
    fn __exc_vec_worker();
    fn __exc_vec_faults();
    fn __exc_vec_faults_end();
}

/// One exception (the portal id is the vector): record it, step over the instruction.
extern "C" fn exc_handler(vector: u64) -> ! {
    let i = NEXT.fetch_add(1, Ordering::SeqCst) as usize;
    let rip = H.get(u::RIP);
    if i < FAULTS.len() {
        SEEN[i].store(vector, Ordering::SeqCst);
        RIPS[i].store(rip, Ordering::SeqCst);
        ERRORS[i].store(H.get(u::QUAL), Ordering::SeqCst);
        if vector == 14 {
            CR2.store(H.get(u::QUAL + 8), Ordering::SeqCst);
        }
    }
    let skip = FAULTS.get(i).map_or(0, |f| f.1);
    H.put(u::RIP, rip + skip);
    H.reply_with(mtd::RIP_LEN);
    reply()
}

/// Start-up of the worker.
extern "C" fn exc_startup(_id: u64) -> ! {
    let m = H.start(addr(__exc_vec_worker), WORKER_STACK.top() - 8);
    H.reply_with(m);
    reply()
}

extern "C" fn worker_done() -> ! {
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

pub fn every_user_exception_vector(_: &Env) -> TestResult {
    HANDLER.create()?;
    for v in [0u64, 1, 3, 6, 13, 14, 19] {
        HANDLER.portal(EVT + v, mtd::RIP_LEN | mtd::QUAL, handler_entry)?;
        ok(pt_ctrl(EVT + v, v), "portal id")?;
    }
    HANDLER.startup_portal(EVT, startup_entry)?;
    semaphores([SM_DONE, SM_PARK])?;
    thread(WORKER, WORKER_UTCB, EVT, WORKER_SC)?;
    ok(sm_down(SM_DONE), "wait for the worker")?;
    let seen: [u64; 8] = core::array::from_fn(|i| SEEN[i].load(Ordering::SeqCst));
    // QEMU's TCG computes SSE exceptions into MXCSR but never raises #XM.
    let expected = if under_tcg() {
        FAULTS.len() - 1
    } else {
        FAULTS.len()
    };
    ensure!(
        NEXT.load(Ordering::SeqCst) == expected as u64,
        "vectors seen {:?}",
        seen
    );
    let base = addr(__exc_vec_faults);
    // Where each instruction starts (faults report it; traps the one after).
    let starts = [0u64, 3, 4, 5, 7, 8, 10, 0];
    for (i, &(vector, _)) in FAULTS.iter().enumerate().take(expected) {
        ensure_eq!(SEEN[i].load(Ordering::SeqCst), vector);
        let rip = RIPS[i].load(Ordering::SeqCst);
        match vector {
            1 | 3 => ensure_eq!(rip, base + starts[i] + 1),
            // DIVSS xmm0, xmm1 (4 bytes) is the last instruction before the end mark.
            19 => ensure_eq!(rip, addr(__exc_vec_faults_end) - 4),
            _ => ensure_eq!(rip, base + starts[i]),
        }
    }
    // INT 0x80 through a gate user mode may not use: #GP with the IDT entry in the
    // error code (index << 3 | IDT bit 1 | external 0).
    ensure_eq!(ERRORS[5].load(Ordering::SeqCst), 0x80 << 3 | 2);
    // #PF: a user-mode read of a page not present, at address 0.
    ensure_eq!(ERRORS[6].load(Ordering::SeqCst) & 0x7, 0x4u64);
    ensure_eq!(CR2.load(Ordering::SeqCst), 0u64);
    zero_down()
}

/// Whether the CPU is QEMU's TCG (its hypervisor CPUID signature).
fn under_tcg() -> bool {
    if cpuid(1, 0).2 & (1 << 31) == 0 {
        return false;
    }
    let (_, b, c, d) = cpuid(0x4000_0000, 0);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&b.to_le_bytes());
    sig[4..8].copy_from_slice(&c.to_le_bytes());
    sig[8..].copy_from_slice(&d.to_le_bytes());
    &sig == b"TCGTCGTCGTCG"
}

/// `down` with the zero flag takes every count at once.
fn zero_down() -> TestResult {
    ok(create_sm(SM_COUNT, PD, 5, 0), "sm with 5")?;
    let zero_down = arg1(Hypercall::SmCtrl, 3, SM_COUNT);
    let r = raw(zero_down, 0, 0, 0, 0);
    ensure_eq!(r.rdi & 0xff, Status::Success as u64);
    ensure_eq!(sm_down_until(SM_COUNT, 1), Err(Status::Timeout));
    Ok(())
}
