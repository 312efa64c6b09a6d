//! The Motorola MC146818 real-time clock and its CMOS memory, behind index port 0x70
//! (bit 7 disables NMI; bits 6:0 select one of 128 bytes) and data port 0x71.
//!
//! The clock is the wall-clock time the VMM gave at construction (seconds since the Unix
//! epoch, UTC) plus the TSC ticks elapsed since, so it never drifts from the TSC. The time
//! registers (seconds, minutes, hours, day of week, day of month, month, year and the
//! century byte at 0x32, where ACPI's FADT points) are computed at each read, in BCD or
//! binary and in 12- or 24-hour form as register B says. A guest sets the time the
//! MC146818 way: with register B's SET bit the clock holds, the time registers take
//! whatever is written, and clearing SET restarts the clock from them (out-of-range
//! values clamped). UIP (register A bit 7) is set during the last 244 µs before each
//! second boundary, as before a real update cycle, so Linux's readers never wait long.
//!
//! Modelled as well: register C's update-ended flag (set once a second has passed since
//! C was last read; reading C clears it), register D's valid-RAM-and-time bit, the
//! memory-size bytes a BIOS leaves (see [`Rtc::set_memory_size`]), and the other bytes as
//! plain storage. Not modelled: periodic, alarm and update interrupts (IRQ 8 never
//! rises; the alarm registers are storage), daylight saving, the divider chain (register
//! A's divider and rate bits are storage), and writes of the day of week (it is computed
//! from the date).

mod calendar;

use calendar::Fields;

pub const INDEX_PORT: u16 = 0x70;
pub const DATA_PORT: u16 = 0x71;

const SECONDS: u8 = 0x00;
const MINUTES: u8 = 0x02;
const HOURS: u8 = 0x04;
const DAY_OF_WEEK: u8 = 0x06;
const DAY_OF_MONTH: u8 = 0x07;
const MONTH: u8 = 0x08;
const YEAR: u8 = 0x09;
const REGISTER_A: u8 = 0x0a;
const REGISTER_B: u8 = 0x0b;
const REGISTER_C: u8 = 0x0c;
const REGISTER_D: u8 = 0x0d;
const CENTURY: u8 = 0x32;

const A_UPDATE_IN_PROGRESS: u8 = 0x80;
const B_SET: u8 = 0x80;
const B_UPDATE_INTERRUPT: u8 = 0x10;
const B_BINARY: u8 = 0x04;
const B_24_HOUR: u8 = 0x02;
const C_IRQF: u8 = 0x80;
const C_UPDATE_ENDED: u8 = 0x10;
const D_VALID: u8 = 0x80;
const HOUR_PM: u8 = 0x80;
/// How long UIP precedes each update, in microseconds.
const UIP_MICROSECONDS: u64 = 244;
/// The clock's range in seconds around the epoch (about 34,000 years either way).
const SECONDS_LIMIT: i64 = 1 << 40;

/// The RTC with its 128 bytes of CMOS.
#[derive(Clone, Debug)]
pub struct Rtc {
    tsc_hz: u64,
    /// Unix time at TSC value `base_tsc`.
    base_seconds: i64,
    base_tsc: u64,
    /// While register B's SET bit is set: the time registers as the guest left them.
    held: Option<Fields>,
    index: u8,
    nmi_disabled: bool,
    cmos: [u8; 128],
    /// The clock's second when register C was last read.
    c_read_at: i64,
}

impl Rtc {
    /// An RTC showing `unix_seconds` at TSC value `now`, on a machine whose TSC runs at
    /// `tsc_khz` kHz: BCD, 24-hour mode, 32.768 kHz divider, 1024 Hz rate (register A
    /// 0x26, B 0x02).
    pub fn new(unix_seconds: u64, now: u64, tsc_khz: u32) -> Rtc {
        let base_seconds = i64::try_from(unix_seconds)
            .unwrap_or(i64::MAX)
            .min(SECONDS_LIMIT);
        let mut cmos = [0; 128];
        cmos[usize::from(REGISTER_A)] = 0x26;
        cmos[usize::from(REGISTER_B)] = B_24_HOUR;
        Rtc {
            tsc_hz: u64::from(tsc_khz.max(1)) * 1000,
            base_seconds,
            base_tsc: now,
            held: None,
            index: 0,
            nmi_disabled: false,
            cmos,
            c_read_at: base_seconds,
        }
    }

