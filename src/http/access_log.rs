//! One log line per request, at info, when its response has been sent:
//! the request id (the line is written in the request's span), method and
//! path, status, the model asked, who answered, every attempt with its
//! outcome, the time to the response head and in total, and the tokens.
//!
//! The middleware wraps the response body and writes the line when the body
//! is dropped, so a stream's line comes at its end, and a client that
//! leaves mid-stream still gets one, marked `end="client_left"`. Handlers
//! add what only they know through the [`AccessRecord`] found in the
//! request's extensions. `/healthz` and `/metrics`, which probes and
//! scrapers poll, are logged at debug.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body::{Body as HttpBody, Frame, SizeHint};
use serde_json::{Map, Value};

use crate::chain::{Answer, Cause, Failure};
use crate::gateway::CompletionError;
use crate::upstream::EventStream;
use crate::wire::sse::{Event, Item};

/// What a handler knows about its request, for the access line. Cheap to
/// clone; every clone writes to the same record.
#[derive(Clone, Debug, Default)]
pub struct AccessRecord(Arc<Mutex<Entry>>);

#[derive(Debug, Default)]
struct Entry {
    model_asked: Option<String>,
    answered_by: Option<String>,
    /// `ref:outcome`, in order.
    attempts: Vec<String>,
    tokens_in: Option<u64>,
    tokens_out: Option<u64>,
}

impl AccessRecord {
    /// The record of `request`; a detached one outside the middleware (a
    /// handler called without it, in a test).
    pub fn of(request: &Request) -> Self {
        request
            .extensions()
            .get::<Self>()
            .cloned()
            .unwrap_or_default()
    }

