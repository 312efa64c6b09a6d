//! Time and blocking: the time an SC has consumed, semaphore waits with deadlines, and
//! the FS base across a wait.

use facet_abi::layout::{ROOT_SEL_PD, ROOT_SEL_SC};
use facet_abi::status::Status;
use facet_rt::cpu::{fs_base, set_fs_base};
use facet_rt::hypercall::{create_sm, sc_time, sm_down_until, sm_up};
use facet_rt::println;

use crate::suite::cpu::has_fsgsbase;
use crate::suite::fixture::IPC;
use crate::suite::naps::tsc;
use crate::suite::{ok, Env, Fail, TestResult};

const PD: u64 = ROOT_SEL_PD;
const SM_DEADLINE: u64 = IPC.at(82);
const SM_FS_BASE: u64 = IPC.at(83);

pub fn consumed_time(_: &Env) -> TestResult {
    let a = sc_time(ROOT_SEL_SC).map_err(|s| Fail::new(format_args!("sc_ctrl: {}", s.name())))?;
    // Long enough to count in microseconds on every emulator.
    for _ in 0..200_000 {
        core::hint::spin_loop();
    }
    let b = sc_time(ROOT_SEL_SC).map_err(|s| Fail::new(format_args!("sc_ctrl: {}", s.name())))?;
    ensure!(
        b > a && a > 0,
        "consumed time did not grow: {} then {}",
        a,
        b
    );
    ensure!(
        sc_time(PD) == Err(Status::BadCap),
        "sc_ctrl on a PD capability"
    );
    Ok(())
}

pub fn semaphore_deadlines(_: &Env) -> TestResult {
    ok(create_sm(SM_DEADLINE, PD, 0, 0), "create sm")?;
    ensure!(
        sm_down_until(SM_DEADLINE, 1) == Err(Status::Timeout),
        "a deadline in the past must time out at once"
    );
    let start = tsc();
    let deadline = start + 5_000_000;
    ensure!(
        sm_down_until(SM_DEADLINE, deadline) == Err(Status::Timeout),
        "the wait did not time out"
    );
    ensure!(tsc() >= deadline, "woke before the deadline");
    ok(sm_up(SM_DEADLINE), "up")?;
    ok(
        sm_down_until(SM_DEADLINE, tsc() + 1_000_000_000),
        "down with a count",
    )?;
    Ok(())
}

/// An Ec's FS base survives its blocking: the roottask sets its own, waits on a semaphore
/// until a deadline (the CPU idles meanwhile) and finds it unchanged. (The kernel once
/// saved the FS and GS bases only when another Ec took the CPU directly, so a blocked Ec
/// woke with older ones.) Needs FSGSBASE, which every tier's CPU has; without it the
/// test only says so.
pub fn fs_base_survives_blocking(_: &Env) -> TestResult {
    if !has_fsgsbase() {
        println!("  (no FSGSBASE: not checked)");
        return Ok(());
    }
    const MINE: u64 = 0x1234_5000;
    let old = fs_base();
    set_fs_base(MINE);
    ok(create_sm(SM_FS_BASE, PD, 0, 0), "create sm")?;
    let timed_out = sm_down_until(SM_FS_BASE, tsc() + 2_000_000);
    let now = fs_base();
    set_fs_base(old);
    ensure_eq!(timed_out, Err(Status::Timeout));
    ensure_eq!(now, MINE);
    Ok(())
}
