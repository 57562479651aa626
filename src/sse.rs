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
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Event;
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use crate::config::ModelRef;
use crate::metrics;
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
        let mut aborted = std::pin::pin!(aborted);
        let mut pending = Some(first);
        loop {
            let next = async {
                tokio::select! {
                    biased;
                    () = &mut aborted => None,
                    next = tokio::time::timeout(idle, rest.next()) => Some(next),
                }
            };
            let event = match pending.take() {
                Some(event) => event,
                None => match next.await {
                    None => {
                        yield Ok(broken(&model_ref, "gateway_shutdown", "the gateway is shutting down"));
                        break;
                    }
                    Some(next) => match next {
                    Ok(Some(Ok(event))) => event,
                    Ok(Some(Err(err))) => {
                        yield Ok(broken(&model_ref, "stream_interrupted", &format!("the upstream stream broke off: {err}")));
                        break;
                    }
                    Ok(None) => {
                        yield Ok(broken(&model_ref, "stream_truncated", "the upstream stream ended before [DONE]"));
                        break;
                    }
                    Err(_) => {
                        let message = format!("the upstream stream was silent for {}s", idle.as_secs_f64());
                        yield Ok(broken(&model_ref, "stream_timeout", &message));
                        break;
                    }
                    },
                },
            };
            let data = event.data.trim();
            if data == "[DONE]" {
                yield Ok(Bytes::from_static(DONE));
                break;
            }
            match serde_json::from_str::<Value>(data) {
                Ok(Value::Object(chunk)) if chunk.get("error").is_some_and(|e| !e.is_null()) => {
                    let message = chunk["error"].get("message").and_then(Value::as_str).unwrap_or("unknown error");
                    yield Ok(broken(&model_ref, "upstream_error", &format!("the provider reported: {message}")));
                    break;
                }
                Ok(Value::Object(mut chunk)) => {
                    crate::chat::label_model(&mut chunk, &model_ref);
                    yield Ok(frame(&Value::Object(chunk)));
                }
                // Not JSON: pass it on as the provider sent it.
                _ => yield Ok(Bytes::from(format!("data: {data}\n\n"))),
            }
        }
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
