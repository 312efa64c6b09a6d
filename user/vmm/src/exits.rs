//! The vCPU exit handlers: one local EC per vCPU, on the vCPU's CPU, serves the portals
//! of all exit numbers at the vCPU's event base (a portal's handler must be on its
//! caller's CPU, and a vCPU whose handler were busy would be stopped by the kernel, so
//! each vCPU has its own). The portal id is the vCPU's index and the exit number; the
//! entry picks the vCPU's stack from it.
//!
//! Each exit is decoded ([`facet_vmm_core::exit`], where every SVM/VMX difference
//! lives), handled ([`Next`]: where the guest goes on, an exception to raise, which
//! state the reply carries) and finished by [`crate::resume::finish`], which injects
//! interrupts and replies.

use facet_abi::{mtd, utcb as off};
use facet_rt::entry::{Stack, STACK_SIZE};
use facet_rt::utcb::Utcb;
use facet_vmm_core::control_registers::ControlState;
use facet_vmm_core::cpuid::{xsetbv_allowed, CallerState, CpuidResult};
use facet_vmm_core::event::{exception, GP, UD};
use facet_vmm_core::exit::{
    ControlRegisterAccess, ControlRegisterOp, Exit, ExitClass, ExitMessage, MemoryAccess,
};
use facet_vmm_core::page_walk;

use crate::console::Sender;
use crate::layout::{handler_utcb, MAX_VCPUS};
use crate::stop::{self, FAILED};
use crate::vm::{vm, Vm};

static STACKS: [Stack; MAX_VCPUS] = [const { Stack::new() }; MAX_VCPUS];

/// The id of vCPU `vcpu`'s portal for exit number `event`.
pub fn portal_id(vcpu: usize, event: u64) -> u64 {
    (vcpu as u64) << 8 | event
}

/// The entry of every exit portal: RDI is the portal id, whose upper bits name the
/// vCPU whose stack the handler runs on.
#[unsafe(naked)]
pub unsafe extern "C" fn exit_entry() {
    core::arch::naked_asm!(
        "mov rax, rdi",
        "shr rax, 8",
        "cmp rax, {count}",
        "jae 2f",
        "inc rax",
        "imul rax, rax, {size}",
        "lea rsp, [rip + {stacks}]",
        "add rsp, rax",
        "call {handler}",
        "2:",
        "ud2",
        count = const MAX_VCPUS,
        size = const STACK_SIZE,
        stacks = sym STACKS,
        handler = sym on_exit,
    )
}

/// The state a portal's message carries, by what the exit is.
pub fn mtd_for(class: ExitClass) -> u32 {
    // Where the guest is, whether it can take an interrupt, what is being delivered.
    let common = mtd::RIP_LEN | mtd::RFLAGS | mtd::QUAL | mtd::INJ | mtd::STA;
    let gprs = mtd::GPR_ACDB | mtd::GPR_BSD | mtd::GPR_R8_R15 | mtd::RSP;
    match class {
        ExitClass::Startup => 0,
        ExitClass::Between | ExitClass::Hlt => common,
        // Rare (exceptions, stops, unknown exits): with the state a stop reports.
        ExitClass::Other => {
            common
                | gprs
                | mtd::CR
                | mtd::EFER_PAT
                | mtd::CS_SS
                | mtd::FS_GS
                | mtd::SYSCALL_SWAPGS
                | mtd::IDTR
        }
        ExitClass::Cpuid | ExitClass::Xsetbv => common | mtd::GPR_ACDB | mtd::CR,
        ExitClass::Msr => {
            common
                | mtd::GPR_ACDB
                | mtd::EFER_PAT
                | mtd::SYSCALL_SWAPGS
                | mtd::FS_GS
                | mtd::SYSENTER
        }
        ExitClass::Io => common | mtd::GPR_ACDB,
        ExitClass::ControlRegister => common | gprs | mtd::CR | mtd::EFER_PAT,
        ExitClass::Memory => {
            common | gprs | mtd::CR | mtd::EFER_PAT | mtd::CS_SS | mtd::DS_ES | mtd::FS_GS
        }
    }
}

/// One exit being handled.
#[derive(Clone, Copy)]
pub struct Handler {
    pub vm: &'static Vm,
    pub index: usize,
    pub utcb: Utcb,
}

