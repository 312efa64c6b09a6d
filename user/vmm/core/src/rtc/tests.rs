use super::*;
use crate::ports::testrng::Rng;

const TSC_KHZ: u32 = 2_000_000;
const TSC_HZ: u64 = 2_000_000_000;
const BOOT: u64 = 7_000_000_000;
/// 2023-11-14 22:13:20 UTC, a Tuesday.
const WHEN: u64 = 1_700_000_000;

fn cmos(rtc: &mut Rtc, index: u8, now: u64) -> u8 {
    rtc.write(INDEX_PORT, index, now);
    rtc.read(DATA_PORT, now)
}

fn set_cmos(rtc: &mut Rtc, index: u8, value: u8, now: u64) {
    rtc.write(INDEX_PORT, index, now);
    rtc.write(DATA_PORT, value, now);
}

/// (seconds, minutes, hours, day of week, day, month, year, century) as stored.
fn time_registers(rtc: &mut Rtc, now: u64) -> [u8; 8] {
    [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(|index| cmos(rtc, index, now))
}

#[test]
fn calendar_conversions() {
    for (seconds, fields, weekday) in [
        (0, (1970, 1, 1, 0, 0, 0), 5),
        (1_700_000_000, (2023, 11, 14, 22, 13, 20), 3),
        (951_782_400, (2000, 2, 29, 0, 0, 0), 3),
        (1_940_936_709, (2031, 7, 4, 13, 5, 9), 6),
        (-1, (1969, 12, 31, 23, 59, 59), 4),
    ] {
        let f = Fields::from_unix(seconds);
        let (year, month, day, hour, minute, second) = fields;
        assert_eq!(
            (f.year, f.month, f.day, f.hour, f.minute, f.second),
            (year, month, day, hour, minute, second)
        );
        assert_eq!(f.to_unix(), seconds);
        assert_eq!(f.day_of_week(), weekday, "{seconds}");
    }
    // Every day of four centuries converts both ways.
    for day in (-200_000i64..200_000).step_by(97) {
        assert_eq!(
            Fields::from_unix(day * 86_400 + 3_723).to_unix(),
            day * 86_400 + 3_723
        );
    }
}

#[test]
fn power_up_registers() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    assert_eq!(cmos(&mut rtc, 0x0a, BOOT), 0x26);
    assert_eq!(cmos(&mut rtc, 0x0b, BOOT), 0x02, "BCD, 24-hour");
    assert_eq!(cmos(&mut rtc, 0x0c, BOOT), 0x00);
    assert_eq!(cmos(&mut rtc, 0x0d, BOOT), 0x80, "valid RAM and time");
    assert_eq!(rtc.read(INDEX_PORT, BOOT), 0xff, "index port is write-only");
    assert_eq!(rtc.read(0x72, BOOT), 0xff);
    assert!(Rtc::owns(0x70) && Rtc::owns(0x71) && !Rtc::owns(0x72));
}

#[test]
fn time_in_bcd_and_binary() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    assert_eq!(
        time_registers(&mut rtc, BOOT),
        [0x20, 0x13, 0x22, 0x03, 0x14, 0x11, 0x23, 0x20]
    );
    set_cmos(&mut rtc, 0x0b, 0x06, BOOT); // binary, 24-hour
    assert_eq!(
        time_registers(&mut rtc, BOOT),
        [20, 13, 22, 3, 14, 11, 23, 20]
    );
    set_cmos(&mut rtc, 0x0b, 0x00, BOOT); // BCD, 12-hour: 10 PM
    assert_eq!(cmos(&mut rtc, 0x04, BOOT), 0x80 | 0x10);
    set_cmos(&mut rtc, 0x0b, 0x04, BOOT); // binary, 12-hour
    assert_eq!(cmos(&mut rtc, 0x04, BOOT), 0x80 | 10);
}

#[test]
fn twelve_hour_mode_around_midnight_and_noon() {
    let midnight = 1_700_006_400; // 2023-11-15 00:00:00
    let mut rtc = Rtc::new(midnight, BOOT, TSC_KHZ);
    set_cmos(&mut rtc, 0x0b, 0x00, BOOT);
    assert_eq!(cmos(&mut rtc, 0x04, BOOT), 0x12, "12 AM");
    assert_eq!(cmos(&mut rtc, 0x04, BOOT + 3600 * TSC_HZ), 0x01);
    assert_eq!(
        cmos(&mut rtc, 0x04, BOOT + 12 * 3600 * TSC_HZ),
        0x92,
        "12 PM"
    );
}