    /// Whether `port` belongs to the RTC.
    pub fn owns(port: u16) -> bool {
        matches!(port, INDEX_PORT | DATA_PORT)
    }

    /// Whether the guest disabled NMIs (bit 7 of its last index write).
    pub fn nmi_disabled(&self) -> bool {
        self.nmi_disabled
    }

    /// A byte read at TSC value `now`; the index port is write-only and reads 0xff.
    pub fn read(&mut self, port: u16, now: u64) -> u8 {
        if port != DATA_PORT {
            return 0xff;
        }
        let fields = self.fields(now);
        match self.index {
            SECONDS => self.encode(fields.second),
            MINUTES => self.encode(fields.minute),
            HOURS => self.encode_hour(fields.hour),
            DAY_OF_WEEK => self.encode(fields.day_of_week()),
            DAY_OF_MONTH => self.encode(fields.day),
            MONTH => self.encode(fields.month),
            YEAR => self.encode(fields.year.rem_euclid(100) as u8),
            CENTURY => self.encode(fields.year.div_euclid(100).clamp(0, 99) as u8),
            REGISTER_A => {
                let a = self.cmos[usize::from(REGISTER_A)] & !A_UPDATE_IN_PROGRESS;
                if self.update_in_progress(now) {
                    a | A_UPDATE_IN_PROGRESS
                } else {
                    a
                }
            }
            REGISTER_C => self.read_c(now),
            REGISTER_D => D_VALID,
            index => self.cmos[usize::from(index)],
        }
    }

    /// A byte written at TSC value `now`; ports the RTC does not own are ignored.
    pub fn write(&mut self, port: u16, value: u8, now: u64) {
        match port {
            INDEX_PORT => {
                self.index = value & 0x7f;
                self.nmi_disabled = value & 0x80 != 0;
            }
            DATA_PORT => self.write_data(value, now),
            _ => {}
        }
    }

    /// Fills the memory-size bytes as a PC BIOS (and QEMU) does: base memory in KiB
    /// (0x15-0x16), memory above 1 MiB in KiB up to 64 MiB (0x17-0x18 and 0x30-0x31),
    /// memory between 16 MiB and 4 GiB in 64 KiB units (0x34-0x35), and memory above
    /// 4 GiB in 64 KiB units (0x5b-0x5d). Linux reads none of them (it has the e820 map).
    pub fn set_memory_size(&mut self, below_4g: u64, above_4g: u64) {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        let base_kib = (below_4g / KIB).min(640);
        let extended_kib = (below_4g.saturating_sub(MIB) / KIB).min(0xffff);
        let above_16m = (below_4g.saturating_sub(16 * MIB) / (64 * KIB)).min(0xffff);
        let above_4g = (above_4g / (64 * KIB)).min(0xff_ffff);
        for (index, value, bytes) in [
            (0x15, base_kib, 2),
            (0x17, extended_kib, 2),
            (0x30, extended_kib, 2),
            (0x34, above_16m, 2),
            (0x5b, above_4g, 3),
        ] {
            for byte in 0..bytes {
                self.cmos[index + byte] = (value >> (8 * byte)) as u8;
            }
        }
    }

