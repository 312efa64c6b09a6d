//! A new vCPU starts in the reference's start state, not the architecture's reset state:
//! its start-up message reports every register an MTD carries as zero, except EFER on
//! SVM (SVME, as the reference reports it), the guest PAT on SVM (the power-on value the
//! reference's SVM guests run with) and XCR0 (x87). The VMM then sets only RIP, CS and
//! SS and relies on the rest: the guest runs to its HLT, where every register the guest
//! did not touch is still zero (on VMX the kernel entered with the bits VM entry
//! requires, which the start-up message did not show: RFLAGS bit 1, the segments'
//! access rights).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use facet_abi::layout::VM_EVENT_STARTUP;
use facet_abi::{mtd, utcb as u};
use facet_rt::entry::Stack;
use facet_rt::hypercall::reply;
use facet_rt::utcb::Utcb;

use super::vmm::{reasons, write_guest_code, Exit, TestVm};
use crate::suite::fixture::{VMS, VM_EVENTS, VM_UTCBS};
use crate::suite::{Env, Fail, TestResult};

const VM: TestVm = TestVm::new(VMS, VM_EVENTS, VM_UTCBS, 11);
const H: Utcb = VM.utcb();
/// The guest, in the first VM's code page: hlt.
const CODE_AT: u64 = 0x1240;
/// What fills the handler's UTCB before the start-up message: a word the kernel leaves
/// alone keeps it.
const FILL: u64 = 0xa5a5_a5a5_a5a5_a5a5;
/// Every register group an MTD carries, and the TSC offset.
const ALL: u32 = mtd::GPR_ACDB
    | mtd::GPR_BSD
    | mtd::GPR_R8_R15
    | mtd::RSP
    | mtd::RIP_LEN
    | mtd::RFLAGS
    | mtd::DS_ES
    | mtd::FS_GS
    | mtd::CS_SS
    | mtd::TR
    | mtd::LDTR
    | mtd::GDTR
    | mtd::IDTR
    | mtd::CR
    | mtd::DR
    | mtd::SYSENTER
    | mtd::QUAL
    | mtd::INJ
    | mtd::STA
    | mtd::TSC
    | mtd::EFER_PAT
    | mtd::SYSCALL_SWAPGS;
const SVM_PAT: u64 = 0x0007_0406_0007_0406;
const SVM_EFER: u64 = 1 << 12;

static ON_VMX: AtomicBool = AtomicBool::new(false);
/// The first word found wrong at start-up and at the HLT: its UTCB offset + 1 (0:
/// none), and its value.
static STARTUP_WRONG: AtomicU64 = AtomicU64::new(0);
static STARTUP_VALUE: AtomicU64 = AtomicU64::new(0);
static HLT_WRONG: AtomicU64 = AtomicU64::new(0);
static HLT_VALUE: AtomicU64 = AtomicU64::new(0);

static STACK: Stack = Stack::new();

facet_rt::portal_entry!(fn startup_entry on STACK => start_startup);
facet_rt::portal_entry!(fn hlt_entry on STACK => start_hlt);

/// The words both messages report as zero: the general registers, the segments (but
/// CS and SS, which the VMM sets, and on VMX the rights after the guest ran), the
/// descriptor tables, CR2, CR3, CR4, SYSENTER, the system-call MSRs, the TSC offset.
fn zero_words(with_code_segments: bool) -> impl Iterator<Item = usize> {
    let gprs = [u::RAX, u::RCX, u::RDX, u::RBX, u::RBP, u::RSI, u::RDI];
    let high = (0..8).map(|i| u::R8 + 8 * i);
    let segs = [u::ES, u::DS, u::FS, u::GS, u::LDTR, u::TR, u::GDTR, u::IDTR];
    let code = if with_code_segments {
        [u::CS, u::SS].as_slice()
    } else {
        [].as_slice()
    };
    let seg_words = segs
        .into_iter()
        .chain(code.iter().copied())
        .flat_map(|at| [at, at + 8]);
    let others = [
        u::RSP,
        u::CR2,
        u::CR3,
        u::CR4,
        u::SYSENTER_CS,
        u::SYSENTER_RSP,
        u::SYSENTER_RIP,
        u::STAR,
        u::LSTAR,
        u::FMASK,
        u::KERNEL_GS_BASE,
        u::TSC_OFF,
    ];
    gprs.into_iter().chain(high).chain(seg_words).chain(others)
}

/// Notes the first word of `h` that differs from its expected value.
fn check(words: &[(usize, u64)], wrong: &AtomicU64, value: &AtomicU64) {
    for &(at, want) in words {
        let got = H.get(at);
        if got != want && wrong.load(Ordering::SeqCst) == 0 {
            wrong.store(at as u64 + 1, Ordering::SeqCst);
            value.store(got, Ordering::SeqCst);
        }
    }
}

/// EFER and PAT of the start state.
fn efer_pat(vmx: bool) -> (u64, u64) {
    if vmx {
        (0, 0)
    } else {
        (SVM_EFER, SVM_PAT)
    }
}

