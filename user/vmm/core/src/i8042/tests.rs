use super::*;
use crate::ports::testrng::Rng;

/// Linux's `i8042_command()`: the command, its parameter, then its reply (if any) once
/// the output buffer is full.
fn command(kbc: &mut I8042, command: u8, parameter: Option<u8>) -> Option<u8> {
    assert_eq!(kbc.read(COMMAND_PORT) & 0x02, 0, "input buffer never full");
    assert_eq!(kbc.write(COMMAND_PORT, command), I8042Effect::None);
    if let Some(parameter) = parameter {
        assert_eq!(kbc.write(DATA_PORT, parameter), I8042Effect::None);
    }
    (kbc.read(COMMAND_PORT) & STATUS_OUTPUT_FULL != 0).then(|| kbc.read(DATA_PORT))
}

#[test]
fn power_up_status_and_command_byte() {
    let mut kbc = I8042::new();
    assert_eq!(kbc.read(COMMAND_PORT), 0x14, "not inhibited, system flag");
    assert_eq!(command(&mut kbc, 0x20, None), Some(0x45));
    assert!(!kbc.keyboard_irq_level() && !kbc.aux_irq_level());
    assert!(I8042::owns(0x60) && I8042::owns(0x64) && !I8042::owns(0x61));
    assert_eq!(kbc.read(0x62), 0xff);
}

/// The probe of Linux's i8042 driver, from the flush to the auxiliary port's IRQ test.
#[test]
fn linux_probe_finds_a_controller_with_two_empty_ports() {
    let mut kbc = I8042::new();
    // i8042_flush: nothing to drain.
    assert_eq!(kbc.read(COMMAND_PORT) & STATUS_OUTPUT_FULL, 0);
    // Self test, then a stable CTR read.
    assert_eq!(command(&mut kbc, 0xaa, None), Some(0x55));
    let ctr = command(&mut kbc, 0x20, None).expect("CTR");
    assert_eq!(command(&mut kbc, 0x20, None), Some(ctr));
    // Keyboard disabled and its interrupt off; the key lock is open.
    assert_ne!(kbc.read(COMMAND_PORT) & 0x10, 0);
    let ctr = (ctr | CTR_KEYBOARD_DISABLED) & !CTR_KEYBOARD_INTERRUPT;
    assert_eq!(command(&mut kbc, 0x60, Some(ctr)), None);
    assert_eq!(command(&mut kbc, 0x20, None), Some(ctr));
    // Auxiliary loopback: the byte comes back as auxiliary data.
    assert_eq!(kbc.write(COMMAND_PORT, 0xd3), I8042Effect::None);
    kbc.write(DATA_PORT, 0x5a);
    assert_eq!(
        kbc.read(COMMAND_PORT) & 0x21,
        0x21,
        "full, from the aux port"
    );
    assert_eq!(kbc.read(DATA_PORT), 0x5a);
    // Disabling and enabling the auxiliary port shows in the command byte.
    let without_aux = ctr | CTR_AUX_DISABLED;
    command(&mut kbc, 0x60, Some(without_aux));
    assert_eq!(command(&mut kbc, 0x20, None), Some(without_aux));
    let with_aux = (without_aux & !CTR_AUX_DISABLED) | CTR_AUX_INTERRUPT;
    command(&mut kbc, 0x60, Some(with_aux));
    // The IRQ 12 delivery test: a looped-back byte raises the auxiliary line.
    kbc.write(COMMAND_PORT, 0xd3);
    kbc.write(DATA_PORT, 0xa5);
    assert!(kbc.aux_irq_level() && !kbc.keyboard_irq_level());
    assert_eq!(kbc.read(COMMAND_PORT) & STATUS_AUX_DATA, STATUS_AUX_DATA);
    assert_eq!(kbc.read(DATA_PORT), 0xa5);
    assert!(!kbc.aux_irq_level(), "reading the byte lowers the line");
    // Interface tests.
    assert_eq!(command(&mut kbc, 0xa9, None), Some(0x00));
    assert_eq!(command(&mut kbc, 0xab, None), Some(0x00));
}

