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

use std::convert::Infallible;
use std::future::Future;
use std::pin::{Pin, pin};
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Event;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::config::ModelRef;
use crate::ops::metrics;
use crate::upstream::EventStream;

const DONE: &[u8] = b"data: [DONE]\n\n";

pub fn relay(
    first: Event,
    mut rest: EventStream,
    model_ref: ModelRef,
    idle: Duration,
    aborted: impl Future<Output = ()> + Send,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    async_stream::stream! {
        let mut aborted = pin!(aborted);
        let mut pending = Some(first);
        loop {
            let event = match pending.take() {
                Some(event) => event,
                None => match next_event(&mut rest, idle, aborted.as_mut()).await {
                    Ok(event) => event,
                    Err((code, message)) => {
                        yield Ok(broken(&model_ref, code, &message));
                        break;
                    }
                },
            };
            match relabel(&event.data, &model_ref) {
                Frame::Chunk(bytes) => yield Ok(bytes),
                Frame::Done => {
                    yield Ok(Bytes::from_static(DONE));
                    break;
                }
                Frame::Error(message) => {
                    yield Ok(broken(&model_ref, "upstream_error", &message));
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
    aborted: Pin<&mut impl Future<Output = ()>>,
) -> Result<Event, (&'static str, String)> {
    tokio::select! {
        biased;
        () = aborted => Err(("gateway_shutdown", "the gateway is shutting down".into())),
        next = tokio::time::timeout(idle, rest.next()) => match next {
            Ok(Some(Ok(event))) => Ok(event),
            Ok(Some(Err(err))) => Err(("stream_interrupted", format!("the upstream stream broke off: {err}"))),
            Ok(None) => Err(("stream_truncated", "the upstream stream ended before [DONE]".into())),
            Err(_) => Err((
                "stream_timeout",
                format!("the upstream stream was silent for {}s", idle.as_secs_f64()),
            )),
        },
    }
}

/// What one upstream event becomes for the client.
enum Frame {
    Chunk(Bytes),
    Done,
    /// The provider reported an error inside the stream.
    Error(String),
}

fn relabel(data: &str, model_ref: &ModelRef) -> Frame {
    let data = data.trim();
    if data == "[DONE]" {
        return Frame::Done;
    }
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(chunk)) if chunk.get("error").is_some_and(|e| !e.is_null()) => {
            let message = chunk["error"]
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown error");
            Frame::Error(format!("the provider reported: {message}"))
        }
        Ok(Value::Object(mut chunk)) => {
            crate::wire::openai::label_model(&mut chunk, model_ref);
            Frame::Chunk(frame(&Value::Object(chunk)))
        }
        // Not a JSON object: pass it on as the provider sent it.
        _ => Frame::Chunk(Bytes::from(format!("data: {data}\n\n"))),
    }
}

fn frame(value: &Value) -> Bytes {
    let mut out = b"data: ".to_vec();
    serde_json::to_writer(&mut out, value).expect("a JSON value always serializes");
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The error event that ends a stream which cannot end cleanly.
fn broken(model_ref: &ModelRef, code: &'static str, message: &str) -> Bytes {
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
        let got = match relabel(data, &model_ref) {
            Frame::Chunk(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
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
        check("keep-alive", "data: keep-alive\n\n");
    }
}
