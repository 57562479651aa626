//! The HTTP edge: the axum router and thin handlers that extract, call the
//! gateway, and shape the response. Only this module knows about axum.

mod error;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

pub use error::{ATTEMPTS_HEADER, ApiError};

use crate::config::ModelRef;
use crate::gateway::Gateway;
use crate::ops::metrics;
use crate::relay;
use crate::upstream::Reply;
use crate::wire::openai::{ChatRequest, label_model};

pub const PROVIDER_HEADER: &str = "x-clawgate-provider";
pub const MODEL_HEADER: &str = "x-clawgate-model";

/// The gateway's routes. Tests call it without a socket.
pub fn app(gateway: Arc<Gateway>) -> Router {
    let api = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(list_models))
        .route_layer(middleware::from_fn_with_state(
            gateway.clone(),
            require_token,
        ));
    Router::new()
        .merge(api)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(|| async { metrics::render() }))
        .fallback(|| async { ApiError::NoRoute })
        .with_state(gateway)
}

/// With `gateway.auth.token` set, `/v1` requires `Authorization: Bearer <token>`.
async fn require_token(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let config = gateway.config();
    if let Some(expected) = &config.gateway.auth_token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or_default();
        let matches: bool = presented
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into();
        if !matches {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

async fn chat_completions(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let config = gateway.config();
    let limit = config.gateway.max_body_bytes;
    let bytes = read_body(request.into_body(), limit).await?;
    let request = ChatRequest::parse(&bytes).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    drop(bytes);
    let answer = tokio::select! {
        answer = gateway.complete(&config, request) => answer?,
        () = gateway.aborted() => return Err(ApiError::ShuttingDown),
    };

    metrics::request(if answer.failures.is_empty() {
        "ok"
    } else {
        "fallback"
    });
    let model_ref = answer.target.model_ref.clone();
    let mut headers = HeaderMap::new();
    headers.insert(PROVIDER_HEADER, header_value(model_ref.provider()));
    headers.insert(MODEL_HEADER, header_value(model_ref.as_str()));
    headers.insert(ATTEMPTS_HEADER, HeaderValue::from(answer.attempts()));
    let response = match answer.reply {
        Reply::Complete(mut body) => {
            label_model(&mut body, &model_ref);
            (headers, Json(Value::Object(body))).into_response()
        }
        Reply::Stream { first, rest } => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let idle = config.gateway.timeouts.idle;
            let redactor = config.redactor.clone();
            let stream = relay::relay(first, rest, model_ref, idle, redactor, gateway.aborted());
            (headers, Body::from_stream(stream)).into_response()
        }
    };
    Ok(response)
}

/// Refs are validated config text; this cannot fail for them, but a header
/// is no place to panic.
fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
            Err(ApiError::PayloadTooLarge(limit))
        }
        Err(err) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {err}"
        ))),
    }
}

async fn list_models(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let config = gateway.config();
    let mut data = Vec::new();
    for (model_ref, provider, model) in config.models() {
        let entry = |id: &str, alias_of: Option<&ModelRef>| {
            json!({
                "id": id,
                "object": "model",
                "created": 0,
                "owned_by": provider.id,
                "name": model.name,
                "context_window": model.context_window,
                "max_output_tokens": model.max_tokens,
                "reasoning": model.reasoning,
                "input": model.input,
                "alias_of": alias_of.map(ModelRef::as_str),
            })
        };
        data.push(entry(model_ref.as_str(), None));
        for alias in config.aliases_of(&model_ref) {
            data.push(entry(alias, Some(&model_ref)));
        }
    }
    Json(json!({"object": "list", "data": data}))
}
