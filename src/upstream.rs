//! One upstream attempt over the `openai-completions` transport, and the
//! typed outcome the chain loop decides on.
//!
//! An attempt ends either in a [`Reply`] the client can be given, or in an
//! [`AttemptError`] whose [`FailureKind`] says whether the next provider in
//! the chain may be tried. For streams the first event is read inside the
//! attempt, so a provider that fails before its first byte can still fall
//! over without the client noticing.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tokio::time::{Instant, timeout, timeout_at};

use crate::config::{ApiKey, Target, Timeouts};
use crate::ops::redact::Redactor;
use crate::wire::body::Chunks;

/// The shared HTTP client: one connection pool for every provider.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
}

pub type EventStream =
    Pin<Box<dyn Stream<Item = Result<Event, EventStreamError<reqwest::Error>>> + Send>>;

/// A successful upstream response.
pub enum Reply {
    Complete(Map<String, Value>),
    /// A stream whose first event has arrived and is not an error.
    Stream {
        first: Event,
        rest: EventStream,
    },
}

/// Why an attempt failed, in classes the chain loop decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The provider's key variable is not set.
    MissingKey,
    /// No connection, or it broke before a response.
    Connect,
    Timeout,
    /// 429: rate limit, overload or exhausted quota.
    RateLimited,
    /// 401, 402, 403: the provider refuses this account or client.
    Denied,
    /// 404: the provider does not serve this model.
    NotFound,
    /// 5xx, or an error reported inside a 200 response.
    ProviderError,
    /// A 2xx response that is not a chat completion.
    InvalidResponse,
    /// Any other 4xx: the request itself is at fault, so no other provider
    /// would accept it either.
    BadRequest,
}

impl FailureKind {
    /// Whether the next target in the chain should be tried.
    pub fn falls_over(self) -> bool {
        self != FailureKind::BadRequest
    }

