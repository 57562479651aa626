//! Days, weeks and months in UTC, as the ledger counts them: a day is a
//! number of days since 1970-01-01 (UTC), a week starts on Monday, a month
//! on its first day. Pure; the civil-date conversion is Howard Hinnant's
//! `days_from_civil` / `civil_from_days`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::ledger::Period;

/// The first day of the `period` that holds `day`.
pub fn period_start(period: Period, day: i64) -> i64 {
    match period {
        Period::Day => day,
        // 1970-01-01 was a Thursday: Monday is 3 days before it.
        Period::Week => day - (day + 3).rem_euclid(7),
        Period::Month => {
            let (year, month, _) = civil_from_days(day);
            days_from_civil(year, month, 1)
        }
    }
}

/// The first day of the `period` after the one that holds `day`.
pub fn next_period_start(period: Period, day: i64) -> i64 {
    match period {
        Period::Day => day + 1,
        Period::Week => period_start(period, day) + 7,
        Period::Month => {
            let (year, month, _) = civil_from_days(day);
            if month == 12 {
                days_from_civil(year + 1, 1, 1)
            } else {
                days_from_civil(year, month + 1, 1)
            }
        }
    }
}

/// Milliseconds since the epoch (0 for a clock set before it).
pub fn millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The UTC day of a time in milliseconds since the epoch.
pub fn day_of_millis(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

pub fn day_of(at: SystemTime) -> i64 {
    day_of_millis(millis(at))
}

/// The start of `day` as a time.
pub fn start_of_day(day: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(day.max(0)).unwrap_or(0) * 86_400)
}

/// `YYYY-MM-DD`.
pub fn date(day: i64) -> String {
    let (year, month, dom) = civil_from_days(day);
    format!("{year:04}-{month:02}-{dom:02}")
}

/// `YYYY-MM-DDT00:00:00Z`, the start of `day`.
pub fn midnight_rfc3339(day: i64) -> String {
    format!("{}T00:00:00Z", date(day))
}

/// The day of a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    // Beyond these the day arithmetic would overflow; no ledger holds them.
    if !(1..=9999).contains(&year) {
        return None;
    }
    let month: u32 = parts.next()?.parse().ok()?;
    let dom: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || dom == 0 || dom > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, dom))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let month = i64::from(month);
    let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day number.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let cases = [
            ("1970-01-01", 0),
            ("2000-02-29", 11_016),
            ("2026-11-23", 20_780),
            ("2026-12-31", 20_818),
            ("1969-12-31", -1),
        ];
        for (text, day) in cases {
            assert_eq!(parse_date(text), Some(day), "{text}");
            assert_eq!(date(day), text);
        }
        for bad in ["2026-02-29", "2026-13-01", "2026-00-10", "2026-1", "x"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn periods_start_and_end_where_a_calendar_says() {
        let day = |t| parse_date(t).unwrap();
        // 2026-11-23 is a Monday.
        let cases = [
            (Period::Day, "2026-11-25", "2026-11-25", "2026-11-26"),
            (Period::Week, "2026-11-23", "2026-11-23", "2026-11-30"),
            (Period::Week, "2026-11-29", "2026-11-23", "2026-11-30"),
            (Period::Week, "2026-12-02", "2026-11-30", "2026-12-07"),
            (Period::Month, "2026-11-30", "2026-11-01", "2026-12-01"),
            (Period::Month, "2026-12-31", "2026-12-01", "2027-01-01"),
            (Period::Month, "2028-02-29", "2028-02-01", "2028-03-01"),
        ];
        for (period, at, start, next) in cases {
            assert_eq!(
                date(period_start(period, day(at))),
                start,
                "{period:?} {at}"
            );
            assert_eq!(
                date(next_period_start(period, day(at))),
                next,
                "{period:?} {at}"
            );
        }
    }

    #[test]
    fn midnight_belongs_to_the_new_day() {
        let midnight = day("2026-11-24") * 86_400_000;
        assert_eq!(date(day_of_millis(midnight - 1)), "2026-11-23");
        assert_eq!(date(day_of_millis(midnight)), "2026-11-24");
        fn day(t: &str) -> i64 {
            parse_date(t).unwrap()
        }
    }
}
