//! VM exits of both extensions decoded into one vocabulary: the VMM's handlers match on
//! [`Exit`] and never on an SVM exit code or a VMX exit reason. Every difference between
//! the two extensions that a VMM sees in an exit message lives here: the exit numbers,
//! the layouts of the qualification words, and how long the exiting instruction was.
//!
//! The kernel sends each exit to the portal at the vCPU's event base plus the exit
//! number (`docs/virtualization.md`): SVM exit codes below 252 and VMX basic exit
//! reasons as they are, a nested page fault (SVM) at 252, a refused VMRUN (SVM) or a
//! failed VM entry instruction (VMX) at 253, the start-up message at 254 and a recall
//! at 255. The message's QUAL words hold EXITINFO1/EXITINFO2 (SVM) or the exit
//! qualification and the guest-physical address (VMX); on VMX the INJ word holds the
//! exit's interruption information (the vector of an exception exit).
//!
//! Instruction lengths: VMX always reports one. SVM reports it only where the CPU saves
//! the next RIP (QEMU's TCG does not), so an SVM exit with length 0 uses the fixed
//! length of the instruction that exits (CPUID, RDMSR, WRMSR, HLT, XSETBV, VMMCALL,
//! INVD) or, for port I/O, the next RIP in EXITINFO2.

use facet_abi::layout::{VM_EVENT_INVALID, VM_EVENT_NPT, VM_EVENT_RECALL, VM_EVENT_STARTUP};

use crate::ports::IoSize;

#[cfg(test)]
mod tests;

/// The virtualization extension the kernel runs vCPUs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extension {
    /// AMD SVM with nested paging.
    Svm,
    /// Intel VMX with EPT and unrestricted guests.
    Vmx,
}

/// What an exit message says, as the handler's UTCB holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitMessage {
    /// The exit number (the portal's offset from the event base).
    pub event: u64,
    /// The two QUAL words.
    pub qual: [u64; 2],
    /// The guest's RIP at the exit and the instruction length the kernel reported.
    pub rip: u64,
    pub instruction_length: u64,
    /// The INJ word (VMX: the exit's interruption information).
    pub interruption: u64,
}

/// A port access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortAccess {
    pub port: u16,
    pub size: IoSize,
    /// IN (else OUT).
    pub input: bool,
    /// INS/OUTS (string instructions), with or without a REP prefix.
    pub string: bool,
    pub rep: bool,
}

/// A guest access to guest-physical memory that nothing is mapped at (or not with the
/// rights it needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryAccess {
    pub gpa: u64,
    pub write: bool,
    /// An instruction fetch.
    pub fetch: bool,
}

/// A VMX control-register access exit: MOV to or from CR8 (unless the VMM turns on the
/// TPR shadow), and writes that change a CR0 or CR4 bit the kernel owns (the bits VMX
/// requires, such as CR0.NE, which the guest sees in the read shadow).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlRegisterAccess {
    pub cr: u8,
    pub op: ControlRegisterOp,
}

/// What the instruction does with the control register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlRegisterOp {
    /// MOV from a general register (0 RAX .. 15 R15).
    MoveTo {
        gpr: u8,
    },
    /// MOV into a general register.
    MoveFrom {
        gpr: u8,
    },
    Clts,
    /// LMSW with its 16-bit source.
    Lmsw {
        source: u16,
    },
}

/// Why a vCPU stopped, for every exit either extension can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The vCPU's first run: the reply sets its initial state.
    Startup,
    /// `ec_ctrl recall`: the VMM asked the vCPU to stop.
    Recall,
    /// The guest can take an interrupt now (the window the VMM asked for).
    InterruptWindow,
    Cpuid,
    Hlt,
    Rdmsr,
    Wrmsr,
    Xsetbv,
    Invd,
    Io(PortAccess),
    Memory(MemoryAccess),
    ControlRegister(ControlRegisterAccess),
    /// An intercepted exception (the kernel forces #AC) with its error code.
    Exception {
        vector: u8,
        error_code: Option<u32>,
    },
    /// An instruction the guest must see fail with #UD: VMCALL/VMMCALL (the CPU model
    /// offers no hypercalls) and the virtualization instructions (it offers no VMX/SVM).
    UndefinedInstruction,
    /// A triple fault (SVM: shutdown).
    TripleFault,
    /// The entry was refused (invalid guest state, MSR loading) or failed outright.
    InvalidState,
    /// Anything else: the exit number.
    Unknown(u64),
}

