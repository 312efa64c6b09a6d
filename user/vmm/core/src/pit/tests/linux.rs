//! The sequences Linux's TSC calibration runs against counter 2 and port 0x61.

use super::*;

/// Linux's `quick_pit_calibrate()`: counter 2 in mode 0 from 0xffff, the MSB polled
/// through port 0x42 while the TSC runs; the frequency it derives must be exact.
#[test]
fn linux_quick_pit_calibration_measures_the_tsc() {
    let mut pit = Pit::new(TSC_KHZ);
    let mut now = 5_000_000u64;
    // Each port access takes about a microsecond.
    let inb = |pit: &mut Pit, now: &mut u64, port| {
        *now += 1_913;
        pit.read(port, *now)
    };
    let port_b = inb(&mut pit, &mut now, PORT_B);
    pit.write(PORT_B, (port_b & !0x02) | 0x01, now);
    pit.write(CONTROL, 0xb0, now);
    pit.write(COUNTER2, 0xff, now);
    pit.write(COUNTER2, 0xff, now);
    let verify_msb = |pit: &mut Pit, now: &mut u64, val: u8| {
        inb(pit, now, COUNTER2);
        inb(pit, now, COUNTER2) == val
    };
    verify_msb(&mut pit, &mut now, 0);
    // pit_expect_msb: the TSC of the last read that still saw `val`.
    let expect_msb = |pit: &mut Pit, now: &mut u64, val: u8| {
        let mut count = 0;
        let mut tsc = 0;
        while count < 50_000 && verify_msb(pit, now, val) {
            tsc = *now;
            count += 1;
        }
        (count > 5, tsc)
    };
    let (ok, start) = expect_msb(&mut pit, &mut now, 0xff);
    assert!(ok);
    let mut end = start;
    let iterations = 200u64;
    for i in 1..=iterations {
        let (ok, tsc) = expect_msb(&mut pit, &mut now, 0xff - i as u8);
        assert!(ok, "MSB {:#x} seen", 0xff - i);
        end = tsc;
    }
    // Linux: delta * PIT_TICK_RATE / (i * 256 * 1000).
    let khz = (end - start) * PIT_HZ / (iterations * 256 * 1000);
    assert!(khz.abs_diff(u64::from(TSC_KHZ)) <= 20, "measured {khz} kHz");
}

/// Linux's `pit_calibrate_tsc()`: mode 0 on counter 2 with a 50 ms count, then port
/// 0x61 bit 5 polled until OUT2 rises, exactly `count + 1` clocks after the write.
#[test]
fn linux_slow_calibration_sees_out2_rise_on_time() {
    let mut pit = Pit::new(TSC_KHZ);
    let latch = (PIT_HZ / 20) as u16;
    let written = 1_000_000;
    pit.write(PORT_B, 0x01, at(written));
    program(&mut pit, 0xb0, latch, at(written));
    let load = written + 1;
    assert_eq!(pit.read(PORT_B, at(load + u64::from(latch)) - 1) & 0x20, 0);
    assert_eq!(pit.read(PORT_B, at(load + u64::from(latch))) & 0x20, 0x20);
    assert_eq!(read_word(&mut pit, COUNTER2, at(load + 10)), latch - 10);
    assert_eq!(
        read_word(&mut pit, COUNTER2, at(load + u64::from(latch) + 1)),
        0xffff
    );
}
