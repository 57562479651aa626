//! Anthropic's Messages API in front of the same chain:
//! `POST /v1/messages` and `POST /v1/messages/count_tokens`, for Claude Code
//! and the Anthropic SDKs.
//!
//! A request is translated into a chat-completions request
//! ([`crate::translate::anthropic_client`]), resolved and run exactly as
//! `POST /v1/chat/completions` is (same refs, aliases, `default`, chain and
//! provider rules, same `x-clawgate-*` headers), and the answer translated
//! back: a message, or the relay's stream mapped event by event into
//! Anthropic's named events, with a `ping` whenever the upstream is silent
//! for [`PING_EVERY`]. A `claude-*` model the config does not know is served
//! by the default chain (Claude Code sends them whatever it is told).
//!
//! Errors keep the OpenAI API's statuses and headers: [`anthropic_errors`]
//! rewrites the body of every error response on these routes (the guards'
//! included) into Anthropic's shape, with the error type its status implies.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::chat::{admit, answered, read_limited, run_chain};
use super::{AccessRecord, ApiError, request_options};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::ops::metrics;
use crate::providers::response::shape_completion;
use crate::relay;
use crate::translate::anthropic_client::{self, StreamTranslator};
use crate::translate::ids::Nonce;
use crate::translate::token_estimate;
use crate::upstream::Reply;
use crate::wire::anthropic::{self, MessagesRequest, StreamEvent};
use crate::wire::openai::ChatRequest;

/// How long a stream may be silent before the client gets a `ping`.
pub const PING_EVERY: Duration = Duration::from_secs(10);

/// The most of an error body [`anthropic_errors`] reads: the gateway's own
/// error bodies are far smaller.
const MAX_ERROR_BODY: usize = 256 * 1024;

pub async fn messages(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = gateway.config();
    let record = AccessRecord::of(&request);
    let slot = admit(&gateway, &config)?;
    let options = request_options(request.headers());
    let original = read_limited(request, &config).await?;
    // The parsed and translated copies end here: only the chat request
    // (and the client's bytes it keeps) lives on while the chain runs.
    let request = {
        let parsed =
            MessagesRequest::parse(&original).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        record.model_asked(parsed.model.as_deref().map(shown));
        let model = chain_model(&config, parsed.model.as_deref());
        let translated = anthropic_client::request(&parsed, model)
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let body = serde_json::to_vec(&translated).expect("a JSON value always serializes");
        ChatRequest::parse(body).map_err(|e| ApiError::BadRequest(e.to_string()))?
    }
    .with_anthropic_original(original);
    let answer = run_chain(&gateway, &config, request, options, &record).await?;
    let (mut headers, outcome) = answered(&answer);
    let model_ref = answer.target.model_ref.clone();
    let response = match answer.reply {
        Reply::Complete(mut body) => {
            metrics::request(outcome);
            shape_completion(&mut body, &answer.target.model.cost);
            record.usage_of(&body);
            let message = anthropic_client::message(&body, model_ref.as_str(), Nonce::random());
            (headers, Json(message)).into_response()
        }
        Reply::Stream { first, rest } => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let answering = relay::Answering {
                model_ref: model_ref.clone(),
                cost: answer.target.model.cost,
                // The translation needs the usage chunk for `message_delta`.
                client_wants_usage: true,
                outcome,
                health: answer.health,
            };
            let rest = record.watch_usage(&first, rest);
            let frames = relay::relay(
                first,
                rest,
                answering,
                config.gateway.timeouts.idle,
                config.redactor.clone(),
                gateway.aborted(),
            );
            let translator = StreamTranslator::new(model_ref.as_str(), Nonce::random());
            let events = anthropic_events(frames, translator, PING_EVERY).map(move |event| {
                // The request's slot is held until the stream ends.
                let _ = &slot;
                event
            });
            (headers, Body::from_stream(events)).into_response()
        }
    };
    Ok(response)
}

/// `POST /v1/messages/count_tokens`: an estimate, without calling a
/// provider (see [`token_estimate`] for the rule and its accuracy).
pub async fn count_tokens(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = gateway.config();
    // Cheap, but it reads a whole body: it counts against the same cap.
    let _slot = admit(&gateway, &config)?;
    let body = read_limited(request, &config).await?;
    let parsed = MessagesRequest::parse(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let tokens = token_estimate::input_tokens(&parsed);
    Ok(Json(json!({ "input_tokens": tokens })).into_response())
}

/// The model name to resolve: the client's, except that a `claude-*` name
/// the config does not know means the default chain.
fn chain_model<'a>(config: &Config, requested: Option<&'a str>) -> Option<&'a str> {
    let name = requested.filter(|name| !name.is_empty())?;
    if name == "default" || config.resolve(name).is_some() {
        return Some(name);
    }
    if name.to_ascii_lowercase().starts_with("claude") {
        tracing::info!(
            "model {:?} is not configured; served by the default chain",
            shown(name)
        );
        return None;
    }
    Some(name)
}

/// The most of a client-chosen model name that goes into a log line.
const SHOWN_NAME_CHARS: usize = 128;

/// A client-chosen name as logged: cut to [`SHOWN_NAME_CHARS`] characters.
fn shown(name: &str) -> &str {
    match name.char_indices().nth(SHOWN_NAME_CHARS) {
        Some((end, _)) => &name[..end],
        None => name,
    }
}

