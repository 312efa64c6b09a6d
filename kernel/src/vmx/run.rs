//! Running a vCPU on VMX: VMLAUNCH/VMRESUME until the next exit.

use core::arch::{asm, global_asm};
use core::sync::atomic::{AtomicU64, Ordering};

use facet_abi::layout::VM_EVENT_INVALID;

use super::vmcs::{self, read, write};
use crate::arch::regs::Frame;
use crate::arch::vmx::{clear_here, current_slot};
use crate::mem::direct_map::virt;
use crate::vcpu::Exit;

global_asm!(concat!(
    r#"
    .section .text.vmx, "ax"
    .global __vmx_enter
    // rdi: guest registers (a Frame), rsi: 0 to launch, 1 to resume.
    // Returns 0 after a VM exit, 1 if the entry failed.
__vmx_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    mov rax, 0x6c14
    vmwrite rax, rsp
    lea rdx, [rip + 2f]
    mov rax, 0x6c16
    vmwrite rax, rdx
    cmp rsi, 0
    mov rax, [rdi + 14*8]
"#,
    crate::vcpu::load_guest_registers!(),
    r#"    jne 1f
    vmlaunch
    jmp 3f
1:
    vmresume
3:
    // The entry failed: nothing of the guest ran.
    pop rdi
    mov eax, 1
    jmp 4f
2:
    // A VM exit: RSP is what was written to HOST_RSP (the frame pointer on top).
    push rdi
    mov rdi, [rsp + 8]
    mov [rdi + 14*8], rax
"#,
    crate::vcpu::store_guest_registers!(),
    r#"    pop rax
    mov [rdi + 9*8], rax
    add rsp, 8
    xor eax, eax
4:
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
    fn __vmx_enter(guest: *mut Frame, resume: u64) -> u64;
}

/// Kernel-private per-vCPU data in the page after the VMCS (the VMCS region itself is
/// opaque to software).
#[repr(C)]
struct Side {
    /// Whether VMLAUNCH succeeded once (later entries use VMRESUME).
    launched: u64,
    /// The guest's CR2, which VMX leaves in the register across exits.
    cr2: u64,
    /// The vCPU's VPID (0: none).
    vpid: u64,
    /// Whether the VPID's translations must be invalidated before the next entry.
    flush: u64,
    /// The CPU (plus one) whose host state the VMCS holds; 0 before the first entry.
    host_cpu: u64,
    /// The VMM's timeout (MTD TSC_TIMEOUT) as an absolute TSC value; 0: none.
    vmm_deadline: u64,
}

/// The guest's CR2 (the kernel holds it while the guest does not run).
pub fn guest_cr2(vmcs: u64) -> u64 {
    // SAFETY: the side page belongs to the vCPU.
    unsafe { (*side(vmcs)).cr2 }
}

/// Sets the guest's CR2 for its next entry.
pub fn set_guest_cr2(vmcs: u64, cr2: u64) {
    // SAFETY: the side page belongs to the vCPU.
    unsafe { (*side(vmcs)).cr2 = cr2 };
}

/// The VMM's timeout for the vCPU: `relative` TSC ticks from now (all ones: none).
pub fn set_vmm_timeout(vmcs: u64, relative: u64) {
    let deadline = if relative == u64::MAX {
        0
    } else {
        crate::arch::cpu::tsc().saturating_add(relative).max(1)
    };
    // SAFETY: the side page belongs to the vCPU.
    unsafe { (*side(vmcs)).vmm_deadline = deadline };
}

/// The TSC ticks left of the VMM's timeout (all ones: none).
pub fn vmm_timeout(vmcs: u64) -> u64 {
    // SAFETY: as for `set_vmm_timeout`.
    let deadline = unsafe { (*side(vmcs)).vmm_deadline };
    if deadline == 0 {
        u64::MAX
    } else {
        deadline.saturating_sub(crate::arch::cpu::tsc())
    }
}

/// Sets up the side data of a new vCPU with TLB tag `vpid` (0 for none).
pub fn init_side(vmcs: u64, vpid: u32) {
    // SAFETY: the side page was just allocated with the VMCS and belongs to it.
    unsafe {
        (*side(vmcs)).vpid = vpid as u64;
        (*side(vmcs)).flush = 1;
    }
    for (i, &msr) in SWITCHED_MSRS.iter().enumerate() {
        set_msr_entry(vmcs + GUEST_MSRS, i, msr, 0);
        // The host's values: the system-call MSRs are the same on every CPU; its
        // KERNEL_GS_BASE (the user GS base) is written before each entry (`enter`).
        let host = if msr == KERNEL_GS_BASE {
            0
        } else {
            // SAFETY: these MSRs exist on every x86_64 CPU.
            unsafe { crate::arch::msr::read(msr) }
        };
        set_msr_entry(vmcs + HOST_MSRS, i, msr, host);
    }
}

/// The MSRs VMX does not switch but a 64-bit guest uses (SYSCALL and SWAPGS): the CPU
/// loads the guest's from a list at each entry, stores them back at each exit and loads
/// the host's from a second list.
pub const SWITCHED_MSRS: [u32; 4] = [0xc000_0081, 0xc000_0082, 0xc000_0084, KERNEL_GS_BASE];
const KERNEL_GS_BASE: u32 = 0xc000_0102;
/// Where in the VMCS's two frames the guest's and the host's MSR lists lie (the second
/// frame is the side page).
pub const GUEST_MSRS: u64 = 4096 + 0x100;
pub const HOST_MSRS: u64 = 4096 + 0x200;

fn set_msr_entry(list: u64, i: usize, msr: u32, value: u64) {
    let at = virt(list + 16 * i as u64);
    // SAFETY: the list lies in the vCPU's side page; an entry is the MSR index, a
    // reserved word and the value.
    unsafe {
        (at as *mut u32).write_volatile(msr);
        ((at + 4) as *mut u32).write_volatile(0);
        ((at + 8) as *mut u64).write_volatile(value);
    }
}

/// Sets the user GS base (the host's KERNEL_GS_BASE) the CPU loads at the vCPU's exits.
fn set_host_user_gs(vmcs: u64, gs: u64) {
    const AT: u64 = HOST_MSRS + 16 * KERNEL_GS_BASE_INDEX as u64 + 8;
    // SAFETY: the value word of the entry in the vCPU's side page (`set_msr_entry`).
    unsafe { (virt(vmcs + AT) as *mut u64).write_volatile(gs) };
}

/// Where KERNEL_GS_BASE is in [`SWITCHED_MSRS`].
const KERNEL_GS_BASE_INDEX: usize = 3;
const _: () = assert!(SWITCHED_MSRS[KERNEL_GS_BASE_INDEX] == KERNEL_GS_BASE);

/// The guest's value of the `i`th switched MSR.
pub fn guest_msr(vmcs: u64, i: usize) -> u64 {
    // SAFETY: as for `set_msr_entry`.
    unsafe { (virt(vmcs + GUEST_MSRS + 16 * i as u64 + 8) as *const u64).read_volatile() }
}

/// Sets the guest's value of the `i`th switched MSR.
pub fn set_guest_msr(vmcs: u64, i: usize, value: u64) {
    set_msr_entry(vmcs + GUEST_MSRS, i, SWITCHED_MSRS[i], value);
}

fn side(vmcs: u64) -> *mut Side {
    virt(vmcs + 4096) as *mut Side
}

/// The VMCS at `phys` was cleared (before S3): its next entry launches it.
pub fn cleared(phys: u64) {
    // SAFETY: the side page belongs to this vCPU, whose exit the executing CPU handles.
    unsafe { (*side(phys)).launched = 0 };
}

/// Records the current VMCS (after VMPTRLD).
pub fn set_current(phys: u64) {
    current_slot().store(phys, Ordering::Release);
}

/// The vCPU's guest-linear translations (its VPID's) must go before its next entry.
pub fn flush_vpid(vmcs: u64) {
    // SAFETY: the side page belongs to the vCPU.
    unsafe { (*side(vmcs)).flush = 1 };
}

/// Writes the host state the CPU returns to on a VM exit (but CR3 and FS base, set per
/// entry, and RSP/RIP, set by the entry code).
pub fn host_state() {
    use vmcs::*;
    let (gdt, idt) = descriptor_bases();
    write(HOST_CR0, crate::arch::cpu::read_cr0());
    write(HOST_CR4, crate::arch::cpu::read_cr4());
    write(HOST_CS_SEL, crate::arch::gdt::SEL_KERNEL_CODE as u64);
    for s in [HOST_SS_SEL, HOST_DS_SEL, HOST_ES_SEL] {
        write(s, crate::arch::gdt::SEL_KERNEL_DATA as u64);
    }
    write(HOST_FS_SEL, 0);
    write(HOST_GS_SEL, 0);
    write(HOST_TR_SEL, crate::arch::gdt::SEL_TSS as u64);
    // SAFETY: reading the GS base, EFER and PAT MSRs has no side effects.
    let (gs, efer, pat) = unsafe {
        (
            crate::arch::msr::read(0xc000_0101),
            crate::arch::msr::read(0xc000_0080),
            crate::arch::msr::read(0x277),
        )
    };
    write(HOST_GS_BASE, gs);
    write(
        HOST_TR_BASE,
        crate::arch::gdt::tables(crate::arch::percpu::cpu_id() as u32).map_or(0, |t| t as u64),
    );
    write(HOST_GDTR_BASE, gdt);
    write(HOST_IDTR_BASE, idt);
    write(HOST_EFER, efer);
    write(HOST_PAT, pat);
    write(HOST_SYSENTER_CS, 0);
    write(HOST_SYSENTER_ESP, 0);
    write(HOST_SYSENTER_EIP, 0);
}

fn descriptor_bases() -> (u64, u64) {
    let mut gdtr = [0u8; 10];
    let mut idtr = [0u8; 10];
    // SAFETY: SGDT/SIDT store 10 bytes each into the buffers.
    unsafe {
        asm!("sgdt [{}]", in(reg) gdtr.as_mut_ptr(), options(nostack));
        asm!("sidt [{}]", in(reg) idtr.as_mut_ptr(), options(nostack));
    }
    let base = |b: [u8; 10]| u64::from_le_bytes([b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9]]);
    (base(gdtr), base(idtr))
}

