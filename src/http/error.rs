//! The one mapping from failures to HTTP responses. Every error a client
//! sees is OpenAI-shaped, `{"error": {"message", "type", "code"}}`, with an
//! honest status; none contains a key or an Authorization header, because
//! upstream messages are scrubbed where they are read and nothing else here
//! carries a secret.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access_log::{CLIENT_CLOSED_REQUEST, Refused};
use super::guard::request_id;
use crate::admission::ClientLimit;
use crate::chain::policy::{Told, final_status, refusal};
use crate::chain::{AttemptReport, Cause, Failure};
use crate::gateway::CompletionError;
use crate::ledger::budget::Refusal;
use crate::ops::metrics;
use crate::upstream::AttemptError;

pub const ATTEMPTS_HEADER: &str = "x-clawgate-attempts";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// In the client's words: where its key goes (never `x-api-key`, which
    /// makes Claude Code say `Not logged in` instead of this).
    #[error(
        "{}: {} (Claude Code: ANTHROPIC_AUTH_TOKEN; Codex: the variable its env_key names; OpenAI clients: their API key) {} the key this clawgate's operator gave you (gateway.auth.token, or a client's key under gateway.clients)",
        if *key_sent { "the key sent is not one this clawgate knows" } else { "no key was sent, and this clawgate wants one" },
        if *key_sent { "check the key your client sends" } else { "set your client's key" },
        if *key_sent { "against" } else { "to" }
    )]
    Unauthorized { key_sent: bool },
    #[error(
        "client {client} may read its own usage only, not {asked:?}'s (an admin key reads every client's: gateway.auth.token, or a client with admin: true)"
    )]
    NotYours { client: Arc<str>, asked: String },
    #[error(
        "{what} is the gateway's own (everyone's traffic, spend and providers' accounts): it needs an admin key (gateway.auth.token, or a client with admin: true){also}"
    )]
    AdminOnly {
        what: &'static str,
        /// What else opens it, if anything.
        also: &'static str,
    },
    #[error(
        "client {client} may not use model {model:?}; it may use {} (gateway.clients.{client}.models)",
        allowed.join(", ")
    )]
    ModelNotAllowed {
        client: Arc<str>,
        model: String,
        allowed: Vec<String>,
    },
    #[error(
        "client {client} is over its limit of {} (gateway.clients.{client}.limits.{}); retry in {}s",
        limit.describe(),
        limit.key(),
        whole_seconds(*retry_after)
    )]
    ClientLimited {
        client: Arc<str>,
        limit: ClientLimit,
        retry_after: Duration,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("no route {method} {path}; clawgate serves {routes}")]
    NoRoute {
        method: String,
        path: String,
        routes: String,
    },
    #[error("the request body is larger than the limit of {0} bytes (gateway.maxBodyBytes)")]
    PayloadTooLarge(usize),
    #[error("the upstream chain failed")]
    Upstream {
        failures: Vec<Failure>,
        viewer: Viewer,
    },
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// The client went away while it sent its body: no one reads this.
    #[error("the client closed its connection before its request body was whole")]
    ClientLeft,
    #[error(
        "the gateway is answering its limit of {0} requests at once (gateway.limits.maxConcurrentRequests); retry shortly"
    )]
    Busy(usize),
    #[error(
        "the request body did not arrive within {0} seconds (gateway.timeouts.clientBodySeconds)"
    )]
    BodyTimeout(u64),
    #[error("no target of the chain is within its budget: {refusal}")]
    BudgetExceeded { refusal: Refusal, viewer: Viewer },
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("the request headers are larger than the limit of {0} bytes")]
    HeadersTooLarge(usize),
    #[error(
        "Host {0:?} is not allowed: clawgate answers loopback names and gateway.allowedHosts only (this refuses DNS rebinding)"
    )]
    HostNotAllowed(String),
    #[error(
        "requests from web pages are refused unless their origin is in gateway.allowedOrigins (origin {0:?})"
    )]
    OriginNotAllowed(String),
    #[error(
        "this request came from this clawgate itself (x-clawgate-via): a provider's baseUrl points back at the gateway; point it at the provider's real endpoint"
    )]
    LoopDetected,
    #[error(
        "clawgate failed while answering this request (a bug: its log says where); nothing more was sent"
    )]
    Internal,
}

