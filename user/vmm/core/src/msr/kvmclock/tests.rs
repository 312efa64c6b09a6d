use super::*;
use std::vec;

#[test]
fn kvmclock_records_give_linux_the_tsc_frequency() {
    for hz in [
        1_000_000u64,
        1_000_000_000,
        1_800_000_000,
        2_400_000_000,
        3_000_000_000,
        4_700_000_000,
        10_000_000_000,
    ] {
        let clock = Pvclock {
            tsc_hz: hz,
            tsc_at_boot: 5_000,
            boot_epoch_seconds: 1_700_000_000,
            boot_epoch_nanoseconds: 5,
        };
        let (mul, shift) = clock.scale();
        assert!(mul >= 1 << 31, "{hz}: precision");
        // pvclock_tsc_khz: (10^6 << 32) / mul, shifted back.
        let mut khz = (1_000_000u64 << 32) / mul as u64;
        khz = if shift < 0 {
            khz << -shift
        } else {
            khz >> shift
        };
        assert!(khz.abs_diff(hz / 1000) <= 1, "{hz}: {khz} kHz");
        // One second of ticks is one second of nanoseconds (within a microsecond).
        let delta = if shift < 0 { hz >> -shift } else { hz << shift };
        let ns = ((delta as u128 * mul as u128) >> 32) as u64;
        assert!(ns.abs_diff(1_000_000_000) < 1_000, "{hz}: {ns} ns");
    }
}

#[test]
fn kvmclock_writes_fill_guest_memory() {
    let clock = Pvclock {
        tsc_hz: 2_000_000_000,
        tsc_at_boot: 0x1234,
        boot_epoch_seconds: 7,
        boot_epoch_nanoseconds: 9,
    };
    let mut mem = vec![0u8; 0x10000];
    write_guest_record(&mut mem, KvmclockMsr::SystemTime, 0x2040 | 1, &clock).unwrap();
    let r = &mem[0x2040..0x2060];
    assert_eq!(
        u32::from_le_bytes(r[0..4].try_into().unwrap()) % 2,
        0,
        "even version"
    );
    assert_eq!(u64::from_le_bytes(r[8..16].try_into().unwrap()), 0x1234);
    assert_eq!(
        u64::from_le_bytes(r[16..24].try_into().unwrap()),
        0,
        "system time 0 at boot"
    );
    assert_eq!(r[29], PVCLOCK_TSC_STABLE);
    write_guest_record(&mut mem, KvmclockMsr::WallClock, 0x3000, &clock).unwrap();
    assert_eq!(&mem[0x3004..0x300c], &[7, 0, 0, 0, 9, 0, 0, 0]);
    // Disabling writes nothing; addresses outside memory are refused.
    let before = mem.clone();
    write_guest_record(&mut mem, KvmclockMsr::SystemTime, 0x4000, &clock).unwrap();
    assert_eq!(mem, before);
    for bad in [0xfff0 | 1, u64::MAX, u64::MAX - 4] {
        assert!(write_guest_record(&mut mem, KvmclockMsr::SystemTime, bad, &clock).is_err());
    }
    assert!(write_guest_record(&mut mem, KvmclockMsr::WallClock, 0xfffc, &clock).is_err());
}