    /// The metric and log label.
    pub fn label(self) -> &'static str {
        match self {
            FailureKind::MissingKey => "missing_key",
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Denied => "denied",
            FailureKind::NotFound => "not_found",
            FailureKind::ProviderError => "provider_error",
            FailureKind::InvalidResponse => "invalid_response",
            FailureKind::BadRequest => "bad_request",
        }
    }

    fn of_status(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => FailureKind::RateLimited,
            401..=403 => FailureKind::Denied,
            404 => FailureKind::NotFound,
            408 => FailureKind::Timeout,
            400..=499 => FailureKind::BadRequest,
            _ => FailureKind::ProviderError,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AttemptError {
    #[error("no API key: environment variable {var} is not set")]
    MissingKey { var: String },
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("{message}")]
    Upstream {
        /// The HTTP status, or `None` for an error event in a 200 stream.
        status: Option<StatusCode>,
        kind: FailureKind,
        /// The provider's `error.type`, such as `engine_overloaded_error`.
        error_type: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    #[error("invalid response: {0}")]
    InvalidResponse(String),
}

impl AttemptError {
    pub fn kind(&self) -> FailureKind {
        match self {
            AttemptError::MissingKey { .. } => FailureKind::MissingKey,
            AttemptError::Connect(_) => FailureKind::Connect,
            AttemptError::Timeout(_) => FailureKind::Timeout,
            AttemptError::Upstream { kind, .. } => *kind,
            AttemptError::InvalidResponse(_) => FailureKind::InvalidResponse,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            AttemptError::Upstream { status, .. } => *status,
            _ => None,
        }
    }

    pub fn error_type(&self) -> Option<&str> {
        match self {
            AttemptError::Upstream { error_type, .. } => error_type.as_deref(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptError::Upstream { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The most of an error body that is read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The most of an upstream error message that is kept.
const MAX_MESSAGE_CHARS: usize = 300;

impl Upstream {
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .build()?;
        Ok(Self { client })
    }

    /// Sends `body` to `target` and waits for the start of its answer.
    pub async fn attempt(
        &self,
        target: &Target,
        body: Chunks,
        stream: bool,
        timeouts: &Timeouts,
        redactor: &Redactor,
    ) -> Result<Reply, AttemptError> {
        let provider = &target.provider;
        let deadline = Instant::now() + timeouts.first_byte;
        let mut request = self
            .client
            .post(provider.completions_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("clawgate/", env!("CARGO_PKG_VERSION")))
            .header(
                ACCEPT,
                if stream {
                    "text/event-stream"
                } else {
                    "application/json"
                },
            );
        match &provider.api_key {
            ApiKey::Set(key) => {
                let mut value = HeaderValue::try_from(format!("Bearer {}", key.expose_secret()))
                    .map_err(|_| {
                        AttemptError::InvalidResponse(
                            "the API key is not a valid header value".into(),
                        )
                    })?;
                value.set_sensitive(true);
                request = request.header(AUTHORIZATION, value);
            }
            ApiKey::Missing { var } => return Err(AttemptError::MissingKey { var: var.clone() }),
            ApiKey::None => {}
        };
        // Configured headers come last so they win, User-Agent included.
        let request = request
            .headers(target.model.headers.clone())
            .body(reqwest::Body::wrap(body));
        let scrub = |text: String| redactor.provider_text(&text);

        let response = match timeout_at(deadline, request.send()).await {
            Err(_) => return Err(AttemptError::Timeout(timeouts.first_byte)),
            Ok(Err(err)) => return Err(AttemptError::Connect(scrub(describe(&err)))),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry_after(response.headers().get(RETRY_AFTER));
            let body = read_limited(response, MAX_ERROR_BODY, timeouts.idle).await;
            let (error_type, message) = error_details(&body);
            return Err(AttemptError::Upstream {
                status: Some(status),
                kind: FailureKind::of_status(status),
                error_type: error_type.map(scrub),
                message: scrub(message),
                retry_after,
            });
        }

        if stream {
            let mut events: EventStream = Box::pin(response.bytes_stream().eventsource());
            match timeout_at(deadline, events.next()).await {
                Err(_) => Err(AttemptError::Timeout(timeouts.first_byte)),
                Ok(None) => Err(AttemptError::InvalidResponse(
                    "the stream ended before its first event".into(),
                )),
                Ok(Some(Err(err))) => Err(AttemptError::Connect(scrub(err.to_string()))),
                Ok(Some(Ok(first))) => match error_event(&first.data) {
                    Some((error_type, message)) => Err(AttemptError::Upstream {
                        status: None,
                        kind: FailureKind::ProviderError,
                        error_type: error_type.map(scrub),
                        message: scrub(message),
                        retry_after: None,
                    }),
                    None if first.data.trim() == "[DONE]" => Err(AttemptError::InvalidResponse(
                        "the stream ended before any chunk".into(),
                    )),
                    None => Ok(Reply::Stream {
                        first,
                        rest: events,
                    }),
                },
            }
        } else {
            let bytes = match timeout(timeouts.idle, response.bytes()).await {
                Err(_) => return Err(AttemptError::Timeout(timeouts.idle)),
                Ok(Err(err)) => return Err(AttemptError::Connect(scrub(describe(&err)))),
                Ok(Ok(bytes)) => bytes,
            };
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) if map.contains_key("choices") => Ok(Reply::Complete(map)),
                Ok(Value::Object(map)) if map.contains_key("error") => {
                    let (error_type, message) = error_details(&bytes);
                    Err(AttemptError::Upstream {
                        status: None,
                        kind: FailureKind::ProviderError,
                        error_type: error_type.map(scrub),
                        message: scrub(message),
                        retry_after: None,
                    })
                }
                _ => Err(AttemptError::InvalidResponse(
                    "the body is not a chat completion".into(),
                )),
            }
        }
    }
}

/// A transport error's message with its causes, without the URL reqwest
/// puts first (URLs are from the config, but keep messages short).
fn describe(err: &reqwest::Error) -> String {
    let mut message = if err.is_connect() {
        "could not connect".to_string()
    } else if err.is_body() || err.is_decode() {
        "the response body broke off".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

async fn read_limited(response: reqwest::Response, limit: usize, idle: Duration) -> Bytes {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Ok(Some(Ok(chunk))) = timeout(idle, chunks.next()).await {
        let room = limit.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= limit {
            break;
        }
    }
    Bytes::from(body)
}

/// `(error.type, error.message)` of an OpenAI-shaped error body, or the
/// start of the body when it has another shape.
pub fn error_details(body: &[u8]) -> (Option<String>, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let error_type = error
        .and_then(|e| e.get("type").or_else(|| e.get("code")))
        .and_then(|t| {
            t.as_str()
                .map(str::to_string)
                .or_else(|| t.as_u64().map(|n| n.to_string()))
        });
    let message = match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(message) => message.to_string(),
        None if body.is_empty() => "empty response body".to_string(),
        None => String::from_utf8_lossy(body).trim().to_string(),
    };
    (error_type, truncate(message))
}

/// An error event inside a stream: `data: {"error": {...}}`.
fn error_event(data: &str) -> Option<(Option<String>, String)> {
    if !data.contains("\"error\"") {
        return None;
    }
    let value: Value = serde_json::from_str(data).ok()?;
    value.get("error").filter(|e| !e.is_null())?;
    Some(error_details(data.as_bytes()))
}

fn truncate(mut message: String) -> String {
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// `Retry-After` in its delay-seconds form; HTTP dates are rare from APIs
/// and are ignored.
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: f64 = value?.to_str().ok()?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let cases = [
            (400, FailureKind::BadRequest, false),
            (413, FailureKind::BadRequest, false),
            (422, FailureKind::BadRequest, false),
            (401, FailureKind::Denied, true),
            (402, FailureKind::Denied, true),
            (403, FailureKind::Denied, true),
            (404, FailureKind::NotFound, true),
            (408, FailureKind::Timeout, true),
            (429, FailureKind::RateLimited, true),
            (500, FailureKind::ProviderError, true),
            (503, FailureKind::ProviderError, true),
        ];
        for (status, kind, falls_over) in cases {
            let got = FailureKind::of_status(StatusCode::from_u16(status).unwrap());
            assert_eq!(
                (got, got.falls_over()),
                (kind, falls_over),
                "status {status}"
            );
        }
    }

    #[test]
    fn error_bodies_are_read_in_every_shape() {
        let moonshot = br#"{"error":{"message":"The engine is currently overloaded","type":"engine_overloaded_error"}}"#;
        assert_eq!(
            error_details(moonshot),
            (
                Some("engine_overloaded_error".into()),
                "The engine is currently overloaded".into()
            )
        );
        let openrouter = br#"{"error":{"message":"Insufficient credits","code":402}}"#;
        assert_eq!(
            error_details(openrouter),
            (Some("402".into()), "Insufficient credits".into())
        );
        assert_eq!(
            error_details(b"Bad Gateway\n"),
            (None, "Bad Gateway".into())
        );
        assert_eq!(error_details(b""), (None, "empty response body".into()));
        let long = "x".repeat(1000);
        assert_eq!(
            error_details(long.as_bytes()).1.chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }

    #[test]
    fn retry_after_accepts_seconds_only() {
        let parse = |text: &str| retry_after(Some(&HeaderValue::from_str(text).unwrap()));
        assert_eq!(parse("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse("-1"), None);
    }

    #[test]
    fn error_events_are_recognised() {
        assert!(error_event(r#"{"error":{"message":"boom","type":"server_error"}}"#).is_some());
        assert!(
            error_event(r#"{"choices":[{"delta":{"content":"the word \"error\""}}]}"#).is_none()
        );
        assert!(error_event(r#"{"error":null,"choices":[]}"#).is_none());
    }
}