/// Start-up: the reported state is the reference's. The VMM sets RIP, CS and SS only.
extern "C" fn start_startup(_id: u64) -> ! {
    let vmx = ON_VMX.load(Ordering::SeqCst);
    let (efer, pat) = efer_pat(vmx);
    let mut words: [(usize, u64); 64] = [(0, 0); 64];
    let mut n = 0;
    for at in zero_words(true) {
        words[n] = (at, 0);
        n += 1;
    }
    for w in [
        (u::RIP, 0),
        (u::INST_LEN, 0),
        (u::RFLAGS, 0),
        (u::CR0, 0),
        (u::XCR0, 1),
        (u::DR7, 0),
        (u::QUAL, 0),
        (u::QUAL + 8, 0),
        (u::INJ, 0),
        (u::EFER, efer),
        (u::PAT, pat),
    ] {
        words[n] = w;
        n += 1;
    }
    if vmx {
        // Interruptibility and activity state (SVM's message does not carry them).
        words[n] = (u::INTR_STATE, 0);
        n += 1;
    }
    check(&words[..n], &STARTUP_WRONG, &STARTUP_VALUE);
    H.put(u::RIP, CODE_AT);
    H.put(u::CS, 0x9b << 16 | 0xffff << 32);
    H.put(u::CS + 8, 0);
    H.put(u::SS, 0x93 << 16 | 0xffff << 32);
    H.put(u::SS + 8, 0);
    H.reply_with(mtd::RIP_LEN | mtd::CS_SS);
    reply()
}

/// HLT: what the guest ran with is what was reported, plus what the VMM set.
extern "C" fn start_hlt(_id: u64) -> ! {
    let vmx = ON_VMX.load(Ordering::SeqCst);
    let (efer, _) = efer_pat(vmx);
    let mut words: [(usize, u64); 64] = [(0, 0); 64];
    let mut n = 0;
    for at in zero_words(false) {
        // The rights of a segment are the CPU's once the guest ran: leave them out.
        let seg = [u::ES, u::DS, u::FS, u::GS, u::LDTR, u::TR].contains(&at);
        if !seg {
            words[n] = (at, 0);
            n += 1;
        }
    }
    for w in [(u::RIP, CODE_AT), (u::XCR0, 1), (u::EFER, efer)] {
        words[n] = w;
        n += 1;
    }
    check(&words[..n], &HLT_WRONG, &HLT_VALUE);
    // Selectors, limits and bases of the segments the VMM left alone.
    for at in [u::ES, u::DS, u::FS, u::GS, u::LDTR, u::TR] {
        let word = H.get(at) & !(0xffff << 16);
        if word != 0 && HLT_WRONG.load(Ordering::SeqCst) == 0 {
            HLT_WRONG.store(at as u64 + 1, Ordering::SeqCst);
            HLT_VALUE.store(word, Ordering::SeqCst);
        }
    }
    // RFLAGS: only bit 1, which the CPU holds set. CR0: at most ET, CD and NW, which
    // VM entry leaves as the CPU had them (Intel SDM 26.3.2.1; Bochs runs with CD and
    // NW set) and which CPUs report with ET set.
    for (at, allowed) in [(u::RFLAGS, 2), (u::CR0, 0x6000_0010)] {
        if H.get(at) & !allowed != 0 && HLT_WRONG.load(Ordering::SeqCst) == 0 {
            HLT_WRONG.store(at as u64 + 1, Ordering::SeqCst);
            HLT_VALUE.store(H.get(at), Ordering::SeqCst);
        }
    }
    VM.finish()
}

/// Fails naming the first wrong word a message reported.
fn verdict(what: &str, wrong: &AtomicU64, value: &AtomicU64) -> TestResult {
    let at = wrong.load(Ordering::SeqCst);
    if at != 0 {
        return Err(Fail::new(format_args!(
            "{}: UTCB word at {} is {:#x}",
            what,
            at - 1,
            value.load(Ordering::SeqCst)
        )));
    }
    Ok(())
}

/// Needs `vm::guest_runs_and_exits` first (the first VM's memory, where its code goes).
pub fn vcpus_start_in_the_reference_state(e: &Env) -> TestResult {
    let Some(r) = reasons(e) else {
        return Ok(());
    };
    ON_VMX.store(r.vmx, Ordering::SeqCst);
    write_guest_code(CODE_AT, &[0xf4]);
    let exits: [Exit; 2] = [
        (VM_EVENT_STARTUP, ALL, startup_entry),
        (r.hlt, ALL, hlt_entry),
    ];
    VM.create_vmm(&exits)?;
    // Every state word of the handler's (new) UTCB filled: the start-up message must
    // write each one it reports.
    for at in (u::MTD..u::STATE_END).step_by(8) {
        H.put(at, FILL);
    }
    VM.start()?;
    VM.wait("wait for the guest's HLT")?;
    verdict("start-up message", &STARTUP_WRONG, &STARTUP_VALUE)?;
    verdict("at the HLT", &HLT_WRONG, &HLT_VALUE)
}