impl From<CompletionError> for ApiError {
    fn from(err: CompletionError) -> Self {
        match err {
            CompletionError::UnknownModel(unknown) => ApiError::NotFound(unknown.to_string()),
            CompletionError::Failed(failures) => match over_budget(&failures) {
                Some(refusal) => ApiError::BudgetExceeded {
                    refusal,
                    viewer: Viewer::default(),
                },
                None => ApiError::Upstream {
                    failures,
                    viewer: Viewer::default(),
                },
            },
        }
    }
}

/// Who reads a chain's failure, and what is theirs to read in it. The
/// default is the narrowest view: a client that is not an admin, whose
/// `models` took nothing out of its chain.
#[derive(Debug, Default)]
pub struct Viewer {
    /// An admin key: every provider's URL and the gateway's own spend.
    pub admin: bool,
    /// The client's name and the fallbacks its `models` took out of its
    /// chain, when it took any.
    pub left_out: Option<(Arc<str>, Vec<String>)>,
}

impl ApiError {
    /// This error as `viewer` may read it (a chain's failure; every other
    /// error reads the same to all).
    pub fn seen_by(self, viewer: Viewer) -> Self {
        match self {
            ApiError::Upstream { failures, .. } => ApiError::Upstream { failures, viewer },
            ApiError::BudgetExceeded { refusal, .. } => {
                ApiError::BudgetExceeded { refusal, viewer }
            }
            other => other,
        }
    }
}

/// Writes an error's body in one API's shape.
pub type ErrorShape = fn(&ErrorReport) -> Value;

/// An error as every front end renders it: the status, headers and the
/// parts of its body, before any API's shape is chosen.
#[derive(Debug, Clone)]
pub struct ErrorReport {
    pub status: StatusCode,
    /// OpenAI's `error.type`.
    pub kind: String,
    /// OpenAI's `error.code`.
    pub code: &'static str,
    pub message: String,
    pub request_id: Option<Arc<str>>,
    /// Every attempt, when the chain failed.
    pub attempts: Option<Vec<AttemptReport>>,
    /// `x-clawgate-attempts`, when the chain failed.
    pub tried: Option<usize>,
    /// Whole seconds for `Retry-After`.
    pub retry_after: Option<u64>,
    /// `error.budget`: the budget that refused the request.
    pub budget: Option<Value>,
    /// The failure's class as clients are told it, when it has one.
    pub told: Option<Told>,
    /// `x-should-retry: false`: the same request would be refused again
    /// (SDKs, Claude Code's too, would otherwise retry in silence).
    pub final_refusal: bool,
}

impl ErrorReport {
    /// `{"error": {"message", "type", "code", ...}}`.
    pub fn openai_body(&self) -> Value {
        let mut error = json!({"message": self.message, "type": self.kind, "code": self.code});
        if let Some(attempts) = &self.attempts {
            error["attempts"] = json!(attempts);
        }
        if let Some(budget) = &self.budget {
            error["budget"] = budget.clone();
        }
        if let Some(id) = &self.request_id {
            error["request_id"] = json!(&**id);
        }
        json!({ "error": error })
    }

