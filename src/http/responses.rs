//! OpenAI's Responses API in front of the same chain: `POST /v1/responses`
//! (and `/responses`), for Codex CLI and the SDKs' `responses` clients.
//!
//! A request is translated into a chat-completions request
//! ([`crate::translate::responses_client`]), resolved and run exactly as
//! `POST /v1/chat/completions` is (same refs, aliases, `default`, chain,
//! provider rules, deadlines, access line, metrics and `x-clawgate-*`
//! headers), and the answer translated back: a response object, or the
//! relay's stream mapped into the Responses event sequence, with an SSE
//! comment whenever the upstream is silent for [`KEEP_ALIVE_EVERY`].
//! Errors before the start are the OpenAI API's, which is the Responses
//! API's error shape too; after it, `response.failed`.

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;

use super::chat::{admit, answered, read_limited, run_chain};
use super::{AccessRecord, ApiError, request_options};
use crate::gateway::Gateway;
use crate::ops::metrics;
use crate::providers::response::shape_completion;
use crate::relay;
use crate::translate::responses_client::{self, Identity, ResponseEncoder};
use crate::upstream::Reply;
use crate::wire::openai::ChatRequest;
use crate::wire::responses::ResponsesRequest;

/// How long a stream may be silent before the client gets a comment.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(10);

pub async fn responses(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = gateway.config();
    let record = AccessRecord::of(&request);
    let slot = admit(&gateway, &config)?;
    let options = request_options(request.headers());
    let original = read_limited(request, &config).await?;
    let bad = |err: &dyn std::fmt::Display| ApiError::BadRequest(err.to_string());
    // The parsed and translated copies end here: only the chat request
    // lives on while the chain runs.
    let (request, names, parallel_tool_calls) = {
        let parsed = ResponsesRequest::parse(&original).map_err(|e| bad(&e))?;
        let model = parsed.model.as_deref().filter(|m| !m.is_empty());
        record.model_asked(model);
        let (body, names) = responses_client::request(&parsed, model).map_err(|e| bad(&e))?;
        let request = ChatRequest::parse(body).map_err(|e| bad(&e))?;
        (request, names, parsed.parallel_tool_calls.unwrap_or(true))
    };
    let answer = run_chain(&gateway, &config, request, options, &record).await?;
    let (mut headers, outcome) = answered(&answer);
    let model_ref = answer.target.model_ref.clone();
    let identity = Identity::new(unix_seconds());
    let response = match answer.reply {
        Reply::Complete(mut body) => {
            metrics::request(outcome);
            shape_completion(&mut body, &answer.target.model.cost);
            record.usage_of(&body);
            let response = responses_client::response(
                &body,
                model_ref.as_str(),
                &identity,
                &names,
                parallel_tool_calls,
            );
            (headers, Json(response)).into_response()
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
                // `response.completed` carries the usage.
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
            let encoder =
                ResponseEncoder::new(model_ref.as_str(), identity, names, parallel_tool_calls);
            let events = response_events(frames, encoder, KEEP_ALIVE_EVERY).map(move |event| {
                // The request's slot is held until the stream ends.
                let _ = &slot;
                event
            });
            (headers, Body::from_stream(events)).into_response()
        }
    };
    Ok(response)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The relay's frames as Responses events, numbered in order, with a
/// comment after each `every` of silence. A mapping of the relay stream:
/// nothing is spawned, and dropping it drops the upstream request.
fn response_events(
    frames: impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send,
    mut encoder: ResponseEncoder,
    every: Duration,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    async_stream::stream! {
        let mut frames = pin!(frames);
        let mut sequence = 0;
        while !encoder.is_finished() {
            let events = match tokio::time::timeout(every, frames.next()).await {
                Err(_) => {
                    yield Ok(Bytes::from_static(b": keep-alive\n\n"));
                    continue;
                }
                Ok(Some(Ok(frame))) => encoder.frame(&frame),
                Ok(None) => encoder.cut_off(),
            };
            for event in events {
                yield Ok(Bytes::from(event.to_sse(sequence)));
                sequence += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::ids::Nonce;
    use crate::translate::responses_client::ToolNames;

    #[tokio::test(start_paused = true)]
    async fn a_silent_upstream_gets_comments_and_a_stream_that_stops_fails() {
        let frames = async_stream::stream! {
            yield Ok(Bytes::from_static(b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"));
            tokio::time::sleep(Duration::from_secs(25)).await;
        };
        let identity = Identity {
            response_id: "resp_1".into(),
            nonce: Nonce(0),
            created_at: 0,
        };
        let encoder = ResponseEncoder::new("m", identity, ToolNames::default(), true);
        let events: Vec<String> = response_events(frames, encoder, KEEP_ALIVE_EVERY)
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
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                ": keep-alive",
                ": keep-alive",
                "response.failed"
            ]
        );
        assert!(events[7].contains("\"sequence_number\":5"), "{}", events[7]);
    }
}
