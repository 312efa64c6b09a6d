use super::modem::*;
use super::*;
use crate::ports::testrng::Rng;
use std::vec::Vec;

fn drain(uart: &mut Uart) -> Vec<u8> {
    core::iter::from_fn(|| uart.take_output()).collect()
}

#[test]
fn reset_values() {
    let mut u = Uart::new();
    assert_eq!(u.read(IER), 0);
    assert_eq!(u.read(IIR_FCR), 0x01, "no interrupt, FIFOs off");
    assert_eq!(u.read(LCR), 0);
    assert_eq!(u.read(MCR), 0);
    assert_eq!(u.read(LSR), 0x60, "THRE and TEMT");
    assert_eq!(
        u.read(MSR),
        0xb0,
        "CTS, DSR and DCD from a terminal on line"
    );
    assert_eq!(u.read(SCR), 0);
    assert!(!u.irq_level());
}

#[test]
fn scratch_and_divisor_latch_read_back() {
    let mut u = Uart::new();
    u.write(SCR, 0x5a);
    assert_eq!(u.read(SCR), 0x5a);
    u.write(IER, 0x05);
    u.write(LCR, 0x83); // DLAB, 8 bits
    assert_eq!((u.read(DATA), u.read(IER)), (12, 0), "reset divisor 12");
    u.write(DATA, 0x01);
    u.write(IER, 0x02);
    assert_eq!((u.read(DATA), u.read(IER)), (0x01, 0x02));
    u.write(LCR, 0x03);
    assert_eq!(u.read(IER), 0x05, "IER is untouched by divisor writes");
    assert_eq!(u.read(LCR), 0x03);
    assert_eq!(u.divisor, 0x0201);
}

#[test]
fn ier_keeps_only_its_four_bits() {
    let mut u = Uart::new();
    u.write(IER, 0xff);
    assert_eq!(u.read(IER), 0x0f);
    u.write(MCR, 0xff);
    assert_eq!(u.read(MCR), 0x1f);
}

#[test]
fn lsr_and_msr_ignore_writes() {
    let mut u = Uart::new();
    u.write(LSR, 0x00);
    u.write(MSR, 0x00);
    assert_eq!(u.read(LSR), 0x60);
    assert_eq!(u.read(MSR), 0xb0);
}

/// The probe of Linux's 8250 `autoconfig()` and `autoconfig_16550a()`, step by step.
#[test]
fn linux_autoconfig_finds_a_16550a() {
    let mut u = Uart::new();
    // Existence test through IER.
    let saved_ier = u.read(IER);
    u.write(IER, 0);
    let scratch2 = u.read(IER) & 0x0f;
    u.write(IER, 0x0f);
    let scratch3 = u.read(IER) & 0x0f;
    u.write(IER, saved_ier);
    assert_eq!((scratch2, scratch3), (0, 0x0f));
    // Loopback test: MCR = LOOP | OUT2 | RTS must show DCD and CTS.
    let saved_mcr = u.read(MCR);
    u.write(MCR, 0x1a);
    assert_eq!(u.read(MSR) & 0xf0, 0x90);
    u.write(MCR, saved_mcr);
    // EFR probe (LCR 0xbf, write 0 at offset 2 = FCR), then FIFO detection.
    u.write(LCR, 0xbf);
    u.write(IIR_FCR, 0);
    u.write(LCR, 0);
    u.write(IIR_FCR, 0x01);
    assert_eq!(u.read(IIR_FCR) >> 6, 3, "16550A FIFO bits");
    // No EFR behind LCR 0x80 or 0xbf: offset 2 reads IIR there.
    u.write(LCR, 0x80);
    assert_ne!(u.read(IIR_FCR), 0);
    u.write(LCR, 0xbf);
    assert_ne!(u.read(IIR_FCR), 0);
    // Not a National SuperIO: EXCR1 (IIR here) does not follow MCR.LOOP.
    u.write(LCR, 0);
    let status1 = u.read(MCR);
    u.write(LCR, 0xe0);
    let status2 = u.read(IIR_FCR);
    assert_eq!((status1 ^ status2) & 0x10, 0);
    u.write(LCR, 0);
    u.write(MCR, status1 ^ 0x10);
    u.write(LCR, 0xe0);
    let status2 = u.read(IIR_FCR);
    u.write(LCR, 0);
    u.write(MCR, status1);
    assert_eq!((status1 ^ status2) & 0x10, 0);
    // Not a 16750: IIR bit 5 stays clear with the 64-byte FIFO bit, DLAB or not.
    u.write(IIR_FCR, 0x21);
    let status1 = u.read(IIR_FCR) >> 5;
    u.write(LCR, 0x80);
    u.write(IIR_FCR, 0x21);
    let status2 = u.read(IIR_FCR) >> 5;
    u.write(IIR_FCR, 0x01);
    u.write(LCR, 0);
    assert_eq!((status1, status2), (6, 6));
    // Not an XScale: IER bit 6 (UUE) does not stick.
    u.write(IER, 0x40);
    assert_eq!(u.read(IER) & 0x40, 0);
}

