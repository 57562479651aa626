//! `gateway.sessions`: `true` (the default bounds), `false` (off: no
//! session is found, nothing compared), or the bounds
//! `{maxSessions, idleSeconds}`.

use std::time::Duration;

use super::super::raw::{RawSessions, Toggle};
use super::Validator;
use crate::config::SessionLimits as Limits;

const PATH: &str = "gateway.sessions";

pub(super) fn limits(raw: Option<&Toggle<RawSessions>>, v: &mut Validator) -> Option<Limits> {
    let defaults = Limits::default();
    let raw = match raw {
        None | Some(Toggle::On(true)) => return Some(defaults),
        Some(Toggle::On(false)) => return None,
        Some(Toggle::Set(raw)) => raw,
    };
    let sessions = defaults.max_sessions as u64;
    let idle = defaults.idle.as_secs();
    Some(Limits {
        max_sessions: v.count_or(
            format!("{PATH}.maxSessions"),
            raw.max_sessions,
            sessions,
            1_000_000,
        ) as usize,
        idle: Duration::from_secs(v.count_or(
            format!("{PATH}.idleSeconds"),
            raw.idle_seconds,
            idle,
            7 * 86_400,
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
        let raw: Option<Toggle<RawSessions>> = v.parse(PATH, raw.as_ref());
        let got = limits(raw.as_ref(), &mut v);
        match v.errors.is_empty() {
            true => Ok(got),
            false => Err(v.errors.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn on_by_default_off_with_false_bounds_configurable_bad_values_named() {
        assert_eq!(check(None), Ok(Some(Limits::default())));
        assert_eq!(check(Some(json!(false))), Ok(None));
        assert_eq!(
            check(Some(json!({"maxSessions": 5, "idleSeconds": 60}))),
            Ok(Some(Limits {
                max_sessions: 5,
                idle: Duration::from_secs(60),
            }))
        );
        // Unknown keys are the key check's (`keys.rs`).
        for (raw, expected) in [
            (
                json!("on"),
                "gateway.sessions: invalid type: string, expected true, false or {maxSessions, idleSeconds}",
            ),
            (
                json!({"maxSessions": 0}),
                "gateway.sessions.maxSessions: expected a whole number from 1",
            ),
            (json!({"idleSeconds": 1.5}), "gateway.sessions.idleSeconds"),
            (json!({"idleSeconds": -1}), "gateway.sessions.idleSeconds"),
        ] {
            let got = check(Some(raw.clone())).unwrap_err();
            assert!(got.starts_with(expected), "{raw}: {got}");
        }
    }
}
