//! `POST /v1/chat/completions`: read the body within its limits, run the
//! chain, and answer with JSON or a relayed stream.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use super::{
    ATTEMPTS_HEADER, AccessRecord, ApiError, MODEL_HEADER, PROVIDER_HEADER, request_options,
};
use bytes::Bytes;

use crate::chain::Answer;
use crate::config::Config;
use crate::gateway::{Gateway, RequestOptions, Slot};
use crate::ops::metrics;
use crate::providers::response::shape_completion;
use crate::relay;
use crate::upstream::Reply;
use crate::wire::openai::{ChatRequest, label_model};

pub async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = gateway.config();
    let record = AccessRecord::of(&request);
    let slot = admit(&gateway, &config)?;
    let options = request_options(request.headers());
    let bytes = read_limited(request, &config).await?;
    let request = ChatRequest::parse(bytes).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let wants_usage = request.wants_usage();
    record.model_asked(request.model());
    let answer = run_chain(&gateway, &config, request, options, &record).await?;
    let (mut headers, outcome) = answered(&answer);
    let model_ref = answer.target.model_ref.clone();
    let response = match answer.reply {
        Reply::Complete(mut body) => {
            record.usage_of(&body);
            metrics::request(outcome);
            shape_completion(&mut body, &answer.target.model.cost);
            label_model(&mut body, &model_ref);
            (headers, Json(Value::Object(body))).into_response()
        }
        Reply::Stream { first, rest } => {
            let rest = record.watch_usage(&first, rest);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let idle = config.gateway.timeouts.idle;
            let redactor = config.redactor.clone();
            let cost = answer.target.model.cost;
            let answering = relay::Answering {
                model_ref,
                cost,
                client_wants_usage: wants_usage,
                outcome,
                health: answer.health,
            };
            let stream = relay::relay(first, rest, answering, idle, redactor, gateway.aborted())
                // The request's slot is held until the stream ends.
                .map(move |frame| {
                    let _ = &slot;
                    frame
                });
            (headers, Body::from_stream(stream)).into_response()
        }
    };
    Ok(response)
}

/// A place among the requests in flight, or 503 when they are at
/// `gateway.limits.maxConcurrentRequests`.
pub(super) fn admit(gateway: &Gateway, config: &Config) -> Result<Slot, ApiError> {
    gateway.admit().ok_or(ApiError::Busy(
        config.gateway.client.max_concurrent_requests,
    ))
}

/// The request body, refused early when its `Content-Length` is over
/// `gateway.maxBodyBytes`, else read within that limit and
/// `clientBodySeconds`.
pub(super) async fn read_limited(request: Request, config: &Config) -> Result<Bytes, ApiError> {
    let limit = config.gateway.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    read_body(
        request.into_body(),
        limit,
        config.gateway.client.body_timeout,
    )
    .await
}

/// Runs the request's chain in `config`, recording its attempts for the
/// access log; shutdown's end of grace ends the wait.
pub(super) async fn run_chain(
    gateway: &Gateway,
    config: &Config,
    request: ChatRequest,
    options: RequestOptions,
    record: &AccessRecord,
) -> Result<Answer, ApiError> {
    tokio::select! {
        answer = gateway.complete_with(config, request, options) => Ok(record.chain(answer)?),
        () = gateway.aborted() => Err(ApiError::ShuttingDown),
    }
}

/// The `x-clawgate-*` headers of an answer, and its metric outcome (`ok`,
/// or `fallback` when an earlier target failed).
pub(super) fn answered(answer: &Answer) -> (HeaderMap, &'static str) {
    let model_ref = &answer.target.model_ref;
    let mut headers = HeaderMap::new();
    headers.insert(PROVIDER_HEADER, header_value(model_ref.provider()));
    headers.insert(MODEL_HEADER, header_value(model_ref.as_str()));
    headers.insert(ATTEMPTS_HEADER, HeaderValue::from(answer.attempts()));
    let outcome = if answer.failures.is_empty() {
        "ok"
    } else {
        "fallback"
    };
    (headers, outcome)
}

/// Refs are validated config text; this cannot fail for them, but a header
/// is no place to panic.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

async fn read_body(body: Body, limit: usize, within: Duration) -> Result<bytes::Bytes, ApiError> {
    let collected = tokio::time::timeout(within, Limited::new(body, limit).collect())
        .await
        .map_err(|_| ApiError::BodyTimeout(within.as_secs()))?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge(limit))
        }
        Err(err) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {err}"
        ))),
    }
}
