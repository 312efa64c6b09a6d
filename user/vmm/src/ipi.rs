//! Telling a vCPU that something arrived for it: an interrupt in its local APIC (from
//! an IPI, its timer, the PIC for vCPU 0), an NMI, INIT or a start-up IPI. A vCPU in the
//! guest is recalled (its next return to the guest becomes a recall exit, where its
//! handler injects); one halted in its handler is woken with an `up`.

use core::sync::atomic::Ordering;

use facet_rt::hypercall::{ec_recall, sm_up};
use facet_vmm_core::lapic::{IpiKind, IpiRequest};

use crate::layout::vcpu;
use crate::vm::vm;

/// Makes vCPU `target` look at its interrupts soon. `from` is the vCPU that asks
/// (`None` for another EC): a vCPU needs no kick from its own handler, which looks
/// before it resumes the guest anyway.
pub fn kick(target: usize, from: Option<usize>) {
    if from == Some(target) {
        return;
    }
    let v = &vm().vcpus[target];
    // The target's halt loop sets `halted` before it looks at its interrupts for the
    // last time: either it sees what the caller delivered before this, or the caller
    // sees it halted and wakes it. A recall it did not need costs one exit.
    if v.halted.load(Ordering::SeqCst) {
        let _ = sm_up(vcpu::halt_sm(target));
    } else {
        let _ = ec_recall(vcpu::ec(target));
    }
}

/// Delivers the IPI vCPU `sender` sent through its ICR.
pub fn deliver(sender: usize, request: IpiRequest) {
    let vm = vm();
    let mut lowest_priority_done = false;
    for target in 0..vm.vcpu_count {
        if !request.targets(sender as u32, target as u32) {
            continue;
        }
        let v = &vm.vcpus[target];
        match request.kind {
            IpiKind::Fixed {
                vector,
                level_triggered,
            } => {
                if v.lapic.lock().accept(vector, level_triggered) {
                    kick(target, Some(sender));
                }
            }
            // Any one target will do: the first.
            IpiKind::LowestPriority {
                vector,
                level_triggered,
            } => {
                if !lowest_priority_done && v.lapic.lock().accept(vector, level_triggered) {
                    lowest_priority_done = true;
                    kick(target, Some(sender));
                }
            }
            IpiKind::Nmi => {
                v.nmi_pending.store(true, Ordering::SeqCst);
                kick(target, Some(sender));
            }
            IpiKind::Init => {
                // A vCPU waiting for its start-up IPI stays waiting.
                if !v.waiting_for_sipi.load(Ordering::SeqCst) {
                    v.init_pending.store(true, Ordering::SeqCst);
                    kick(target, Some(sender));
                }
            }
            IpiKind::StartUp { vector } => {
                // Only a vCPU that waits takes it (Linux sends two; the second finds the
                // vCPU running).
                if v.waiting_for_sipi.swap(false, Ordering::SeqCst) {
                    v.sipi_vector.store(vector, Ordering::SeqCst);
                    let _ = sm_up(vcpu::sipi_sm(target));
                }
            }
            // No SMM.
            IpiKind::Smi => {}
        }
    }
}

/// Input typed for the guest: queued for vCPU 0's UART, which its handler fills as
/// far as the guest has read it.
pub fn type_input(bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let vm = vm();
    for &b in bytes {
        // A full queue means the guest does not read: what does not fit is lost, as
        // on a serial line.
        let _ = vm.input.push(b);
    }
    kick(0, None);
}
