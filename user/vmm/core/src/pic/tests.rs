use super::*;
use crate::ports::testrng::Rng;

/// Linux's `init_8259A(0)` with vectors 0x30/0x38, then the masks it restores.
fn linux_init(pic: &mut Pic, master_mask: u8, slave_mask: u8) {
    pic.write(MASTER_DATA, 0xff);
    pic.write(MASTER_COMMAND, 0x11); // ICW1: edge, cascade, ICW4 follows
    pic.write(MASTER_DATA, 0x30); // ICW2: vector base
    pic.write(MASTER_DATA, 0x04); // ICW3: slave on IR2
    pic.write(MASTER_DATA, 0x01); // ICW4: 8086 mode, normal EOI
    pic.write(SLAVE_COMMAND, 0x11);
    pic.write(SLAVE_DATA, 0x38);
    pic.write(SLAVE_DATA, 0x02); // ICW3: slave ID 2
    pic.write(SLAVE_DATA, 0x01);
    pic.write(MASTER_DATA, master_mask);
    pic.write(SLAVE_DATA, slave_mask);
}

fn pulse(pic: &mut Pic, line: u8) {
    pic.set_irq(line, true);
    pic.set_irq(line, false);
}

fn read_isr(pic: &mut Pic, command: u16) -> u8 {
    pic.write(command, 0x0b);
    let isr = pic.read(command);
    pic.write(command, 0x0a);
    isr
}

#[test]
fn reset_state_is_initialised_and_masked() {
    let mut pic = Pic::new();
    assert_eq!(pic.read(MASTER_DATA), 0xff);
    assert_eq!(pic.read(SLAVE_DATA), 0xff);
    assert_eq!(pic.read(MASTER_COMMAND), 0, "IRR");
    assert_eq!((pic.read(ELCR_MASTER), pic.read(ELCR_SLAVE)), (0, 0));
    pulse(&mut pic, 0);
    assert!(!pic.intr_pending(), "masked");
    assert_eq!(pic.read(MASTER_COMMAND), 0x01, "but requested");
    pic.write(MASTER_DATA, 0xfe);
    assert!(pic.intr_pending());
    assert_eq!(pic.acknowledge(), 0x08, "the BIOS's vector base");
}

#[test]
fn linux_probe_reads_the_mask_back() {
    let mut pic = Pic::new();
    pic.write(SLAVE_DATA, 0xff);
    pic.write(MASTER_DATA, 0xa5);
    assert_eq!(pic.read(MASTER_DATA), 0xa5);
    pic.write(MASTER_DATA, 0xff);
    assert_eq!(pic.read(MASTER_DATA), 0xff);
}

#[test]
fn linux_init_then_timer_interrupt_and_specific_eoi() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0xfa, 0xff); // IRQ 0 and the cascade unmasked
    assert_eq!(pic.read(MASTER_DATA), 0xfa);
    pulse(&mut pic, 0);
    assert!(pic.intr_pending());
    assert_eq!(pic.acknowledge(), 0x30);
    assert!(!pic.intr_pending());
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0x01);
    assert_eq!(
        pic.read(MASTER_COMMAND),
        0x00,
        "IRR read again after OCW3 0x0a"
    );
    pic.write(MASTER_COMMAND, 0x60); // specific EOI, IRQ 0
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0);
}

#[test]
fn slave_interrupt_goes_through_the_cascade() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0xfb, 0xef); // cascade and IRQ 12
    pic.set_irq(12, true);
    assert_eq!(pic.read(SLAVE_COMMAND), 0x10, "slave IRR");
    assert_eq!(
        pic.read(MASTER_COMMAND),
        0x04,
        "master IR2 follows the slave"
    );
    assert_eq!(pic.acknowledge(), 0x3c);
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0x04);
    assert_eq!(read_isr(&mut pic, SLAVE_COMMAND), 0x10);
    assert_eq!(
        pic.read(MASTER_COMMAND),
        0,
        "master IR2 dropped with the slave's INT"
    );
    // Linux's mask_and_ack for a slave line: EOI to the slave, then to the master.
    pic.write(SLAVE_COMMAND, 0x64);
    pic.write(MASTER_COMMAND, 0x62);
    assert_eq!(read_isr(&mut pic, SLAVE_COMMAND), 0);
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0);
    assert!(!pic.intr_pending(), "edge-triggered: no new edge");
}

