use super::*;
use crate::ports::testrng::Rng;

mod linux;

const TSC_KHZ: u32 = 2_000_000;

/// The first TSC value at PIT tick `tick`.
fn at(tick: u64) -> u64 {
    Pit::new(TSC_KHZ).clock.tsc_at(tick)
}

/// Reads a counter's live or latched 16-bit value in lobyte/hibyte mode.
fn read_word(pit: &mut Pit, port: u16, now: u64) -> u16 {
    let lsb = pit.read(port, now);
    u16::from(pit.read(port, now)) << 8 | u16::from(lsb)
}

fn program(pit: &mut Pit, control: u8, count: u16, now: u64) {
    let port = COUNTER0 + u16::from(control >> 6);
    pit.write(CONTROL, control, now);
    pit.write(port, count as u8, now);
    pit.write(port, (count >> 8) as u8, now);
}

#[test]
fn clock_conversion_is_exact_and_drift_free() {
    let pit = Pit::new(TSC_KHZ);
    assert_eq!(pit.clock.ticks(2_000_000_000), PIT_HZ);
    assert_eq!(pit.clock.tsc_at(PIT_HZ), 2_000_000_000);
    let hour = 3600 * 2_000_000_000u64;
    assert_eq!(pit.clock.ticks(hour), 3600 * PIT_HZ);
    for tick in [1, 2, 3, 1000, 123_456_789] {
        let tsc = pit.clock.tsc_at(tick);
        assert_eq!(pit.clock.ticks(tsc), tick);
        assert_eq!(
            pit.clock.ticks(tsc - 1),
            tick - 1,
            "tsc_at is the first such TSC"
        );
    }
    let huge = Pit::new(1);
    assert_eq!(
        huge.clock.ticks(u64::MAX),
        u64::MAX,
        "saturates instead of wrapping"
    );
}

#[test]
fn power_up_state() {
    let mut pit = Pit::new(TSC_KHZ);
    assert_eq!(pit.read(PORT_B, 0) & 0x2f, 0, "gate off, OUT2 low");
    assert_eq!(pit.read(CONTROL, 0), 0xff, "write-only");
    assert_eq!(pit.next_deadline(), None);
    assert_eq!(pit.poll_irq0(at(1_000_000)), 0);
    assert!(Pit::owns(0x43) && Pit::owns(0x61) && !Pit::owns(0x44));
}

#[test]
fn port_b_bits() {
    let mut pit = Pit::new(TSC_KHZ);
    pit.write(PORT_B, 0xff, 0);
    assert_eq!(
        pit.read(PORT_B, at(0)) & 0xcf,
        0x0f,
        "bits 0-3 as written, 6-7 clear"
    );
    assert!(pit.speaker_enabled());
    pit.write(PORT_B, 0x01, 0);
    assert!(!pit.speaker_enabled());
    let refresh = |pit: &mut Pit, tick| pit.read(PORT_B, at(tick)) & PORT_B_REFRESH;
    assert_eq!(refresh(&mut pit, 17), 0);
    assert_eq!(refresh(&mut pit, 18), PORT_B_REFRESH);
    assert_eq!(refresh(&mut pit, 36), 0, "toggles every 18 PIT clocks");
}

#[test]
fn mode2_periodic_irq0_with_exact_deadlines() {
    let mut pit = Pit::new(TSC_KHZ);
    let latch = 4773u64; // Linux's LATCH at HZ=250
    program(&mut pit, 0x34, latch as u16, at(100));
    let start = 101;
    assert_eq!(pit.next_deadline(), Some(at(start + latch)));
    assert_eq!(pit.poll_irq0(at(start + latch) - 1), 0);
    assert_eq!(pit.poll_irq0(at(start + latch)), 1);
    assert_eq!(pit.next_deadline(), Some(at(start + 2 * latch)));
    assert_eq!(
        pit.poll_irq0(at(start + 12 * latch + 5)),
        11,
        "missed periods counted"
    );
    assert_eq!(pit.next_deadline(), Some(at(start + 13 * latch)));
    // The count runs N..1; OUT is low for the one clock at 1.
    assert_eq!(
        read_word(&mut pit, COUNTER0, at(start + 3)),
        latch as u16 - 3
    );
    assert!(!pit.counters[0].output(start + latch - 1));
    assert!(pit.counters[0].output(start + latch));
}

