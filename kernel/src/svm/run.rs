//! Running a vCPU: VMRUN until the next exit, and turning the exit into a message.

use core::arch::global_asm;

use facet_abi::layout::{VM_EVENT_INVALID, VM_EVENT_NPT};
use facet_kcore::svm_inject;

use super::vmcb::{self, Vmcb};
use crate::arch::regs::Frame;

global_asm!(concat!(
    r#"
    .section .text.svm, "ax"
    .global __svm_vmrun
    // rdi: guest registers (a Frame), rsi: VMCB physical address, rdx: this CPU's
    // host-state page. VMSAVE/VMLOAD around VMRUN switch the state VMRUN leaves alone
    // (FS, GS, TR, LDTR and their hidden parts, KERNEL_GS_BASE, STAR/LSTAR/CSTAR/SFMASK,
    // SYSENTER): the guest gets its own, the kernel gets its own back.
__svm_vmrun:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    push rdx
    push rsi
    // No interrupts or NMIs while the guest's GS, TR and syscall MSRs are loaded.
    clgi
    mov rax, rdx
    vmsave rax
    mov rax, rsi
    vmload rax
"#,
    crate::vcpu::load_guest_registers!(),
    r#"    sti
    vmrun rax
    cli
    vmsave rax
    push rdi
    mov rdi, [rsp + 24]
"#,
    crate::vcpu::store_guest_registers!(),
    r#"    pop rax
    mov [rdi + 9*8], rax
    pop rsi
    pop rax
    vmload rax
    add rsp, 8
    stgi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
"#
));

extern "C" {
    fn __svm_vmrun(guest: *mut Frame, vmcb: u64, host: u64);
}

use crate::vcpu::Exit;

/// Runs the vCPU whose general registers are in `frame` until its next exit.
pub fn enter(frame: &mut Frame, v: Vmcb) -> Exit {
    // Flush the TLB (all ASIDs: what every CPU with SVM can do) when the vCPU shares
    // ASID 1, when a guest page table changed, and when the vCPU's paging state came from
    // its VMM or its ASID is new.
    // Checked before the flush requests below are taken: a refused entry keeps them.
    let host = super::host_area();
    if host == 0 {
        return Exit::Message(VM_EVENT_INVALID);
    }
    let stale = crate::vcpu::guest_tables_stale();
    let flush = v.take_flush() || stale || v.r32(vmcb::ASID) == 1;
    v.w32(vmcb::TLB_CONTROL, flush as u32);
    // Other CPUs may use the kernel while this one runs the guest.
    crate::smp::bkl::release();
    // SAFETY: the VMCB is a valid, owned control block (see `super::new_vmcb`), the
    // HSAVE area is set for this CPU, the host-state page is this CPU's, and the
    // assembly saves every host register it changes and restores the host's GS, TR,
    // syscall MSRs and the rest with VMLOAD before anything uses them.
    unsafe { __svm_vmrun(frame, v.0, host) };
    crate::smp::bkl::reacquire();
    // An injected event is delivered by this VMRUN (or shows up in EXITINTINFO if the
    // exit interrupted its delivery); it must not be injected again.
    v.w64(vmcb::EVENTINJ, 0);
    let code = v.r64(vmcb::EXITCODE);
    match code {
        // A physical interrupt, NMI or SMI: held pending while the guest ran, taken by
        // the host as soon as GIF is set again (NMIs by `trap::paranoid_entry`).
        0x60..=0x62 => Exit::Interrupt,
        // VMRUN refused the state (-1; QEMU stores it as 32 bits). What the CPU wrote to
        // the state-save area then is not the guest's (QEMU leaves the host's there):
        // the VMM gets back the state it last wrote.
        u64::MAX | 0xffff_ffff => {
            v.restore_snapshot();
            // The refused state may be entered again unchanged once the VMM mends the
            // rest: the flush it asked for must still come.
            v.request_flush();
            Exit::Message(VM_EVENT_INVALID)
        }
        0x400 => Exit::Message(VM_EVENT_NPT),
        // The IRET intercept the kernel set for an interrupt window beside a virtual
        // interrupt (`facet_kcore::svm_inject`): the VMM hears of the window; the
        // intercept goes.
        svm_inject::EXIT_IRET if v.own_iret() => {
            v.w32(
                vmcb::INTERCEPT_MISC1,
                v.r32(vmcb::INTERCEPT_MISC1) & !svm_inject::INTERCEPT_IRET,
            );
            v.set_own_iret(false);
            Exit::Message(svm_inject::EXIT_VINTR)
        }
        c if c < VM_EVENT_NPT => Exit::Message(c),
        _ => Exit::Message(VM_EVENT_INVALID),
    }
}
