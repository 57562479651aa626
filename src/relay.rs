//! Relaying an upstream event stream to the client as it arrives.
//!
//! The relay maps the upstream stream; it spawns nothing and buffers at most
//! one event, so dropping the client's response drops the upstream request.
//! Each chunk is relabelled with the ref that answered. The stream ends in
//! exactly one of two ways: `data: [DONE]` once, after the upstream's own
//! `[DONE]`; or an OpenAI-shaped error event when the upstream breaks off,
//! falls silent, reports an error, or ends without `[DONE]`, or when the
//! gateway gives up on in-flight requests at shutdown. It never fakes a
//! clean ending.
//!
//! Upstream comments (`: keep-alive`, `: OPENROUTER PROCESSING`) restart
//! the idle timeout and are relayed, so the client sees the stream is
//! alive. The request's outcome metric is recorded when the stream ends,
//! not when it starts. Every text of the provider's that the relay passes on outside a
//! chunk (an error message, data that is not JSON) and every message it
//! logs goes through the config's [`Redactor`].

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::chain::cooldown::LateFailures;
use crate::chain::policy::Class;
use crate::config::{Cost, ModelRef};
use crate::ops::metrics;
use crate::ops::redact::Redactor;
use crate::providers::response::{StreamShaping, may_need_shaping, shape_chunk};
use crate::upstream::{EventStream, describe, error_details, truncate};
use crate::wire::body::{self, Member};
use crate::wire::sse::{Event, Item, ReadError, SseError};

const DONE: &[u8] = b"data: [DONE]\n\n";

/// Who answered, and what the shaping of their stream needs to know.
pub struct Answering {
    pub model_ref: ModelRef,
    /// The model's prices, for `usage.cost`.
    pub cost: Cost,
    /// The client asked for the usage chunk.
    pub client_wants_usage: bool,
    /// The request's metric outcome if the stream completes: `ok` or
    /// `fallback`.
    pub outcome: &'static str,
    /// Where the target's health learns how the stream ended.
    pub health: LateFailures,
}

