//! The `anthropic-messages` transport (Kimi Coding's Anthropic endpoint,
//! Moonshot's, Anthropic's): the body in Messages form, the version and
//! key headers, and answers and streams read back into the OpenAI shapes
//! the pipeline works on. The translation itself is
//! [`crate::translate::anthropic_provider`].
//!
//! The body is the target's plan, made once on the request model and only
//! rendered here: a request from an OpenAI client is written with the
//! plan's edits and translated; an Anthropic client's own body goes on
//! with the least change ([`passthrough`]) and the plan's decisions in
//! Messages' terms ([`MessagesPlan`]: thinking, sampling, the tools'
//! schemas, the reasoning given back to replayed tool calls), so that the
//! same target gets the same request whichever API the client used.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};

use super::EventStream;
use super::transport::{EventReading, Transport, whole};
use crate::capabilities::Dialect;
use crate::config::Target;
use crate::format::body::Chunks;
use crate::format::sse::{Item, ReadError};
use crate::translate::anthropic_provider::passthrough;
use crate::translate::anthropic_provider::{self, MessagesPlan, Reading, StreamTranslator};
use crate::translate::decisions::Decisions;
use crate::wire::anthropic::{BlockOrder, DeltaKind};
use crate::wire::request::ClientRequest;

pub struct Anthropic;

impl Transport for Anthropic {
    fn body(
        &self,
        request: &ClientRequest,
        _target: &Target,
        decided: &Decisions,
        plan: &MessagesPlan,
    ) -> Chunks {
        if let Some(original) = &request.messages_body {
            return passthrough::passthrough(original, plan);
        }
        // The written body reads as a JSON object by construction: the
        // request passed `format::scan`, which refuses what serde_json
        // cannot read, and the edits write JSON values. Were it not, no
        // body goes: the handler answers 500, never an empty request.
        let openai: Map<String, Value> =
            serde_json::from_slice(&decided.write(request.chat()).to_vec())
                .expect("a chat form that format::scan passed reads as a JSON object");
        let mut body = anthropic_provider::request(&openai, plan);
        body.insert("stream".into(), Value::Bool(true));
        whole(&body)
    }

    /// The betas the plan sends (`providers`: the client's, less those of
    /// what the target's dialect is not sent).
    fn headers(
        &self,
        target: &Target,
        key: Option<&str>,
        betas: Option<&HeaderValue>,
    ) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(VERSION_HEADER, HeaderValue::from_static(VERSION));
        if let Some(betas) = betas {
            headers.insert(BETA_HEADER, betas.clone());
        }
        if let Some(key) = key {
            let (name, value) = auth_header(target.provider.dialect, key)?;
            headers.insert(name, value);
        }
        Some(headers)
    }

    fn speaks_natively(&self, request: &ClientRequest) -> bool {
        request.messages_body.is_some()
    }

    fn events(&self, events: EventStream, reading: EventReading) -> EventStream {
        openai_events(events, reading)
    }

    fn completion(&self, answer: Map<String, Value>) -> Option<Map<String, Value>> {
        anthropic_provider::answer(&answer, now())
    }
}

/// The API version every request names.
pub const VERSION: &str = "2023-06-01";

/// The header carrying the key on Anthropic's and Kimi Coding's endpoints.
const KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

pub const VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");
/// The Messages API's feature flags, as the client listed them.
const BETA_HEADER: HeaderName = HeaderName::from_static("anthropic-beta");

/// The header that carries `key` to a provider of `dialect`, marked
/// sensitive, or `None` when the key cannot be a header value. Moonshot's
/// Anthropic endpoint (`api.moonshot.ai/anthropic`) documents Bearer auth;
/// Kimi Coding's, like Anthropic's, reads `x-api-key`.
fn auth_header(dialect: Dialect, key: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, text) = match dialect {
        Dialect::Moonshot => (AUTHORIZATION, format!("Bearer {key}")),
        Dialect::KimiCoding | Dialect::OpenRouter | Dialect::Generic => {
            (KEY_HEADER, key.to_string())
        }
    };
    let mut value = HeaderValue::try_from(text).ok()?;
    value.set_sensitive(true);
    Some((name, value))
}

