//! I/O APICs: where global system interrupts (GSIs) enter the CPUs.
//!
//! Each GSI gets its own vector (`VECTOR_BASE + gsi`), so the interrupt handler knows the
//! GSI without asking the hardware. A pin stays masked until a semaphore is assigned to
//! it; a level-triggered pin is masked again when it fires and unmasked when its
//! semaphore is next waited on, so that the device can be serviced first (the
//! reference's protocol).

use crate::sync::SpinLock;

/// Vector of GSI 0.
pub const VECTOR_BASE: u8 = 0x30;
/// GSIs the kernel routes (API 4.3: 192).
pub const NUM_GSI: u32 = facet_abi::config::NUM_GSI;

/// One I/O APIC.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ioapic {
    /// Kernel virtual address of its registers.
    pub regs: u64,
    pub phys: u32,
    pub id: u32,
    pub gsi_base: u32,
    pub pins: u32,
    pub version: u32,
}

struct State {
    list: [Ioapic; facet_abi::config::NUM_IOAPIC],
    count: usize,
    /// Per GSI: level-triggered (bit 0), active-low (bit 1), routed (bit 2).
    mode: [u8; NUM_GSI as usize],
}

static STATE: SpinLock<State> = SpinLock::new(State {
    list: [Ioapic {
        regs: 0,
        phys: 0,
        id: 0,
        gsi_base: 0,
        pins: 0,
        version: 0,
    }; facet_abi::config::NUM_IOAPIC],
    count: 0,
    mode: [0; NUM_GSI as usize],
});

fn read(regs: u64, index: u32) -> u32 {
    // SAFETY: `regs` is the uncached kernel mapping of an I/O APIC: select, then read.
    unsafe {
        core::ptr::write_volatile(regs as *mut u32, index);
        core::ptr::read_volatile((regs + 0x10) as *const u32)
    }
}

fn write(regs: u64, index: u32, v: u32) {
    // SAFETY: as for `read`.
    unsafe {
        core::ptr::write_volatile(regs as *mut u32, index);
        core::ptr::write_volatile((regs + 0x10) as *mut u32, v);
    }
}

/// Adds the I/O APIC at `phys` serving GSIs from `gsi_base`; masks all its pins. Boot
/// only.
#[link_section = ".init.text"]
pub fn add(phys: u32, id: u32, gsi_base: u32) -> Option<Ioapic> {
    crate::mem::claim_mmio(phys as u64, "I/O APIC");
    let regs = crate::mem::kspace::map_mmio(phys as u64)?;
    let version = read(regs, 1);
    let pins = ((version >> 16) & 0xff) + 1;
    let io = Ioapic {
        regs,
        phys,
        id,
        gsi_base,
        pins,
        version,
    };
    for pin in 0..pins {
        write(regs, 0x10 + 2 * pin, 1 << 16);
        write(regs, 0x11 + 2 * pin, 0);
    }
    let mut s = STATE.lock();
    if s.count < s.list.len() {
        let n = s.count;
        s.list[n] = io;
        s.count += 1;
    }
    Some(io)
}

/// The I/O APICs found.
pub fn list() -> ([Ioapic; facet_abi::config::NUM_IOAPIC], usize) {
    let s = STATE.lock();
    (s.list, s.count)
}

/// Records the trigger mode and polarity of a GSI (from an interrupt source override or
/// from `assign_gsi`).
pub fn set_mode(gsi: u32, level: bool, active_low: bool) {
    if let Some(m) = STATE.lock().mode.get_mut(gsi as usize) {
        *m = (*m & 0b100) | level as u8 | (active_low as u8) << 1;
    }
}

/// Whether an I/O APIC pin serves `gsi` (the others are for MSIs).
pub fn serves(gsi: u32) -> bool {
    let s = STATE.lock();
    s.list[..s.count]
        .iter()
        .any(|i| gsi >= i.gsi_base && gsi < i.gsi_base + i.pins)
}