    fn update(&self, change: impl FnOnce(&mut Entry)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// The `model` of the request as the client wrote it (`default` when
    /// absent).
    /// The model the client named (cut to 128 characters: it is the
    /// client's text, of any length).
    pub fn model_asked(&self, model: Option<&str>) {
        let model = model.unwrap_or("default");
        let model = match model.char_indices().nth(128) {
            Some((end, _)) => &model[..end],
            None => model,
        }
        .to_string();
        self.update(|entry| entry.model_asked = Some(model));
    }

    /// Records the attempts of a chain's result and passes it on.
    pub fn chain(
        &self,
        result: Result<Answer, CompletionError>,
    ) -> Result<Answer, CompletionError> {
        self.update(|entry| match &result {
            Ok(answer) => {
                entry.attempts = answer.failures.iter().map(attempt_label).collect();
                entry
                    .attempts
                    .push(format!("{}:ok", answer.target.model_ref));
                entry.answered_by = Some(answer.target.model_ref.to_string());
            }
            Err(CompletionError::Failed(failures)) => {
                entry.attempts = failures.iter().map(attempt_label).collect();
            }
            Err(CompletionError::UnknownModel(_)) => {}
        });
        result
    }

    /// The tokens of a whole completion.
    pub fn usage_of(&self, body: &Map<String, Value>) {
        if let Some((tokens_in, tokens_out)) = usage(body) {
            self.update(|entry| {
                entry.tokens_in = Some(tokens_in);
                entry.tokens_out = Some(tokens_out);
            });
        }
    }

    /// `rest` of a stream, read as before, with the tokens of its usage
    /// chunk noted on the way (the relay may hide that chunk from a client
    /// that did not ask for it). `first` is checked too.
    pub fn watch_usage(&self, first: &Event, rest: EventStream) -> EventStream {
        self.event(first);
        let record = self.clone();
        Box::pin(rest.inspect(move |item| {
            if let Ok(Item::Event(event)) = item {
                record.event(event);
            }
        }))
    }

    fn event(&self, event: &Event) {
        // Only usage chunks are parsed.
        if !event.data.contains("\"usage\"") {
            return;
        }
        if let Ok(Value::Object(chunk)) = serde_json::from_str(&event.data) {
            self.usage_of(&chunk);
        }
    }
}

/// `(prompt_tokens, completion_tokens)` of a completion or chunk, top-level
/// or inside the first choice (Moonshot streams it there).
fn usage(body: &Map<String, Value>) -> Option<(u64, u64)> {
    let usage = body.get("usage").filter(|u| u.is_object()).or_else(|| {
        body.get("choices")?
            .get(0)?
            .get("usage")
            .filter(|u| u.is_object())
    })?;
    let count = |name: &str| usage.get(name).and_then(Value::as_u64);
    Some((count("prompt_tokens")?, count("completion_tokens")?))
}

/// The middleware: lets the request through with a fresh [`AccessRecord`],
/// and hands the response body the line to write when it ends.
pub async fn access_log(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let record = AccessRecord::default();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    request.extensions_mut().insert(record.clone());
    let response = next.run(request).await;
    let line = Line {
        span: tracing::Span::current(),
        method,
        path,
        status: response.status(),
        record,
        started,
        head_after: started.elapsed(),
    };
    response.map(|body| {
        Body::new(Logged {
            inner: body,
            line: Some(line),
            ended: false,
        })
    })
}

/// Everything the line says but the end.
struct Line {
    span: tracing::Span,
    method: Method,
    path: String,
    status: StatusCode,
    record: AccessRecord,
    started: Instant,
    head_after: Duration,
}

impl Line {
    fn write(self, end: &'static str) {
        let _in_request = self.span.enter();
        let entry = self.record.0.lock().unwrap_or_else(PoisonError::into_inner);
        let attempts = (!entry.attempts.is_empty()).then(|| entry.attempts.join(","));
        let probe = matches!(self.path.as_str(), "/healthz" | "/metrics");
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "clawgate::access",
                    $level,
                    status = self.status.as_u16(),
                    model = entry.model_asked.as_deref(),
                    answered_by = entry.answered_by.as_deref(),
                    attempts = attempts.as_deref(),
                    first_byte_ms = self.head_after.as_millis() as u64,
                    total_ms = self.started.elapsed().as_millis() as u64,
                    tokens_in = entry.tokens_in,
                    tokens_out = entry.tokens_out,
                    end,
                    "{} {} {}",
                    self.method,
                    self.path,
                    self.status.as_u16()
                )
            };
        }
        if probe {
            line!(tracing::Level::DEBUG);
        } else {
            line!(tracing::Level::INFO);
        }
    }
}

/// The response body, passed through unchanged; the line is written when
/// it is dropped, which hyper does when it is sent or the client is gone.
struct Logged {
    inner: Body,
    line: Option<Line>,
    ended: bool,
}

impl HttpBody for Logged {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.ended = true,
            Poll::Ready(Some(Err(_))) => {
                if let Some(line) = self.line.take() {
                    line.write("body_error");
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some(line) = self.line.take() {
            let end = if self.ended || self.inner.is_end_stream() {
                "complete"
            } else {
                "client_left"
            };
            line.write(end);
        }
    }
}

/// `ref:outcome` for the access line: a target skipped because it was
/// cooling down says so, not the failure that started its cooldown.
fn attempt_label(failure: &Failure) -> String {
    match failure.cause {
        Cause::CoolingDown { .. } => format!("{}:skipped(cooling_down)", failure.model_ref),
        _ => format!("{}:{}", failure.model_ref, failure.class.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_is_read_at_the_top_or_in_the_first_choice() {
        let cases = [
            (
                json!({"usage": {"prompt_tokens": 3, "completion_tokens": 5}}),
                Some((3, 5)),
            ),
            (
                json!({"choices": [{"usage": {"prompt_tokens": 7, "completion_tokens": 1}}]}),
                Some((7, 1)),
            ),
            (json!({"usage": null, "choices": []}), None),
            (json!({"usage": {"prompt_tokens": 3}}), None),
        ];
        for (body, expected) in cases {
            let Value::Object(body) = body else {
                unreachable!()
            };
            assert_eq!(usage(&body), expected, "{body:?}");
        }
    }
}
