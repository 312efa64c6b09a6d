//! Benchmarks, printed as `bench NAME: M ticks per operation (median of N)`: each
//! operation is timed on its own with the TSC around it, as a user program sees it, and
//! the median over N runs after a warm-up is reported. Under QEMU with
//! `-icount shift=0` (how `cargo xtask bench` runs them first) a TSC tick is one
//! instruction.
//!
//! `loop_empty` times nothing: what the timing loop itself adds to every figure of
//! [`measure`] (the two RDTSCs and the store of the sample). The latencies
//! ([`latency`]) and the VM-exit round trip ([`vm`]) are timed across threads and in a
//! guest instead.
//!
//! With `profile` on the command line (`bench profile`), nothing is timed: each
//! operation runs a few times between calls of two empty marker functions
//! ([`begin`], [`end`]), for a trace of QEMU's execution (`-d in_asm,exec,nochain`) from
//! which `cargo xtask profile` counts each operation's instructions by kind. Each group
//! of runs follows a call of a third marker, [`op`], and a line `profile NAME`.

mod deadline;
mod latency;
mod vm;

use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, Ordering};

use facet_abi::crd::{Crd, Kind};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::perm;
use facet_rt::hypercall::{
    call, create_ec, create_pd, create_pt, create_sm, lookup, pd_ctrl_delegate, pt_ctrl, revoke,
    sm_down, sm_up,
};
use facet_rt::println;

use crate::args::Args;
use crate::world::{World, SCRATCH};

const SAMPLES: usize = 10_000;
const WARM_UP: usize = 100;
/// Runs of each operation in profile mode.
const PROFILE_RUNS: usize = 9;
const PD: u64 = ROOT_SEL_PD;
/// Selectors and addresses the benchmarks use.
const EMPTY_SEL: u64 = 5000;
const SM: u64 = 700;
const SM_CREATED: u64 = 701;
const OTHER_PD: u64 = 710;
const OTHER_EC: u64 = 711;
const OTHER_PT: u64 = 712;
const OTHER_UTCB: u64 = 0x3005_0000;
const SAME_EC: u64 = 713;
const SAME_PT: u64 = 714;
const SAME_UTCB: u64 = 0x3006_0000;
const PAGE_FROM: u64 = SCRATCH + 0x90_0000;
const PAGE_TO: u64 = SCRATCH + 0x91_0000;
const PAGE_PHYS: u64 = 0x0103_0000;

static mut TIMES: [u64; SAMPLES] = [0; SAMPLES];

/// Whether this run traces instead of timing (`bench profile`).
static PROFILE: AtomicBool = AtomicBool::new(false);

global_asm!(
    r#"
    .section .text.bench_reply_stub, "ax"
    .balign 4096
    .global __bench_reply_stub
    // A portal handler in another PD: reply at once (hypercall 1, no words).
__bench_reply_stub:
    mov edi, 1
    syscall
    ud2
    .balign 4096

    // The profile markers: empty functions a trace recognises by their addresses.
    .section .text.bench_markers, "ax"
    .balign 16
    .global __bench_profile_op
__bench_profile_op:
    ret
    .balign 16
    .global __bench_profile_begin
__bench_profile_begin:
    ret
    .balign 16
    .global __bench_profile_end
__bench_profile_end:
    ret
"#
);

extern "C" {
    fn __bench_reply_stub();
    fn __bench_profile_op();
    fn __bench_profile_begin();
    fn __bench_profile_end();
}

/// Marks the start of a profiled run.
#[inline(always)]
pub fn begin() {
    // SAFETY: an empty function (`ret`).
    unsafe { __bench_profile_begin() }
}

/// Marks the end of a profiled run.
#[inline(always)]
pub fn end() {
    // SAFETY: an empty function (`ret`).
    unsafe { __bench_profile_end() }
}

/// Starts the profile of the operation `name`: its runs follow.
pub fn op(name: &str) {
    println!("profile {name}");
    // SAFETY: an empty function (`ret`).
    unsafe { __bench_profile_op() }
}

/// Starts the profile of the operation `name` whose runs are the passes of a guest
/// through its loop at guest-physical `addr` (no markers in between).
pub fn op_guest_loop(name: &str, addr: u64) {
    println!("profile {name} guest-loop {addr:#x}");
    // SAFETY: an empty function (`ret`).
    unsafe { __bench_profile_op() }
}

/// Whether this run traces instead of timing.
pub fn profiling() -> bool {
    PROFILE.load(Ordering::Relaxed)
}

pub fn tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The median of `times` (sorted in place).
pub fn median(times: &mut [u64]) -> u64 {
    times.sort_unstable();
    times[times.len() / 2]
}