/// Routes `gsi` to the CPU with local APIC id `apic_id` and unmasks it. Returns `false`
/// if no I/O APIC serves the GSI.
pub fn route(gsi: u32, apic_id: u32) -> bool {
    let mut s = STATE.lock();
    let Some(mode) = s.mode.get(gsi as usize).copied() else {
        return false;
    };
    let Some(io) = s.list[..s.count]
        .iter()
        .find(|i| gsi >= i.gsi_base && gsi < i.gsi_base + i.pins)
        .copied()
    else {
        return false;
    };
    let pin = gsi - io.gsi_base;
    let low =
        (VECTOR_BASE as u32 + gsi) | ((mode as u32 & 1) << 15) | ((mode as u32 >> 1 & 1) << 13);
    write(io.regs, 0x11 + 2 * pin, apic_id << 24);
    write(io.regs, 0x10 + 2 * pin, low);
    s.mode[gsi as usize] |= 0b100;
    true
}

/// Routes `gsi` through entry `gsi` of the IOMMU's interrupt remapping table (the
/// remappable format: the entry names CPU and vector; the pin keeps the vector for the
/// end-of-interrupt broadcast) and unmasks it. Returns `false` if no I/O APIC serves the
/// GSI.
pub fn route_remapped(gsi: u32) -> bool {
    use facet_kcore::iommu::tables::{rte_high_remappable, rte_low_remappable};
    let mut s = STATE.lock();
    let Some(mode) = s.mode.get(gsi as usize).copied() else {
        return false;
    };
    let Some(io) = s.list[..s.count]
        .iter()
        .find(|i| gsi >= i.gsi_base && gsi < i.gsi_base + i.pins)
        .copied()
    else {
        return false;
    };
    let pin = gsi - io.gsi_base;
    let vector = VECTOR_BASE.wrapping_add(gsi as u8);
    let low = rte_low_remappable(gsi as u16, vector, mode & 1 != 0, mode & 2 != 0);
    write(io.regs, 0x11 + 2 * pin, rte_high_remappable(gsi as u16));
    write(io.regs, 0x10 + 2 * pin, low);
    s.mode[gsi as usize] |= 0b100;
    true
}

/// The id of the I/O APIC that serves `gsi` (0 if none does).
pub fn id_serving(gsi: u32) -> u32 {
    let s = STATE.lock();
    s.list[..s.count]
        .iter()
        .find(|i| gsi >= i.gsi_base && gsi < i.gsi_base + i.pins)
        .map_or(0, |i| i.id)
}

/// Masks or unmasks a routed GSI. A pin nobody routed stays as it is (masked since
/// boot): its entry names vector 0 on APIC 0, which must never be let through.
pub fn mask(gsi: u32, masked: bool) {
    let s = STATE.lock();
    if s.mode.get(gsi as usize).is_none_or(|m| m & 0b100 == 0) {
        return;
    }
    let Some(io) = s.list[..s.count]
        .iter()
        .find(|i| gsi >= i.gsi_base && gsi < i.gsi_base + i.pins)
        .copied()
    else {
        return;
    };
    let pin = gsi - io.gsi_base;
    let v = read(io.regs, 0x10 + 2 * pin);
    write(
        io.regs,
        0x10 + 2 * pin,
        if masked { v | 1 << 16 } else { v & !(1 << 16) },
    );
}

/// Whether a GSI is level-triggered.
pub fn is_level(gsi: u32) -> bool {
    STATE
        .lock()
        .mode
        .get(gsi as usize)
        .is_some_and(|m| m & 1 != 0)
}

/// Every pin's redirection entry (high word, low word) as it was before S3.
static SAVED: SpinLock<[(u32, u32); NUM_GSI as usize]> = SpinLock::new([(0, 0); NUM_GSI as usize]);

/// Saves every pin's redirection entry (destination, vector, mode, mask) before S3,
/// which resets the I/O APICs.
pub fn save_all() {
    let s = STATE.lock();
    let mut saved = SAVED.lock();
    for io in &s.list[..s.count] {
        for pin in 0..io.pins {
            if let Some(e) = saved.get_mut((io.gsi_base + pin) as usize) {
                *e = (read(io.regs, 0x11 + 2 * pin), read(io.regs, 0x10 + 2 * pin));
            }
        }
    }
}

/// Writes back what [`save_all`] saved (masked while the entry is incomplete).
pub fn restore_all() {
    let s = STATE.lock();
    let saved = SAVED.lock();
    for io in &s.list[..s.count] {
        for pin in 0..io.pins {
            if let Some(&(high, low)) = saved.get((io.gsi_base + pin) as usize) {
                write(io.regs, 0x10 + 2 * pin, 1 << 16);
                write(io.regs, 0x11 + 2 * pin, high);
                write(io.regs, 0x10 + 2 * pin, low);
            }
        }
    }
}