    fn write_data(&mut self, value: u8, now: u64) {
        let mut fields = self.fields(now);
        match self.index {
            SECONDS => fields.second = self.decode(value),
            MINUTES => fields.minute = self.decode(value),
            HOURS => fields.hour = self.decode_hour(value),
            DAY_OF_MONTH => fields.day = self.decode(value),
            MONTH => fields.month = self.decode(value),
            YEAR => fields.year = fields.year.div_euclid(100) * 100 + i64::from(self.decode(value)),
            CENTURY => {
                fields.year = i64::from(self.decode(value)) * 100 + fields.year.rem_euclid(100)
            }
            REGISTER_A => {
                self.cmos[usize::from(REGISTER_A)] = value & !A_UPDATE_IN_PROGRESS;
                return;
            }
            REGISTER_B => {
                self.write_b(value, now);
                return;
            }
            // C and D are read-only; the day of week follows the date.
            REGISTER_C | REGISTER_D | DAY_OF_WEEK => return,
            index => {
                self.cmos[usize::from(index)] = value;
                return;
            }
        }
        match self.held {
            Some(_) => self.held = Some(fields),
            None => self.restart_from(fields, now),
        }
    }

    fn write_b(&mut self, value: u8, now: u64) {
        let was_set = self.cmos[usize::from(REGISTER_B)] & B_SET != 0;
        let set = value & B_SET != 0;
        if set && !was_set {
            self.held = Some(self.fields(now));
        } else if !set {
            if let Some(fields) = self.held.take() {
                self.restart_from(fields, now);
            }
        }
        self.cmos[usize::from(REGISTER_B)] = value;
    }

    /// Runs the clock on from `fields` (normalized), starting a new second now.
    fn restart_from(&mut self, fields: Fields, now: u64) {
        self.base_seconds = fields.normalized().to_unix();
        self.base_tsc = now;
    }

    fn read_c(&mut self, now: u64) -> u8 {
        let seconds = self.seconds(now);
        let mut c = 0;
        if seconds > self.c_read_at {
            c |= C_UPDATE_ENDED;
            if self.cmos[usize::from(REGISTER_B)] & B_UPDATE_INTERRUPT != 0 {
                c |= C_IRQF;
            }
        }
        self.c_read_at = seconds;
        c
    }

    /// The clock's time at `now` (the held fields while SET is set).
    fn fields(&self, now: u64) -> Fields {
        self.held
            .unwrap_or_else(|| Fields::from_unix(self.seconds(now)))
    }

    fn seconds(&self, now: u64) -> i64 {
        match self.held {
            Some(fields) => fields.normalized().to_unix(),
            None => {
                let elapsed = now.saturating_sub(self.base_tsc) / self.tsc_hz;
                let elapsed = i64::try_from(elapsed).unwrap_or(i64::MAX);
                self.base_seconds
                    .saturating_add(elapsed)
                    .clamp(-SECONDS_LIMIT, SECONDS_LIMIT)
            }
        }
    }

    fn update_in_progress(&self, now: u64) -> bool {
        if self.held.is_some() {
            return false;
        }
        let into_second = now.saturating_sub(self.base_tsc) % self.tsc_hz;
        into_second >= self.tsc_hz - self.tsc_hz * UIP_MICROSECONDS / 1_000_000
    }

    fn binary(&self) -> bool {
        self.cmos[usize::from(REGISTER_B)] & B_BINARY != 0
    }

    fn encode(&self, value: u8) -> u8 {
        if self.binary() {
            value
        } else {
            ((value / 10 % 10) << 4) | (value % 10)
        }
    }

    fn decode(&self, value: u8) -> u8 {
        if self.binary() {
            value
        } else {
            (value >> 4) * 10 + (value & 0xf)
        }
    }

    fn encode_hour(&self, hour: u8) -> u8 {
        if self.cmos[usize::from(REGISTER_B)] & B_24_HOUR != 0 {
            return self.encode(hour);
        }
        let twelve_hour = match hour % 12 {
            0 => 12,
            h => h,
        };
        let pm = if hour >= 12 { HOUR_PM } else { 0 };
        self.encode(twelve_hour) | pm
    }

    fn decode_hour(&self, value: u8) -> u8 {
        if self.cmos[usize::from(REGISTER_B)] & B_24_HOUR != 0 {
            return self.decode(value);
        }
        let hour = self.decode(value & !HOUR_PM) % 12;
        if value & HOUR_PM != 0 {
            hour + 12
        } else {
            hour
        }
    }
}

#[cfg(test)]
mod tests;
