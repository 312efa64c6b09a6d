use super::*;
use testrng::Rng;

const TSC_KHZ: u32 = 2_000_000;
const NOW: u64 = 10_000_000_000;

fn platform() -> LegacyPlatform {
    LegacyPlatform::new(TSC_KHZ, 1_700_000_000, NOW)
}

fn outb(p: &mut LegacyPlatform, port: u16, value: u8) -> IoEffect {
    p.io_out(port, IoSize::Byte, u32::from(value), NOW)
}

fn inb(p: &mut LegacyPlatform, port: u16) -> u8 {
    p.io_in(port, IoSize::Byte, NOW) as u8
}

/// Linux's PIC initialisation with vectors 0x30/0x38 and the given masks.
fn init_pic(p: &mut LegacyPlatform, master_mask: u8, slave_mask: u8) {
    for (port, value) in [(0x20, 0x11), (0x21, 0x30), (0x21, 0x04), (0x21, 0x01)] {
        outb(p, port, value);
    }
    for (port, value) in [(0xa0, 0x11), (0xa1, 0x38), (0xa1, 0x02), (0xa1, 0x01)] {
        outb(p, port, value);
    }
    outb(p, 0x21, master_mask);
    outb(p, 0xa1, slave_mask);
}

fn bsp_lapic() -> Lapic {
    let mut lapic = Lapic::new(0, TSC_KHZ, TSC_KHZ);
    lapic.enter_virtual_wire_mode();
    lapic
}

#[test]
fn access_sizes() {
    assert_eq!(IoSize::from_bytes(1), Some(IoSize::Byte));
    assert_eq!(IoSize::from_bytes(2), Some(IoSize::Word));
    assert_eq!(IoSize::from_bytes(4), Some(IoSize::Dword));
    assert_eq!(IoSize::from_bytes(3), None);
    assert_eq!(IoSize::from_bytes(8), None);
}

#[test]
fn absent_ports_read_all_ones_and_ignore_writes() {
    let mut p = platform();
    for port in [0x0000, 0x0026, 0x0080, 0x00ed, 0x02f8, 0x0cf8, 0xffff] {
        assert_eq!(p.io_in(port, IoSize::Byte, NOW), 0xff, "{port:#x}");
        assert_eq!(p.io_in(port & !1, IoSize::Word, NOW), 0xffff, "{port:#x}");
        assert_eq!(
            p.io_in(port & !3, IoSize::Dword, NOW),
            0xffff_ffff,
            "{port:#x}"
        );
        assert_eq!(
            p.io_out(port, IoSize::Dword, 0x1234_5678, NOW),
            IoEffect::None
        );
    }
    outb(&mut p, POST_PORT, 0x42);
    outb(&mut p, DELAY_PORT, 0x00);
    assert_eq!(inb(&mut p, POST_PORT), 0xff);
}

#[test]
fn each_device_answers_its_ports() {
    let mut p = platform();
    outb(&mut p, 0x21, 0xa5);
    assert_eq!(inb(&mut p, 0x21), 0xa5, "PIC mask");
    outb(&mut p, 0x4d1, 0x02);
    assert_eq!(inb(&mut p, 0x4d1), 0x02, "ELCR");
    outb(&mut p, 0x3ff, 0x5a);
    assert_eq!(inb(&mut p, 0x3ff), 0x5a, "UART scratch");
    assert_eq!(inb(&mut p, 0x3fd), 0x60, "UART LSR");
    outb(&mut p, 0x70, 0x0d);
    assert_eq!(inb(&mut p, 0x71), 0x80, "RTC register D");
    assert_eq!(inb(&mut p, 0x64), 0x14, "i8042 status");
    outb(&mut p, 0x61, 0x01);
    assert_eq!(inb(&mut p, 0x61) & 0x01, 0x01, "port 0x61 gate");
    outb(&mut p, 0x43, 0xb0);
    outb(&mut p, 0x42, 0x34);
    outb(&mut p, 0x42, 0x12);
    assert_eq!(inb(&mut p, 0x42), 0x34, "PIT counter 2, not yet counting");
}

#[test]
fn wide_accesses_split_into_bytes() {
    let mut p = platform();
    // A word write to 0x70 selects register 0x0b with the low byte and writes the
    // high byte into it.
    p.io_out(0x70, IoSize::Word, 0x0600 | 0x0b, NOW);
    assert_eq!(inb(&mut p, 0x71), 0x06);
    p.io_out(0x3fc, IoSize::Dword, 0xaa00_0000, NOW); // MCR, LSR, MSR, SCR
    assert_eq!(p.io_in(0x3fe, IoSize::Word, NOW), 0xaab0, "MSR and scratch");
    assert_eq!(
        p.io_in(0x20, IoSize::Word, NOW) >> 8,
        0xff,
        "the mask behind the IRR"
    );
}

#[test]
fn serial_output_and_input_through_the_platform() {
    let mut p = platform();
    for b in b"ok\n" {
        outb(&mut p, 0x3f8, *b);
    }
    let out: std::vec::Vec<u8> = core::iter::from_fn(|| p.serial_output()).collect();
    assert_eq!(out, b"ok\n");
    assert!(p.serial_input(b'x'));
    assert_eq!(inb(&mut p, 0x3fd) & 1, 1);
    assert_eq!(inb(&mut p, 0x3f8), b'x');
}