#[test]
fn the_clock_runs_with_the_tsc_across_boundaries() {
    let mut rtc = Rtc::new(1_704_067_199, BOOT, TSC_KHZ); // 2023-12-31 23:59:59, Sunday
    assert_eq!(
        time_registers(&mut rtc, BOOT + TSC_HZ - 1),
        [0x59, 0x59, 0x23, 0x01, 0x31, 0x12, 0x23, 0x20]
    );
    assert_eq!(
        time_registers(&mut rtc, BOOT + TSC_HZ),
        [0x00, 0x00, 0x00, 0x02, 0x01, 0x01, 0x24, 0x20],
        "a Monday in a new year"
    );
    let mut rtc = Rtc::new(1_709_164_799, BOOT, TSC_KHZ); // 2024-02-28 23:59:59
    assert_eq!(cmos(&mut rtc, 0x07, BOOT + TSC_HZ), 0x29, "leap day");
    assert_eq!(cmos(&mut rtc, 0x08, BOOT + TSC_HZ), 0x02);
    let a_year_later = BOOT + 366 * 86_400 * TSC_HZ;
    assert_eq!(cmos(&mut rtc, 0x09, a_year_later), 0x25);
}

#[test]
fn update_in_progress_precedes_each_second() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    let window = TSC_HZ * 244 / 1_000_000;
    assert_eq!(cmos(&mut rtc, 0x0a, BOOT) & 0x80, 0);
    assert_eq!(cmos(&mut rtc, 0x0a, BOOT + TSC_HZ - window - 1) & 0x80, 0);
    assert_eq!(cmos(&mut rtc, 0x0a, BOOT + TSC_HZ - window) & 0x80, 0x80);
    assert_eq!(cmos(&mut rtc, 0x0a, BOOT + TSC_HZ - 1), 0xa6);
    assert_eq!(cmos(&mut rtc, 0x0a, BOOT + TSC_HZ) & 0x80, 0);
    set_cmos(&mut rtc, 0x0a, 0xff, BOOT);
    assert_eq!(cmos(&mut rtc, 0x0a, BOOT), 0x7f, "UIP is read-only");
}

/// Linux's `mc146818_get_time()`: register D's bit 6 clear, seconds, UIP clear, the
/// other fields, register B, and the seconds again.
#[test]
fn linux_reads_the_time() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    let mut now = BOOT + TSC_HZ - 1000; // inside the UIP window
    loop {
        assert_eq!(cmos(&mut rtc, 0x0d, now) & 0x40, 0);
        let seconds = cmos(&mut rtc, 0x00, now);
        if cmos(&mut rtc, 0x0a, now) & 0x80 != 0 {
            now += TSC_HZ / 1000; // mdelay(1)
            continue;
        }
        let [_, minutes, hours, _, day, month, year, century] = time_registers(&mut rtc, now);
        let control = cmos(&mut rtc, 0x0b, now);
        assert_eq!(cmos(&mut rtc, 0x00, now), seconds);
        assert_eq!(control & 0x04, 0, "BCD");
        assert_eq!(
            (seconds, minutes, hours, day, month, year, century),
            (0x21, 0x13, 0x22, 0x14, 0x11, 0x23, 0x20)
        );
        break;
    }
}

/// Linux's `mc146818_set_time()`: SET, the fields in order (day before month), SET
/// cleared; the clock then runs from the new time.
#[test]
fn linux_sets_the_time() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    let control = cmos(&mut rtc, 0x0b, BOOT);
    set_cmos(&mut rtc, 0x0b, control | 0x80, BOOT);
    // 2031-07-04 13:05:09 is written while the clock holds.
    for (index, value) in [
        (0x00, 0x09),
        (0x02, 0x05),
        (0x04, 0x13),
        (0x07, 0x04),
        (0x08, 0x07),
    ] {
        set_cmos(&mut rtc, index, value, BOOT + TSC_HZ);
    }
    set_cmos(&mut rtc, 0x09, 0x31, BOOT + TSC_HZ);
    set_cmos(&mut rtc, 0x32, 0x20, BOOT + TSC_HZ);
    assert_eq!(cmos(&mut rtc, 0x00, BOOT + 5 * TSC_HZ), 0x09, "held");
    assert_eq!(
        cmos(&mut rtc, 0x0a, BOOT + 2 * TSC_HZ - 1) & 0x80,
        0,
        "no updates held"
    );
    set_cmos(&mut rtc, 0x0b, control, BOOT + 10 * TSC_HZ);
    assert_eq!(
        time_registers(&mut rtc, BOOT + 12 * TSC_HZ),
        [0x11, 0x05, 0x13, 0x06, 0x04, 0x07, 0x31, 0x20]
    );
}

