//! The `anthropic-messages` transport's part of an attempt: its headers,
//! how its errors are classified, and its answers read back into the
//! OpenAI shapes the rest of the attempt and the relay work on. The
//! translation itself is [`crate::translate::anthropic_provider`].
//!
//! [`super::Upstream::attempt`] stays the single entry point and calls in
//! here where the transports differ; everything else (limits, timeouts,
//! redirects, scrubbing, reading the first event) is shared.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::{EventStream, FailureKind};
use crate::capabilities::Dialect;
use crate::translate::anthropic_provider::{self, StreamTranslator};
use crate::wire::sse::Item;

/// The API version every request names.
pub const VERSION: &str = "2023-06-01";

/// The header carrying the key on Anthropic's and Kimi Coding's endpoints.
const KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");

/// How a failure is classified for the fallback chain: by HTTP status when
/// there is one, exactly as for the OpenAI transport, else (an `error`
/// event inside a 200 stream) by Anthropic's error type mapped to the
/// status that type is sent with.
pub fn classify(status: Option<StatusCode>, error_type: Option<&str>) -> FailureKind {
    if let Some(status) = status {
        return FailureKind::of_status(status);
    }
    match error_type {
        Some("rate_limit_error" | "overloaded_error") => FailureKind::RateLimited,
        Some("authentication_error" | "permission_error" | "billing_error") => FailureKind::Denied,
        Some("not_found_error" | "resource_not_found_error") => FailureKind::NotFound,
        Some("invalid_request_error" | "request_too_large") => FailureKind::BadRequest,
        Some("timeout_error") => FailureKind::Timeout,
        _ => FailureKind::ProviderError,
    }
}

/// The header that carries `key` to a provider of `dialect`, marked
/// sensitive, or `None` when the key cannot be a header value. Moonshot's
/// Anthropic endpoint (`api.moonshot.ai/anthropic`) documents Bearer auth;
/// Kimi Coding's, like Anthropic's, reads `x-api-key`.
pub fn auth_header(dialect: Dialect, key: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, text) = match dialect {
        Dialect::Moonshot => (AUTHORIZATION, format!("Bearer {key}")),
        _ => (KEY_HEADER, key.to_string()),
    };
    let mut value = HeaderValue::try_from(text).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// A non-streamed answer as a chat completion; `None` when it is not an
/// Anthropic message.
pub fn completion(message: &Map<String, Value>) -> Option<Map<String, Value>> {
    anthropic_provider::answer(message, now())
}

/// The provider's event stream read as OpenAI chunk events, mapped one
/// event at a time (no task, no buffer beyond one event's items).
pub fn openai_events(events: EventStream) -> EventStream {
    let translator = StreamTranslator::new(now());
    let translated = events
        .scan(translator, |translator, item| {
            let items: Vec<_> = match item {
                Ok(Item::Event(event)) => {
                    translator.translate(&event).into_iter().map(Ok).collect()
                }
                other => vec![other],
            };
            futures_util::future::ready(Some(futures_util::stream::iter(items)))
        })
        .flatten();
    Box::pin(translated)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_like_their_openai_equivalents() {
        let status = |code: u16| Some(StatusCode::from_u16(code).unwrap());
        let cases = [
            (
                status(529),
                Some("overloaded_error"),
                FailureKind::ProviderError,
            ),
            (
                status(429),
                Some("rate_limit_error"),
                FailureKind::RateLimited,
            ),
            (
                status(401),
                Some("authentication_error"),
                FailureKind::Denied,
            ),
            (status(402), Some("billing_error"), FailureKind::Denied),
            (status(403), Some("permission_error"), FailureKind::Denied),
            (
                status(404),
                Some("resource_not_found_error"),
                FailureKind::NotFound,
            ),
            (
                status(400),
                Some("invalid_request_error"),
                FailureKind::BadRequest,
            ),
            (
                status(413),
                Some("request_too_large"),
                FailureKind::BadRequest,
            ),
            (status(500), Some("api_error"), FailureKind::ProviderError),
            (
                status(504),
                Some("timeout_error"),
                FailureKind::ProviderError,
            ),
            (None, Some("overloaded_error"), FailureKind::RateLimited),
            (None, Some("rate_limit_error"), FailureKind::RateLimited),
            (None, Some("authentication_error"), FailureKind::Denied),
            (None, Some("permission_error"), FailureKind::Denied),
            (None, Some("billing_error"), FailureKind::Denied),
            (None, Some("not_found_error"), FailureKind::NotFound),
            (
                None,
                Some("resource_not_found_error"),
                FailureKind::NotFound,
            ),
            (None, Some("invalid_request_error"), FailureKind::BadRequest),
            (None, Some("timeout_error"), FailureKind::Timeout),
            (None, Some("api_error"), FailureKind::ProviderError),
            (None, None, FailureKind::ProviderError),
        ];
        for (status, error_type, expected) in cases {
            assert_eq!(
                classify(status, error_type),
                expected,
                "{status:?} {error_type:?}"
            );
        }
    }

    #[test]
    fn keys_go_in_the_header_each_endpoint_reads() {
        let cases = [
            (Dialect::KimiCoding, "x-api-key", "sk-1"),
            (Dialect::Generic, "x-api-key", "sk-1"),
            (Dialect::Moonshot, "authorization", "Bearer sk-1"),
        ];
        for (dialect, name, value) in cases {
            let (got_name, got_value) = auth_header(dialect, "sk-1").unwrap();
            assert_eq!(
                (got_name.as_str(), got_value.to_str().unwrap()),
                (name, value)
            );
            assert!(got_value.is_sensitive());
        }
        assert!(auth_header(Dialect::KimiCoding, "bad\nkey").is_none());
    }
}
