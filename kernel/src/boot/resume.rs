//! Waking from S3: where the trampoline brings the boot CPU (`bsp`) and then each other
//! CPU (`ap`) in long mode, on a resume stack, interrupts off (see `smp::sleep`). Each
//! sets its CPU up again as the boot path did (control registers and XCR0, the kernel's
//! page table, its descriptor tables, the system-call MSRs, the local APIC, the
//! virtualization extension, the microcode update in force) without allocating
//! anything, and jumps back to where it was parked. The boot CPU first restores what the
//! machine lost (the legacy PICs, the I/O APICs' pins and masks, the IOMMU's units, the
//! FACS) and starts the others.

use crate::{arch, smp};

/// Sets the executing CPU, `cpu`, up again after S3.
fn restore_cpu(cpu: u32) {
    let Some((features, pcid)) = smp::ap_features() else {
        arch::cpu::halt_forever()
    };
    let _ = arch::cpu::enable(&features, pcid);
    if let Some(kernel) = crate::mem::kspace::kernel_root() {
        // SAFETY: the kernel's table maps everything the kernel uses, this CPU's stacks
        // and the resume stack (in the image) among them.
        unsafe { arch::cpu::write_cr3(kernel.root) };
    }
    let tables = if cpu == 0 {
        core::ptr::addr_of_mut!(arch::gdt::BSP_TABLES)
    } else {
        match arch::gdt::tables(cpu) {
            Some(t) => t,
            None => arch::cpu::halt_forever(),
        }
    };
    // SAFETY: this CPU's own tables, loaded before the suspend; they are static (the
    // boot CPU's) or in frames kept for good (the others').
    unsafe { (*tables).reload() };
    arch::idt::load();
    crate::entry::syscall::init();
    arch::lapic::resume_here();
    crate::vcpu::resume_here(&features);
    arch::microcode::reload_here();
    // The timer lost its deadline: armed again for what is due on this CPU.
    crate::exec::timer::program();
}

/// The boot CPU's way back from S3.
pub extern "C" fn bsp(_cpu: u32) -> ! {
    smp::sleep::fix_tsc(true);
    restore_cpu(0);
    arch::pic::disable();
    arch::ioapic::restore_all();
    crate::iommu::resume();
    crate::acpi::restore_facs();
    smp::sleep::wake_others();
    // SAFETY: this is CPU 0, set up again, on the boot CPU's resume stack.
    unsafe { smp::sleep::continue_here(0) }
}

/// Another CPU's way back from S3, started by the boot CPU.
pub extern "C" fn ap(cpu: u32) -> ! {
    smp::sleep::fix_tsc(false);
    restore_cpu(cpu);
    // SAFETY: this is CPU `cpu`, set up again, on the others' resume stack.
    unsafe { smp::sleep::continue_here(cpu) }
}