    /// The response, its body in the shape `body` gives.
    pub fn response(&self, body: ErrorShape) -> Response {
        let mut response = (self.status, Json(body(self))).into_response();
        response.extensions_mut().insert(Refused(self.code));
        let headers = response.headers_mut();
        if let Some(tried) = self.tried {
            headers.insert(ATTEMPTS_HEADER, HeaderValue::from(tried));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.final_refusal {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        response
    }
}

impl ApiError {
    /// What the error says, counted and logged once.
    pub fn report(&self) -> ErrorReport {
        let (status, kind, code) = match &self {
            ApiError::BadRequest(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
            ),
            ApiError::Unauthorized { .. } => (
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid_api_key",
            ),
            ApiError::NotYours { .. } => {
                (StatusCode::FORBIDDEN, "permission_error", "not_your_usage")
            }
            ApiError::AdminOnly { .. } => (StatusCode::FORBIDDEN, "permission_error", "admin_only"),
            ApiError::ModelNotAllowed { .. } => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "model_not_allowed",
            ),
            ApiError::ClientLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "client_rate_limited",
            ),
            ApiError::NotFound(_) => (
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
            ),
            ApiError::NoRoute { .. } => {
                (StatusCode::NOT_FOUND, "invalid_request_error", "not_found")
            }
            ApiError::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
            ),
            ApiError::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream_error",
                "gateway_shutdown",
            ),
            ApiError::ClientLeft => (
                CLIENT_CLOSED_REQUEST,
                "invalid_request_error",
                "client_closed",
            ),
            ApiError::Busy(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "rate_limit_error",
                "gateway_busy",
            ),
            ApiError::BodyTimeout(_) => (
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                "request_timeout",
            ),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                "method_not_allowed",
            ),
            ApiError::HeadersTooLarge(_) => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "invalid_request_error",
                "headers_too_large",
            ),
            ApiError::HostNotAllowed(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "host_not_allowed",
            ),
            ApiError::OriginNotAllowed(_) => (
                StatusCode::FORBIDDEN,
                "permission_error",
                "origin_not_allowed",
            ),
            ApiError::BudgetExceeded { refusal, viewer } => {
                return budget_exceeded(refusal, viewer);
            }
            ApiError::LoopDetected => (
                StatusCode::LOOP_DETECTED,
                "invalid_request_error",
                "loop_detected",
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal_error",
            ),
            ApiError::Upstream { failures, viewer } => return upstream_failure(failures, viewer),
        };
        metrics::request(code);
        let message = self.to_string();
        // It may quote the client (a model's name): one line, whatever it
        // holds.
        let line = crate::ops::redact::escape_controls(&message);
        tracing::debug!(status = status.as_u16(), code, "request refused: {line}");
        ErrorReport {
            status,
            kind: kind.to_string(),
            code,
            message,
            request_id: request_id(),
            attempts: None,
            tried: None,
            retry_after: match self {
                ApiError::Busy(_) => Some(1),
                ApiError::ClientLimited { retry_after, .. } => Some(whole_seconds(*retry_after)),
                _ => None,
            },
            budget: None,
            told: None,
            final_refusal: matches!(
                self,
                ApiError::Unauthorized { .. }
                    | ApiError::ModelNotAllowed { .. }
                    | ApiError::NotYours { .. }
                    | ApiError::AdminOnly { .. }
            ),
        }
    }
}

/// Rendered in OpenAI's shape, the report kept in the response's
/// extensions: a front end with another shape re-renders it from there
/// (see `http::front::error_shape`), never from the body.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let report = self.report();
        let mut response = report.response(ErrorReport::openai_body);
        response.extensions_mut().insert(report);
        response
    }
}

/// `text` without the address of `url` (a connection error names its host
/// and port): `[provider address]` in its place.
fn without_address(text: &str, url: &str) -> String {
    let parsed = url::Url::parse(url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str().map(str::to_string));
    let origin = parsed.as_ref().map(|u| u.origin().ascii_serialization());
    let mut text = text.replace(url, "[provider address]");
    for address in [origin, host]
        .into_iter()
        .flatten()
        .filter(|a| !a.is_empty())
    {
        text = text.replace(&address, "[provider address]");
    }
    text
}

/// Whole seconds for `Retry-After`, rounded up: never sooner than asked,
/// and at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The budget that left no target to try: when no target was tried and
/// one was skipped for its budget (the others cooling, too long, ...).
/// Of several spent, the one that resets first, when the chain can answer
/// again; one refusing an unpriced model resets never, so comes last.
fn over_budget(failures: &[Failure]) -> Option<Refusal> {
    if failures.iter().any(|f| f.tries > 0) {
        return None;
    }
    let refusals = failures.iter().filter_map(|f| match &f.cause {
        Cause::OverBudget(refusal) => Some(refusal),
        _ => None,
    });
    refusals
        .min_by_key(|refusal| match refusal {
            Refusal::Spent(state) => state.resets_day,
            Refusal::Unpriced { .. } => i64::MAX,
        })
        .cloned()
}

