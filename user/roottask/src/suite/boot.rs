//! The roottask's initial state.

use facet_abi::layout::ROOT_HIP_ADDR;
use facet_rt::utcb::Utcb;

use super::{Env, Fail, TestResult};

pub fn initial_registers(e: &Env) -> TestResult {
    ensure_eq!(e.world.cpu, 0u64);
    ensure_eq!(e.world.hip_addr, ROOT_HIP_ADDR);
    Ok(())
}

pub fn utcb_mapped_zeroed_writable(_: &Env) -> TestResult {
    let u = Utcb::ROOT;
    for i in 0..512 {
        let v = u.get(8 * i);
        ensure!(v == 0, "UTCB word {} is {:#x}, not zero", i, v);
    }
    // The word is restored right after.
    u.put(56, 0x1234_5678_9abc_def0);
    ensure_eq!(u.get(56), 0x1234_5678_9abc_def0u64);
    u.put(56, 0);
    Ok(())
}