/// What a portal for an exit number serves, for choosing the state its message carries
/// before any message arrived (the exit number alone decides it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitClass {
    Startup,
    /// Recall and interrupt window: the guest stopped between instructions.
    Between,
    Cpuid,
    Hlt,
    Msr,
    Xsetbv,
    Io,
    Memory,
    ControlRegister,
    /// Everything else (exceptions, #UD cases, stops, unknown exits).
    Other,
}

impl Exit {
    /// The class of this exit ([`Extension::class`] of its number).
    pub fn class(&self) -> ExitClass {
        match self {
            Exit::Startup => ExitClass::Startup,
            Exit::Recall | Exit::InterruptWindow => ExitClass::Between,
            Exit::Cpuid => ExitClass::Cpuid,
            Exit::Hlt => ExitClass::Hlt,
            Exit::Rdmsr | Exit::Wrmsr => ExitClass::Msr,
            Exit::Xsetbv => ExitClass::Xsetbv,
            Exit::Io(_) => ExitClass::Io,
            Exit::Memory(_) => ExitClass::Memory,
            Exit::ControlRegister(_) => ExitClass::ControlRegister,
            _ => ExitClass::Other,
        }
    }
}

/// SVM exit codes.
mod svm {
    pub const EXCEPTION_BASE: u64 = 0x40;
    pub const VINTR: u64 = 0x64;
    pub const CPUID: u64 = 0x72;
    pub const INVD: u64 = 0x76;
    pub const HLT: u64 = 0x78;
    pub const IOIO: u64 = 0x7b;
    pub const MSR: u64 = 0x7c;
    pub const SHUTDOWN: u64 = 0x7f;
    /// VMRUN, VMMCALL, VMLOAD, VMSAVE, STGI, CLGI, SKINIT.
    pub const SVM_INSTRUCTIONS: core::ops::RangeInclusive<u64> = 0x80..=0x86;
    pub const XSETBV: u64 = 0x8d;
}

/// VMX basic exit reasons.
mod vmx {
    pub const EXCEPTION_OR_NMI: u64 = 0;
    pub const TRIPLE_FAULT: u64 = 2;
    pub const INTERRUPT_WINDOW: u64 = 7;
    pub const CPUID: u64 = 10;
    pub const GETSEC: u64 = 11;
    pub const HLT: u64 = 12;
    pub const INVD: u64 = 13;
    /// VMCALL, VMCLEAR, VMLAUNCH, VMPTRLD, VMPTRST, VMREAD, VMRESUME, VMWRITE, VMXOFF,
    /// VMXON.
    pub const VMX_INSTRUCTIONS: core::ops::RangeInclusive<u64> = 18..=27;
    pub const CR_ACCESS: u64 = 28;
    pub const IO: u64 = 30;
    pub const RDMSR: u64 = 31;
    pub const WRMSR: u64 = 32;
    pub const INVALID_GUEST_STATE: u64 = 33;
    pub const MSR_LOADING: u64 = 34;
    pub const EPT_VIOLATION: u64 = 48;
    pub const INVEPT: u64 = 50;
    pub const INVVPID: u64 = 53;
    pub const XSETBV: u64 = 55;
}

