//! What only a pass-through PD may do: read and write (some) MSRs, and `machine_ctrl`
//! (suspend, microcode updates, and sub-operation 3, Facet's pool statistics); a PD that
//! is not pass-through gets BAD_CAP.

use core::arch::global_asm;

use facet_abi::hypercall::machine_ctrl::{frames, objects, pd_frames};
use facet_abi::hypercall::{arg1, Hypercall};
use facet_abi::layout::ROOT_SEL_PD;
use facet_abi::status::Status;
use facet_rt::hypercall::{call, msr_read, msr_write, pt_ctrl, raw, status};
use facet_rt::utcb::Utcb;

use crate::suite::child::Child;
use crate::suite::fixture::{MACHINE_CTRL, MACHINE_CTRL_UTCB, NOTHING};
use crate::suite::{ok, Env, Fail, TestResult};

pub fn msr_access(_: &Env) -> TestResult {
    // PAT still holds its architectural reset value: the kernel does not change it.
    let pat = msr_read(0x277).map_err(|s| Fail::new(format_args!("PAT: {}", s.name())))?;
    ensure_eq!(pat, 0x0007_0406_0007_0406u64);
    // What the kernel owns, and what reaches past it (Intel PT's output base and
    // control, DEBUGCTL and the LBR stack, MISC_ENABLE, AMD's SYSCFG, IORR and TOP_MEM):
    // refused both ways, whether or not the CPU has it.
    for msr in [
        0xc000_0080,
        0xc000_0082,
        0x6e0,
        0x3a,
        0x10,
        0x48,
        0x560,
        0x570,
        0x1d9,
        0x680,
        0x1a0,
        0xc001_0010,
        0xc001_0016,
        0xc001_001a,
    ] {
        ensure_eq!(msr_read(msr), Err(Status::BadPar));
        ensure_eq!(msr_write(msr, 0), Err(Status::BadPar));
    }
    // The memory types may be read but not written.
    ensure_eq!(msr_write(0x277, 0), Err(Status::BadPar));
    ensure_eq!(msr_write(0x2ff, 0), Err(Status::BadPar));
    // An allowed register the CPU does not have raises #GP on hardware, which the
    // kernel catches and answers with BAD_PAR; QEMU's TCG and Bochs may read it as 0
    // instead. Either way the kernel answers and stays healthy.
    let maybe = msr_read(0x770);
    ensure!(
        matches!(maybe, Err(Status::BadPar) | Ok(_)),
        "HWP: {:?}",
        maybe
    );
    // Registers outside the list, existing or not, are refused.
    ensure_eq!(msr_read(0x4000_1234), Err(Status::BadPar));
    ensure_eq!(msr_read(0x277), Ok(0x0007_0406_0007_0406u64));
    Ok(())
}

global_asm!(
    r#"
    .section .text.machine_ctrl_probe, "ax"
    .balign 4096
    .global __machine_ctrl_probe
    // A portal handler in a child PD whose portal id is its UTCB's address: asks for the
    // pool statistics (machine_ctrl, sub-operation 3) and replies with the status word.
__machine_ctrl_probe:
    mov rbx, rdi
    mov edi, 0x3f
    syscall
    mov [rbx + 32], rdi
    mov qword ptr [rbx], 1
    mov edi, 1
    syscall
    ud2
    .balign 4096
"#
);

extern "C" {
    fn __machine_ctrl_probe();
}

const CHILD: Child = Child::new(MACHINE_CTRL, MACHINE_CTRL_UTCB);

/// `machine_ctrl`: a suspend to a bad sleep type and a microcode update of no bytes are
/// refused (`s3.rs` and `microcode.rs` have the rest), sub-operation 2 is refused as in
/// the reference, 3 is Facet's statistics (ARG2 0 the pool's, 1 the IOMMU's faults, 2
/// frames by use, 3 objects by kind, 4 a PD's frames, 5 a CPU's timer interrupts; others,
/// and uses, kinds, parts and CPUs beyond the last, refused); a PD that is not
/// pass-through gets BAD_CAP.
pub fn machine_ctrl_answers(_: &Env) -> TestResult {
    let op4 = |sub, arg2, arg3, arg4| {
        status(&raw(
            arg1(Hypercall::MachineCtrl, sub, 0),
            arg2,
            arg3,
            arg4,
            0,
        ))
    };
    let op = |sub, arg2| op4(sub, arg2, 0, 0);
    // Suspend with a SLP_TYPa beyond three bits (a valid one would put the machine to
    // sleep: `s3.rs`).
    let bad_suspend = raw(arg1(Hypercall::MachineCtrl, 0, 8), 0, 0, 0, 0);
    ensure_eq!(status(&bad_suspend), Status::BadPar);
    ensure_eq!(op(1, 0), Status::BadPar);
    ensure_eq!(op(2, 0), Status::BadPar);
    ensure_eq!(op(3, 0), Status::Success);
    ensure_eq!(op(3, 1), Status::Success);
    ensure_eq!(op4(3, 2, 0, 0), Status::Success);
    ensure_eq!(op4(3, 2, frames::COUNT - 1, 0), Status::Success);
    ensure_eq!(op4(3, 2, frames::COUNT, 0), Status::BadPar);
    ensure_eq!(op4(3, 2, u64::MAX, 0), Status::BadPar);
    ensure_eq!(op4(3, 3, objects::COUNT - 1, 0), Status::Success);
    ensure_eq!(op4(3, 3, objects::COUNT, 0), Status::BadPar);
    ensure_eq!(
        op4(3, 4, ROOT_SEL_PD, pd_frames::COUNT - 1),
        Status::Success
    );
    ensure_eq!(op4(3, 4, ROOT_SEL_PD, pd_frames::COUNT), Status::BadPar);
    // A selector that names no PD.
    ensure_eq!(op4(3, 4, NOTHING, 0), Status::BadCap);
    ensure_eq!(op4(3, 4, ROOT_SEL_PD + 1, 0), Status::BadCap);
    // A CPU's timer interrupts: CPU 0 is online, CPU 4095 is not.
    ensure_eq!(op4(3, 5, 0, 0), Status::Success);
    ensure_eq!(op4(3, 5, 4095, 0), Status::BadPar);
    ensure_eq!(op(3, 6), Status::BadPar);
    ensure_eq!(op(3, u64::MAX), Status::BadPar);
    // The same request from a child PD that is not pass-through.
    CHILD.create(__machine_ctrl_probe)?;
    let pt = ok(
        CHILD.prepare(0, __machine_ctrl_probe),
        "the child's handler",
    )?;
    ok(pt_ctrl(pt, MACHINE_CTRL_UTCB.addr(0)), "portal id")?;
    let root = Utcb::ROOT;
    root.set_items(0);
    ok(call(pt), "call the child")?;
    // The reply's one word follows the four header words.
    let (items, word) = (root.items(), root.word(0));
    ensure_eq!(items & 0xffff, 1u64);
    ensure_eq!(word & 0xff, Status::BadCap as u64);
    CHILD.revoke(1)
}