#[test]
fn mode4_oneshot_fires_once_after_count_plus_one() {
    let mut pit = Pit::new(TSC_KHZ);
    program(&mut pit, 0x38, 1000, at(10));
    assert_eq!(pit.next_deadline(), Some(at(11 + 1001)));
    assert_eq!(
        pit.poll_irq0(at(11 + 1000)),
        0,
        "OUT low for the terminal clock"
    );
    assert_eq!(pit.poll_irq0(at(11 + 1001)), 1);
    assert_eq!(pit.next_deadline(), None);
    assert_eq!(pit.poll_irq0(at(500_000)), 0);
    // Linux's next event: a new count alone rearms it.
    pit.write(COUNTER0, 0x10, at(600_000));
    pit.write(COUNTER0, 0x00, at(600_000));
    assert_eq!(pit.next_deadline(), Some(at(600_001 + 17)));
}

#[test]
fn mode0_terminal_count_and_shutdown_sequence() {
    let mut pit = Pit::new(TSC_KHZ);
    program(&mut pit, 0x30, 50, at(0));
    assert_eq!(pit.next_deadline(), Some(at(51)));
    // Reprogramming before the poll keeps the edge that already happened.
    program(&mut pit, 0x30, 0, at(60)); // Linux's pit_shutdown: mode 0, count 0
    assert_eq!(pit.poll_irq0(at(61)), 1);
    assert_eq!(pit.next_deadline(), Some(at(61 + 0x10000)));
    assert_eq!(read_word(&mut pit, COUNTER0, at(61)), 0, "65536 reads as 0");
}

#[test]
fn latch_holds_the_count_until_read() {
    let mut pit = Pit::new(TSC_KHZ);
    program(&mut pit, 0x34, 1000, at(0));
    pit.write(CONTROL, 0x00, at(101)); // latch counter 0
    pit.write(CONTROL, 0x00, at(201)); // ignored: already latched
    assert_eq!(pit.read(COUNTER0, at(300)), (900u16 & 0xff) as u8);
    assert_eq!(pit.read(COUNTER0, at(400)), (900u16 >> 8) as u8);
    assert_eq!(read_word(&mut pit, COUNTER0, at(501)), 500, "live again");
}

#[test]
fn read_back_latches_status_before_count() {
    let mut pit = Pit::new(TSC_KHZ);
    pit.write(CONTROL, 0xb0, at(0)); // counter 2, word, mode 0
    pit.write(CONTROL, 0xe8, at(0)); // read-back status of counter 2
    assert_eq!(
        pit.read(COUNTER2, at(0)),
        0x70,
        "OUT low, null count, word, mode 0"
    );
    pit.write(COUNTER2, 0x10, at(0));
    pit.write(COUNTER2, 0x00, at(0));
    pit.write(PORT_B, 0x01, at(0));
    pit.write(CONTROL, 0xc8, at(20)); // count and status of counter 2
    assert_eq!(pit.read(COUNTER2, at(30)), 0xb0, "OUT high, count loaded");
    assert_eq!(
        read_word(&mut pit, COUNTER2, at(40)),
        0x10u16.wrapping_sub(19),
        "the count latched at tick 20, past the terminal count"
    );
    pit.write(CONTROL, 0x36, at(0)); // counter 0, word, mode 3
    pit.write(CONTROL, 0xe2, at(0)); // status of counter 0 only
    assert_eq!(
        pit.read(COUNTER0, at(0)),
        0xf6,
        "OUT high, null count, word, mode 3"
    );
    pit.write(CONTROL, 0x1d, at(0)); // counter 0, LSB only, mode 6 (= 2), BCD
    pit.write(CONTROL, 0xe2, at(0));
    assert_eq!(
        pit.read(COUNTER0, at(0)),
        0xdd,
        "mode bits read back as written"
    );
}