impl Handler {
    /// The handler's own EC as a sender of text.
    pub fn sender(&self) -> Sender {
        Sender {
            cpu: self.vm.vcpus[self.index].cpu,
            utcb: self.utcb,
        }
    }

    /// Ends the VM with `code` after reporting `args` (and the vCPU and its RIP).
    pub fn stop(&self, code: u64, args: core::fmt::Arguments) -> ! {
        self.stop_at(self.utcb.get(off::RIP), code, args)
    }

    /// [`Handler::stop`] with the guest's RIP as read before the UTCB was used for
    /// anything else.
    pub fn stop_at(&self, rip: u64, code: u64, args: core::fmt::Arguments) -> ! {
        stop::request(
            self.sender(),
            code,
            format_args!("vCPU {} at rip {rip:#x}: {args}", self.index),
        )
    }
}

/// How the guest goes on after an exit.
#[derive(Clone, Copy, Debug)]
pub struct Next {
    /// Where it continues once the VMM completed the instruction (`None`: it runs on
    /// where it stopped).
    pub rip: Option<u64>,
    /// An exception the instruction raises (0: none).
    pub raised: u64,
    /// The state the reply carries besides RIP and injection.
    pub mtd: u32,
}

impl Next {
    /// The instruction is done; the guest continues at `rip`.
    pub fn completed(rip: u64, mtd: u32) -> Next {
        Next {
            rip: Some(rip),
            raised: 0,
            mtd,
        }
    }

    /// The guest continues where it stopped.
    pub fn same() -> Next {
        Next {
            rip: None,
            raised: 0,
            mtd: 0,
        }
    }

    /// The instruction raises `event` (an exception) instead of completing.
    pub fn raise(event: u64) -> Next {
        Next {
            rip: None,
            raised: event,
            mtd: 0,
        }
    }
}

extern "C" fn on_exit(id: u64) -> ! {
    let entered = crate::profile::enter();
    let index = ((id >> 8) as usize).min(MAX_VCPUS - 1);
    let h = Handler {
        vm: vm(),
        index,
        utcb: handler_utcb(index),
    };
    let u = h.utcb;
    let m = ExitMessage {
        event: id & 0xff,
        qual: [u.get(off::QUAL), u.get(off::QUAL + 8)],
        rip: u.get(off::RIP),
        instruction_length: u.get(off::INST_LEN),
        interruption: u.get(off::INJ),
    };
    let exit = h.vm.extension.decode(&m);
    if exit == Exit::Startup {
        crate::resume::start(h)
    }
    let next = handle(h, &m, exit);
    crate::resume::finish(h, &m, exit, next, entered)
}

/// Where the instruction that exited ends.
fn next_rip(h: Handler, m: &ExitMessage, exit: &Exit) -> u64 {
    match h.vm.extension.next_rip(exit, m) {
        Some(rip) => rip,
        None => h.stop(
            FAILED,
            format_args!("no length known for the instruction of {exit:?}"),
        ),
    }
}