/// Makes `phys` the current VMCS.
pub fn make_current(phys: u64) -> bool {
    if current_slot().load(Ordering::Acquire) == phys {
        return true;
    }
    let failed: u8;
    // SAFETY: VMPTRLD takes the physical address of a VMCS the vCPU owns.
    unsafe {
        asm!("vmptrld [{}]", "setna {}", in(reg) &phys, out(reg_byte) failed, options(nostack))
    };
    if failed == 0 {
        set_current(phys);
    }
    failed == 0
}

/// Runs the vCPU whose general registers are in `frame` until its next exit. The CPU
/// comes back with the user FS and GS bases it holds now (`user_gs` is the GS base), as
/// SVM's VMSAVE and VMLOAD leave them: the vCPU keeps the bases of the thread before it
/// (`exec::exchange_to_vcpu`).
pub fn enter(frame: &mut Frame, phys: u64, user_gs: u64) -> Exit {
    if !make_current(phys) {
        return Exit::Message(VM_EVENT_INVALID);
    }
    // The host state is the CPU's own (its TSS, GDT, IDT, per-CPU GS base): written at
    // the vCPU's first entry, on the CPU it is bound to.
    let here = crate::arch::percpu::cpu_id() + 1;
    // SAFETY: the side page belongs to this vCPU.
    if unsafe { (*side(phys)).host_cpu } != here {
        host_state();
        // SAFETY: as above.
        unsafe { (*side(phys)).host_cpu = here };
    }
    if crate::vcpu::guest_tables_stale() {
        invept_all();
    }
    // SAFETY: the side page belongs to this vCPU.
    let (vpid, flush) = unsafe {
        (
            (*side(phys)).vpid,
            core::mem::take(&mut (*side(phys)).flush),
        )
    };
    if vpid != 0 && flush != 0 {
        invvpid_single(vpid);
    }
    // A physical interrupt makes the guest exit whatever its RFLAGS.IF, but an emulator
    // (Bochs) only does so while the guest has interrupts enabled. The preemption timer
    // ends the time in the guest when this CPU's timer is due in any case (the end of
    // the quantum, a deadline). The VMM's own timeout, if it comes first, rides on the
    // same timer.
    let vmm = vmm_timeout(phys);
    let until = facet_kcore::timer::preemption_count(
        crate::arch::lapic::armed(),
        crate::arch::cpu::tsc(),
        preemption_shift() as u32,
    );
    let ticks = if vmm == u64::MAX {
        until
    } else {
        (vmm >> preemption_shift()).min(until)
    };
    write(vmcs::PREEMPTION_TIMER, ticks);
    // The kernel returns on the address space and with the user FS base of the moment.
    write(vmcs::HOST_CR3, crate::arch::cpu::read_cr3());
    write(vmcs::HOST_FS_BASE, crate::arch::cpu::user_fs_base());
    set_host_user_gs(phys, user_gs);
    let side = side(phys);
    // SAFETY: the side page belongs to this vCPU (allocated with its VMCS). CR2 is not
    // used by the kernel between here and the entry (no page faults happen there).
    let launched = unsafe {
        asm!("mov cr2, {}", in(reg) (*side).cr2, options(nostack));
        (*side).launched
    };
    crate::vcpu::debug::enter_dr6(phys);
    // Other CPUs may use the kernel while this one runs the guest.
    crate::smp::bkl::release();
    // SAFETY: the VMCS is current and complete (see `super::new_vmcs`); host RSP/RIP are
    // written by the assembly, which saves every host register it changes.
    let failed = unsafe { __vmx_enter(frame, launched) };
    crate::smp::bkl::reacquire();
    crate::vcpu::debug::exit_dr6(phys);
    // SAFETY: as above; the guest's CR2 is read before anything can fault.
    unsafe { (*side).cr2 = crate::arch::cpu::read_cr2() };
    restore_tr();
    if failed != 0 {
        crate::println_limited!(
            crate::console::limited::Kind::Vcpu,
            "vmx: VM entry refused, instruction error {}",
            read(vmcs::INSTRUCTION_ERROR)
        );
        return Exit::Message(VM_EVENT_INVALID);
    }
    let reason = read(vmcs::EXIT_REASON) as u32;
    let entered = reason & vmcs::REASON_ENTRY_FAILED == 0;
    if entered {
        // The VMCS is launched once an entry got through (a refused VMLAUNCH leaves it
        // clear, to be launched again).
        // SAFETY: as above.
        unsafe { (*side).launched = 1 };
        // An injected event has been delivered (or is reported in the IDT-vectoring
        // information); it must not be injected again. After a failed entry it is still
        // pending, for the VMM to see.
        write(vmcs::ENTRY_INTR_INFO, 0);
    }
    match reason & 0xffff {
        // The preemption timer for the VMM's timeout: its exit once the timeout has
        // passed; it is then gone.
        vmcs::REASON_PREEMPTION_TIMER if entered && vmm_timeout(phys) == 0 => {
            set_vmm_timeout(phys, u64::MAX);
            Exit::Message(vmcs::REASON_PREEMPTION_TIMER as u64)
        }
        // A physical interrupt, or the preemption timer that stands in for one.
        vmcs::REASON_EXTERNAL_INTERRUPT | vmcs::REASON_PREEMPTION_TIMER if entered => {
            Exit::Interrupt
        }
        // A physical NMI (NMI exiting): the exit consumed it; it is the host's event,
        // not the guest's.
        vmcs::REASON_EXCEPTION_OR_NMI if entered && read(vmcs::EXIT_INTR_INFO) >> 8 & 7 == 2 => {
            crate::arch::nmi::seen();
            Exit::Interrupt
        }
        // Basic exit reasons are the event numbers; a failed entry (bit 31) reports its
        // reason (invalid guest state 33, MSR loading 34) the same way.
        r => Exit::Message((r & 0xff) as u64),
    }
}