#[test]
fn uart_interrupt_reaches_vcpu0_through_the_pic() {
    let mut p = platform();
    let mut lapic = bsp_lapic();
    init_pic(&mut p, 0xef, 0xff); // IRQ 4
    outb(&mut p, 0x3fc, 0x08); // OUT2
    assert_eq!(p.pending_interrupt(&lapic), None);
    outb(&mut p, 0x3f9, 0x01); // received-data interrupt
    assert!(p.serial_input(b'a'));
    assert_eq!(p.pending_interrupt(&lapic), Some(InterruptSource::Pic));
    assert_eq!(p.take_interrupt(&mut lapic), Some(0x34));
    assert_eq!(inb(&mut p, 0x3fa), 0x04, "the handler reads IIR");
    assert_eq!(inb(&mut p, 0x3f8), b'a');
    outb(&mut p, 0x20, 0x20);
    assert_eq!(p.pending_interrupt(&lapic), None);
}

#[test]
fn pit_periodic_interrupt_and_deadline() {
    let mut p = platform();
    let mut lapic = bsp_lapic();
    init_pic(&mut p, 0xfe, 0xff);
    outb(&mut p, 0x43, 0x34);
    outb(&mut p, 0x40, 0x9b);
    outb(&mut p, 0x40, 0x2e); // 11931: 100 Hz
    let deadline = p.next_deadline().expect("armed");
    let period = 11_931 * 2_000_000_000 / 1_193_182;
    assert!(deadline.abs_diff(NOW + period) <= 2_000, "about 10 ms");
    p.poll(deadline - 1);
    assert_eq!(p.pending_interrupt(&lapic), None);
    p.poll(deadline);
    assert_eq!(p.take_interrupt(&mut lapic), Some(0x30));
    p.poll(deadline + 5 * period);
    assert_eq!(p.pending_interrupt(&lapic), None, "IRQ 0 in service");
    outb(&mut p, 0x20, 0x20);
    assert_eq!(
        p.take_interrupt(&mut lapic),
        Some(0x30),
        "missed ticks: one request"
    );
}

#[test]
fn pic_goes_before_apic_and_only_through_extint() {
    let mut p = platform();
    let mut lapic = bsp_lapic();
    lapic.write_msr(0x80f, 0x1ff, NOW).expect("SVR");
    init_pic(&mut p, 0xfd, 0xff); // IRQ 1
    lapic.accept(0x80, false);
    outb(&mut p, 0x64, 0xaa); // self test: a reply on IRQ 1
    assert_eq!(p.pending_interrupt(&lapic), Some(InterruptSource::Pic));
    lapic.write_msr(0x808, 0xf0, NOW).expect("TPR");
    assert_eq!(
        p.pending_interrupt(&lapic),
        Some(InterruptSource::Pic),
        "TPR does not apply"
    );
    lapic.write_msr(0x835, 0x1_0700, NOW).expect("mask LINT0");
    assert_eq!(
        p.pending_interrupt(&lapic),
        None,
        "PIC cut off, APIC held by TPR"
    );
    lapic.write_msr(0x808, 0, NOW).expect("TPR");
    assert_eq!(p.take_interrupt(&mut lapic), Some(0x80));
    // With the APIC disabled, INTR goes straight to the CPU.
    lapic.write_msr(0x1b, 0xfee0_0100, NOW).expect("disable");
    assert_eq!(p.take_interrupt(&mut lapic), Some(0x31));
}

#[test]
fn keyboard_controller_reset_is_reported() {
    let mut p = platform();
    assert_eq!(outb(&mut p, 0x64, 0xfe), IoEffect::ResetSystem);
    assert_eq!(
        p.io_out(0x64, IoSize::Word, 0x00fe, NOW),
        IoEffect::ResetSystem
    );
    assert_eq!(outb(&mut p, 0x64, 0xff), IoEffect::None);
}

#[test]
fn hostile_port_traffic_never_panics() {
    let mut rng = Rng(0x1bad_b002);
    let mut p = platform();
    let mut lapic = bsp_lapic();
    let interesting = [
        0x20, 0x21, 0xa0, 0xa1, 0x4d0, 0x4d1, 0x40, 0x41, 0x42, 0x43, 0x61, 0x60, 0x64, 0x70, 0x71,
        0x3f8, 0x3f9, 0x3fa, 0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x80, 0xed,
    ];
    let mut now = NOW;
    for _ in 0..300_000 {
        now += rng.below(20_000);
        let port = if rng.below(8) == 0 {
            rng.next() as u16
        } else {
            interesting[rng.below(interesting.len() as u64) as usize]
        };
        let size = [IoSize::Byte, IoSize::Word, IoSize::Dword][rng.below(3) as usize];
        match rng.below(8) {
            0..=2 => {
                let value = p.io_in(port, size, now);
                if size != IoSize::Dword {
                    assert_eq!(value >> (8 * size.bytes()), 0, "only the access's bytes");
                }
            }
            3..=5 => {
                let _ = p.io_out(port, size, rng.next() as u32, now);
            }
            6 => {
                p.poll(now);
                let _ = p.next_deadline();
                p.serial_input(rng.byte());
                p.serial_output();
            }
            _ => {
                if let Some(vector) = p.take_interrupt(&mut lapic) {
                    let _ = vector;
                    if rng.below(2) == 0 {
                        let _ = lapic.write_msr(0x80b, 0, now);
                    }
                }
            }
        }
    }
}
