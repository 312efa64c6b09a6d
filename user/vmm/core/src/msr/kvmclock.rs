//! kvmclock, the one KVM paravirtual feature the CPU model offers: it is how Linux learns
//! the TSC frequency without calibrating against the PIT (`kvmclock_init` makes
//! `kvm_get_tsc_khz` the calibration routine and marks the frequency as known).
//!
//! The guest writes MSR_KVM_SYSTEM_TIME_NEW with the guest-physical address of a 32-byte
//! `pvclock_vcpu_time_info` (bit 0: enable), once per vCPU, and MSR_KVM_WALL_CLOCK_NEW
//! with the address of a 12-byte `pvclock_wall_clock` when it wants the time of day. The
//! VMM answers each write by filling the record ([`write_guest_record`]). As the guest's
//! TSC is the host's plus one offset for the whole VM, one record serves every vCPU and
//! never needs updating: nanoseconds since boot = (TSC - tsc_at_boot) scaled by
//! `tsc_to_system_mul` and `tsc_shift`, and the stable bit tells the guest that all
//! vCPUs agree. Versions are even (odd means "being updated").

use super::KvmclockMsr;

#[cfg(test)]
mod tests;

/// `flags`: the TSC is synchronised across vCPUs.
pub const PVCLOCK_TSC_STABLE: u8 = 1;
const VERSION: u32 = 2;
const TIME_INFO_LEN: usize = 32;
const WALL_CLOCK_LEN: usize = 12;

/// The VM's clock: its TSC frequency, the guest TSC at boot, and the time of day then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pvclock {
    pub tsc_hz: u64,
    pub tsc_at_boot: u64,
    /// Seconds since the Unix epoch at boot (0 if the VMM does not know the date).
    pub boot_epoch_seconds: u32,
    pub boot_epoch_nanoseconds: u32,
}

/// Why a record could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvmclockError {
    /// The address the guest named is not in guest memory.
    OutsideGuestMemory(u64),
}

impl Pvclock {
    /// `(tsc_to_system_mul, tsc_shift)` with nanoseconds = ((ticks << shift, or >> -shift)
    /// * mul) >> 32 and mul in [2^31, 2^32) for the best precision.
    pub fn scale(&self) -> (u32, i8) {
        let hz = self.tsc_hz.max(1) as u128;
        let mul = |shift: i32| {
            let num = 1_000_000_000u128 << 32;
            if shift >= 0 {
                num / (hz << shift)
            } else {
                (num << -shift) / hz
            }
        };
        let mut shift = 0;
        while mul(shift) >= 1 << 32 && shift < 31 {
            shift += 1;
        }
        while mul(shift) < 1 << 31 && shift > -31 {
            shift -= 1;
        }
        (mul(shift).min(u32::MAX as u128) as u32, shift as i8)
    }

    /// The `pvclock_vcpu_time_info` record: version, pad, tsc_timestamp, system_time (0
    /// at boot), tsc_to_system_mul, tsc_shift, flags, pad.
    pub fn time_info(&self) -> [u8; TIME_INFO_LEN] {
        let (mul, shift) = self.scale();
        let mut r = [0u8; TIME_INFO_LEN];
        r[0..4].copy_from_slice(&VERSION.to_le_bytes());
        r[8..16].copy_from_slice(&self.tsc_at_boot.to_le_bytes());
        r[24..28].copy_from_slice(&mul.to_le_bytes());
        r[28] = shift as u8;
        r[29] = PVCLOCK_TSC_STABLE;
        r
    }

    /// The `pvclock_wall_clock` record: version, seconds, nanoseconds at system time 0.
    pub fn wall_clock(&self) -> [u8; WALL_CLOCK_LEN] {
        let mut r = [0u8; WALL_CLOCK_LEN];
        r[0..4].copy_from_slice(&VERSION.to_le_bytes());
        r[4..8].copy_from_slice(&self.boot_epoch_seconds.to_le_bytes());
        r[8..12].copy_from_slice(&self.boot_epoch_nanoseconds.to_le_bytes());
        r
    }
}

/// The record a guest's WRMSR of `value` to kvmclock MSR `msr` asks for: its
/// guest-physical address and bytes (32 for the time record, the first 12 of them for
/// the wall clock). `None` for a system-time write with bit 0 clear, which disables the
/// clock and writes nothing.
pub fn guest_record(
    msr: KvmclockMsr,
    value: u64,
    clock: &Pvclock,
) -> Option<(u64, [u8; 32], usize)> {
    let mut record = [0u8; TIME_INFO_LEN];
    match msr {
        KvmclockMsr::SystemTime if value & 1 == 0 => None,
        KvmclockMsr::SystemTime => {
            record.copy_from_slice(&clock.time_info());
            Some((value & !1, record, TIME_INFO_LEN))
        }
        KvmclockMsr::WallClock => {
            record[..WALL_CLOCK_LEN].copy_from_slice(&clock.wall_clock());
            Some((value, record, WALL_CLOCK_LEN))
        }
    }
}

/// Answers a guest's WRMSR of `value` to kvmclock MSR `msr`: fills the record it names
/// in `mem` (guest-physical 0..mem.len()). A system-time write with bit 0 clear
/// disables the clock and writes nothing.
pub fn write_guest_record(
    mem: &mut [u8],
    msr: KvmclockMsr,
    value: u64,
    clock: &Pvclock,
) -> Result<(), KvmclockError> {
    let Some((address, record, len)) = guest_record(msr, value, clock) else {
        return Ok(());
    };
    let outside = KvmclockError::OutsideGuestMemory(address);
    let start = usize::try_from(address).map_err(|_| outside)?;
    let end = start.checked_add(len).ok_or(outside)?;
    mem.get_mut(start..end)
        .ok_or(outside)?
        .copy_from_slice(&record[..len]);
    Ok(())
}