/// The provider's event stream read as OpenAI chunk events, mapped one
/// event at a time (no task, no buffer beyond one event's items). For a
/// client of the provider's format, each event goes on as it came too,
/// before its reading, except an error: its reading ends the stream, and
/// the client's encoder says it in the class the gateway gives it. With
/// [`EventReading::NativeEnds`], a block's delta ([`DeltaKind::is_delta`]) once
/// the answer has started goes on unread.
fn openai_events(events: EventStream, reading: EventReading) -> EventStream {
    let mut translator = StreamTranslator::new(now());
    let mut started = false;
    let mut order = reading.native().then(BlockOrder::default);
    let translated = events
        .map(move |item| {
            let event = match item {
                Ok(Item::Event(event)) => event,
                other => return futures_util::stream::iter(vec![other]),
            };
            // Events that go on as they came must come in their order.
            if let Some(Err(why)) = order.as_mut().map(|order| order.take(&event)) {
                return futures_util::stream::iter(vec![Err(ReadError::OutOfOrder(why))]);
            }
            let delta = DeltaKind::is_delta(&event);
            // A delta after the answer's start goes on unread, unless it
            // is not a whole object (cut off): then it is read, and refused
            // below.
            if delta && started && reading == EventReading::NativeEnds && one_object(&event.data) {
                return futures_util::stream::iter(vec![Ok(Item::Native(event))]);
            }
            let Reading {
                items: read,
                error,
                unreadable,
            } = translator.read(&event);
            if unreadable {
                return futures_util::stream::iter(vec![Err(ReadError::NotJson)]);
            }
            started |= delta && !read.is_empty();
            let native = reading.native() && !error;
            let items: Vec<_> = match native {
                true => std::iter::once(Item::Native(event))
                    .chain(read)
                    .map(Ok)
                    .collect(),
                // An event with no OpenAI counterpart (a block's end, a
                // signature) is still a sign of life for a stream's idle
                // timer, as a comment is (not while a whole answer is
                // assembled: `chain::assemble`).
                false if read.is_empty() => vec![Ok(Item::Comment(String::new()))],
                false => read.into_iter().map(Ok).collect(),
            };
            futures_util::stream::iter(items)
        })
        .flatten();
    Box::pin(translated)
}

