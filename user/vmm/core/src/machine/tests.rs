use super::*;
use crate::platform::{PM1A_CONTROL_PORT, PM1_SLP_EN, S5_SLEEP_TYPE};

const TSC_KHZ: u32 = 1_000_000;
const NOW: u64 = 5_000_000_000;

fn machine() -> Machine {
    Machine::new(TSC_KHZ, 1_700_000_000, NOW, 256 << 20)
}

#[test]
fn acpi_power_off_as_linux_does_it() {
    let mut m = machine();
    // acpi_enter_sleep_state(5): SLP_TYP first, then SLP_EN with it.
    let typ = (S5_SLEEP_TYPE << 10) as u32;
    assert_eq!(
        m.io_out(PM1A_CONTROL_PORT, IoSize::Word, typ, NOW),
        MachineRequest::None
    );
    assert_eq!(
        m.io_out(
            PM1A_CONTROL_PORT,
            IoSize::Word,
            typ | PM1_SLP_EN as u32,
            NOW
        ),
        MachineRequest::PowerOff
    );
}

#[test]
fn keyboard_controller_reset() {
    let mut m = machine();
    assert_eq!(
        m.io_out(0x64, IoSize::Byte, 0xfe, NOW),
        MachineRequest::Reset
    );
}

#[test]
fn pm_timer_counts_and_other_ports_reach_the_legacy_devices() {
    let mut m = machine();
    let t0 = m.io_in(0x608, IoSize::Dword, NOW);
    let t1 = m.io_in(0x608, IoSize::Dword, NOW + 1_000_000_000);
    // One second at 3.579545 MHz.
    assert_eq!(t1.wrapping_sub(t0), 3_579_545);
    // Absent ports read all ones of the access size.
    assert_eq!(m.io_in(0x1234, IoSize::Word, NOW), 0xffff);
    assert_eq!(m.io_in(0xcfc, IoSize::Dword, NOW), 0xffff_ffff);
    // CMOS memory size: extended memory above 1 MiB in KiB, capped at 0xffff.
    m.io_out(0x70, IoSize::Byte, 0x17, NOW);
    assert_eq!(m.io_in(0x71, IoSize::Byte, NOW), 0xff);
}