/// Records the request's outcome once the stream is over: as given when it
/// completed, `stream_broken` when it ended with an error event, and
/// `client_closed` when the client went away first.
struct RequestOutcome(Option<&'static str>);

impl Drop for RequestOutcome {
    fn drop(&mut self) {
        metrics::request(self.0.unwrap_or("client_closed"));
    }
}

pub fn relay(
    first: Event,
    mut rest: EventStream,
    answering: Answering,
    idle: Duration,
    redactor: Redactor,
    aborted: impl Future<Output = ()> + Send,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    let Answering {
        model_ref,
        cost,
        client_wants_usage,
        outcome,
        health,
    } = answering;
    async_stream::stream! {
        let mut recorded = RequestOutcome(None);
        let mut aborted = pin!(aborted);
        let mut shaping = StreamShaping::new(client_wants_usage);
        let mut pending = Some(first);
        loop {
            let event = match pending.take() {
                Some(event) => event,
                None => match next_event(&mut rest, idle, aborted.as_mut()).await {
                    Ok(Item::Event(event)) => event,
                    Ok(Item::Comment(text)) => {
                        yield Ok(comment(&redactor, &text));
                        continue;
                    }
                    Err((code, message)) => {
                        recorded.0 = Some("stream_broken");
                        if let Some(class) = late_class(code) {
                            health.report(class);
                        }
                        yield Ok(broken(&model_ref, &redactor, code, &message));
                        break;
                    }
                },
            };
            match relabel(&event.data, &model_ref, &redactor, &cost, &mut shaping) {
                Frame::Chunk(bytes) => yield Ok(bytes),
                Frame::Skip => {}
                Frame::Done => {
                    recorded.0 = Some(outcome);
                    health.completed();
                    yield Ok(Bytes::from_static(DONE));
                    break;
                }
                Frame::Error(message) => {
                    recorded.0 = Some("stream_broken");
                    health.report(Class::ProviderError);
                    yield Ok(broken(&model_ref, &redactor, "upstream_error", &message));
                    break;
                }
            }
        }
    }
}

/// The next upstream event, or why the stream cannot go on: an error code
/// for the client and a message.
async fn next_event(
    rest: &mut EventStream,
    idle: Duration,
    mut aborted: Pin<&mut impl Future<Output = ()>>,
) -> Result<Item, (&'static str, String)> {
    let next = tokio::select! {
        biased;
        () = aborted.as_mut() => {
            return Err(("gateway_shutdown", "the gateway is shutting down".into()));
        }
        next = tokio::time::timeout(idle, rest.next()) => next,
    };
    match next {
        // A comment is a sign of life: the idle timeout starts again.
        Ok(Some(Ok(item))) => Ok(item),
        Ok(Some(Err(ReadError::Body(err)))) => Err((
            "stream_interrupted",
            format!("the upstream stream broke off: {}", describe(&err)),
        )),
        Ok(Some(Err(ReadError::Sse(SseError::TooLarge { limit })))) => Err((
            "event_too_large",
            format!(
                "an upstream event is larger than the limit of {limit} bytes \
                 (gateway.limits.maxEventBytes)"
            ),
        )),
        Ok(Some(Err(ReadError::Sse(SseError::Incomplete)))) => Err((
            "stream_truncated",
            "the upstream stream ended inside an event".into(),
        )),
        Ok(None) => Err((
            "stream_truncated",
            "the upstream stream ended before [DONE]".into(),
        )),
        Err(_) => Err((
            "stream_timeout",
            format!("the upstream stream was silent for {}s", idle.as_secs_f64()),
        )),
    }
}

/// What a broken stream's error code says about the provider; `None` when
/// it says nothing (the gateway is shutting down).
fn late_class(code: &str) -> Option<Class> {
    match code {
        "stream_interrupted" => Some(Class::Transport),
        "stream_timeout" => Some(Class::Timeout),
        "stream_truncated" => Some(Class::InvalidResponse),
        "event_too_large" => Some(Class::TooLarge),
        _ => None,
    }
}

/// An upstream comment as the client gets it: scrubbed, on one line.
fn comment(redactor: &Redactor, text: &str) -> Bytes {
    let text = redactor.provider_text(text).replace(['\n', '\r'], " ");
    Bytes::from(format!(": {text}\n\n"))
}

/// What one upstream event becomes for the client.
enum Frame {
    Chunk(Bytes),
    /// Nothing for the client (a repeated usage chunk).
    Skip,
    Done,
    /// The provider reported an error inside the stream (unscrubbed).
    Error(String),
}

fn relabel(
    data: &str,
    model_ref: &ModelRef,
    redactor: &Redactor,
    cost: &Cost,
    shaping: &mut StreamShaping,
) -> Frame {
    let data = data.trim();
    if data == "[DONE]" {
        return Frame::Done;
    }
    match body::members(data.as_bytes()) {
        Ok(members)
            if members
                .iter()
                .any(|m| m.key == "error" && &data[m.value.clone()] != "null") =>
        {
            let (_, message) = error_details(data.as_bytes());
            Frame::Error(format!("the provider reported: {message}"))
        }
        Ok(members) if !data.contains(['\n', '\r']) && !may_need_shaping(data) => {
            Frame::Chunk(with_model(data, &members, model_ref))
        }
        // A chunk to shape, or an object written over several lines (an
        // event's data must be on one): read and written again.
        Ok(_) => match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(mut chunk)) => {
                if !shape_chunk(&mut chunk, cost, shaping) {
                    return Frame::Skip;
                }
                crate::wire::openai::label_model(&mut chunk, model_ref);
                Frame::Chunk(frame(&Value::Object(chunk)))
            }
            _ => Frame::Error("the provider sent an unreadable event".into()),
        },
        // Not a JSON object: pass it on, scrubbed, one `data:` line per line.
        _ => {
            let data = redactor.scrub(data);
            let mut out = String::with_capacity(data.len() + 16);
            for line in data.split('\n') {
                out.push_str("data: ");
                out.push_str(line);
                out.push('\n');
            }
            out.push('\n');
            Frame::Chunk(Bytes::from(out))
        }
    }
}

/// The event `data` (one JSON object on one line, whose members are
/// `members`) naming `model_ref` as its model: the bytes as they came, with
/// only the `model` value replaced (or added at the end).
fn with_model(data: &str, members: &[Member], model_ref: &ModelRef) -> Bytes {
    let model = serde_json::to_string(model_ref.as_str()).expect("a string serializes");
    let mut out = BytesMut::with_capacity(data.len() + model.len() + 20);
    out.extend_from_slice(b"data: ");
    match members.iter().rev().find(|m| m.key == "model") {
        Some(member) => {
            out.extend_from_slice(&data.as_bytes()[..member.value.start]);
            out.extend_from_slice(model.as_bytes());
            out.extend_from_slice(&data.as_bytes()[member.value.end..]);
        }
        None => {
            let close = data.rfind('}').unwrap_or(data.len());
            out.extend_from_slice(&data.as_bytes()[..close]);
            if !members.is_empty() {
                out.extend_from_slice(b",");
            }
            out.extend_from_slice(b"\"model\":");
            out.extend_from_slice(model.as_bytes());
            out.extend_from_slice(&data.as_bytes()[close..]);
        }
    }
    out.extend_from_slice(b"\n\n");
    out.freeze()
}