#[test]
fn set_while_held_keeps_out_of_range_values_until_released() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    set_cmos(&mut rtc, 0x0b, 0x86, BOOT); // SET, binary, 24-hour
    set_cmos(&mut rtc, 0x07, 31, BOOT); // November 31st for now
    assert_eq!(cmos(&mut rtc, 0x07, BOOT), 31, "read back as written");
    set_cmos(&mut rtc, 0x08, 2, BOOT);
    set_cmos(&mut rtc, 0x00, 200, BOOT);
    set_cmos(&mut rtc, 0x0b, 0x06, BOOT);
    // Released: clamped to 2023-02-28 22:13:59.
    assert_eq!(
        time_registers(&mut rtc, BOOT),
        [59, 13, 22, 3, 28, 2, 23, 20]
    );
}

#[test]
fn register_c_reports_ended_updates_once() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    assert_eq!(cmos(&mut rtc, 0x0c, BOOT + TSC_HZ / 2), 0);
    assert_eq!(cmos(&mut rtc, 0x0c, BOOT + TSC_HZ), 0x10);
    assert_eq!(cmos(&mut rtc, 0x0c, BOOT + TSC_HZ + 1), 0, "read clears");
    set_cmos(&mut rtc, 0x0b, 0x12, BOOT); // update-ended interrupt enabled
    assert_eq!(cmos(&mut rtc, 0x0c, BOOT + 3 * TSC_HZ), 0x90);
    set_cmos(&mut rtc, 0x0c, 0xff, BOOT);
    set_cmos(&mut rtc, 0x0d, 0x00, BOOT);
    assert_eq!(cmos(&mut rtc, 0x0d, BOOT), 0x80, "D is read-only");
}

#[test]
fn index_port_keeps_the_nmi_bit_and_ram_is_storage() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    assert!(!rtc.nmi_disabled());
    set_cmos(&mut rtc, 0x80 | 0x40, 0xa5, BOOT);
    assert!(rtc.nmi_disabled());
    assert_eq!(cmos(&mut rtc, 0x40, BOOT), 0xa5, "bits 6:0 select the byte");
    assert!(!rtc.nmi_disabled());
    for index in (0x0e..0x80).filter(|&i| i != 0x32) {
        set_cmos(&mut rtc, index, index ^ 0x5a, BOOT);
    }
    for index in (0x0e..0x80).filter(|&i| i != 0x32) {
        assert_eq!(cmos(&mut rtc, index, BOOT), index ^ 0x5a);
    }
    set_cmos(&mut rtc, 0x01, 0x30, BOOT);
    assert_eq!(
        cmos(&mut rtc, 0x01, BOOT),
        0x30,
        "alarm registers are storage"
    );
}

#[test]
fn memory_size_bytes() {
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    rtc.set_memory_size(3 << 30, 5 << 30);
    let word = |rtc: &mut Rtc, index| {
        u32::from(cmos(rtc, index, BOOT)) | u32::from(cmos(rtc, index + 1, BOOT)) << 8
    };
    assert_eq!(word(&mut rtc, 0x15), 640);
    assert_eq!(word(&mut rtc, 0x17), 0xffff);
    assert_eq!(word(&mut rtc, 0x30), 0xffff);
    assert_eq!(word(&mut rtc, 0x34), ((3 << 30) - (16 << 20)) >> 16);
    assert_eq!(
        word(&mut rtc, 0x5b) | u32::from(cmos(&mut rtc, 0x5d, BOOT)) << 16,
        5 << 14
    );
    rtc.set_memory_size(8 << 20, 0);
    assert_eq!(word(&mut rtc, 0x17), 7 << 10);
    assert_eq!(word(&mut rtc, 0x34), 0);
}

#[test]
fn hostile_traffic_never_panics() {
    let mut rng = Rng(0x146818);
    let mut rtc = Rtc::new(WHEN, BOOT, TSC_KHZ);
    let mut now = BOOT;
    for _ in 0..200_000 {
        now += rng.below(TSC_HZ / 10);
        let port = 0x6f + rng.below(4) as u16;
        if rng.below(2) == 0 {
            rtc.write(port, rng.byte(), now);
        } else {
            rtc.read(port, now);
        }
    }
    for unix in [0, u64::MAX] {
        let mut rtc = Rtc::new(unix, u64::MAX, 1);
        for index in 0..0x80 {
            cmos(&mut rtc, index, u64::MAX);
            set_cmos(&mut rtc, index, 0xff, u64::MAX);
        }
    }
}