/// Whether `data` is one whole JSON object by its brackets: `{` to the
/// `}` that closes it, spaces aside, each bracket outside a string closed
/// in turn and every string closed. One pass over the bytes, no parse: a
/// delta cut off anywhere (even just before its last `}`) is not whole.
fn one_object(data: &str) -> bool {
    let bytes = data.trim_ascii().as_bytes();
    if bytes.first() != Some(&b'{') {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (at, &byte) in bytes.iter().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return at + 1 == bytes.len();
                }
            }
            _ => {}
        }
    }
    false
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::format::sse::Event;

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

    /// An event named `name` (none with `None`) holding `data`.
    fn event(name: Option<&str>, data: &str) -> Event {
        Event {
            event: name.map(str::to_string),
            data: data.to_string(),
            id: None,
        }
    }

    /// What `events` are read as: `N` for an event as it came, else the
    /// reading's data.
    async fn read(events: Vec<Event>, reading: EventReading) -> Vec<String> {
        let stream = futures_util::stream::iter(events.into_iter().map(|e| Ok(Item::Event(e))));
        let items: Vec<_> = openai_events(Box::pin(stream), reading).collect().await;
        (items.into_iter())
            .map(|item| match item {
                Ok(Item::Native(_)) => "N".to_string(),
                Ok(Item::Event(event)) => event.data,
                Ok(Item::Comment(text)) => format!(": {text}"),
                Err(error) => format!("ERROR {error}"),
            })
            .collect()
    }

    /// A short answer's stream, as `reading` reads it.
    async fn readings(reading: EventReading) -> Vec<String> {
        let named = |name: &str, data: Value| event(Some(name), &data.to_string());
        let text = |text: &str| {
            named(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": text}}),
            )
        };
        let events = vec![
            named(
                "message_start",
                json!({"type": "message_start",
                "message": {"id": "msg_1", "model": "m", "usage": {"input_tokens": 3}}}),
            ),
            named(
                "content_block_start",
                json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            ),
            text(""),
            text("Hello "),
            text("world"),
            named(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 0}),
            ),
            named(
                "message_delta",
                json!({"type": "message_delta",
                "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
            ),
            named("message_stop", json!({"type": "message_stop"})),
        ];
        read(events, reading).await
    }

    /// A provider's error ends the stream once, in the gateway's words: its
    /// own event does not go on beside it, whether it is named or only
    /// typed, and however its JSON is spaced. Data that only looks like one
    /// (not JSON) ends the stream as unreadable, and does not go on.
    #[tokio::test]
    async fn a_providers_error_event_is_read_and_not_passed_on() {
        let error =
            r#"{ "type": "error", "error": {"type": "overloaded_error", "message": "busy"}}"#;
        let start = r#"{"type":"message_start","message":{"id":"msg_1"}}"#;
        for name in [Some("error"), None] {
            let events = vec![event(Some("message_start"), start), event(name, error)];
            let got = read(events, EventReading::NativeEnds).await;
            assert_eq!(got[0], "N", "{name:?}");
            assert_eq!(
                got.iter().filter(|r| *r == "N").count(),
                1,
                "{name:?}: {got:?}"
            );
            let last = got.last().unwrap();
            assert!(
                last.starts_with(r#"{"error":{"#) && last.contains("overloaded_error"),
                "{last}"
            );
        }
        let broken = r#"{"error": {"type": "overloaded_error""#;
        let events = vec![event(Some("message_start"), start), event(None, broken)];
        let got = read(events, EventReading::NativeEnds).await;
        let not_json = "ERROR the provider sent an event that is not JSON";
        assert_eq!(got[2..], [not_json], "{got:?}");
    }

    /// A delta cut off mid-stream (inside a string, or just before its
    /// last brace), which goes on unread once the answer started if whole,
    /// is read and refused, for a client of any format: it never reaches
    /// the client.
    #[tokio::test]
    async fn a_delta_that_is_not_json_ends_the_stream_and_does_not_go_on() {
        let start = r#"{"type":"message_start","message":{"id":"msg_1"}}"#;
        let block =
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#;
        let delta = |text: &str| {
            format!(
                r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":"{text}"}}}}"#
            )
        };
        let cuts = [
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x""#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}"#,
        ];
        let readings = [
            EventReading::NativeEnds,
            EventReading::NativeWhole,
            EventReading::Chunks,
        ];
        for (cut, reading) in cuts.into_iter().flat_map(|cut| readings.map(|r| (cut, r))) {
            let events = vec![
                event(Some("message_start"), start),
                event(Some("content_block_start"), block),
                event(Some("content_block_delta"), &delta("Hello ")),
                event(Some("content_block_delta"), cut),
                event(Some("content_block_delta"), &delta("world")),
            ];
            let got = read(events, reading).await;
            let at = got.iter().position(|r| r.starts_with("ERROR"));
            let at = at.unwrap_or_else(|| panic!("{reading:?}: {got:?}"));
            assert_eq!(got[at], "ERROR the provider sent an event that is not JSON");
            assert!(!got[..at].iter().any(|r| r.contains("\"x")), "{got:?}");
            // Only the three events before it went on as they came.
            let natives = got[..at].iter().filter(|r| *r == "N").count();
            let expected = if reading == EventReading::Chunks {
                0
            } else {
                3
            };
            assert_eq!(natives, expected, "{reading:?} {cut}: {got:?}");
        }
    }

    #[test]
    fn a_whole_object_is_told_from_one_cut_off() {
        for data in [
            r#"{}"#,
            r#" {"a":"}{\"","b":[1,{"c":2}]} "#,
            r#"{"t":"\\"}"#,
        ] {
            assert!(one_object(data), "{data}");
        }
        for data in [
            "",
            "{",
            r#"{"a":"}"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":1}}"#,
            r#"{"a":1} x"#,
            "[1]",
            r#"{"t":"\"}"#,
        ] {
            assert!(!one_object(data), "{data}");
        }
    }

    #[tokio::test]
    async fn a_native_clients_own_events_are_read_to_the_answers_start_and_for_its_end() {
        let whole = readings(EventReading::NativeWhole).await;
        let ends = readings(EventReading::NativeEnds).await;
        let natives = |readings: &[String]| readings.iter().filter(|r| *r == "N").count();
        assert_eq!((natives(&whole), natives(&ends)), (8, 8));
        let said = |readings: &[String], text: &str| {
            readings
                .iter()
                .any(|r| r.contains(&format!(r#""content":"{text}""#)))
        };
        // The first text that says something starts the answer; the gateway
        // reads no delta after it, but reads the end: usage and `[DONE]`.
        assert!(said(&whole, "Hello ") && said(&whole, "world"));
        assert!(said(&ends, "Hello ") && !said(&ends, "world"));
        for readings in [&whole, &ends] {
            assert!(
                readings
                    .iter()
                    .any(|r| r.contains(r#""finish_reason":"stop""#))
            );
            assert!(
                readings
                    .iter()
                    .any(|r| r.contains(r#""completion_tokens":2"#))
            );
            assert_eq!(readings.last().map(String::as_str), Some("[DONE]"));
        }
        // Without a client of its format, every event is read, and no
        // event goes on as it came.
        let chunks = readings(EventReading::Chunks).await;
        assert_eq!(natives(&chunks), 0);
        assert!(said(&chunks, "world"));
    }
}
