//! Where the VMM keeps its objects: capability selectors (from `start_info::sel::FREE`
//! on) and the addresses of the UTCBs it creates (in facet-rt's mappable range, below
//! the guest RAM and modules the roottask maps at 1 TiB and 2 TiB).

use facet_rt::start_info::StartInfo;
use facet_rt::utcb::Utcb;
use facet_vmm_core::platform::MAX_VCPUS as MAX_VCPUS_U8;

/// vCPUs at most (what the ACPI tables describe).
pub const MAX_VCPUS: usize = MAX_VCPUS_U8 as usize;
/// CPUs at most that the VMM's ECs use (its vCPUs' and the input thread's).
pub const MAX_CPUS: usize = MAX_VCPUS + 1;

/// Scheduling priorities: the vCPUs run at the main EC's; the timer threads preempt
/// them to recall them at a deadline.
pub const VCPU_PRIORITY: u8 = 1;
pub const TIMER_PRIORITY: u8 = 2;
pub const INPUT_PRIORITY: u8 = 2;
/// Time slices in microseconds.
pub const QUANTUM_US: u64 = 10_000;

/// The objects of vCPU `i`.
pub mod vcpu {
    const BASE: u64 = 0x3000;
    const STRIDE: u64 = 0x10;
    /// Its handler EC (local, on the vCPU's CPU), the vCPU EC and its SC.
    pub fn handler(i: usize) -> u64 {
        BASE + i as u64 * STRIDE
    }
    pub fn ec(i: usize) -> u64 {
        handler(i) + 1
    }
    pub fn sc(i: usize) -> u64 {
        handler(i) + 2
    }
    /// Upped to wake the handler while the guest halts.
    pub fn halt_sm(i: usize) -> u64 {
        handler(i) + 3
    }
    /// Upped by the start-up IPI that ends its wait after INIT.
    pub fn sipi_sm(i: usize) -> u64 {
        handler(i) + 4
    }
    /// Upped when its deadline moved earlier (the timer thread waits on it).
    pub fn timer_sm(i: usize) -> u64 {
        handler(i) + 5
    }
    /// Its timer thread's EC and SC.
    pub fn timer_ec(i: usize) -> u64 {
        handler(i) + 6
    }
    pub fn timer_sc(i: usize) -> u64 {
        handler(i) + 7
    }
    /// Its event base: a portal for every exit number (256).
    pub fn events(i: usize) -> u64 {
        0x1_0000 + i as u64 * 0x100
    }
}

/// The start-up handler (local EC) of the `k`-th CPU the VMM uses.
pub fn starter(k: usize) -> u64 {
    0x3100 + k as u64
}

/// The start-up portal of ECs created on `cpu`: the free slot (30) of the exception
/// portals the roottask gave for that CPU.
pub fn startup_portal(cpu: u32) -> u64 {
    StartInfo::event_base(cpu) + facet_abi::layout::EVENT_STARTUP
}

/// The main EC waits on it for a stop request (and, without the console service, for
/// its next look at COM1's input).
pub const MAIN_SM: u64 = 0x3200;
/// Upped by each thread once it runs.
pub const STARTED_SM: u64 = 0x3201;
/// The input thread (with the console service), on the main EC's CPU.
pub const INPUT_EC: u64 = 0x3202;
pub const INPUT_SC: u64 = 0x3203;
/// Never upped: where an EC that must not go on waits for good.
pub const PARK_SM: u64 = 0x3204;

const UTCBS: u64 = 0x2000_0000;

/// vCPU `i`'s handler's UTCB.
pub fn handler_utcb(i: usize) -> Utcb {
    Utcb::at(UTCBS).nth(i as u64)
}

/// vCPU `i`'s timer thread's UTCB.
pub fn timer_utcb(i: usize) -> Utcb {
    Utcb::at(UTCBS).nth((MAX_VCPUS + i) as u64)
}

/// The `k`-th starter's UTCB.
pub fn starter_utcb(k: usize) -> Utcb {
    Utcb::at(UTCBS).nth((2 * MAX_VCPUS + k) as u64)
}

/// The input thread's UTCB.
pub fn input_utcb() -> Utcb {
    Utcb::at(UTCBS).nth((2 * MAX_VCPUS + MAX_CPUS) as u64)
}
