//! Reading the answers of the quota endpoints, as pure functions: Kimi
//! Coding's `/usages` (undocumented, so every field is optional and numbers
//! may come as strings) and Moonshot's `/users/me/balance`. A shape that
//! holds none of what is looked for is an error the caller logs once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::ledger::calendar::days_from_civil;

/// One usage window of an account (Kimi Coding's weekly or 5-hour limit).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// As the provider names it (`Weekly limit`, `5h limit`).
    pub name: String,
    pub used: f64,
    pub limit: f64,
    pub remaining: f64,
    #[serde(skip)]
    pub reset_at: Option<SystemTime>,
}

impl Window {
    pub fn used_percent(&self) -> f64 {
        if self.limit > 0.0 {
            100.0 * self.used / self.limit
        } else if self.remaining <= 0.0 {
            100.0
        } else {
            0.0
        }
    }

    /// A short, fixed label for metrics: `weekly`, `5h` or `other`.
    pub fn label(&self) -> &'static str {
        let name = self.name.to_ascii_lowercase();
        if name.contains("week") || name.contains("7-day") {
            "weekly"
        } else if name.contains("5h") || name.contains("5-hour") || name.contains("5 hour") {
            "5h"
        } else {
            "other"
        }
    }
}

/// What one reading of a quota endpoint said.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Windows(Vec<Window>),
    /// Moonshot's `available_balance` (cash and vouchers), in the
    /// account's currency.
    Balance {
        available: f64,
    },
}

/// The furthest ahead a reset is believed. The windows seen last a week at
/// most; a time past this is a misread unit (microseconds taken for
/// milliseconds), which would skip a target for ever and cannot be
/// written as an HTTP date from the year 10000 on, so it counts as unknown.
const MAX_RESET_AHEAD: Duration = Duration::from_secs(366 * 86_400);

/// Kimi Coding's `GET /usages`, read at `now`:
/// `{"usage": {limit, used, remaining, name, reset_at}, "limits":
/// [{"detail": {limit, used, remaining, name}, "window": {duration,
/// timeUnit}}]}`.
pub fn usages(answer: &Value, now: SystemTime) -> Result<Reading, String> {
    let mut windows = Vec::new();
    if let Some(usage) = answer.get("usage") {
        windows.extend(window(usage, "Weekly limit", now));
    }
    for limit in answer
        .get("limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let detail = limit.get("detail").unwrap_or(limit);
        let fallback = limit.get("window").map_or("window".to_string(), |w| {
            let duration = number(w.get("duration")).unwrap_or(0.0);
            match w.get("timeUnit").and_then(Value::as_str) {
                Some("MINUTE") if duration > 0.0 && duration % 60.0 == 0.0 => {
                    format!("{}h limit", duration / 60.0)
                }
                Some(unit) => format!("{duration} {} limit", unit.to_ascii_lowercase()),
                None => "window".to_string(),
            }
        });
        windows.extend(window(detail, &fallback, now));
    }
    if windows.is_empty() {
        return Err(
            "the answer holds no usage window (usage or limits[].detail with a limit)".into(),
        );
    }
    Ok(Reading::Windows(windows))
}

/// Moonshot's `GET /v1/users/me/balance`:
/// `{"code": 0, "data": {"available_balance": 49.5, ...}, "status": true}`.
pub fn balance(answer: &Value) -> Result<Reading, String> {
    let data = answer.get("data").unwrap_or(answer);
    match number(data.get("available_balance")) {
        Some(available) => Ok(Reading::Balance { available }),
        None => Err("the answer holds no data.available_balance".into()),
    }
}

fn window(object: &Value, fallback_name: &str, now: SystemTime) -> Option<Window> {
    let limit = number(object.get("limit"))?;
    let used = number(object.get("used"));
    let remaining = number(object.get("remaining"));
    let (used, remaining) = match (used, remaining) {
        (Some(used), Some(remaining)) => (used, remaining),
        (Some(used), None) => (used, (limit - used).max(0.0)),
        (None, Some(remaining)) => ((limit - remaining).max(0.0), remaining),
        (None, None) => return None,
    };
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or(fallback_name);
    let reset_at = ["reset_at", "resetAt", "reset_time", "resetTime"]
        .iter()
        .find_map(|key| object.get(*key).and_then(time))
        .filter(|at| {
            at.duration_since(now)
                .map_or(true, |ahead| ahead <= MAX_RESET_AHEAD)
        });
    Some(Window {
        // Shown in logs, error bodies and the terminal: no control
        // characters (a line break, an escape sequence).
        name: name.chars().filter(|c| !c.is_control()).take(64).collect(),
        used,
        limit,
        remaining,
        reset_at,
    })
}

