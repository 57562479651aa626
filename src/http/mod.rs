//! The HTTP edge: the axum router and thin handlers that extract, call the
//! gateway, and shape the response. Only this module knows about axum.
//!
//! Every route passes the guards in [`guard`] (request id, header size,
//! `Host`, `Origin`); the API and `/metrics` also the bearer token.

mod chat;
mod error;
mod guard;
mod models;
mod status;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};

pub use error::{ATTEMPTS_HEADER, ApiError};
pub use guard::{MAX_HEADER_BYTES, REQUEST_ID_HEADER};

use crate::gateway::{Gateway, RequestOptions};

pub const PROVIDER_HEADER: &str = "x-clawgate-provider";
pub const MODEL_HEADER: &str = "x-clawgate-model";
/// `x-clawgate-fallback: off` limits the chain to its first target.
pub const FALLBACK_HEADER: &str = "x-clawgate-fallback";

/// What a request's headers ask of its chain; every API front end reads
/// them the same way.
pub fn request_options(headers: &axum::http::HeaderMap) -> RequestOptions {
    RequestOptions {
        fallback: !headers
            .get(FALLBACK_HEADER)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"off")),
    }
}

/// The gateway's routes. Tests call it without a socket.
pub fn app(gateway: Arc<Gateway>) -> Router {
    let guarded = Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/models", get(models::list_models))
        .route("/v1/status", get(status::status))
        .route("/metrics", get(status::metrics_page))
        .route_layer(middleware::from_fn_with_state(
            gateway.clone(),
            guard::require_token,
        ));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            gateway.clone(),
            guard::check_request,
        ))
        .layer(middleware::from_fn(guard::with_request_id))
        .with_state(gateway)
}
