//! The kernel's VM-exit fast path and its general path side by side, on one vCPU: an exit
//! whose message is plain state (general registers, RSP, RIP, RFLAGS, qualification,
//! TSC offset) goes the fast way with the plain transfers, one whose portal asks for
//! more the fast way with the general transfer; a reply of plain state goes the fast
//! way, one with a TLB flush the general way, one with an empty injection the fast way
//! on SVM and the general way on VMX.
//! Each combination must give the guest the same results: the guest adds up what the
//! VMM answers, and the sum shows every reply landed once and in order.

use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::reply;
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{VMS, VM_EVENTS, VM_UTCBS};
use crate::suite::{Env, Fail, TestResult};

const VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 13);
/// The VMM handler's UTCB.
const H: Utcb = VM.utcb();
/// Guest code in the first VM's code page, real mode:
///
/// ```text
/// 1280: mov di, 6; xor si, si
/// 1285: xor eax, eax; cpuid        ; the VMM answers EAX = k, the k-th CPUID
/// 128a: add si, ax; out 0x80, al   ; the VMM answers EAX + 0x100
/// 128e: add si, ax; dec di; jnz 1285
/// 1293: hlt                        ; SI = the sum, DI = 0
/// ```
const CODE_AT: u64 = 0x1280;
const CODE: [u8; 20] = [
    0xbf, 0x06, 0x00, 0x31, 0xf6, 0x66, 0x31, 0xc0, 0x0f, 0xa2, 0x01, 0xc6, 0xe6, 0x80, 0x01, 0xc6,
    0x4f, 0x75, 0xf2, 0xf4,
];
/// Rounds of the guest's loop, and the sum of k + (k + 0x100) over them.
const ROUNDS: u64 = 6;
const SUM: u64 = ROUNDS * (ROUNDS + 1) + ROUNDS * 0x100;

/// Every state bit the fast path moves: the CPUID message carries them all.
const PLAIN: u32 = mtd::GPR_ACDB
    | mtd::GPR_BSD
    | mtd::GPR_R8_R15
    | mtd::RSP
    | mtd::RIP_LEN
    | mtd::RFLAGS
    | mtd::QUAL
    | mtd::TSC;

static CPUIDS: AtomicU64 = AtomicU64::new(0);
static IOS: AtomicU64 = AtomicU64::new(0);
/// What a handler found amiss (0: nothing): the round, and which check, in bits.
static WRONG: AtomicU64 = AtomicU64::new(0);
static SEEN_SI: AtomicU64 = AtomicU64::new(0);
static SEEN_DI: AtomicU64 = AtomicU64::new(u64::MAX);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => fast_startup);
facet_rt::portal_entry!(fn cpuid_entry on STACK => fast_cpuid);
facet_rt::portal_entry!(fn io_entry on STACK => fast_io);
facet_rt::portal_entry!(fn hlt_entry on STACK => fast_hlt);

/// Start-up: real mode at the code.
extern "C" fn fast_startup(_id: u64) -> ! {
    let m = H.real_mode(CODE_AT, 2);
    H.reply_with(m);
    reply()
}

/// The k-th CPUID (a fast exit): EAX = k. The reply takes turns: the plain state the
/// message brought back in full (fast), RAX and RIP only (fast), those with a TLB-flush
/// request (an MTD bit beyond the fast set: the general reply), and those with an empty
/// injection (on SVM the fast reply, which takes injections that need no EVENTINJ; on
/// VMX the general one).
extern "C" fn fast_cpuid(_id: u64) -> ! {
    let k = CPUIDS.fetch_add(1, Ordering::SeqCst) + 1;
    if H.get(u::RAX) & 0xffff_ffff != 0 || H.get(u::MTD) as u32 != PLAIN {
        WRONG.fetch_or(k << 8 | 1, Ordering::SeqCst);
    }
    H.put(u::RAX, k);
    H.put(u::RIP, H.get(u::RIP) + 2);
    let m = match k % 4 {
        0 => PLAIN,
        1 => mtd::GPR_ACDB | mtd::RIP_LEN,
        2 => mtd::GPR_ACDB | mtd::RIP_LEN | mtd::TLB,
        _ => {
            H.put(u::INJ, 0);
            mtd::GPR_ACDB | mtd::RIP_LEN | mtd::INJ
        }
    };
    H.reply_with(m);
    reply()
}

/// The port write (its message asks for the debug state too: a general exit): the
/// qualification names port 0x80, and EAX gets 0x100 more (a fast reply).
extern "C" fn fast_io(_id: u64) -> ! {
    let k = IOS.fetch_add(1, Ordering::SeqCst) + 1;
    if H.get(u::RAX) & 0xffff != k {
        WRONG.fetch_or(k << 8 | 2, Ordering::SeqCst);
    }
    // Port in bits 31:16 on both extensions.
    if H.get(u::QUAL) >> 16 & 0xffff != 0x80 {
        WRONG.fetch_or(k << 8 | 4, Ordering::SeqCst);
    }
    H.put(u::RAX, k + 0x100);
    H.put(u::RIP, H.get(u::RIP) + 2);
    H.reply_with(mtd::GPR_ACDB | mtd::RIP_LEN);
    reply()
}

extern "C" fn fast_hlt(_id: u64) -> ! {
    SEEN_SI.store(H.get(u::RSI) & 0xffff, Ordering::SeqCst);
    SEEN_DI.store(H.get(u::RDI) & 0xffff, Ordering::SeqCst);
    VM.finish()
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn fast_and_general_exits_agree(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    write_guest_code(CODE_AT, &CODE);
    let exits: [Exit; 4] = [
        (VM_EVENT_STARTUP, 0, startup_entry),
        (r.cpuid, PLAIN, cpuid_entry),
        (
            r.io,
            mtd::GPR_ACDB | mtd::RIP_LEN | mtd::QUAL | mtd::DR,
            io_entry,
        ),
        (r.hlt, mtd::GPR_BSD, hlt_entry),
    ];
    VM.run(&exits, "wait for the guest's HLT")?;
    ensure_eq!(WRONG.load(Ordering::SeqCst), 0u64);
    ensure_eq!(CPUIDS.load(Ordering::SeqCst), ROUNDS);
    ensure_eq!(IOS.load(Ordering::SeqCst), ROUNDS);
    ensure_eq!(SEEN_DI.load(Ordering::SeqCst), 0u64);
    ensure_eq!(SEEN_SI.load(Ordering::SeqCst), SUM);
    Ok(())
}