#[test]
fn byte_access_modes() {
    let mut pit = Pit::new(TSC_KHZ);
    pit.write(CONTROL, 0x50, at(0)); // counter 1, LSB only, mode 0
    pit.write(COUNTER1, 0x40, at(0));
    assert_eq!(pit.read(COUNTER1, at(1)), 0x40, "MSB is zero");
    assert_eq!(pit.read(COUNTER1, at(17)), 0x30);
    pit.write(CONTROL, 0x60, at(20)); // counter 1, MSB only
    pit.write(COUNTER1, 0x02, at(20));
    assert_eq!(pit.read(COUNTER1, at(21)), 0x02);
    assert_eq!(pit.read(COUNTER1, at(22)), 0x01, "0x200 - 1 = 0x1ff");
    pit.write(CONTROL, 0x70, at(30)); // word: a control word resets the flip-flops
    pit.write(COUNTER1, 0x34, at(30));
    pit.write(CONTROL, 0x70, at(30));
    pit.write(COUNTER1, 0x78, at(30));
    pit.write(COUNTER1, 0x56, at(30));
    assert_eq!(read_word(&mut pit, COUNTER1, at(31)), 0x5678);
    pit.read(COUNTER1, at(32)); // leave the read flip-flop at the MSB
    pit.write(CONTROL, 0x70, at(33));
    assert_eq!(
        pit.read(COUNTER1, at(33)),
        0x78,
        "control word resets it to the LSB"
    );
}

#[test]
fn mode0_half_written_count_stops_the_counter() {
    let mut pit = Pit::new(TSC_KHZ);
    pit.write(PORT_B, 0x01, 0);
    program(&mut pit, 0xb0, 100, at(0));
    pit.write(COUNTER2, 0x50, at(31)); // LSB of a new count
    assert_eq!(
        pit.read(PORT_B, at(500)) & 0x20,
        0,
        "OUT low, counting stopped"
    );
    assert_eq!(pit.counters[2].count_value(500), 70);
    pit.write(COUNTER2, 0x00, at(600));
    assert_eq!(read_word(&mut pit, COUNTER2, at(611)), 0x50 - 10);
}

#[test]
fn counter2_gate_controls_each_mode() {
    let mut pit = Pit::new(TSC_KHZ);
    // Mode 0: gate low suspends counting.
    program(&mut pit, 0xb0, 100, at(0));
    assert_eq!(
        read_word(&mut pit, COUNTER2, at(50)),
        100,
        "loaded, not counting"
    );
    pit.write(PORT_B, 0x01, at(50));
    assert_eq!(read_word(&mut pit, COUNTER2, at(60)), 90);
    pit.write(PORT_B, 0x00, at(60));
    assert_eq!(read_word(&mut pit, COUNTER2, at(1000)), 90);
    pit.write(PORT_B, 0x01, at(1000));
    assert_eq!(read_word(&mut pit, COUNTER2, at(1090)), 0);
    assert_eq!(pit.read(PORT_B, at(1090)) & 0x20, 0x20);
    // Mode 2: gate low forces OUT high; its rising edge reloads.
    program(&mut pit, 0xb4, 10, at(2000));
    pit.write(PORT_B, 0x00, at(2005));
    assert_eq!(pit.read(PORT_B, at(2010)) & 0x20, 0x20);
    pit.write(PORT_B, 0x01, at(3000));
    assert_eq!(read_word(&mut pit, COUNTER2, at(3001)), 10);
    assert_eq!(pit.read(PORT_B, at(3001 + 9)) & 0x20, 0, "low at count 1");
    // Mode 1: the gate's rising edge triggers a one-shot with OUT low.
    program(&mut pit, 0xb2, 20, at(4000));
    assert_eq!(
        pit.read(PORT_B, at(4100)) & 0x20,
        0x20,
        "waiting for a trigger"
    );
    pit.write(PORT_B, 0x00, at(4100));
    pit.write(PORT_B, 0x01, at(4101));
    assert_eq!(pit.read(PORT_B, at(4102)) & 0x20, 0);
    assert_eq!(pit.read(PORT_B, at(4102 + 20)) & 0x20, 0x20);
}