fn frame(value: &Value) -> Bytes {
    let mut out = b"data: ".to_vec();
    serde_json::to_writer(&mut out, value).expect("a JSON value always serializes");
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The error event that ends a stream which cannot end cleanly. `message`
/// may hold provider text: it is scrubbed here, for the log and the client.
fn broken(model_ref: &ModelRef, redactor: &Redactor, code: &'static str, message: &str) -> Bytes {
    let message = truncate(redactor.provider_text(message));
    metrics::stream_error(model_ref.provider(), model_ref.as_str(), code);
    tracing::warn!(
        provider = model_ref.provider(),
        model = model_ref.as_str(),
        code,
        "stream ended abnormally: {message}"
    );
    frame(&json!({
        "error": {
            "message": format!("{model_ref}: {message}"),
            "type": "upstream_error",
            "code": code,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(data: &str, expected: &str) {
        let model_ref = ModelRef::parse("kimi/kimi-for-coding").unwrap();
        let redactor = Redactor::new(["configured-key-123"]);
        let mut shaping = StreamShaping::new(true);
        let got = match relabel(data, &model_ref, &redactor, &Cost::default(), &mut shaping) {
            Frame::Chunk(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            Frame::Skip => "SKIP".to_string(),
            Frame::Done => "DONE".to_string(),
            Frame::Error(message) => format!("ERROR {message}"),
        };
        assert_eq!(got, expected, "data {data:?}");
    }

    #[test]
    fn events_are_relabelled_or_end_the_stream() {
        check("[DONE]", "DONE");
        check(" [DONE] ", "DONE");
        check(
            r#"{"model":"kimi-for-coding","choices":[{"delta":{"content":"hi"}}]}"#,
            "data: {\"model\":\"kimi/kimi-for-coding\",\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
        );
        check(
            r#"{"error":{"message":"overloaded","type":"engine_overloaded_error"}}"#,
            "ERROR the provider reported: overloaded",
        );
        check(
            r#"{"error":null,"choices":[]}"#,
            "data: {\"error\":null,\"choices\":[],\"model\":\"kimi/kimi-for-coding\"}\n\n",
        );
        // Bytes as they came, only the model replaced or added.
        check(
            r#"{ "id" : "c1" , "model" : "x" , "choices": [] }"#,
            "data: { \"id\" : \"c1\" , \"model\" : \"kimi/kimi-for-coding\" , \"choices\": [] }\n\n",
        );
        check("{}", "data: {\"model\":\"kimi/kimi-for-coding\"}\n\n");
        // An object over several lines comes out on one.
        check(
            "{\n\"model\": \"x\",\n\"choices\": []\n}",
            "data: {\"model\":\"kimi/kimi-for-coding\",\"choices\":[]}\n\n",
        );
        check("keep-alive", "data: keep-alive\n\n");
        check("two\nlines", "data: two\ndata: lines\n\n");
        check(
            "not json configured-key-123 Bearer sk-abcdefghijkl",
            "data: not json [redacted] Bearer [redacted]\n\n",
        );
    }

    #[test]
    fn error_events_are_scrubbed_and_escaped_for_the_client_and_the_log() {
        let model_ref = ModelRef::parse("kimi/kimi-for-coding").unwrap();
        let redactor = Redactor::new(["configured-key-123"]);
        let frame = broken(
            &model_ref,
            &redactor,
            "upstream_error",
            "the provider reported: bad configured-key-123\nFAKE Bearer sk-abcdefghijkl",
        );
        let frame = String::from_utf8(frame.to_vec()).unwrap();
        assert_eq!(
            frame,
            "data: {\"error\":{\"message\":\"kimi/kimi-for-coding: the provider reported: bad [redacted]\\\\nFAKE Bearer [redacted]\",\"type\":\"upstream_error\",\"code\":\"upstream_error\"}}\n\n"
        );
    }
}
