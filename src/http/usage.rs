//! `GET /v1/usage`: the ledger's report, as `clawgate usage --json` prints
//! it. Query: `since` (`30d`, `4w`, `3mo`, `today`, `YYYY-MM-DD`; default
//! 30d), `per` (`day`, `week`, `month`), `by` (`model`, `provider`,
//! `client`, `agent`, `front-end`, `session`), `client` (one client's
//! only), `limit` (by session, the most sessions listed, the last used
//! first: 50 unless said, at most 1000). Read
//! from the daily rollups (SQLite or PostgreSQL) on a blocking thread with
//! a connection of its own; on PostgreSQL at most
//! [`crate::ledger::REPORTS_AT_ONCE`] at once, one more answered 503 with
//! `Retry-After: 1`.
//!
//! An admin key (`gateway.auth.token`, a client with `admin: true`, or
//! anyone when no key is required) reads every client's usage; any other
//! client's key reads its own only.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::ApiError;
use super::guard::{Caller, request_id};
use crate::config::ledger::Period;
use crate::gateway::Gateway;
use crate::ledger::{ReportError, calendar, query, session};

pub async fn usage(
    State(gateway): State<Arc<Gateway>>,
    Extension(Caller(caller)): Extension<Caller>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let ledger = gateway.ledger();
    let today = calendar::day_of(ledger.now());
    // The errors quote the query, which may hold a key pasted there.
    let config = gateway.config();
    let scrub = |text: &str| config.redactor.scrub(text).into_owned();
    let mut question = once_each(pairs)
        .and_then(|params| question(&params, today))
        .map_err(|e| ApiError::BadRequest(scrub(&e)))?;
    if !caller.admin {
        match &question.client {
            Some(asked) if **asked != *caller.name => {
                return Err(ApiError::NotYours {
                    client: caller.name.clone(),
                    asked: scrub(asked),
                });
            }
            _ => question.client = Some(caller.name.to_string()),
        }
    }
    if ledger.location().is_none() {
        return Ok(unavailable(
            "the usage ledger is off (ledger.enabled is false, or there is no state directory)"
                .into(),
        ));
    }
    let ledger = ledger.clone();
    let configured = config.gateway.clients.names();
    let redactor = config.redactor.clone();
    let admin = caller.admin;
    let report = tokio::task::spawn_blocking(move || {
        let report = ledger.report(&question, admin)?;
        // A client no one knows is named so, not reported as no spend.
        let unknown = match &question.client {
            Some(name) if report.total.requests == 0 => {
                let by_client = || ledger.report(&query::every_client(today), admin);
                query::unknown_client(name, Some(&configured), by_client, &redactor)?
            }
            _ => None,
        };
        Ok((report, unknown))
    })
    .await
    .unwrap_or_else(|e| Err(ReportError::Failed(e.to_string())));
    match report {
        Ok((_, Some(unknown))) => Err(ApiError::BadRequest(format!("client {unknown}"))),
        Ok((report, None)) => Ok(Json(report).into_response()),
        Err(busy @ (ReportError::Busy | ReportError::ClientsBusy)) => {
            let mut response = unavailable(busy.to_string());
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            Ok(response)
        }
        // Where the ledger is, and what its server said, are for admins,
        // as `/v1/status` keeps them; the log has them too.
        Err(err) if !caller.admin => {
            // Once a minute however often a client asks.
            let line = format!("cannot read the usage ledger: {err}");
            if gateway
                .log_throttle()
                .due(line.clone(), std::time::Instant::now())
            {
                tracing::warn!("{line}");
            }
            Ok(unavailable(
                "cannot read the usage ledger now; an admin's key is told why, and the log says it"
                    .into(),
            ))
        }
        Err(err) => Ok(unavailable(format!("cannot read the usage ledger: {err}"))),
    }
}

/// The query's parameters; one given twice is refused, not read as one
/// of its values.
fn once_each(pairs: Vec<(String, String)>) -> Result<HashMap<String, String>, String> {
    let mut params = HashMap::new();
    for (name, value) in pairs {
        if params.contains_key(&name) {
            return Err(format!(
                "{name:?} is given twice; /v1/usage answers one question at a time"
            ));
        }
        params.insert(name, value);
    }
    Ok(params)
}

/// The report's question from the query string; an unknown parameter or
/// value is refused, not ignored.
fn question(params: &HashMap<String, String>, today: i64) -> Result<query::Query, String> {
    if let Some(unknown) = params
        .keys()
        .find(|k| !matches!(k.as_str(), "since" | "per" | "by" | "client" | "limit"))
    {
        return Err(format!(
            "unknown parameter {unknown:?}; /v1/usage takes since, per, by, client and limit"
        ));
    }
    let limit = match params.get("limit") {
        None => None,
        Some(text) => Some(
            text.parse::<usize>()
                .ok()
                .filter(|n| (1..=session::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    format!(
                        "limit: expected a number of sessions from 1 to {}, found {text:?}",
                        session::MAX_LIMIT
                    )
                })?,
        ),
    };
    let since_day = query::parse_since(params.get("since").map_or("30d", String::as_str), today)?;
    let per = match params.get("per") {
        None => None,
        Some(text) => Some(
            Period::parse(text)
                .ok_or_else(|| format!("per: expected day, week or month, found {text:?}"))?,
        ),
    };
    let by = match params.get("by") {
        None => None,
        Some(text) => Some(query::Dimension::parse(text).ok_or_else(|| {
            format!(
                "by: expected model, provider, client, agent, front-end or session, found {text:?}"
            )
        })?),
    };
    if query::limit_without_sessions(limit, by) {
        return Err("limit: only with by=session (it is the most sessions listed)".into());
    }
    Ok(query::Query {
        since_day,
        until_day: today,
        per,
        by,
        client: params.get("client").cloned(),
        limit: query::session_limit(limit),
    })
}

/// A 503 whose body repeats the request's id, as every error body does.
fn unavailable(message: String) -> Response {
    let mut error =
        json!({"message": message, "type": "upstream_error", "code": "ledger_unavailable"});
    if let Some(id) = request_id() {
        error["request_id"] = json!(&*id);
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": error })),
    )
        .into_response()
}
