//! The test VMM the VM tests share: the exit numbers of each extension, the first VM's
//! code page as the VMM sees it, and [`TestVm`], one vCPU with its VMM handler.

use facet_abi::layout::ROOT_SEL_PD;
use facet_rt::entry::{addr, Entry};
use facet_rt::hypercall::{
    create_ec, create_pt, create_sc, create_sm, ec_flags, pt_ctrl, sm_down, sm_up,
};
use facet_rt::utcb::Utcb;
use facet_rt::window::Window;

use crate::suite::fixture::{Events, Pages, Sels, VM_GUEST};
use crate::suite::{ok, Env, TestResult};

/// Exit numbers (basic exit reasons on VMX, exit codes or Facet's events on SVM).
pub struct Reasons {
    pub vmx: bool,
    pub hlt: u64,
    pub io: u64,
    /// A nested page fault (SVM) or EPT violation (VMX).
    pub npt: u64,
    /// A triple fault.
    pub shutdown: u64,
    pub wrmsr: u64,
    pub cpuid: u64,
    pub xsetbv: u64,
    pub rdtsc: u64,
    /// The guest can take an interrupt.
    pub intr_window: u64,
    /// The CPU refused the state to enter.
    pub invalid: u64,
}

const SVM: Reasons = Reasons {
    vmx: false,
    hlt: 0x78,
    io: 0x7b,
    npt: facet_abi::layout::VM_EVENT_NPT,
    shutdown: 0x7f,
    wrmsr: 0x7c,
    cpuid: 0x72,
    xsetbv: 0x8d,
    rdtsc: 0x6e,
    intr_window: 0x64,
    invalid: facet_abi::layout::VM_EVENT_INVALID,
};

const VMX: Reasons = Reasons {
    vmx: true,
    hlt: 12,
    io: 30,
    npt: 48,
    shutdown: 2,
    wrmsr: 32,
    cpuid: 10,
    xsetbv: 55,
    rdtsc: 16,
    intr_window: 7,
    invalid: 33,
};

/// The exit numbers of the extension the kernel offers (`None`: no vCPUs here).
pub fn reasons(e: &Env) -> Option<&'static Reasons> {
    e.vmx().map(|vmx| if vmx { &VMX } else { &SVM })
}

/// The first VM's code page (guest-physical page 1) as its VMM sees it, mapped by
/// `vm::guest_runs_and_exits`.
pub const GUEST_CODE: Window = VM_GUEST.window().sub(0, 0x1000);

/// Writes `code` at guest-physical `gpa` of the first VM's code page.
pub fn write_guest_code(gpa: u64, code: &[u8]) {
    GUEST_CODE.write_bytes(gpa & 0xfff, code);
}

/// An exit a test VMM handles: the event (exit reason, or a kernel event such as
/// start-up), the MTD its message carries, and the handler's entry.
pub type Exit = (u64, u32, Entry);

/// One test VM: a vCPU in the roottask's PD (the first VM's address space) or another,
/// its VMM's handler EC, the semaphore the handler signals when the test's guest is
/// done and the one it parks on, the vCPU's SC, its event base and the handler's UTCB.
/// The selectors are eight from the VM's place in its range: handler, the two
/// semaphores, vCPU, SC, then three for whatever else the test needs ([`TestVm::extra`]).
#[derive(Clone, Copy)]
pub struct TestVm {
    first: u64,
    evt: u64,
    utcb: Utcb,
    cpu: u64,
    quantum: u64,
}

impl TestVm {
    /// VM number `i` of the ranges: selectors, event bases, handler UTCBs.
    pub const fn new(sels: Sels, evts: Events, utcbs: Pages, i: u64) -> TestVm {
        let first = sels.at(8 * i);
        let _last = sels.at(8 * i + 7);
        TestVm {
            first,
            evt: evts.base(i),
            utcb: utcbs.utcb(i),
            cpu: 0,
            quantum: 1000,
        }
    }

    /// The same VM with its vCPU and handler on CPU `cpu` (the handler's portals get the
    /// CPU as their id).
    pub const fn on_cpu(self, cpu: u64) -> TestVm {
        TestVm { cpu, ..self }
    }

    /// The same VM with another quantum for the vCPU's SC (1 ms unless said).
    pub const fn quantum(self, quantum: u64) -> TestVm {
        TestVm { quantum, ..self }
    }

    pub const fn vmm(&self) -> u64 {
        self.first
    }

    pub const fn done(&self) -> u64 {
        self.first + 1
    }

    pub const fn park(&self) -> u64 {
        self.first + 2
    }

    pub const fn vcpu(&self) -> u64 {
        self.first + 3
    }

    pub const fn sc(&self) -> u64 {
        self.first + 4
    }

    /// Extra selector `k` (0..3) for the test's own objects.
    pub const fn extra(&self, k: u64) -> u64 {
        assert!(k < 3, "three extra selectors");
        self.first + 5 + k
    }

    /// The vCPU's event base.
    pub const fn evt(&self) -> u64 {
        self.evt
    }

    /// The VMM handler's UTCB.
    pub const fn utcb(&self) -> Utcb {
        self.utcb
    }

    /// Creates the VMM's handler, its two semaphores and a portal per exit.
    pub fn create_vmm(&self, exits: &[Exit]) -> TestResult {
        let pd = ROOT_SEL_PD;
        let (ec, cpu) = (self.vmm(), self.cpu);
        ok(create_ec(ec, pd, 0, cpu, self.utcb.addr(), 0, 0), "VMM EC")?;
        ok(create_sm(self.done(), pd, 0, 0), "sm")?;
        ok(create_sm(self.park(), pd, 0, 0), "parking sm")?;
        for &(event, m, f) in exits {
            let pt = self.evt + event;
            ok(create_pt(pt, pd, ec, m as u64, addr(f)), "portal")?;
            if cpu != 0 {
                ok(pt_ctrl(pt, cpu), "portal id")?;
            }
        }
        Ok(())
    }

    /// Creates the vCPU (in the roottask's PD) and its SC, which starts it.
    pub fn start(&self) -> TestResult {
        let (pd, vcpu) = (ROOT_SEL_PD, ec_flags::GLOBAL | ec_flags::VCPU);
        ok(
            create_ec(self.vcpu(), pd, vcpu, self.cpu, 0, 0, self.evt),
            "vCPU",
        )?;
        ok(
            create_sc(self.sc(), pd, self.vcpu(), 1, self.quantum),
            "vCPU SC",
        )
    }

    /// Waits until the handler signals that the guest is done (`what` names the wait in
    /// a failure).
    pub fn wait(&self, what: &str) -> TestResult {
        ok(sm_down(self.done()), what)
    }

    /// The VMM with its portals, then the vCPU; returns once the guest is done.
    pub fn run(&self, exits: &[Exit], what: &str) -> TestResult {
        self.create_vmm(exits)?;
        self.start()?;
        self.wait(what)
    }

    /// A handler's last act when its guest is done: signal the test and park for good
    /// (the vCPU stays stopped in its exit).
    pub fn finish(&self) -> ! {
        let _ = sm_up(self.done());
        loop {
            let _ = sm_down(self.park());
        }
    }
}
