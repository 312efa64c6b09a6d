//! The register frame saved on kernel entry (exception, interrupt or hypercall).
//!
//! The entry stubs push the general-purpose registers below the frame the CPU pushed
//! (with a vector number and an error code in between), so every way into the kernel
//! leaves the same layout on the kernel stack, and every way out restores it.

/// Saved user or kernel state, lowest address first.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Frame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Vector number; [`VECTOR_SYSCALL`] for a hypercall.
    pub vector: u64,
    /// CPU error code, or 0.
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// Pseudo vector recorded for hypercalls.
pub const VECTOR_SYSCALL: u64 = 0x100;

impl Frame {
    /// Every register zero.
    pub const ZERO: Frame = Frame {
        r15: 0,
        r14: 0,
        r13: 0,
        r12: 0,
        r11: 0,
        r10: 0,
        r9: 0,
        r8: 0,
        rbp: 0,
        rdi: 0,
        rsi: 0,
        rdx: 0,
        rcx: 0,
        rbx: 0,
        rax: 0,
        vector: 0,
        error: 0,
        rip: 0,
        cs: 0,
        rflags: 0,
        rsp: 0,
        ss: 0,
    };

    /// Whether the frame was saved while the CPU ran in user mode.
    pub fn is_user(&self) -> bool {
        self.cs & 3 == 3
    }
}

const _: () = assert!(core::mem::size_of::<Frame>() == 22 * 8);

/// Assembly that pushes the general-purpose registers so that they end up in the order
/// of [`Frame`] (R15 lowest), for the entry stubs.
macro_rules! push_gprs {
    () => {
        "push rax\npush rbx\npush rcx\npush rdx\npush rsi\npush rdi\npush rbp\npush r8\npush r9\npush r10\npush r11\npush r12\npush r13\npush r14\npush r15\n"
    };
}

/// Assembly that pops what [`push_gprs`] pushed, for the exit paths.
macro_rules! pop_gprs {
    () => {
        "pop r15\npop r14\npop r13\npop r12\npop r11\npop r10\npop r9\npop r8\npop rbp\npop rdi\npop rsi\npop rdx\npop rcx\npop rbx\npop rax\n"
    };
}

pub(crate) use {pop_gprs, push_gprs};