/// The preemption timer counts the TSC divided by 2^IA32_VMX_MISC[4:0].
fn preemption_shift() -> u64 {
    static SHIFT: AtomicU64 = AtomicU64::new(u64::MAX);
    let s = SHIFT.load(Ordering::Relaxed);
    if s != u64::MAX {
        return s;
    }
    // SAFETY: IA32_VMX_MISC exists when VMX is enabled; reading it has no side effects.
    let s = unsafe { crate::arch::msr::read(0x485) } & 0x1f;
    SHIFT.store(s, Ordering::Relaxed);
    s
}

fn invvpid_single(vpid: u64) {
    let descriptor = [vpid, 0u64];
    // SAFETY: INVVPID type 1 (single context) only drops cached translations of the
    // VPID named in the descriptor.
    unsafe {
        asm!("invvpid {}, [{}]", in(reg) 1u64, in(reg) descriptor.as_ptr(), options(nostack))
    };
}

fn invept_all() {
    let descriptor = [0u64; 2];
    // SAFETY: INVEPT type 2 (all contexts) only drops cached translations; the
    // descriptor is ignored for that type but must be readable.
    unsafe { asm!("invept {}, [{}]", in(reg) 2u64, in(reg) descriptor.as_ptr(), options(nostack)) };
}

/// A VM exit sets the TR limit to 0x67, which hides the I/O permission bitmap: reload TR
/// (clearing the descriptor's busy bit first).
fn restore_tr() {
    // SAFETY: the GDT and TSS are static; clearing the busy type bit of the TSS
    // descriptor and reloading TR restores the full limit; nothing else uses TR now.
    unsafe {
        let Some(tables) = crate::arch::gdt::tables(crate::arch::percpu::cpu_id() as u32) else {
            return;
        };
        let gdt = &mut (*tables).gdt;
        gdt[6] &= !(1 << 41);
        asm!("ltr {:x}", in(reg) crate::arch::gdt::SEL_TSS, options(nostack));
    }
}

/// Forgets a VMCS that is being freed: it must not stay active on the CPU of its vCPU,
/// `cpu`, which may have it cached (VMCLEAR writes it back and deactivates it). Returns
/// its VPID, for the caller to give back.
pub fn forget(phys: u64, cpu: u32) -> u32 {
    // SAFETY: the side page belongs to the vCPU being freed.
    let vpid = unsafe { (*side(phys)).vpid } as u32;
    if cpu as u64 == crate::arch::percpu::cpu_id() || !crate::smp::online(cpu) {
        clear_here(phys);
    } else {
        crate::smp::shootdown::vmclear_on(cpu, phys);
    }
    vpid
}
