//! Every exception a user program can raise reaches the portal at its event base plus the
//! vector, with the state the portal's MTD selects (RIP, error code, fault address), and
//! resumes where the handler's reply says: #DE, #DB (INT1), #BP (INT3), #UD, #GP (HLT in
//! user mode, INT n through a kernel-only gate), #PF (a read of address 0) and #XM (an
//! unmasked SSE division by zero). (#AC needs CR0.AM, which the kernel leaves clear; #NM
//! never happens with eager FPU switching; INTO and BOUND do not exist in 64-bit mode.)
//! Also: a semaphore's zero-down takes every count at once.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::status::Status;
use facet_abi::{mtd, utcb as u};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, raw, reply, sm_down, sm_down_until, sm_up,
};

use super::vmm::Utcb;
use super::{ok, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const HANDLER: u64 = 1950;
const WORKER: u64 = 1951;
const WORKER_SC: u64 = 1952;
const SM_DONE: u64 = 1953;
const SM_PARK: u64 = 1954;
const SM_COUNT: u64 = 1955;
/// The worker's event base: its exception portals at +vector, start-up at +30.
const EVT: u64 = 9000;
const HANDLER_UTCB: u64 = 0x3008_0000;
const WORKER_UTCB: u64 = 0x3008_1000;
const H: Utcb = Utcb(HANDLER_UTCB);

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

global_asm!(
    r#"
    .section .bss.exc_stacks, "aw", @nobits
    .balign 16
    .skip 0x4000
exc_handler_stack:
    .skip 0x4000
    .global __exc_worker_stack
__exc_worker_stack:
    .section .text.exc_entries, "ax"
    .global __exc_vec_handler
    .global __exc_vec_startup
    .global __exc_vec_worker
    .global __exc_vec_faults
    .global __exc_vec_faults_end
__exc_vec_handler:
    lea rsp, [rip + exc_handler_stack]
    call {handler}
    ud2
__exc_vec_startup:
    lea rsp, [rip + exc_handler_stack]
    call {startup}
    ud2
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
    handler = sym exc_handler,
    startup = sym exc_startup,
    done = sym worker_done,
);

extern "C" {
    fn __exc_vec_handler();
    fn __exc_vec_startup();
    fn __exc_vec_worker();
    fn __exc_vec_faults();
    fn __exc_vec_faults_end();
    static __exc_worker_stack: u8;
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
    H.put(u::RIP, __exc_vec_worker as *const () as u64);
    H.put(u::RSP, core::ptr::addr_of!(__exc_worker_stack) as u64 - 8);
    H.reply_with(mtd::RIP_LEN | mtd::RSP);
    reply()
}

extern "C" fn worker_done() -> ! {
    let _ = sm_up(SM_DONE);
    loop {
        let _ = sm_down(SM_PARK);
    }
}

pub fn every_user_exception_vector() -> TestResult {
    ok(
        create_ec(HANDLER, PD, 0, 0, HANDLER_UTCB, 0, 0),
        "handler EC",
    )?;
    let entry = __exc_vec_handler as *const () as u64;
    let m = (mtd::RIP_LEN | mtd::QUAL) as u64;
    for v in [0u64, 1, 3, 6, 13, 14, 19] {
        ok(
            create_pt(EVT + v, PD, HANDLER, m, entry),
            "exception portal",
        )?;
        ok(facet_rt::hypercall::pt_ctrl(EVT + v, v), "portal id")?;
    }
    let start = __exc_vec_startup as *const () as u64;
    let sm = (mtd::RIP_LEN | mtd::RSP) as u64;
    ok(
        create_pt(EVT + 30, PD, HANDLER, sm, start),
        "start-up portal",
    )?;
    ok(create_sm(SM_DONE, PD, 0, 0), "sm")?;
    ok(create_sm(SM_PARK, PD, 0, 0), "parking sm")?;
    ok(
        create_ec(WORKER, PD, ec_flags::GLOBAL, 0, WORKER_UTCB, 0, EVT),
        "worker EC",
    )?;
    ok(create_sc(WORKER_SC, PD, WORKER, 1, 1000), "worker SC")?;
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
    let base = __exc_vec_faults as *const () as u64;
    // Where each instruction starts (faults report it; traps the one after).
    let starts = [0u64, 3, 4, 5, 7, 8, 10, 0];
    for (i, &(vector, _)) in FAULTS.iter().enumerate().take(expected) {
        ensure_eq!(SEEN[i].load(Ordering::SeqCst), vector);
        let rip = RIPS[i].load(Ordering::SeqCst);
        match vector {
            1 | 3 => ensure_eq!(rip, base + starts[i] + 1),
            // DIVSS xmm0, xmm1 (4 bytes) is the last instruction before the end mark.
            19 => ensure_eq!(rip, __exc_vec_faults_end as *const () as u64 - 4),
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
    if super::cpu::cpuid(1, 0).2 & (1 << 31) == 0 {
        return false;
    }
    let (_, b, c, d) = super::cpu::cpuid(0x4000_0000, 0);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&b.to_le_bytes());
    sig[4..8].copy_from_slice(&c.to_le_bytes());
    sig[8..].copy_from_slice(&d.to_le_bytes());
    &sig == b"TCGTCGTCGTCG"
}

/// `down` with the zero flag takes every count at once.
fn zero_down() -> TestResult {
    ok(create_sm(SM_COUNT, PD, 5, 0), "sm with 5")?;
    let zero_down =
        facet_abi::hypercall::arg1(facet_abi::hypercall::Hypercall::SmCtrl, 3, SM_COUNT);
    let r = raw(zero_down, 0, 0, 0, 0);
    ensure_eq!(r.rdi & 0xff, Status::Success as u64);
    ensure_eq!(sm_down_until(SM_COUNT, 1), Err(Status::Timeout));
    Ok(())
}