#[test]
fn thr_empty_interrupt_follows_the_16550a() {
    let mut u = Uart::new();
    u.write(MCR, MCR_OUT2);
    u.write(IER, IER_THR_EMPTY);
    assert!(u.irq_level(), "enabling ETBEI with THR empty raises it");
    assert_eq!(u.read(IIR_FCR), 0x02);
    assert_eq!(u.read(IIR_FCR), 0x01, "reading IIR cleared it");
    assert!(!u.irq_level());
    // Linux's start-up test: disable and re-enable, it must come back.
    u.write(IER, 0);
    u.write(IER, IER_THR_EMPTY);
    assert_eq!(u.read(IIR_FCR), 0x02);
    // Writing THR clears it, and it is set again as THR empties at once.
    u.write(DATA, b'A');
    assert!(u.irq_level());
    assert_eq!(u.read(IIR_FCR), 0x02);
    assert_eq!(drain(&mut u), b"A");
    // Rewriting IER with ETBEI already set does not raise it again.
    u.write(IER, IER_THR_EMPTY);
    assert_eq!(u.read(IIR_FCR), 0x01);
}

#[test]
fn out2_gates_the_interrupt_line() {
    let mut u = Uart::new();
    u.write(IER, IER_THR_EMPTY);
    assert!(!u.irq_level(), "OUT2 clear");
    assert_eq!(u.read(IIR_FCR) & 1, 0, "the UART still identifies it");
    u.write(IER, 0);
    u.write(IER, IER_THR_EMPTY);
    u.write(MCR, MCR_OUT2);
    assert!(u.irq_level());
    u.write(MCR, MCR_OUT2 | MCR_LOOPBACK);
    assert!(!u.irq_level(), "loopback forces OUT2 inactive");
}

#[test]
fn output_queue_keeps_order_and_exerts_backpressure() {
    let mut u = Uart::new();
    for b in b"hello" {
        u.write(DATA, *b);
    }
    assert_eq!(u.read(LSR) & 0x60, 0x20, "THR empty, transmitter not");
    assert_eq!(drain(&mut u), b"hello");
    assert_eq!(u.read(LSR) & 0x60, 0x60);
    let room = TX_QUEUE_BYTES - TX_FIFO_BYTES;
    for i in 0..room as u8 {
        u.write(DATA, i);
    }
    assert_eq!(u.read(LSR) & 0x20, 0x20, "room for a full FIFO load left");
    u.write(DATA, room as u8);
    assert_eq!(
        u.read(LSR) & 0x60,
        0,
        "less than 16 bytes of room: THRE clear"
    );
    // A driver that ignores THRE fills the queue, then loses bytes.
    for i in room as u8 + 1..=TX_QUEUE_BYTES as u8 {
        u.write(DATA, i);
    }
    u.write(MCR, MCR_OUT2);
    u.write(IER, IER_THR_EMPTY);
    assert!(
        !u.irq_level(),
        "no THR-empty while the queue is nearly full"
    );
    for expected in 0..TX_FIFO_BYTES as u8 {
        assert!(!u.irq_level());
        assert_eq!(u.take_output(), Some(expected));
    }
    assert!(u.irq_level(), "draining 16 bytes empties THR");
    let rest = drain(&mut u);
    assert_eq!(
        rest.len(),
        TX_QUEUE_BYTES - TX_FIFO_BYTES,
        "the 65th byte was lost"
    );
    assert_eq!(rest.last(), Some(&(TX_QUEUE_BYTES as u8 - 1)));
    assert!(!u.has_output());
}

#[test]
fn received_bytes_and_the_data_ready_interrupt() {
    let mut u = Uart::new();
    u.write(MCR, MCR_OUT2);
    u.write(IER, IER_RX_DATA);
    assert_eq!(u.rx_room(), 1, "FIFOs off: one holding register");
    assert!(u.receive(b'x'));
    assert!(u.irq_level());
    assert_eq!(u.read(LSR) & 1, 1);
    assert_eq!(u.read(IIR_FCR), 0x04);
    assert_eq!(u.read(DATA), b'x');
    assert_eq!(u.read(LSR) & 1, 0);
    assert!(!u.irq_level());
    assert_eq!(
        u.read(DATA),
        b'x',
        "an empty buffer reads the last byte again"
    );
}

