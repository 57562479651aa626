//! The mock's account: Kimi Coding's quota endpoint (`GET /v1/usages`, in
//! the shape reported by OpenClaw's PR #92649), Moonshot's balance (`GET
//! /v1/users/me/balance`, as documented), and the refusals a spent account
//! gets on `/v1/chat/completions`: Kimi Coding's weekly-quota 403 (the same
//! `access_terminated_error` type as its User-Agent gate) once
//! `--weekly-quota` is used up, and Moonshot's 429 "suspended due to
//! insufficient balance" at `--balance 0`. `--usages-status` and
//! `--usages-answer` make the endpoint absent or change its shape. Both
//! endpoints honour `--require-key` and `--require-user-agent` and are
//! recorded like chat requests.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{MockOptions, MockState, error, record, refused};
use clawgate::ledger::calendar::date;

/// Kimi Coding's weekly-quota answer, verbatim as far as reported
/// (openclaw PR #142656).
pub const WEEKLY_QUOTA_MESSAGE: &str = "You've reached your weekly (7-day) usage limit. \
     Your quota will reset when the current 7-day window ends. Upgrade your plan for more quota.";

/// Moonshot's zero-balance answer (opencode #24462).
pub const INSUFFICIENT_BALANCE_MESSAGE: &str = "Your account org-mock<ak-mock> is suspended due \
     to insufficient balance, please recharge your account or check your plan and billing details";

/// `USED/LIMIT`, as `--weekly-quota` and `--five-hour-quota` take it.
pub fn parse_fraction(text: &str) -> Result<(u64, u64), String> {
    let (used, limit) = text
        .split_once('/')
        .ok_or_else(|| format!("expected USED/LIMIT, found {text:?}"))?;
    let number = |part: &str| {
        part.trim()
            .parse::<u64>()
            .map_err(|_| format!("expected USED/LIMIT in whole numbers, found {text:?}"))
    };
    Ok((number(used)?, number(limit)?))
}

/// The refusal a chat request gets from the mock's spent account, if any.
pub(super) fn refusal(options: &MockOptions) -> Option<Response> {
    let (used, limit) = options.weekly_quota;
    if used >= limit {
        return Some(error(
            403,
            "access_terminated_error",
            WEEKLY_QUOTA_MESSAGE,
            None,
        ));
    }
    if options.balance <= 0.0 {
        return Some(error(
            429,
            "exceeded_current_quota_error",
            INSUFFICIENT_BALANCE_MESSAGE,
            None,
        ));
    }
    None
}

pub(super) async fn usages(State(state): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    record(&state, "/v1/usages", &headers, &Value::Null, b"").await;
    let options = &state.options;
    tokio::time::sleep(Duration::from_millis(options.usages_delay_ms)).await;
    if let Some(refusal) = refused(options, &headers) {
        return refusal;
    }
    if let Some(status) = options.usages_status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
        return (
            status,
            Json(json!({"error": {"message": "Not Found", "type": "resource_not_found_error"}})),
        )
            .into_response();
    }
    if let Some(answer) = &options.usages_answer {
        return ([(header::CONTENT_TYPE, "application/json")], answer.clone()).into_response();
    }
    let reset = SystemTime::now() + Duration::from_secs(options.quota_reset_seconds);
    let window = |(used, limit): (u64, u64), name: &str| {
        json!({"limit": limit.to_string(), "used": used.to_string(),
               "remaining": limit.saturating_sub(used).to_string(), "name": name})
    };
    let mut weekly = window(options.weekly_quota, "Weekly limit");
    weekly["reset_at"] = json!(rfc3339(reset));
    Json(json!({
        "usage": weekly,
        "limits": [{
            "detail": window(options.five_hour_quota, "5h limit"),
            "window": {"duration": 300, "timeUnit": "MINUTE"},
        }],
    }))
    .into_response()
}

pub(super) async fn balance(State(state): State<Arc<MockState>>, headers: HeaderMap) -> Response {
    record(&state, "/v1/users/me/balance", &headers, &Value::Null, b"").await;
    let options = &state.options;
    if let Some(refusal) = refused(options, &headers) {
        return refusal;
    }
    let balance = options.balance;
    Json(json!({
        "code": 0,
        "data": {"available_balance": balance, "voucher_balance": 0.0, "cash_balance": balance},
        "scode": "0x0",
        "status": true,
    }))
    .into_response()
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
fn rfc3339(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs() as i64;
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date(days),
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_rfc3339() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_996_800)), "2026-11-30T00:00:00Z");
        assert_eq!(rfc3339(at(951_825_600 + 3661)), "2000-02-29T13:01:01Z");
        // And read back by the gateway's parser.
        let now = at(1_795_996_800 + 12_345);
        assert_eq!(clawgate::quota::parse::rfc3339(&rfc3339(now)), Some(now));
    }

    #[test]
    fn fractions_are_parsed() {
        assert_eq!(parse_fraction("10/100"), Ok((10, 100)));
        assert_eq!(parse_fraction(" 3 / 5 "), Ok((3, 5)));
        assert!(parse_fraction("10").is_err());
        assert!(parse_fraction("a/b").is_err());
        assert!(parse_fraction("-1/5").is_err());
    }
}
