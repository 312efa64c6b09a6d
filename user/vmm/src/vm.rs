//! The VM: what every EC of the VMM shares, set once by the main EC before the first
//! vCPU exists ([`vm`]).
//!
//! Ownership: the platform devices (PIC, PIT, UART, RTC, i8042, PM registers) are one
//! [`Platform`] behind one lock, which every vCPU's handler takes for port I/O and vCPU
//! 0's also for the PIC's interrupts. Each vCPU's local APIC is its own, behind its own
//! lock, which other vCPUs' handlers take only to deliver IPIs (never while holding
//! another APIC's lock or the platform's: the order is platform, then one APIC). Each
//! vCPU's MSR store is touched by its handler alone. What other ECs tell a vCPU (an
//! IPI's INIT or start-up, an NMI, a new deadline) goes through its atomics.

use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use facet_vmm_core::boot_params::CpuState;
use facet_vmm_core::cpuid::CpuModel;
use facet_vmm_core::exit::Extension;
use facet_vmm_core::guest_console::{InputRing, LineBuffer};
use facet_vmm_core::lapic::Lapic;
use facet_vmm_core::machine::Machine;
use facet_vmm_core::msr::{MsrModel, MsrStore, Pvclock};

use crate::global::Global;
use crate::guest::GuestRam;
use crate::layout::MAX_VCPUS;
use crate::lock::SpinLock;

/// "No deadline" in [`Vcpu::deadline`].
pub const NO_DEADLINE: u64 = u64::MAX;

/// The VM's name, for its messages and console lines.
#[derive(Clone, Copy, Debug)]
pub struct Name {
    bytes: [u8; facet_vmm_core::config::MAX_NAME],
    len: usize,
}

impl Name {
    pub const EMPTY: Name = Name {
        bytes: [0; facet_vmm_core::config::MAX_NAME],
        len: 0,
    };

    pub fn new(name: &str) -> Name {
        let mut n = Name {
            bytes: [0; facet_vmm_core::config::MAX_NAME],
            len: name.len().min(facet_vmm_core::config::MAX_NAME),
        };
        n.bytes[..n.len].copy_from_slice(&name.as_bytes()[..n.len]);
        n
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.bytes[..self.len]).unwrap_or("vm")
    }
}

/// The VM.
pub struct Vm {
    pub extension: Extension,
    pub vcpu_count: usize,
    pub ram: GuestRam,
    pub cpu_model: CpuModel,
    pub msr_model: MsrModel,
    pub clock: Pvclock,
    /// The bootstrap vCPU's state at the kernel's 64-bit entry.
    pub boot_cpu: CpuState,
    pub platform: SpinLock<Platform>,
    /// Bytes typed for the guest, on their way to vCPU 0's UART.
    pub input: InputRing,
    pub vcpus: [Vcpu; MAX_VCPUS],
}

/// The devices all vCPUs share, and the guest's console output on its way out.
pub struct Platform {
    pub machine: Machine,
    pub output: LineBuffer,
}

/// One vCPU's state as the VMM keeps it.
pub struct Vcpu {
    /// The CPU it (and its handler and timer thread) runs on.
    pub cpu: u32,
    pub lapic: SpinLock<Lapic>,
    /// Its handler's alone (a lock that is never contended).
    pub msrs: SpinLock<MsrStore>,
    /// Its handler waits in HLT (an event for it needs an `up`, not a recall).
    pub halted: AtomicBool,
    /// An INIT IPI arrived: it resets and waits for a start-up IPI at its next exit.
    pub init_pending: AtomicBool,
    /// It waits for a start-up IPI (after power-up or INIT), whose vector it then takes
    /// from `sipi_vector`.
    pub waiting_for_sipi: AtomicBool,
    pub sipi_vector: AtomicU8,
    pub nmi_pending: AtomicBool,
    /// The TSC value of its next timer event ([`NO_DEADLINE`]: none), and a count of
    /// the changes, for its timer thread.
    pub deadline: AtomicU64,
    pub deadline_generation: AtomicU64,
}

impl Vcpu {
    pub fn new(index: usize, cpu: u32, tsc_khz: u32) -> Vcpu {
        let mut lapic = Lapic::new(index as u32, tsc_khz, TIMER_KHZ);
        if index == 0 {
            // What firmware leaves for an OS that finds no I/O APIC: the PIC's INTR on
            // LINT0 (Linux with `noapic` keeps it so).
            lapic.enter_virtual_wire_mode();
        }
        Vcpu {
            cpu,
            lapic: SpinLock::new(lapic),
            msrs: SpinLock::new(MsrStore::default()),
            halted: AtomicBool::new(false),
            init_pending: AtomicBool::new(false),
            // Application processors wait for their start-up IPI from power-up on.
            waiting_for_sipi: AtomicBool::new(index != 0),
            sipi_vector: AtomicU8::new(0),
            nmi_pending: AtomicBool::new(false),
            deadline: AtomicU64::new(NO_DEADLINE),
            deadline_generation: AtomicU64::new(0),
        }
    }

    /// Publishes the TSC value of its next timer event; whether it moved earlier (then
    /// its timer thread must look again).
    pub fn set_deadline(&self, deadline: u64) -> bool {
        let old = self.deadline.swap(deadline, Ordering::AcqRel);
        if old != deadline {
            self.deadline_generation.fetch_add(1, Ordering::AcqRel);
        }
        deadline < old
    }
}

/// The local APIC timer's clock in kHz (the "bus" of its one-shot and periodic modes;
/// Linux uses the TSC-deadline mode, which counts the TSC).
const TIMER_KHZ: u32 = 1_000_000;

static VM: Global<Vm> = Global::new();

/// Makes `vm` the VM (once).
pub fn set(vm: Vm) -> bool {
    VM.set(vm)
}

/// The VM. Only ECs created after [`set`] call this.
pub fn vm() -> &'static Vm {
    match VM.get() {
        Some(vm) => vm,
        None => crate::stop::internal_error("the VM is used before it exists"),
    }
}