/// A number, or a string holding one.
fn number(value: Option<&Value>) -> Option<f64> {
    match value? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// An RFC 3339 time, or a Unix time in seconds (or milliseconds, when
/// too large for seconds); none when it cannot be represented.
fn time(value: &Value) -> Option<SystemTime> {
    match value {
        Value::String(text) => match text.trim().parse::<f64>() {
            Ok(n) => unix(n),
            Err(_) => rfc3339(text.trim()),
        },
        Value::Number(n) => unix(n.as_f64()?),
        _ => None,
    }
}

fn unix(n: f64) -> Option<SystemTime> {
    if !n.is_finite() || n <= 0.0 {
        return None;
    }
    let seconds = if n > 1e11 { n / 1000.0 } else { n };
    UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(seconds).ok()?)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
pub fn rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let end = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        rest = &fraction[end..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    // Both checked to be 1..=12 and 1..=31 above.
    let days = days_from_civil(year, month as u32, day as u32);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(seconds).ok()?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(seconds: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// A day before the resets of the shapes below.
    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_996_800 - 86_400)
    }

    #[test]
    fn kimi_codings_usages_are_read_in_the_shape_seen_and_its_variants() {
        // The shape reported by openclaw PR #92649.
        let seen = json!({
            "usage": {"limit": "100", "used": "100", "remaining": "0",
                      "name": "Weekly limit", "reset_at": "2026-11-30T00:00:00Z"},
            "limits": [{"detail": {"limit": 20, "used": 3, "remaining": 17, "name": "5h limit"},
                        "window": {"duration": 300, "timeUnit": "MINUTE"}}]
        });
        let Reading::Windows(windows) = usages(&seen, now()).unwrap() else {
            panic!("windows")
        };
        assert_eq!(windows.len(), 2);
        assert_eq!(
            (
                windows[0].name.as_str(),
                windows[0].used,
                windows[0].limit,
                windows[0].remaining
            ),
            ("Weekly limit", 100.0, 100.0, 0.0)
        );
        assert_eq!(windows[0].reset_at, at(1_795_996_800));
        assert_eq!(windows[0].used_percent(), 100.0);
        assert_eq!(windows[0].label(), "weekly");
        assert_eq!(windows[1].label(), "5h");
        assert_eq!(windows[1].used_percent(), 15.0);

        // No names, only `remaining`, a Unix reset in milliseconds, a window
        // named from its duration.
        let variant = json!({
            "usage": {"limit": 10, "remaining": 4, "resetAt": 1_795_996_800_000u64},
            "limits": [{"detail": {"limit": 5, "used": 5}, "window": {"duration": 300, "timeUnit": "MINUTE"}}]
        });
        let Reading::Windows(windows) = usages(&variant, now()).unwrap() else {
            panic!("windows")
        };
        assert_eq!(
            (windows[0].used, windows[0].name.as_str()),
            (6.0, "Weekly limit")
        );
        assert_eq!(windows[0].reset_at, at(1_795_996_800));
        assert_eq!(
            (windows[1].name.as_str(), windows[1].remaining),
            ("5h limit", 0.0)
        );
    }

    #[test]
    fn a_window_name_keeps_no_control_characters() {
        let answer = json!({"usage": {"limit": 10, "used": 1, "name": "x\u{1b}[2J\nINFO forged"}});
        let Reading::Windows(windows) = usages(&answer, now()).unwrap() else {
            panic!("windows")
        };
        assert_eq!(windows[0].name, "x[2JINFO forged");
    }

    #[test]
    fn a_reset_more_than_a_year_ahead_or_past_what_a_time_holds_is_unknown() {
        let reset = |value: Value| {
            let answer = json!({"usage": {"limit": 100, "used": 100, "reset_at": value}});
            let Reading::Windows(windows) = usages(&answer, now()).unwrap() else {
                panic!("windows")
            };
            windows[0].reset_at
        };
        // Microseconds read as milliseconds: the year 57970.
        assert_eq!(reset(json!(1_795_996_800_000_000u64)), None);
        assert_eq!(reset(json!(1e22)), None);
        assert_eq!(reset(json!("1e300")), None);
        assert_eq!(reset(json!(f64::MAX)), None);
        assert_eq!(reset(json!("9999-12-31T23:59:59Z")), None);
        let within_a_year = 1_795_996_800 + 300 * 86_400;
        assert_eq!(reset(json!(within_a_year)), at(within_a_year));
        // A reset already past is still a time: the window is not spent.
        assert_eq!(reset(json!(1_000)), at(1_000));
    }

    #[test]
    fn a_changed_shape_is_an_error_not_a_guess() {
        for answer in [
            json!({}),
            json!({"usage": {"name": "Weekly limit"}}),
            json!({"usage": {"limit": "lots", "used": 1}}),
            json!({"limits": "none"}),
            json!([1, 2]),
            json!({"data": {"usages": []}}),
        ] {
            assert!(usages(&answer, now()).is_err(), "{answer}");
        }
    }

    #[test]
    fn moonshots_balance_is_read() {
        let documented = json!({"code": 0, "data": {"available_balance": 49.58894,
            "voucher_balance": 46.58893, "cash_balance": 3.00001}, "scode": "0x0", "status": true});
        assert_eq!(
            balance(&documented),
            Ok(Reading::Balance {
                available: 49.58894
            })
        );
        assert_eq!(
            balance(&json!({"data": {"available_balance": "0"}})),
            Ok(Reading::Balance { available: 0.0 })
        );
        assert!(balance(&json!({"data": {}})).is_err());
        assert!(balance(&json!({"error": {"message": "no"}})).is_err());
    }

    #[test]
    fn times_are_read_in_every_form_and_nonsense_is_none() {
        let cases = [
            ("1970-01-01T00:00:00Z", at(0)),
            ("2026-11-30T00:00:00Z", at(1_795_996_800)),
            ("2026-11-30T08:00:00+08:00", at(1_795_996_800)),
            ("2026-11-29T23:00:00.123-01:00", at(1_795_996_800)),
            ("2000-02-29T12:00:00Z", at(951_825_600)),
            ("2026-13-01T00:00:00Z", None),
            ("2026-11-30 00:00:00", None),
            ("2026-11-30T00:00:00", None),
            ("tomorrow", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(time(&json!(text)), expected, "{text}");
        }
        assert_eq!(time(&json!(1_795_996_800u64)), at(1_795_996_800));
        assert_eq!(time(&json!("1795996800")), at(1_795_996_800));
        assert_eq!(time(&json!(-5)), None);
        assert_eq!(time(&json!(null)), None);
    }
}