/// 402 `budget_exceeded`, with the budget and when it resets (also as
/// `Retry-After` when the budget is spent rather than refusing unpriced
/// calls).
///
/// A gateway-wide budget's figures are everyone's spend: only an admin key
/// reads them; another client learns which budget is spent and when it
/// resets. A client's own budget is its own to read.
fn budget_exceeded(refusal: &Refusal, viewer: &Viewer) -> ErrorReport {
    let code = "budget_exceeded";
    let budget = refusal.budget();
    let message = format!("no target of the chain is within its budget: {refusal}");
    metrics::request(code);
    tracing::warn!(status = 402, code, "request refused: {message}");
    let figures = viewer.admin || budget.client.is_some();
    let message = match refusal {
        Refusal::Spent(_) if !figures => format!(
            "no target of the chain is within its budget: {}",
            seen_by(refusal, viewer.admin)
        ),
        _ => message,
    };
    let mut detail = json!({
        "scope": budget.describe(),
        "period": budget.period.label(),
    });
    if figures {
        detail["limitUsd"] = json!(budget.usd);
    }
    if let Some(client) = &budget.client {
        detail["client"] = json!(&**client);
    }
    let mut retry_after = None;
    if let Refusal::Spent(state) = refusal {
        if figures {
            detail["spentUsd"] = json!(state.spent_usd);
        }
        detail["resetsAt"] = json!(state.resets_at);
        let reset = crate::ledger::calendar::start_of_day(state.resets_day);
        retry_after = reset
            .duration_since(std::time::SystemTime::now())
            .ok()
            .map(|wait| wait.as_secs().max(1));
    } else {
        detail["unpriced"] = json!(true);
    }
    ErrorReport {
        status: StatusCode::PAYMENT_REQUIRED,
        kind: "insufficient_quota".to_string(),
        code,
        message,
        request_id: request_id(),
        attempts: None,
        tried: Some(0),
        retry_after,
        budget: Some(detail),
        told: None,
        final_refusal: false,
    }
}

/// What a failure's cause says to a client that is not an admin: no
/// provider address, and of a gateway-wide budget no figures.
fn cause_seen_by_client(failure: &Failure) -> String {
    match &failure.cause {
        Cause::OverBudget(refusal) => seen_by(refusal, false),
        // Where it redirects is a provider's address too.
        Cause::Attempt(AttemptError::Redirected { status, .. }) => {
            format!("the provider answered {status}; redirects are not followed")
        }
        cause => without_address(&cause.to_string(), &failure.url),
    }
}

/// What `refusal` says to a reader: all of it to an admin key, and of a
/// gateway-wide budget's only which it is and when it resets to another
/// (its figures are everyone's spend).
pub fn seen_by(refusal: &Refusal, admin: bool) -> String {
    match refusal {
        Refusal::Spent(state) if !admin && state.budget.client.is_none() => format!(
            "the gateway's {} budget for {} is spent; it resets at {}",
            state.budget.period.key(),
            state.budget.describe(),
            state.resets_at
        ),
        _ => refusal.to_string(),
    }
}

