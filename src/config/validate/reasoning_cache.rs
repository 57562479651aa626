//! `gateway.reasoningCache`: `true` (the default bounds), `false` (off), or
//! the bounds `{maxEntries, maxBytes, maxAgeSeconds}`.

use std::time::Duration;

use serde_json::Value;

use super::Validator;
use crate::config::ReasoningCacheLimits as Limits;

const PATH: &str = "gateway.reasoningCache";

pub(super) fn limits(raw: Option<&Value>, v: &mut Validator) -> Option<Limits> {
    let defaults = Limits::default();
    let keys = [
        ("maxEntries", defaults.max_entries as u64, 10_000_000),
        ("maxBytes", defaults.max_bytes as u64, 1 << 40),
        ("maxAgeSeconds", defaults.max_age.as_secs(), 30 * 86_400),
    ];
    let [entries, bytes, age] = super::bounds(raw, PATH, keys, v)?;
    Some(Limits {
        max_entries: entries as usize,
        max_bytes: bytes as usize,
        max_age: Duration::from_secs(age),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(raw: Option<Value>) -> Result<Option<Limits>, String> {
        let mut v = Validator {
            errors: Vec::new(),
            warnings: Vec::new(),
        };
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
        for (raw, expected) in [
            (
                json!("off"),
                "gateway.reasoningCache: expected true, false or",
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
            (
                json!({"maxentries": 5}),
                "gateway.reasoningCache.maxentries: unknown key",
            ),
        ] {
            let got = check(Some(raw.clone())).unwrap_err();
            assert!(got.starts_with(expected), "{raw}: {got}");
        }
    }
}
