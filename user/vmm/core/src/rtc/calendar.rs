//! Civil date and time (proleptic Gregorian calendar, UTC) to and from seconds since the
//! Unix epoch. The Gregorian calendar repeats every 400 years (146097 days), so each
//! conversion first moves by whole 400-year cycles and then walks at most 400 years and
//! 12 months: plain arithmetic with no table of its own to get wrong.

const SECONDS_PER_DAY: i64 = 86_400;
const DAYS_PER_400_YEARS: i64 = 146_097;
const EPOCH_YEAR: i64 = 1970;
/// 1970-01-01 was a Thursday; with Sunday as 1, Thursday is 5.
const EPOCH_DAY_OF_WEEK: i64 = 5;

/// A date and time; the fields may hold out-of-range values until [`Fields::normalized`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Fields {
    pub(super) year: i64,
    pub(super) month: u8,
    pub(super) day: u8,
    pub(super) hour: u8,
    pub(super) minute: u8,
    pub(super) second: u8,
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_year(year: i64) -> i64 {
    if is_leap(year) {
        366
    } else {
        365
    }
}

pub(super) fn days_in_month(year: i64, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Fields {
    /// The date and time `seconds` after the Unix epoch.
    pub(super) fn from_unix(seconds: i64) -> Fields {
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
        let mut year = EPOCH_YEAR + 400 * days.div_euclid(DAYS_PER_400_YEARS);
        let mut day_of_year = days.rem_euclid(DAYS_PER_400_YEARS);
        while day_of_year >= days_in_year(year) {
            day_of_year -= days_in_year(year);
            year += 1;
        }
        let mut month = 1;
        while day_of_year >= i64::from(days_in_month(year, month)) {
            day_of_year -= i64::from(days_in_month(year, month));
            month += 1;
        }
        Fields {
            year,
            month,
            day: day_of_year as u8 + 1,
            hour: (second_of_day / 3600) as u8,
            minute: (second_of_day / 60 % 60) as u8,
            second: (second_of_day % 60) as u8,
        }
    }

    /// Seconds since the Unix epoch (of normalized fields).
    pub(super) fn to_unix(self) -> i64 {
        let cycles = (self.year - EPOCH_YEAR).div_euclid(400);
        let mut days = cycles * DAYS_PER_400_YEARS;
        let mut year = EPOCH_YEAR + 400 * cycles;
        while year < self.year {
            days += days_in_year(year);
            year += 1;
        }
        for month in 1..self.month {
            days += i64::from(days_in_month(self.year, month));
        }
        days += i64::from(self.day) - 1;
        days * SECONDS_PER_DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    /// Every field clamped into its range (the day into the month's length), with the
    /// year kept within +-10^9 so that conversions never overflow.
    pub(super) fn normalized(self) -> Fields {
        let year = self.year.clamp(-1_000_000_000, 1_000_000_000);
        let month = self.month.clamp(1, 12);
        Fields {
            year,
            month,
            day: self.day.clamp(1, days_in_month(year, month)),
            hour: self.hour.min(23),
            minute: self.minute.min(59),
            second: self.second.min(59),
        }
    }

    /// 1 (Sunday) to 7 (Saturday), as the MC146818 counts.
    pub(super) fn day_of_week(self) -> u8 {
        let days = self.normalized().to_unix().div_euclid(SECONDS_PER_DAY);
        ((days + EPOCH_DAY_OF_WEEK - 1).rem_euclid(7) + 1) as u8
    }
}