impl Extension {
    /// Decodes the exit message `m`.
    pub fn decode(self, m: &ExitMessage) -> Exit {
        match m.event {
            VM_EVENT_STARTUP => return Exit::Startup,
            VM_EVENT_RECALL => return Exit::Recall,
            VM_EVENT_INVALID => return Exit::InvalidState,
            _ => {}
        }
        match self {
            Extension::Svm => decode_svm(m),
            Extension::Vmx => decode_vmx(m),
        }
    }

    /// The class of the exits with number `event`.
    pub fn class(self, event: u64) -> ExitClass {
        match (self, event) {
            (_, VM_EVENT_STARTUP) => ExitClass::Startup,
            (_, VM_EVENT_RECALL) => ExitClass::Between,
            (Extension::Svm, svm::VINTR) | (Extension::Vmx, vmx::INTERRUPT_WINDOW) => {
                ExitClass::Between
            }
            (Extension::Svm, svm::CPUID) | (Extension::Vmx, vmx::CPUID) => ExitClass::Cpuid,
            (Extension::Svm, svm::HLT) | (Extension::Vmx, vmx::HLT) => ExitClass::Hlt,
            (Extension::Svm, svm::MSR) | (Extension::Vmx, vmx::RDMSR | vmx::WRMSR) => {
                ExitClass::Msr
            }
            (Extension::Svm, svm::XSETBV) | (Extension::Vmx, vmx::XSETBV) => ExitClass::Xsetbv,
            (Extension::Svm, svm::IOIO) | (Extension::Vmx, vmx::IO) => ExitClass::Io,
            (Extension::Svm, VM_EVENT_NPT) | (Extension::Vmx, vmx::EPT_VIOLATION) => {
                ExitClass::Memory
            }
            (Extension::Vmx, vmx::CR_ACCESS) => ExitClass::ControlRegister,
            _ => ExitClass::Other,
        }
    }

    /// Where the guest continues once the VMM has completed `exit`'s instruction, or
    /// `None` where the message does not say how long it was (the VMM then decodes the
    /// instruction itself, or stops).
    pub fn next_rip(self, exit: &Exit, m: &ExitMessage) -> Option<u64> {
        if let (Extension::Svm, Exit::Io(_)) = (self, exit) {
            // EXITINFO2 holds the next RIP whether or not the CPU saves next-RIP.
            return Some(m.qual[1]);
        }
        let length = match m.instruction_length {
            0 if self == Extension::Svm => fixed_length(exit)?,
            0 => return None,
            n => n,
        };
        Some(m.rip.wrapping_add(length))
    }
}

/// The length of the instructions whose SVM exits carry no length: their encodings have
/// no operands (a redundant prefix would make them longer, which no compiler emits).
fn fixed_length(exit: &Exit) -> Option<u64> {
    match exit {
        Exit::Hlt => Some(1),
        Exit::Cpuid | Exit::Rdmsr | Exit::Wrmsr | Exit::Invd => Some(2),
        Exit::Xsetbv => Some(3),
        _ => None,
    }
}

fn decode_svm(m: &ExitMessage) -> Exit {
    let info1 = m.qual[0];
    match m.event {
        svm::VINTR => Exit::InterruptWindow,
        svm::CPUID => Exit::Cpuid,
        svm::INVD => Exit::Invd,
        svm::HLT => Exit::Hlt,
        svm::IOIO => match svm_io(info1) {
            Some(access) => Exit::Io(access),
            None => Exit::Unknown(m.event),
        },
        svm::MSR if info1 & 1 == 0 => Exit::Rdmsr,
        svm::MSR => Exit::Wrmsr,
        svm::SHUTDOWN => Exit::TripleFault,
        svm::XSETBV => Exit::Xsetbv,
        e if svm::SVM_INSTRUCTIONS.contains(&e) => Exit::UndefinedInstruction,
        e @ svm::EXCEPTION_BASE..=0x5f => {
            let vector = (e - svm::EXCEPTION_BASE) as u8;
            Exit::Exception {
                vector,
                error_code: has_error_code(vector).then_some(info1 as u32),
            }
        }
        VM_EVENT_NPT => Exit::Memory(MemoryAccess {
            gpa: m.qual[1],
            // Nested page fault error code: bit 1 write, bit 4 instruction fetch.
            write: info1 & (1 << 1) != 0,
            fetch: info1 & (1 << 4) != 0,
        }),
        e => Exit::Unknown(e),
    }
}

