//! Microcode updates on the executing CPU: handing an update to `IA32_BIOS_UPDT_TRIG`
//! and reading the revision the CPU runs. The update the kernel last loaded on every CPU
//! is kept (in the kernel pool, its data 16-byte aligned as the CPU requires) so that
//! each CPU loads it again after a resume from S3, which gives every CPU the firmware's
//! microcode back. The checks of an update are `facet_kcore::microcode`'s.

use facet_kcore::microcode::revision_from_sign_id;

use super::cpu::cpuid;
use super::msr;
use crate::sync::SpinLock;

const IA32_PLATFORM_ID: u32 = 0x17;
const IA32_BIOS_UPDT_TRIG: u32 = 0x79;
const IA32_BIOS_SIGN_ID: u32 = 0x8b;

/// The update in force: its frames in the pool (physical address, buddy order).
static LOADED: SpinLock<Option<(u64, usize)>> = SpinLock::new(None);

/// The processor signature (CPUID leaf 1 EAX) that updates name.
pub fn signature() -> u32 {
    cpuid(1, 0).eax
}

/// The platform ID (`IA32_PLATFORM_ID` bits 52:50), 0 where the MSR is missing.
pub fn platform() -> u32 {
    msr::read_checked(IA32_PLATFORM_ID).map_or(0, |v| (v >> 50) as u32 & 7)
}

fn intel() -> bool {
    let v = cpuid(0, 0);
    (v.ebx, v.edx, v.ecx) == (0x756e_6547, 0x4965_6e69, 0x6c65_746e)
}

/// The microcode revision this CPU runs (0 where it cannot be read).
pub fn revision() -> u32 {
    // The SDM's sequence: clear the MSR, CPUID leaf 1 fills it, read it.
    let _ = msr::write_checked(IA32_BIOS_SIGN_ID, 0);
    let _ = cpuid(1, 0);
    msr::read_checked(IA32_BIOS_SIGN_ID).map_or(0, |v| revision_from_sign_id(v, intel()))
}

/// Hands the update whose data starts at kernel address `data` (16-byte aligned, the
/// checked update's header 48 bytes before it) to this CPU. Returns the revision the CPU
/// runs afterwards; a CPU that refuses with a #GP keeps running the one it had.
pub fn load_here(data: u64) -> u32 {
    let _ = msr::write_checked(IA32_BIOS_UPDT_TRIG, data);
    revision()
}

/// The update now in force is the one in the frames at `phys` (order `order`): it is
/// kept for resume; the one it replaces goes back to the pool.
pub fn keep(phys: u64, order: usize) {
    if let Some((old, old_order)) = LOADED.lock().replace((phys, order)) {
        crate::mem::frames::free(old, old_order, crate::mem::usage::Use::Machine);
    }
}

/// Loads the kept update again on this CPU (after a resume), if there is one.
pub fn reload_here() {
    if let Some((phys, _)) = *LOADED.lock() {
        let _ = load_here(crate::mem::direct_map::virt(phys) + 48);
    }
}