/// The relay's frames as Anthropic events, with a `ping` after each `every`
/// of silence. A mapping of the relay stream: nothing is spawned, and
/// dropping it drops the upstream request.
fn anthropic_events(
    frames: impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send,
    mut translator: StreamTranslator,
    every: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    async_stream::stream! {
        let mut frames = pin!(frames);
        while !translator.is_finished() {
            match tokio::time::timeout(every, frames.next()).await {
                Err(_) => yield Ok(Bytes::from(StreamEvent::Ping.to_sse())),
                Ok(Some(Ok(frame))) => {
                    for event in translator.frame(&frame) {
                        yield Ok(Bytes::from(event.to_sse()));
                    }
                }
                Ok(None) => {
                    if let Some(event) = translator.cut_off() {
                        yield Ok(Bytes::from(event.to_sse()));
                    }
                }
            }
        }
    }
}

/// Rewrites error responses on the Messages routes into Anthropic's shape,
/// `{"type": "error", "error": {"type", "message"}, "request_id"}`, keeping
/// the status and headers (`Retry-After`, `x-clawgate-attempts`) the OpenAI
/// API would give. A provider's context-overflow message is worded as
/// Claude Code needs to recover from it.
pub async fn anthropic_errors(request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/v1/messages") {
        return next.run(request).await;
    }
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status().is_success() || !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A body that cannot be read still gets Anthropic's shape, with the
    // type its status implies.
    let openai: Value = match http_body_util::Limited::new(body, MAX_ERROR_BODY)
        .collect()
        .await
    {
        Ok(collected) => serde_json::from_slice(&collected.to_bytes()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let body = anthropic_error_body(parts.status, &openai);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// The Anthropic error body for an OpenAI-shaped one with `status`.
fn anthropic_error_body(status: StatusCode, openai: &Value) -> Value {
    let error = &openai["error"];
    let mut message = error["message"]
        .as_str()
        .unwrap_or("the request failed")
        .to_string();
    if status == StatusCode::BAD_REQUEST {
        if let Some(rewritten) = anthropic_client::context_overflow(&message) {
            message = rewritten;
        }
    }
    let mut body = json!({
        "type": "error",
        "error": {"type": anthropic::error_type(status.as_u16()), "message": message},
    });
    if let Some(id) = error["request_id"].as_str() {
        body["request_id"] = json!(id);
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_take_anthropics_shape_and_type() {
        let openai = json!({"error": {"message": "no provider can take the request now", "type": "upstream_error",
                                      "code": "upstream_unavailable", "request_id": "req_1"}});
        assert_eq!(
            anthropic_error_body(StatusCode::SERVICE_UNAVAILABLE, &openai),
            json!({"type": "error", "error": {"type": "overloaded_error",
                   "message": "no provider can take the request now"}, "request_id": "req_1"})
        );
        let overflow = json!({"error": {"message": "kimi/k2 rejected the request: Your request exceeded model token limit: 262144 (requested: 262200)"}});
        assert_eq!(
            anthropic_error_body(StatusCode::BAD_REQUEST, &overflow)["error"],
            json!({"type": "invalid_request_error", "message": "prompt is too long: 262200 tokens > 262144"})
        );
        assert_eq!(
            anthropic_error_body(StatusCode::TOO_MANY_REQUESTS, &Value::Null)["error"]["type"],
            json!("rate_limit_error")
        );
    }

    #[test]
    fn logged_model_names_are_cut() {
        assert_eq!(shown("claude-sonnet-4-5"), "claude-sonnet-4-5");
        let long = "é".repeat(300);
        assert_eq!(shown(&long).chars().count(), SHOWN_NAME_CHARS);
    }

    #[tokio::test]
    async fn an_error_body_that_cannot_be_read_keeps_status_and_headers() {
        async fn huge_error() -> Response {
            let headers = [
                (header::CONTENT_TYPE, "application/json"),
                (header::RETRY_AFTER, "9"),
            ];
            let body = format!(
                "{{\"error\": {{\"message\": \"{}\"}}}}",
                "x".repeat(MAX_ERROR_BODY)
            );
            (StatusCode::SERVICE_UNAVAILABLE, headers, body).into_response()
        }
        let app = axum::Router::new()
            .route("/v1/messages", axum::routing::post(huge_error))
            .layer(axum::middleware::from_fn(anthropic_errors));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/messages", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let response = reqwest::Client::new().post(url).send().await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "9");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "the request failed"}})
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_gets_pings_and_a_stream_that_stops_gets_an_error() {
        let frames = async_stream::stream! {
            yield Ok(Bytes::from_static(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"));
            tokio::time::sleep(Duration::from_secs(25)).await;
        };
        let events: Vec<String> =
            anthropic_events(frames, StreamTranslator::new("m", Nonce(0)), PING_EVERY)
                .map(|e| String::from_utf8(e.unwrap().to_vec()).unwrap())
                .collect()
                .await;
        let names: Vec<&str> = events
            .iter()
            .map(|e| e.lines().next().unwrap().trim_start_matches("event: "))
            .collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "ping",
                "ping",
                "error"
            ]
        );
    }
}