#[test]
fn in_service_levels_block_lower_priorities_only() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0xff);
    pulse(&mut pic, 3);
    assert_eq!(pic.acknowledge(), 0x33);
    pulse(&mut pic, 5);
    assert!(!pic.intr_pending(), "IRQ 5 waits behind IRQ 3");
    pulse(&mut pic, 1);
    assert_eq!(pic.acknowledge(), 0x31, "IRQ 1 nests");
    pic.write(MASTER_COMMAND, 0x20); // non-specific EOI: IRQ 1
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0x08);
    assert!(!pic.intr_pending());
    pic.write(MASTER_COMMAND, 0x20); // IRQ 3
    assert_eq!(pic.acknowledge(), 0x35);
}

#[test]
fn edge_requests_latch_and_level_requests_follow_the_line() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0x00);
    pic.write(ELCR_SLAVE, 0x02); // IRQ 9 level-triggered
    pic.set_irq(4, true);
    pic.set_irq(4, false);
    assert_eq!(
        pic.read(MASTER_COMMAND) & 0x10,
        0x10,
        "edge request latched"
    );
    pic.set_irq(9, true);
    pic.set_irq(9, false);
    assert_eq!(
        pic.read(SLAVE_COMMAND),
        0,
        "level request gone with the line"
    );
    pic.set_irq(9, true);
    assert_eq!(
        pic.acknowledge(),
        0x39,
        "the cascade (IR2) ranks above IRQ 4"
    );
    pic.write(SLAVE_COMMAND, 0x20);
    pic.write(MASTER_COMMAND, 0x20);
    assert_eq!(
        pic.acknowledge(),
        0x39,
        "still high: requests again after EOI"
    );
    pic.set_irq(9, false);
    pic.write(SLAVE_COMMAND, 0x20);
    pic.write(MASTER_COMMAND, 0x20);
    assert_eq!(pic.acknowledge(), 0x34, "the latched edge request");
    pic.write(MASTER_COMMAND, 0x20);
    assert!(!pic.intr_pending());
    // A held edge line needs a new rising edge.
    pic.set_irq(6, true);
    assert_eq!(pic.acknowledge(), 0x36);
    pic.write(MASTER_COMMAND, 0x20);
    pic.set_irq(6, true);
    assert!(!pic.intr_pending());
}

#[test]
fn elcr_keeps_the_fixed_edge_lines() {
    let mut pic = Pic::new();
    pic.write(ELCR_MASTER, 0xff);
    pic.write(ELCR_SLAVE, 0xff);
    assert_eq!(pic.read(ELCR_MASTER), 0xf8, "IRQ 0-2 edge");
    assert_eq!(pic.read(ELCR_SLAVE), 0xde, "IRQ 8 and 13 edge");
}

#[test]
fn inta_with_nothing_pending_is_spurious_irq7() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0x00);
    pic.write(ELCR_MASTER, 0x20);
    pic.set_irq(5, true);
    assert!(pic.intr_pending());
    pic.set_irq(5, false); // the level line drops before the INTA
    assert_eq!(pic.acknowledge(), 0x37);
    assert_eq!(
        read_isr(&mut pic, MASTER_COMMAND),
        0,
        "no ISR bit for a spurious"
    );
}

#[test]
fn poll_mode_acknowledges_through_the_command_port() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0xff);
    pic.write(MASTER_COMMAND, 0x0c);
    assert_eq!(pic.read(MASTER_COMMAND), 0x00, "nothing requested");
    pulse(&mut pic, 6);
    pic.write(MASTER_COMMAND, 0x0c);
    assert_eq!(pic.read(MASTER_COMMAND), 0x86);
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0x40);
    assert_eq!(
        pic.read(MASTER_COMMAND),
        0x00,
        "the poll lasted one read: IRR"
    );
}

#[test]
fn auto_eoi_leaves_isr_clear() {
    let mut pic = Pic::new();
    pic.write(MASTER_COMMAND, 0x11);
    pic.write(MASTER_DATA, 0x20);
    pic.write(MASTER_DATA, 0x04);
    pic.write(MASTER_DATA, 0x03); // 8086 mode, auto-EOI
    pulse(&mut pic, 1);
    assert_eq!(pic.acknowledge(), 0x21);
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0);
    pulse(&mut pic, 1);
    assert!(pic.intr_pending());
}