#[test]
fn fifo_trigger_level_and_character_timeout() {
    let mut u = Uart::new();
    u.write(IIR_FCR, 0x81); // FIFOs on, trigger 8 (what Linux uses)
    u.write(IER, IER_RX_DATA);
    assert_eq!(u.rx_room(), RX_FIFO_BYTES);
    for b in 0..7 {
        u.receive(b);
    }
    assert_eq!(
        u.read(IIR_FCR),
        0xcc,
        "below the trigger: character timeout"
    );
    u.receive(7);
    assert_eq!(
        u.read(IIR_FCR),
        0xc4,
        "at the trigger: received data available"
    );
    for b in 0..8 {
        assert_eq!(u.read(DATA), b);
    }
    assert_eq!(u.read(IIR_FCR), 0xc1);
    u.receive(1);
    u.write(IIR_FCR, 0x83); // clear the receive FIFO
    assert_eq!(u.read(LSR) & 1, 0);
    u.receive(2);
    u.write(IIR_FCR, 0x00); // FIFOs off: cleared too
    assert_eq!(u.read(LSR) & 1, 0);
    assert_eq!(u.read(IIR_FCR), 0x01);
}

#[test]
fn overrun_sets_oe_and_takes_priority() {
    let mut u = Uart::new();
    u.write(IIR_FCR, 0x01);
    u.write(IER, IER_RX_DATA | IER_LINE_STATUS | IER_THR_EMPTY);
    for b in 0..RX_FIFO_BYTES as u8 {
        assert!(u.receive(b));
    }
    assert_eq!(u.rx_room(), 0);
    assert!(!u.receive(0xee), "FIFO full: overrun");
    assert_eq!(u.read(IIR_FCR), 0xc6, "line status first");
    assert_eq!(u.read(LSR) & 0x03, 0x03, "DR and OE");
    assert_eq!(u.read(LSR) & 0x02, 0, "reading LSR cleared OE");
    assert_eq!(u.read(IIR_FCR), 0xc4, "then received data");
    for b in 0..RX_FIFO_BYTES as u8 {
        assert_eq!(u.read(DATA), b, "the overrunning byte was not stored");
    }
    assert_eq!(u.read(IIR_FCR), 0xc2, "then THR empty");
    // Without FIFOs the new byte replaces the held one.
    u.write(IIR_FCR, 0);
    u.receive(1);
    u.receive(2);
    assert_eq!(u.read(LSR) & 0x03, 0x03);
    assert_eq!(u.read(DATA), 2);
}

#[test]
fn loopback_returns_transmitted_bytes_and_disconnects_input() {
    let mut u = Uart::new();
    u.write(IIR_FCR, 0x01);
    u.write(MCR, MCR_LOOPBACK);
    assert_eq!(u.rx_room(), 0);
    assert!(!u.receive(b'z'), "serial input disconnected");
    u.write(DATA, 0x55);
    u.write(DATA, 0xaa);
    assert!(!u.has_output(), "nothing reaches the wire");
    assert_eq!(u.read(LSR) & 0x61, 0x61);
    assert_eq!((u.read(DATA), u.read(DATA)), (0x55, 0xaa));
}

#[test]
fn modem_status_deltas_in_loopback() {
    let mut u = Uart::new();
    u.write(IER, IER_MODEM_STATUS);
    u.write(MCR, MCR_LOOPBACK | MCR_OUT1 | MCR_DTR);
    // CTS and DCD dropped (RTS, OUT2 clear), DSR stayed (DTR), RI rose (OUT1).
    assert_eq!(u.read(IIR_FCR), 0x00, "modem status interrupt");
    assert_eq!(
        u.read(MSR),
        MSR_DSR | MSR_RI | MSR_DELTA_CTS | MSR_DELTA_DCD
    );
    assert_eq!(u.read(IIR_FCR), 0x01, "reading MSR cleared the deltas");
    u.write(MCR, MCR_LOOPBACK | MCR_DTR);
    assert_eq!(u.read(MSR), MSR_DSR | MSR_TRAILING_RI, "RI's trailing edge");
    u.write(MCR, MCR_LOOPBACK | MCR_RTS | MCR_OUT2 | MCR_DTR);
    assert_eq!(
        u.read(MSR),
        MSR_CTS | MSR_DSR | MSR_DCD | MSR_DELTA_CTS | MSR_DELTA_DCD
    );
    u.write(MCR, 0);
    assert_eq!(
        u.read(MSR),
        0xb0,
        "leaving loopback: the terminal's lines, unchanged"
    );
}

#[test]
fn hostile_register_traffic_never_breaks_invariants() {
    let mut rng = Rng(0x16550a);
    let mut u = Uart::new();
    for _ in 0..200_000 {
        let offset = rng.byte();
        match rng.below(5) {
            0 => u.write(offset, rng.byte()),
            1 => {
                let value = u.read(offset);
                if offset & 7 == IIR_FCR && u.lcr & LCR_DLAB == 0 {
                    assert_eq!(value & 0x30, 0, "IIR bits 5:4 are zero");
                }
            }
            2 => {
                u.receive(rng.byte());
            }
            3 => {
                u.take_output();
            }
            _ => {
                let _ = u.irq_level();
            }
        }
        assert!(u.ier <= 0x0f && u.mcr <= 0x1f);
        assert!(u.rx.len() <= RX_FIFO_BYTES && u.tx.len() <= TX_QUEUE_BYTES);
        assert!(u.fifos_enabled || u.rx.len() <= 1);
    }
}