/// The response when no target answered: the status says why (one
/// function, [`final_status`], decides it for every front end), the body
/// lists every attempt, with the URL it called for an admin key only (a
/// provider's address is the operator's business, not a client's).
fn upstream_failure(failures: &[Failure], viewer: &Viewer) -> ErrorReport {
    let mut attempts = crate::chain::reports(failures);
    let mut summary = failures
        .iter()
        .map(|f| format!("{} ({}): {}", f.model_ref, f.url, f.cause))
        .collect::<Vec<_>>()
        .join("; ");
    if !viewer.admin {
        for (attempt, failure) in attempts.iter_mut().zip(failures) {
            attempt.url.clear();
            attempt.message = attempt
                .message
                .take()
                .map(|_| cause_seen_by_client(failure));
        }
        summary = failures
            .iter()
            .map(|f| format!("{}: {}", f.model_ref, cause_seen_by_client(f)))
            .collect::<Vec<_>>()
            .join("; ");
    }
    if let Some((client, left_out)) = &viewer.left_out {
        // Which they are is the operator's business: a client sees no
        // model its `models` leave out.
        let (which, were) = match (viewer.admin, &left_out[..]) {
            (true, [one]) => (format!("fallback {one}"), "it was"),
            (true, all) => (format!("fallbacks {}", all.join(", ")), "they were"),
            (false, [_]) => ("one fallback".to_string(), "it was"),
            (false, all) => (format!("{} fallbacks", all.len()), "they were"),
        };
        summary.push_str(&format!(
            "; gateway.clients.{client}.models leaves out the chain's {which}, so {were} not tried"
        ));
    }
    let verdict = final_status(failures);
    let status = StatusCode::from_u16(verdict.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let (kind, message) = match verdict.code {
        // The provider refused the request itself; pass its verdict on.
        "upstream_rejected_request" => {
            let last = refusal(failures).expect("a refusal has its failure");
            (
                last.error_type()
                    .unwrap_or("invalid_request_error")
                    .to_string(),
                match last.tries {
                    // Refused by the rules before anything was sent.
                    0 => format!(
                        "clawgate refused the request for {}: {}",
                        last.model_ref, last.cause
                    ),
                    _ => format!("{} rejected the request: {}", last.model_ref, last.cause),
                },
            )
        }
        "context_length_exceeded" => {
            // Worded so that Claude Code's overflow recovery can read it:
            // the largest window, then the request's size.
            let known = failures.iter().filter_map(|f| match f.cause {
                Cause::RequestTooLong { least, window } => Some((least, window)),
                _ => None,
            });
            let size = match (
                known.clone().map(|(least, _)| least).max(),
                known.map(|(_, w)| w).max(),
            ) {
                (Some(least), Some(window)) => format!(
                    " the largest context window is {window} tokens and the request holds at least {least};"
                ),
                _ => String::new(),
            };
            (
                "invalid_request_error".to_string(),
                format!("the request is too long for every model in the chain:{size} {summary}"),
            )
        }
        "no_target_takes_request" => (
            "invalid_request_error".to_string(),
            format!("no target of the chain can take this request: {summary}"),
        ),
        "upstream_rate_limited" => (
            Told::RateLimited.kind().to_string(),
            format!("every provider is rate limited: {summary}"),
        ),
        "upstream_timeout" => (
            "upstream_error".to_string(),
            format!("every provider timed out: {summary}"),
        ),
        // Not `authentication_error`: the client's own token was fine (the
        // message it gets names the keys: `FrontEnd::error_response`).
        "upstream_auth_failed" => (
            "upstream_error".to_string(),
            format!("every provider refused its API key: {summary}"),
        ),
        "upstream_out_of_credit" => (
            Told::OutOfCredit.kind().to_string(),
            format!("every provider is out of credit or quota: {summary}"),
        ),
        "upstream_model_not_found" => (
            "invalid_request_error".to_string(),
            format!(
                "every provider answered not found: the model id is not one it serves, or its baseUrl is not its API's (check models.providers; `clawgate models list` shows the ids): {summary}"
            ),
        ),
        _ => (
            "upstream_error".to_string(),
            format!("all {} attempts failed: {summary}", failures.len()),
        ),
    };
    metrics::request(verdict.code);
    tracing::warn!(
        status = status.as_u16(),
        code = verdict.code,
        attempts = failures.len(),
        "request failed: {message}"
    );

    let tried = failures.iter().filter(|f| f.tries > 0).count();
    ErrorReport {
        status,
        kind,
        code: verdict.code,
        message,
        request_id: request_id(),
        attempts: Some(attempts),
        tried: Some(tried),
        // Whole seconds, rounded up: never sooner than asked.
        retry_after: verdict.retry_after.map(whole_seconds),
        budget: None,
        told: verdict.told,
        // The same request finds no model, or has its key refused, again:
        // a client is told not to retry it in silence (Claude Code says
        // the model is wrong, or prints the message naming the keys).
        final_refusal: matches!(
            verdict.code,
            "upstream_model_not_found" | "upstream_auth_failed"
        ),
    }
}
