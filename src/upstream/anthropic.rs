//! The `anthropic-messages` transport's part of an attempt: its headers
//! and its answers read back into the
//! OpenAI shapes the rest of the attempt and the relay work on. The
//! translation itself is [`crate::translate::anthropic_provider`].
//!
//! [`super::Upstream::attempt`] stays the single entry point and calls in
//! here where the transports differ; everything else (limits, timeouts,
//! redirects, scrubbing, reading the first event) is shared.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::EventStream;
use crate::capabilities::Dialect;
use crate::translate::anthropic_provider::{self, StreamTranslator};
use crate::wire::sse::Item;

/// The API version every request names.
pub const VERSION: &str = "2023-06-01";

/// The header carrying the key on Anthropic's and Kimi Coding's endpoints.
const KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");

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
                    let items: Vec<_> = translator.translate(&event).into_iter().map(Ok).collect();
                    if items.is_empty() {
                        // An event with no OpenAI counterpart (a block's
                        // end, a signature) is still a sign of life for
                        // the idle timer, as a comment is.
                        vec![Ok(Item::Comment(String::new()))]
                    } else {
                        items
                    }
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