#[test]
fn rotation_commands_move_the_lowest_priority() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0xff);
    pulse(&mut pic, 0);
    assert_eq!(pic.acknowledge(), 0x30);
    pic.write(MASTER_COMMAND, 0xa0); // rotate on non-specific EOI: IRQ 0 now lowest
    pulse(&mut pic, 0);
    pulse(&mut pic, 1);
    assert_eq!(pic.acknowledge(), 0x31);
    pic.write(MASTER_COMMAND, 0xe1); // rotate on specific EOI for IRQ 1: 2 is highest
    assert_eq!(pic.acknowledge(), 0x30, "IRQ 0 ranks above IRQ 1 now");
    pic.write(MASTER_COMMAND, 0x60);
    pic.write(MASTER_COMMAND, 0xc4); // set priority: IRQ 4 lowest, IRQ 5 highest
    pulse(&mut pic, 3);
    pulse(&mut pic, 6);
    assert_eq!(pic.acknowledge(), 0x36);
    // Rotate in auto-EOI mode is accepted (set and clear) without disturbing anything.
    pic.write(MASTER_COMMAND, 0x80);
    pic.write(MASTER_COMMAND, 0x00);
    pic.write(MASTER_COMMAND, 0x40); // no operation
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0x40);
}

#[test]
fn special_mask_mode_lets_lower_priorities_through() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0xff);
    pulse(&mut pic, 3);
    assert_eq!(pic.acknowledge(), 0x33);
    pulse(&mut pic, 5);
    assert!(!pic.intr_pending());
    pic.write(MASTER_DATA, 0x08); // mask the in-service IRQ 3
    pic.write(MASTER_COMMAND, 0x68); // set special mask mode
    assert_eq!(pic.acknowledge(), 0x35);
    pic.write(MASTER_COMMAND, 0x48); // reset special mask mode
    pulse(&mut pic, 7);
    assert!(
        !pic.intr_pending(),
        "IRQ 3 and 5 in service again block IRQ 7"
    );
}

#[test]
fn icw1_resets_masks_service_and_edge_requests() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0xff);
    pic.write(ELCR_MASTER, 0x80);
    pulse(&mut pic, 3);
    pic.set_irq(7, true);
    assert_eq!(pic.acknowledge(), 0x33);
    pulse(&mut pic, 4);
    pic.write(MASTER_COMMAND, 0x11);
    assert_eq!(pic.read(MASTER_DATA), 0, "IMR cleared");
    assert_eq!(
        pic.read(MASTER_COMMAND),
        0x80,
        "edge IRR cleared, level kept"
    );
    assert_eq!(read_isr(&mut pic, MASTER_COMMAND), 0);
    pic.write(MASTER_DATA, 0x50);
    pic.write(MASTER_DATA, 0x04);
    pic.write(MASTER_DATA, 0x01);
    assert_eq!(pic.acknowledge(), 0x57);
}

#[test]
fn single_mode_skips_icw3_and_has_no_cascade() {
    let mut pic = Pic::new();
    pic.write(MASTER_COMMAND, 0x13); // single, ICW4
    pic.write(MASTER_DATA, 0x40);
    pic.write(MASTER_DATA, 0x01); // ICW4, not ICW3
    assert_eq!(pic.read(MASTER_DATA), 0, "initialised: reads IMR");
    pic.write(SLAVE_DATA, 0x00);
    pic.set_irq(8, true);
    assert_eq!(pic.acknowledge(), 0x42, "IR2 answered by the master itself");
}

#[test]
fn cascade_line_and_lines_above_15_are_ignored() {
    let mut pic = Pic::new();
    linux_init(&mut pic, 0x00, 0x00);
    pic.set_irq(2, true);
    pic.set_irq(16, true);
    pic.set_irq(255, true);
    assert!(!pic.intr_pending());
    assert_eq!(pic.read(0x22), 0xff, "not a PIC port");
    assert!(Pic::owns(0x4d1) && !Pic::owns(0x22));
}

#[test]
fn hostile_traffic_never_panics_and_vectors_stay_consistent() {
    let ports = [
        MASTER_COMMAND,
        MASTER_DATA,
        SLAVE_COMMAND,
        SLAVE_DATA,
        ELCR_MASTER,
        ELCR_SLAVE,
    ];
    let mut rng = Rng(0x8259);
    let mut pic = Pic::new();
    for _ in 0..200_000 {
        let port = ports[rng.below(ports.len() as u64) as usize];
        match rng.below(4) {
            0 => pic.write(port, rng.byte()),
            1 => {
                pic.read(port);
            }
            2 => pic.set_irq(rng.byte() % 20, rng.below(2) == 0),
            _ => {
                let pending = pic.intr_pending();
                let vector = pic.acknowledge();
                if !pending {
                    assert_eq!(vector & 7, 7, "spurious is always IR7");
                }
            }
        }
        let slave_requests = pic.slave.highest_request().is_some();
        assert_eq!(
            pic.master.irr & 0x04 != 0,
            slave_requests,
            "cascade invariant"
        );
    }
}
