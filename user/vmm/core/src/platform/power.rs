//! The ACPI fixed-hardware registers the FADT names: the PM1a event block (status,
//! enable), the PM1a control block and the PM timer, at ports 0x600..0x60c; and the AML
//! that tells the OS which sleep type means "soft off".
//!
//! Power-off is the one thing these registers do: Linux's `acpi_power_off` evaluates
//! `\_S5`, then writes PM1a control with SLP_TYP = [`S5_SLEEP_TYPE`] and, in a second
//! write, SLP_EN; [`PmRegisters::write`] reports that as [`PmAction::PowerOff`]. No
//! fixed event ever becomes pending (there is no power button, RTC alarm or timer
//! overflow event), so the SCI stays low; SCI_EN always reads 1, as the machine is in
//! ACPI mode from reset (the FADT has no SMI command port to switch it). Registers are
//! accessed in byte lanes, so 8-, 16- and 32-bit accesses all behave as on hardware.

use super::PM1A_EVENT_PORT;

/// The PM timer's frequency.
pub const PM_TIMER_HZ: u64 = 3_579_545;
/// SLP_TYP value the DSDT's `\_S5` package names (both PM1a and PM1b).
pub const S5_SLEEP_TYPE: u16 = 5;
/// PM1 control: the SCI is enabled (the machine is in ACPI mode).
pub const PM1_SCI_EN: u16 = 1;
/// PM1 control: write 1 to enter the sleep state SLP_TYP names.
pub const PM1_SLP_EN: u16 = 1 << 13;
const SLP_TYP_SHIFT: u16 = 10;
const SLP_TYP_MASK: u16 = 7 << SLP_TYP_SHIFT;
/// Control bits that keep what is written: BM_RLD and SLP_TYP (GBL_RLS and SLP_EN are
/// write-only, SCI_EN fixed).
const CONTROL_STORED: u16 = 1 << 1 | SLP_TYP_MASK;
/// Enable bits that exist: TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN,
/// PCIEXP_WAKE_DIS.
const ENABLE_STORED: u16 = 1 | 1 << 5 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 14;

/// `Name (_S5_, Package (4) { 5, 5, 0, 0 })` in AML: NameOp, the name, PackageOp, the
/// package length (8 bytes from itself to the end), four elements (two BytePrefix 5,
/// two ZeroOp).
pub fn dsdt_aml() -> [u8; 14] {
    let s5 = S5_SLEEP_TYPE as u8;
    [
        0x08, b'_', b'S', b'5', b'_', 0x12, 0x08, 0x04, 0x0a, s5, 0x0a, s5, 0x00, 0x00,
    ]
}

/// What a register write asks of the VMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PmAction {
    None,
    /// The guest entered S5: stop the VM.
    PowerOff,
}

/// The PM1a registers and the PM timer of one VM.
#[derive(Clone, Debug)]
pub struct PmRegisters {
    status: u16,
    enable: u16,
    control: u16,
    tsc_hz: u64,
    tsc_at_reset: u64,
}

impl PmRegisters {
    /// Registers after reset; the PM timer counts from `tsc_now` at `tsc_hz`.
    pub fn new(tsc_hz: u64, tsc_now: u64) -> Self {
        PmRegisters {
            status: 0,
            enable: 0,
            control: 0,
            tsc_hz: tsc_hz.max(1),
            tsc_at_reset: tsc_now,
        }
    }

    /// Reads `size` bytes (1, 2 or 4) at `port`; bytes outside the block read 0xff.
    pub fn read(&self, port: u16, size: u8, tsc_now: u64) -> u32 {
        let mut value = 0u32;
        for lane in 0..size.min(4) {
            let byte = self.read_byte(port.wrapping_add(lane as u16), tsc_now);
            value |= (byte as u32) << (8 * lane);
        }
        value
    }

    /// Writes `size` bytes (1, 2 or 4) of `value` at `port`.
    pub fn write(&mut self, port: u16, size: u8, value: u32) -> PmAction {
        let mut sleep = false;
        for lane in 0..size.min(4) {
            let byte = (value >> (8 * lane)) as u8;
            sleep |= self.write_byte(port.wrapping_add(lane as u16), byte);
        }
        let sleep_type = (self.control & SLP_TYP_MASK) >> SLP_TYP_SHIFT;
        if sleep && sleep_type == S5_SLEEP_TYPE {
            PmAction::PowerOff
        } else {
            PmAction::None
        }
    }

    /// Whether the SCI is asserted: a fixed event pending and enabled.
    pub fn sci_level(&self) -> bool {
        self.status & self.enable != 0
    }

    /// The PM timer: 3.579545 MHz ticks since reset, all 32 bits (TMR_VAL_EXT).
    pub fn timer(&self, tsc_now: u64) -> u32 {
        let elapsed = tsc_now.wrapping_sub(self.tsc_at_reset) as u128;
        (elapsed * PM_TIMER_HZ as u128 / self.tsc_hz as u128) as u32
    }

    fn read_byte(&self, port: u16, tsc_now: u64) -> u8 {
        let lane = |reg: u16, offset: u16| (reg >> (8 * offset)) as u8;
        match port.wrapping_sub(PM1A_EVENT_PORT) {
            o @ 0..=1 => lane(self.status, o),
            o @ 2..=3 => lane(self.enable, o - 2),
            o @ 4..=5 => lane(self.control | PM1_SCI_EN, o - 4),
            6..=7 => 0,
            o @ 8..=11 => (self.timer(tsc_now) >> (8 * (o - 8))) as u8,
            _ => 0xff,
        }
    }

    /// Applies one byte; true if it set SLP_EN.
    fn write_byte(&mut self, port: u16, byte: u8) -> bool {
        let at = |offset: u16| (byte as u16) << (8 * offset);
        let replace = |reg: u16, offset: u16, keep: u16| {
            let lane_mask = 0xffu16 << (8 * offset);
            (reg & !lane_mask) | (at(offset) & lane_mask & keep)
        };
        match port.wrapping_sub(PM1A_EVENT_PORT) {
            // Status bits clear where 1 is written.
            o @ 0..=1 => self.status &= !at(o),
            o @ 2..=3 => self.enable = replace(self.enable, o - 2, ENABLE_STORED),
            o @ 4..=5 => {
                self.control = replace(self.control, o - 4, CONTROL_STORED);
                return at(o - 4) & PM1_SLP_EN != 0;
            }
            _ => {}
        }
        false
    }
}