#[test]
fn mode3_square_wave_on_counter2() {
    let mut pit = Pit::new(TSC_KHZ);
    pit.write(PORT_B, 0x03, 0);
    program(&mut pit, 0xb6, 11, at(0)); // odd count: 6 high, 5 low
    let out = |pit: &mut Pit, tick| pit.read(PORT_B, at(tick)) & 0x20 != 0;
    for (tick, high) in [(1, true), (6, true), (7, false), (11, false), (12, true)] {
        assert_eq!(out(&mut pit, tick), high, "tick {tick}");
    }
    assert_eq!(read_word(&mut pit, COUNTER2, at(1)), 10);
    assert_eq!(
        read_word(&mut pit, COUNTER2, at(3)),
        6,
        "counts down by two"
    );
}

#[test]
fn mode2_new_count_waits_for_the_end_of_the_cycle() {
    let mut pit = Pit::new(TSC_KHZ);
    program(&mut pit, 0x34, 100, at(0)); // starts at tick 1
    pit.write(COUNTER0, 50, at(150));
    pit.write(COUNTER0, 0, at(150));
    assert_eq!(
        read_word(&mut pit, COUNTER0, at(160)),
        41,
        "old cycle still running"
    );
    assert_eq!(
        pit.poll_irq0(at(201)),
        2,
        "edges at 101 and 201 (the switch)"
    );
    assert_eq!(pit.next_deadline(), Some(at(251)), "then every 50");
    assert_eq!(read_word(&mut pit, COUNTER0, at(211)), 40);
    assert_eq!(pit.poll_irq0(at(351)), 3);
}

#[test]
fn bcd_counting() {
    let mut pit = Pit::new(TSC_KHZ);
    program(&mut pit, 0x71, 0x1000, at(0)); // counter 1, word, mode 0, BCD 1000
    assert_eq!(read_word(&mut pit, COUNTER1, at(2)), 0x0999);
    assert_eq!(read_word(&mut pit, COUNTER1, at(1001)), 0x0000);
    assert_eq!(
        read_word(&mut pit, COUNTER1, at(1002)),
        0x9999,
        "wraps in decimal"
    );
    program(&mut pit, 0x75, 0x0000, at(2000)); // mode 2, BCD 0 = 10000
    assert_eq!(read_word(&mut pit, COUNTER1, at(2002)), 0x9999);
}

#[test]
fn hostile_port_traffic_never_panics() {
    let ports = [COUNTER0, COUNTER1, COUNTER2, CONTROL, PORT_B];
    let mut rng = Rng(0x8254);
    let mut pit = Pit::new(TSC_KHZ);
    let mut now = 0u64;
    for _ in 0..200_000 {
        now += rng.below(5_000);
        let port = ports[rng.below(ports.len() as u64) as usize];
        match rng.below(4) {
            0 | 1 => pit.write(port, rng.byte(), now),
            2 => {
                pit.read(port, now);
            }
            _ => {
                pit.poll_irq0(now);
                if let Some(deadline) = pit.next_deadline() {
                    assert!(deadline > now, "nothing left in the polled past");
                }
            }
        }
    }
    // Extreme clocks: the counters' arithmetic saturates instead of overflowing.
    for now in [u64::MAX - 1, u64::MAX] {
        for port in ports {
            pit.write(port, rng.byte(), now);
            pit.read(port, now);
        }
        pit.poll_irq0(now);
        let _ = pit.next_deadline();
    }
    let mut slow = Pit::new(1);
    program(&mut slow, 0x34, 2, u64::MAX);
    assert_eq!(slow.poll_irq0(u64::MAX), 0);
}