fn handle(h: Handler, m: &ExitMessage, exit: Exit) -> Next {
    match exit {
        Exit::Startup | Exit::Recall | Exit::InterruptWindow => Next::same(),
        Exit::Cpuid => cpuid(h, next_rip(h, m, &exit)),
        Exit::Hlt => {
            let rip = next_rip(h, m, &exit);
            crate::resume::halt(h);
            Next::completed(rip, 0)
        }
        Exit::Rdmsr => crate::msr::rdmsr(h, next_rip(h, m, &exit)),
        Exit::Wrmsr => crate::msr::wrmsr(h, next_rip(h, m, &exit)),
        Exit::Xsetbv => xsetbv(h, next_rip(h, m, &exit)),
        Exit::Invd => Next::completed(next_rip(h, m, &exit), 0),
        Exit::Io(access) => crate::io::port(h, access, next_rip(h, m, &exit)),
        Exit::Memory(access) => memory(h, access),
        Exit::ControlRegister(access) => control_register(h, access, m, &exit),
        Exit::Exception { vector, error_code } => Next::raise(exception(vector, error_code)),
        Exit::UndefinedInstruction => Next::raise(exception(UD, None)),
        Exit::TripleFault => {
            // What the guest's state was, for whoever looks into why it died: read out
            // first (the lines to the console go through the same UTCB).
            let u = h.utcb;
            let at = |o| u.get(o);
            let rip = at(off::RIP);
            let first = [
                off::RSP,
                off::RFLAGS,
                off::CS,
                off::CR0,
                off::CR2,
                off::CR3,
                off::CR4,
            ]
            .map(at);
            let second = [
                off::GS + 8,
                off::KERNEL_GS_BASE,
                off::IDTR + 8,
                off::IDTR,
                off::VECT_INFO,
            ]
            .map(at);
            let [rsp, rflags, cs, cr0, cr2, cr3, cr4] = first;
            let [gs, kernel_gs, idt, idt_limit, event] = second;
            let say = h.sender();
            say.report(format_args!(
                "vCPU {} state: rsp {rsp:#x} rflags {rflags:#x} cs {:#x} cr0 {cr0:#x} cr2 \
                 {cr2:#x} cr3 {cr3:#x} cr4 {cr4:#x}",
                h.index,
                cs & 0xffff,
            ));
            say.report(format_args!(
                "vCPU {} state: gs base {gs:#x} kernel gs base {kernel_gs:#x} idt {idt:#x}+{:#x} \
                 event {event:#x}",
                h.index,
                idt_limit >> 32 & 0xffff_ffff,
            ));
            // The guest's own page walks of the IDT and of the last fault's address, as
            // its memory holds them now: whether its tables or its translation failed.
            if cr0 & CR0_PG != 0 {
                for va in [idt, cr2] {
                    report_walk(h, cr3, va);
                }
            }
            h.stop_at(rip, FAILED, format_args!("triple fault: the guest is dead"))
        }
        Exit::InvalidState => h.stop(
            FAILED,
            format_args!("the CPU refused to enter the guest (invalid state)"),
        ),
        Exit::Unknown(n) => h.stop(
            FAILED,
            format_args!("exit {n:#x}, which the VMM does not handle"),
        ),
    }
}

/// CR0.PG: the guest pages.
const CR0_PG: u64 = 1 << 31;

/// Reports the guest's page walk of `va` from `cr3` over its RAM (a triple fault's
/// report).
fn report_walk(h: Handler, cr3: u64, va: u64) {
    let walk = page_walk::walk(cr3, va, |gpa| h.vm.ram.read_u64(gpa));
    let say = h.sender();
    for step in walk.steps.iter().flatten() {
        match step.entry {
            Some(entry) => say.report(format_args!(
                "vCPU {} walk of {va:#x}: level {} entry at {:#x} is {entry:#x}",
                h.index, step.level, step.entry_gpa
            )),
            None => say.report(format_args!(
                "vCPU {} walk of {va:#x}: level {} entry at {:#x} is outside RAM",
                h.index, step.level, step.entry_gpa
            )),
        }
    }
    match walk.end {
        page_walk::End::Mapped(gpa) => say.report(format_args!(
            "vCPU {} walk of {va:#x}: guest-physical {gpa:#x}",
            h.index
        )),
        page_walk::End::NotPresent(level) => say.report(format_args!(
            "vCPU {} walk of {va:#x}: not present at level {level}",
            h.index
        )),
        page_walk::End::OutsideRam(level) => say.report(format_args!(
            "vCPU {} walk of {va:#x}: leaves RAM at level {level}",
            h.index
        )),
    }
}

/// CPUID: the CPU model's answer to the host's.
fn cpuid(h: Handler, rip: u64) -> Next {
    let u = h.utcb;
    let (leaf, subleaf) = (u.get(off::RAX) as u32, u.get(off::RCX) as u32);
    let (eax, ebx, ecx, edx) = facet_rt::cpu::cpuid(leaf, subleaf);
    let host = CpuidResult { eax, ebx, ecx, edx };
    let caller = CallerState {
        cr4: u.get(off::CR4),
        xcr0: u.get(off::XCR0),
    };
    let r =
        h.vm.cpu_model
            .cpuid(h.index as u32, leaf, subleaf, host, caller);
    for (at, value) in [
        (off::RAX, r.eax),
        (off::RBX, r.ebx),
        (off::RCX, r.ecx),
        (off::RDX, r.edx),
    ] {
        u.put(at, value as u64);
    }
    Next::completed(rip, mtd::GPR_ACDB)
}