/// SVM's IOIO EXITINFO1: bit 0 IN, bit 2 string, bit 3 REP, bits 6:4 one-hot size,
/// bits 31:16 port.
fn svm_io(info1: u64) -> Option<PortAccess> {
    let size = match (info1 >> 4) & 7 {
        1 => IoSize::Byte,
        2 => IoSize::Word,
        4 => IoSize::Dword,
        _ => return None,
    };
    Some(PortAccess {
        port: (info1 >> 16) as u16,
        size,
        input: info1 & 1 != 0,
        string: info1 & (1 << 2) != 0,
        rep: info1 & (1 << 3) != 0,
    })
}

fn decode_vmx(m: &ExitMessage) -> Exit {
    let qual = m.qual[0];
    match m.event {
        vmx::EXCEPTION_OR_NMI => {
            // Interruption information: vector 7:0, error code valid bit 11; the error
            // code in the INJ word's upper half.
            let info = m.interruption;
            Exit::Exception {
                vector: info as u8,
                error_code: (info & (1 << 11) != 0).then_some((info >> 32) as u32),
            }
        }
        vmx::TRIPLE_FAULT => Exit::TripleFault,
        vmx::INTERRUPT_WINDOW => Exit::InterruptWindow,
        vmx::CPUID => Exit::Cpuid,
        vmx::HLT => Exit::Hlt,
        vmx::INVD => Exit::Invd,
        vmx::GETSEC | vmx::INVEPT | vmx::INVVPID => Exit::UndefinedInstruction,
        e if vmx::VMX_INSTRUCTIONS.contains(&e) => Exit::UndefinedInstruction,
        vmx::CR_ACCESS => {
            // Bits 3:0 the register, 5:4 the access type (0 MOV to, 1 MOV from, 2 CLTS,
            // 3 LMSW), 11:8 the general register, 31:16 LMSW's source.
            let gpr = ((qual >> 8) & 0xf) as u8;
            let op = match (qual >> 4) & 3 {
                0 => ControlRegisterOp::MoveTo { gpr },
                1 => ControlRegisterOp::MoveFrom { gpr },
                2 => ControlRegisterOp::Clts,
                _ => ControlRegisterOp::Lmsw {
                    source: (qual >> 16) as u16,
                },
            };
            Exit::ControlRegister(ControlRegisterAccess {
                cr: (qual & 0xf) as u8,
                op,
            })
        }
        vmx::IO => Exit::Io(PortAccess {
            port: (qual >> 16) as u16,
            // Bits 2:0 are the size minus one (0, 1 or 3).
            size: match IoSize::from_bytes((qual & 7) as u8 + 1) {
                Some(size) => size,
                None => return Exit::Unknown(m.event),
            },
            input: qual & (1 << 3) != 0,
            string: qual & (1 << 4) != 0,
            rep: qual & (1 << 5) != 0,
        }),
        vmx::RDMSR => Exit::Rdmsr,
        vmx::WRMSR => Exit::Wrmsr,
        vmx::INVALID_GUEST_STATE | vmx::MSR_LOADING => Exit::InvalidState,
        vmx::EPT_VIOLATION => Exit::Memory(MemoryAccess {
            gpa: m.qual[1],
            // Bit 1 data write, bit 2 instruction fetch.
            write: qual & (1 << 1) != 0,
            fetch: qual & (1 << 2) != 0,
        }),
        vmx::XSETBV => Exit::Xsetbv,
        e => Exit::Unknown(e),
    }
}

/// The exceptions that push an error code (#DF, #TS, #NP, #SS, #GP, #PF, #AC, #CP).
pub fn has_error_code(vector: u8) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21)
}
