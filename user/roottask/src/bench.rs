//! Benchmarks, printed as `bench NAME: N ticks per operation (R rounds)`. Under QEMU with
//! `-icount shift=0` (how `cargo xtask bench` runs them) a TSC tick is one instruction.

use facet_abi::crd::{Crd, Kind};
use facet_abi::perm;
use facet_rt::hypercall::{call, create_sm, lookup, sm_down, sm_up};
use facet_rt::println;

const ROUNDS: u64 = 1000;

fn tsc() -> u64 {
    // SAFETY: RDTSC only reads the time-stamp counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

fn measure(name: &str, mut op: impl FnMut()) {
    op();
    let start = tsc();
    for _ in 0..ROUNDS {
        op();
    }
    let per = (tsc() - start) / ROUNDS;
    println!("bench {name}: {per} ticks per operation ({ROUNDS} rounds)");
}

pub fn run() {
    let root = Crd::new(Kind::Object, facet_abi::layout::ROOT_SEL_PD, 0, perm::ALL);
    measure("hypercall_pd_ctrl_lookup", || {
        let _ = lookup(root);
    });
    if create_sm(700, facet_abi::layout::ROOT_SEL_PD, 0, 0).is_ok() {
        measure("semaphore_up_down", || {
            let _ = sm_up(700);
            let _ = sm_down(700);
        });
    }
    if crate::suite::ipc::setup_echo().is_ok() {
        measure("ipc_call_reply_same_pd", || {
            let _ = call(401);
        });
    }
    println!("bench done");
}