/// XSETBV: XCR0 within what the CPU model offers (the kernel checks again).
fn xsetbv(h: Handler, rip: u64) -> Next {
    let u = h.utcb;
    let value = u.get(off::RDX) << 32 | u.get(off::RAX) & 0xffff_ffff;
    if u.get(off::RCX) as u32 != 0 || !xsetbv_allowed(value, h.vm.cpu_model.xcr0_mask()) {
        return Next::raise(exception(GP, Some(0)));
    }
    u.put(off::XCR0, value);
    Next::completed(rip, mtd::CR)
}

/// An access to guest-physical memory outside RAM: no device lives there.
fn memory(h: Handler, access: MemoryAccess) -> Next {
    if access.fetch && h.vm.ram.contains(access.gpa, 1) {
        h.stop(
            FAILED,
            format_args!(
                "instruction fetch from RAM at {:#x} faulted: guest RAM lacks the execute right",
                access.gpa
            ),
        )
    }
    let what = match (access.fetch, access.write) {
        (true, _) => "instruction fetch",
        (false, true) => "write",
        (false, false) => "read",
    };
    let u = h.utcb;
    h.stop(
        FAILED,
        format_args!(
            "{what} at guest-physical {:#x}, outside RAM and every device \
             (cs {:#x}, cr3 {:#x}, rsp {:#x})",
            access.gpa,
            u.get(off::CS) & 0xffff,
            u.get(off::CR3),
            u.get(off::RSP),
        ),
    )
}

/// The x2APIC TPR register, which CR8 reflects (TPR = CR8 << 4).
const TPR_MSR: u32 = 0x808;
/// CR4 bits a guest may set: the architectural ones up to PKE, but LA57, VMXE and SMXE
/// (the CPU model offers none of those).
const CR4_ALLOWED: u64 = 0x3f_ffff & !(1 << 12 | 1 << 13 | 1 << 14);

/// A control-register access that exited (VMX): CR8 is the local APIC's task
/// priority; a write to CR0 or CR4 that changes a bit the kernel owns is completed here.
fn control_register(
    h: Handler,
    access: ControlRegisterAccess,
    m: &ExitMessage,
    exit: &Exit,
) -> Next {
    let rip = next_rip(h, m, exit);
    let u = h.utcb;
    let gpr = |n: u8| off::RAX + 8 * n as usize;
    let gprs = mtd::GPR_ACDB | mtd::GPR_BSD | mtd::GPR_R8_R15 | mtd::RSP;
    if access.cr == 8 {
        let now = facet_rt::cpu::rdtsc();
        let mut lapic = h.vm.vcpus[h.index].lapic.lock();
        return match access.op {
            ControlRegisterOp::MoveTo { gpr: n } => {
                let value = (u.get(gpr(n)) & 0xf) << 4;
                match lapic.write_msr(TPR_MSR, value, now) {
                    Ok(_) => Next::completed(rip, 0),
                    Err(_) => Next::raise(exception(GP, Some(0))),
                }
            }
            ControlRegisterOp::MoveFrom { gpr: n } => {
                let tpr = lapic.read_msr(TPR_MSR, now).unwrap_or(0);
                u.put(gpr(n), tpr >> 4);
                Next::completed(rip, gprs)
            }
            _ => Next::raise(exception(UD, None)),
        };
    }
    let state = ControlState {
        cr0: u.get(off::CR0),
        cr4: u.get(off::CR4),
        efer: u.get(off::EFER),
    };
    let written = match (access.cr, access.op) {
        (0, ControlRegisterOp::MoveTo { gpr: n }) => state.write_cr0(u.get(gpr(n))),
        (4, ControlRegisterOp::MoveTo { gpr: n }) => state.write_cr4(u.get(gpr(n)), CR4_ALLOWED),
        (0, ControlRegisterOp::Clts) => Ok(state.clts()),
        (0, ControlRegisterOp::Lmsw { source }) => Ok(state.lmsw(source)),
        _ => h.stop(
            FAILED,
            format_args!(
                "an access to CR{} exited ({:?}), which the VMM does not expect",
                access.cr, access.op
            ),
        ),
    };
    let Ok(new) = written else {
        return Next::raise(exception(GP, Some(0)));
    };
    u.put(off::CR0, new.cr0);
    u.put(off::CR4, new.cr4);
    u.put(off::EFER, new.efer);
    Next::completed(rip, mtd::CR | mtd::EFER_PAT)
}
