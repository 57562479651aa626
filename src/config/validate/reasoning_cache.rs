//! `gateway.reasoningCache`: `true` (the default bounds), `false` (off), or
//! the bounds `{maxEntries, maxBytes, maxAgeSeconds}`.

use std::time::Duration;

use super::super::raw::{RawReasoningCache, Toggle};
use super::Validator;
use crate::config::ReasoningCacheLimits as Limits;

const PATH: &str = "gateway.reasoningCache";

pub(super) fn limits(raw: Option<&Toggle<RawReasoningCache>>, v: &mut Validator) -> Option<Limits> {
    let defaults = Limits::default();
    let raw = match raw {
        None | Some(Toggle::On(true)) => return Some(defaults),
        Some(Toggle::On(false)) => return None,
        Some(Toggle::Set(raw)) => raw,
    };
    let mut number =
        |key: &str, value, default, max| v.count_or(format!("{PATH}.{key}"), value, default, max);
    Some(Limits {
        max_entries: number(
            "maxEntries",
            raw.max_entries,
            defaults.max_entries as u64,
            10_000_000,
        ) as usize,
        max_bytes: number(
            "maxBytes",
            raw.max_bytes,
            defaults.max_bytes as u64,
            1 << 40,
        ) as usize,
        max_age: Duration::from_secs(number(
            "maxAgeSeconds",
            raw.max_age_seconds,
            defaults.max_age.as_secs(),
            30 * 86_400,
        )),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn check(raw: Option<Value>) -> Result<Option<Limits>, String> {
        let mut v = Validator {
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        let raw: Option<Toggle<RawReasoningCache>> = v.parse(PATH, raw.as_ref());
        let got = limits(raw.as_ref(), &mut v);
        match v.errors.is_empty() {
            true => Ok(got),
            false => Err(v.errors.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn on_by_default_off_with_false_bounds_configurable() {
        assert_eq!(check(None), Ok(Some(Limits::default())));
        assert_eq!(check(Some(json!(true))), Ok(Some(Limits::default())));
        assert_eq!(check(Some(json!(false))), Ok(None));
        assert_eq!(
            check(Some(json!({"maxEntries": 5, "maxAgeSeconds": 60}))),
            Ok(Some(Limits {
                max_entries: 5,
                max_age: Duration::from_secs(60),
                ..Limits::default()
            }))
        );
        // Unknown keys are the key check's (`keys.rs`).
        for (raw, expected) in [
            (
                json!("off"),
                "gateway.reasoningCache: invalid type: string, expected true, false or {maxEntries, maxBytes, maxAgeSeconds}",
            ),
            (
                json!({"maxEntries": 0}),
                "gateway.reasoningCache.maxEntries: expected a whole number from 1",
            ),
            (json!({"maxBytes": -1}), "gateway.reasoningCache.maxBytes"),
            (
                json!({"maxAgeSeconds": 1.5}),
                "gateway.reasoningCache.maxAgeSeconds",
            ),
        ] {
            let got = check(Some(raw.clone())).unwrap_err();
            assert!(got.starts_with(expected), "{raw}: {got}");
        }
    }
}
