//! `gateway.sessions`: `true` (the default bounds), `false` (off: no
//! session is found, nothing compared), or the bounds
//! `{maxSessions, idleSeconds}`.

use std::time::Duration;

use serde_json::Value;

use super::Validator;
use crate::config::SessionLimits as Limits;

const PATH: &str = "gateway.sessions";

pub(super) fn limits(raw: Option<&Value>, v: &mut Validator) -> Option<Limits> {
    let defaults = Limits::default();
    let keys = [
        ("maxSessions", defaults.max_sessions as u64, 1_000_000),
        ("idleSeconds", defaults.idle.as_secs(), 7 * 86_400),
    ];
    let [sessions, idle] = super::bounds(raw, PATH, keys, v)?;
    Some(Limits {
        max_sessions: sessions as usize,
        idle: Duration::from_secs(idle),
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
        for (raw, expected) in [
            (json!("on"), "gateway.sessions: expected true, false or"),
            (
                json!({"maxSessions": 0}),
                "gateway.sessions.maxSessions: expected a whole number from 1",
            ),
            (json!({"idleSeconds": 1.5}), "gateway.sessions.idleSeconds"),
            (json!({"idleSeconds": -1}), "gateway.sessions.idleSeconds"),
            (
                json!({"maxsessions": 5}),
                "gateway.sessions.maxsessions: unknown key",
            ),
        ] {
            let got = check(Some(raw.clone())).unwrap_err();
            assert!(got.starts_with(expected), "{raw}: {got}");
        }
    }
}