fn measure(args: &Args, name: &str, mut op: impl FnMut()) {
    if args.skips(name) {
        return;
    }
    if profiling() {
        self::op(name);
        for _ in 0..PROFILE_RUNS {
            begin();
            op();
            end();
        }
        return;
    }
    for _ in 0..WARM_UP {
        op();
    }
    // SAFETY: the benchmarks run one after another on the roottask's only thread; no
    // other reference to the sample buffer exists.
    let times = unsafe { &mut *core::ptr::addr_of_mut!(TIMES) };
    for t in times.iter_mut() {
        let start = tsc();
        op();
        *t = tsc() - start;
    }
    let m = median(times);
    println!("bench {name}: {m} ticks per operation (median of {SAMPLES})");
}

/// A local EC in another PD whose portal (in the roottask's space) replies at once: the
/// code page of the stub is delegated to that PD at the same address.
fn setup_other_pd() -> Result<(), facet_abi::status::Status> {
    let stub = __bench_reply_stub as *const () as u64;
    create_pd(OTHER_PD, PD, Crd::NULL, false)?;
    let code = Crd::new(Kind::Memory, stub >> 12, 0, perm::MEM_R | perm::MEM_X);
    pd_ctrl_delegate(
        PD,
        OTHER_PD,
        code,
        facet_abi::hypercall::xfer::DELEGATE,
        code,
    )?;
    create_ec(OTHER_EC, OTHER_PD, 0, 0, OTHER_UTCB, 0, 0)?;
    create_pt(OTHER_PT, PD, OTHER_EC, 0, stub)
}

/// The same handler as a local EC of the roottask's own PD.
fn setup_same_pd() -> Result<(), facet_abi::status::Status> {
    let stub = __bench_reply_stub as *const () as u64;
    create_ec(SAME_EC, PD, 0, 0, SAME_UTCB, 0, 0)?;
    create_pt(SAME_PT, PD, SAME_EC, 0, stub)
}

/// No message words and no typed items from the roottask (the handlers send none back).
fn empty_message() {
    // SAFETY: the roottask's UTCB is mapped read-write at its fixed address; word 0
    // counts the untyped words and typed items.
    unsafe { (facet_abi::layout::ROOT_UTCB_ADDR as *mut u64).write_volatile(0) }
}

pub fn run(world: &World, args: &Args) {
    PROFILE.store(args.profile, Ordering::Relaxed);
    measure(args, "loop_empty", || {});
    measure(args, "null_hypercall_call_empty_selector", || {
        let _ = call(EMPTY_SEL);
    });
    if create_sm(SM, PD, 0, 0).is_ok() {
        measure(args, "semaphore_up_down", || {
            let _ = sm_up(SM);
            let _ = sm_down(SM);
        });
    }
    // Both IPC benchmarks: a handler that replies at once, no words either way.
    empty_message();
    if setup_same_pd().is_ok() {
        measure(args, "ipc_call_reply_same_pd", || {
            let _ = call(SAME_PT);
        });
        // The general path's cheapest work: a portal's id, and a capability looked up.
        measure(args, "pt_ctrl", || {
            let _ = pt_ctrl(SAME_PT, 0);
        });
        let crd = Crd::new(Kind::Object, SAME_PT, 0, perm::ALL);
        measure(args, "pd_ctrl_lookup", || {
            let _ = lookup(crd);
        });
    }
    if setup_other_pd().is_ok() {
        measure(args, "ipc_call_reply_two_pds", || {
            let _ = call(OTHER_PT);
        });
    }
    let from_kernel = Crd::new(Kind::Memory, PAGE_PHYS >> 12, 0, perm::MEM_R | perm::MEM_W);
    let from = Crd::new(Kind::Memory, PAGE_FROM >> 12, 0, perm::MEM_R | perm::MEM_W);
    if pd_ctrl_delegate(PD, PD, from_kernel, crate::FROM_KERNEL, from).is_ok() {
        let to = Crd::new(Kind::Memory, PAGE_TO >> 12, 0, perm::MEM_R | perm::MEM_W);
        let delegate = facet_abi::hypercall::xfer::DELEGATE;
        measure(args, "delegate_revoke_one_page", || {
            let _ = pd_ctrl_delegate(PD, PD, from, delegate, to);
            let _ = revoke(to, true, None);
        });
    }
    let sm = Crd::new(Kind::Object, SM_CREATED, 0, perm::ALL);
    measure(args, "create_revoke_semaphore", || {
        let _ = create_sm(SM_CREATED, PD, 0, 0);
        let _ = revoke(sm, true, None);
    });
    latency::run(world, args);
    deadline::run(world, args);
    vm::run(world, args);

    println!("bench done");
}