#[test]
fn bytes_for_absent_devices_time_out_with_a_nak() {
    let mut kbc = I8042::new();
    // atkbd's GET ID goes to the keyboard.
    assert_eq!(kbc.write(DATA_PORT, 0xf2), I8042Effect::None);
    assert!(kbc.keyboard_irq_level());
    assert_eq!(
        kbc.read(COMMAND_PORT) & 0x61,
        0x41,
        "full, time-out, keyboard side"
    );
    assert_eq!(kbc.read(DATA_PORT), NO_DEVICE);
    assert_eq!(kbc.read(COMMAND_PORT) & 0x41, 0, "read clears both");
    // psmouse's GET ID goes through command 0xd4 to the auxiliary device.
    command(&mut kbc, 0x60, Some(0x47));
    kbc.write(COMMAND_PORT, 0xd4);
    kbc.write(DATA_PORT, 0xf2);
    assert!(kbc.aux_irq_level());
    assert_eq!(
        kbc.read(COMMAND_PORT) & 0x61,
        0x61,
        "full, time-out, auxiliary side"
    );
    assert_eq!(kbc.read(DATA_PORT), NO_DEVICE);
}

#[test]
fn reset_through_the_command_port_or_the_output_port() {
    let mut kbc = I8042::new();
    assert_eq!(kbc.write(COMMAND_PORT, 0xfe), I8042Effect::ResetSystem);
    assert_eq!(
        kbc.write(COMMAND_PORT, 0xf0),
        I8042Effect::ResetSystem,
        "pulses bit 0 too"
    );
    assert_eq!(
        kbc.write(COMMAND_PORT, 0xff),
        I8042Effect::None,
        "pulses nothing"
    );
    assert_eq!(kbc.write(COMMAND_PORT, 0xf1), I8042Effect::None);
    assert_eq!(
        command(&mut kbc, 0xd0, None),
        Some(0x03),
        "reset high, A20 on"
    );
    kbc.write(COMMAND_PORT, 0xd1);
    assert_eq!(kbc.write(DATA_PORT, 0x03), I8042Effect::None);
    kbc.write(COMMAND_PORT, 0xd1);
    assert_eq!(kbc.write(DATA_PORT, 0x02), I8042Effect::ResetSystem);
    kbc.write(COMMAND_PORT, 0xdd);
    kbc.write(COMMAND_PORT, 0xd1);
    kbc.write(DATA_PORT, 0x03);
    kbc.write(COMMAND_PORT, 0xdd);
    assert_eq!(command(&mut kbc, 0xd0, None), Some(0x01), "A20 off");
    kbc.write(COMMAND_PORT, 0xdf);
    assert_eq!(command(&mut kbc, 0xd0, None), Some(0x03));
}

#[test]
fn controller_ram_and_enable_commands() {
    let mut kbc = I8042::new();
    command(&mut kbc, 0x7f, Some(0x99));
    assert_eq!(command(&mut kbc, 0x3f, None), Some(0x99));
    command(&mut kbc, 0xad, None);
    command(&mut kbc, 0xa7, None);
    assert_eq!(command(&mut kbc, 0x20, None), Some(0x45 | 0x30));
    command(&mut kbc, 0xae, None);
    command(&mut kbc, 0xa8, None);
    assert_eq!(command(&mut kbc, 0x20, None), Some(0x45));
    // Keyboard output buffer write.
    kbc.write(COMMAND_PORT, 0xd2);
    kbc.write(DATA_PORT, 0x1c);
    assert!(kbc.keyboard_irq_level());
    assert_eq!(kbc.read(DATA_PORT), 0x1c);
    assert_eq!(
        kbc.read(DATA_PORT),
        0x1c,
        "an empty buffer reads the last byte"
    );
    // A command cancels a parameter still expected.
    kbc.write(COMMAND_PORT, 0x60);
    kbc.write(COMMAND_PORT, 0xa7);
    kbc.write(DATA_PORT, 0x00);
    assert_eq!(command(&mut kbc, 0x20, None), Some(0x45 | 0x20));
    assert_eq!(
        kbc.read(COMMAND_PORT) & STATUS_LAST_WAS_COMMAND,
        STATUS_LAST_WAS_COMMAND
    );
    kbc.write(DATA_PORT, 0xf4);
    assert_eq!(kbc.read(COMMAND_PORT) & STATUS_LAST_WAS_COMMAND, 0);
}

#[test]
fn hostile_traffic_never_panics() {
    let mut rng = Rng(0x8042);
    let mut kbc = I8042::new();
    let mut resets = 0;
    for _ in 0..200_000 {
        let port = [DATA_PORT, COMMAND_PORT, 0x61, 0x65][rng.below(4) as usize];
        if rng.below(2) == 0 {
            if kbc.write(port, rng.byte()) == I8042Effect::ResetSystem {
                resets += 1;
            }
        } else {
            kbc.read(port);
        }
        let status = kbc.read(COMMAND_PORT);
        assert_eq!(status & 0x02, 0);
        assert!(!(kbc.keyboard_irq_level() && kbc.aux_irq_level()));
    }
    assert!(resets > 0);
}
