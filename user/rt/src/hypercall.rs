//! Hypercall wrappers.
//!
//! ARG1..ARG5 go in RDI, RSI, RDX, RAX and R8; the kernel returns the status in RDI
//! bits 7:0 and may change RSI, RDX and RAX. RCX and R11 are clobbered by `syscall`.

use core::arch::asm;

use facet_abi::crd::Crd;
use facet_abi::hypercall::{arg1, pd_ctrl, Hypercall};
use facet_abi::status::Status;

/// Registers after a hypercall.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rax: u64,
}

/// Issues a raw hypercall.
pub fn raw(a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> Out {
    let (rdi, rsi, rdx, rax);
    // SAFETY: `syscall` enters the kernel, which preserves every register but the ones
    // named here and never touches this program's memory except its UTCB.
    unsafe {
        asm!(
            "syscall",
            inout("rdi") a1 => rdi,
            inout("rsi") a2 => rsi,
            inout("rdx") a3 => rdx,
            inout("rax") a4 => rax,
            in("r8") a5,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        )
    }
    Out { rdi, rsi, rdx, rax }
}

/// The status of a hypercall's result (unknown codes read as BAD_HYP).
pub fn status(out: &Out) -> Status {
    Status::from_out1(out.rdi).unwrap_or(Status::BadHyp)
}

/// `pd_ctrl delegate`: transfers the capabilities `crd` of PD `src` into the window
/// `window` of PD `dst`, with transfer metadata `meta` (kind, flags, hotspot).
/// Returns the delegated CRD and the resulting metadata.
pub fn pd_ctrl_delegate(
    src: u64,
    dst: u64,
    crd: Crd,
    meta: u64,
    window: Crd,
) -> Result<(Crd, u64), Status> {
    let o = raw(
        arg1(Hypercall::PdCtrl, pd_ctrl::DELEGATE, src),
        dst,
        crd.0,
        meta,
        window.0,
    );
    match status(&o) {
        Status::Success => Ok((Crd(o.rdx), o.rax)),
        s => Err(s),
    }
}
