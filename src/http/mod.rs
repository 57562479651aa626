//! The HTTP edge: the axum router and thin handlers that extract, call the
//! gateway, and shape the response. Only this module knows about axum.
//!
//! Every route passes the guards in [`guard`] (request id, header size,
//! `Host`, `Origin`); the API and `/metrics` also the token. Every
//! request gets one line in the log ([`access_log`]). The routes are listed
//! once, in [`routes`]: the router and the answer to an unknown route both
//! read that list. Each API front end is one module implementing
//! [`front::FrontEnd`], served by [`front::serve`]: the OpenAI chat API is
//! `chat.rs` (and `models.rs`); Anthropic's Messages API, whose error
//! bodies take Anthropic's shape, is `messages.rs`; OpenAI's Responses API
//! (Codex) is `responses.rs`. A front end whose errors are not
//! OpenAI-shaped lists its path prefix in [`ERROR_SHAPES`].

mod access_log;
mod chat;
mod coding;
mod error;
pub mod front;
mod guard;
mod messages;
mod models;
mod page;
mod responses;
mod spend;
mod status;
pub mod stream;
mod usage;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use futures_util::FutureExt;

pub use access_log::AccessRecord;
pub use error::{ATTEMPTS_HEADER, ApiError, ErrorReport, ErrorShape};
pub use guard::{MAX_HEADER_BYTES, REQUEST_ID_HEADER};

use crate::gateway::{Gateway, RequestOptions};

pub const PROVIDER_HEADER: &str = "x-clawgate-provider";
pub const MODEL_HEADER: &str = "x-clawgate-model";
/// The request's fields the answering target did not get, by design
/// (`translate::fields`): comma-separated.
pub const DROPPED_HEADER: &str = "x-clawgate-dropped";
/// `x-clawgate-fallback: off` limits the chain to its first target.
pub const FALLBACK_HEADER: &str = "x-clawgate-fallback";

/// `x-clawgate-session` names the conversation a request belongs to
/// (`crate::session::key`: a bad one is refused with a 400 naming it).
pub const SESSION_HEADER: &str = crate::session::key::GATEWAY_HEADER;

/// `anthropic-beta`: the Messages API's feature flags, comma-separated.
pub const BETA_HEADER: &str = "anthropic-beta";

/// What a request's headers ask of its chain; every API front end reads
/// them the same way. A header it cannot read is refused, naming it: a
/// client that asked for no fallback is never sent to one.
pub fn request_options(headers: &axum::http::HeaderMap) -> Result<RequestOptions, String> {
    Ok(RequestOptions {
        client: None,
        fallback: fallback(headers)?,
        trace: None,
        onward: None,
        demand: None,
        // Found by `http::front` once the body is read (`crate::session`).
        session: None,
        // The request's access record's (`http::front`).
        in_flight: None,
    })
}

/// [`FALLBACK_HEADER`]: `on` (as without it) or `off`, once.
fn fallback(headers: &axum::http::HeaderMap) -> Result<bool, String> {
    let mut values = headers.get_all(FALLBACK_HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return match headers.contains_key(FALLBACK_HEADER) {
            true => Err(format!(
                "`{FALLBACK_HEADER}` is given more than once: give it once, `on` or `off`"
            )),
            false => Ok(true),
        };
    };
    match value.as_bytes().trim_ascii() {
        word if word.eq_ignore_ascii_case(b"off") => Ok(false),
        word if word.eq_ignore_ascii_case(b"on") => Ok(true),
        _ => Err(format!("`{FALLBACK_HEADER}` must be `on` or `off`")),
    }
}

/// Path prefixes whose error bodies (the guards' and unknown routes'
/// included) take a front end's shape rather than OpenAI's.
const ERROR_SHAPES: &[(&str, ErrorShape)] = &[(
    "/v1/messages",
    <messages::Messages as front::FrontEnd>::error_body,
)];

/// One route: what it answers (for the list an unknown route gets), where,
/// and whether it needs the bearer token.
struct Route {
    methods: &'static str,
    path: &'static str,
    guarded: bool,
    handler: MethodRouter<Arc<Gateway>>,
}

/// Every route the gateway serves. The paths without `/v1` are served too,
/// for clients that strip it from their base URL.
fn routes() -> Vec<Route> {
    let route = |methods, path, guarded, handler| Route {
        methods,
        path,
        guarded,
        handler,
    };
    // An API front end, at its path with `/v1` or without.
    fn api<F: front::FrontEnd>(versioned: bool) -> Route {
        let path = F::FRONT.path();
        Route {
            methods: "POST",
            path: if versioned { path } else { unversioned(path) },
            guarded: true,
            handler: post(front::serve::<F>),
        }
    }
    vec![
        api::<chat::Chat>(true),
        api::<messages::Messages>(true),
        route(
            "POST",
            "/v1/messages/count_tokens",
            true,
            post(messages::count_tokens),
        ),
        api::<responses::Responses>(true),
        route("GET", "/v1/models", true, get(models::list_models)),
        route("GET", "/v1/models/{id}", true, get(models::get_model)),
        route("GET", "/v1/status", true, get(status::status)),
        route("GET", "/v1/usage", true, get(usage::usage)),
        api::<chat::Chat>(false),
        api::<responses::Responses>(false),
        route("GET", "/models", true, get(models::list_models)),
        route("GET", "/models/{id}", true, get(models::get_model)),
        route("GET", "/metrics", true, get(status::metrics_page)),
        route("GET", "/healthz", false, get(|| async { "ok\n" })),
        // Claude Code may check its base URL with `HEAD /` first; a
        // browser gets the status page, which checks the token itself.
        route("GET, HEAD", "/", false, get(page::root)),
    ]
}

/// `GET /v1/models`, `POST /v1/chat/completions`, ...: what an unknown
/// route's answer lists.
fn route_list() -> String {
    routes()
        .iter()
        .map(|route| format!("{} {}", route.methods, route.path))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errors in the shape of the front end whose path they are on.
async fn error_shapes<F>(
    request: axum::extract::Request,
    next: impl FnOnce(axum::extract::Request) -> F,
) -> axum::response::Response
where
    F: std::future::Future<Output = axum::response::Response>,
{
    let path = request.uri().path();
    match ERROR_SHAPES
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix))
    {
        Some((_, shape)) => front::error_shape(request, next, *shape).await,
        None => next(request).await,
    }
}

/// What every request passes on its way to a route, outermost first: its
/// id ([`guard::with_request_id`]), its access line
/// ([`access_log::access_log`]), its front end's error shape, and the checks
/// that do not depend on the route ([`guard::check_request`]). One
/// middleware calling each in turn with what comes after it: as four layers
/// they boxed and cloned the services beneath them on every request.
async fn way_in(
    axum::extract::State(gateway): axum::extract::State<Arc<Gateway>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let id = guard::choose_request_id(request.headers(), || gateway.config().redactor.clone());
    let checks = gateway.clone();
    guard::with_request_id(id, request, |request| {
        access_log::access_log(gateway, request, |request| {
            error_shapes(request, |request| async move {
                let checked = guard::check_request(&checks, request, |request| next.run(request));
                // A bug that panics before the answer's head answers 500, in
                // the front end's shape and with its access line, instead of
                // closing the connection.
                (std::panic::AssertUnwindSafe(checked).catch_unwind().await)
                    .unwrap_or_else(|_| ApiError::Internal.into_response())
            })
        })
    })
    .await
}

/// The gateway's routes. Tests call it without a socket.
pub fn app(gateway: Arc<Gateway>) -> Router {
    let mut guarded = Router::new();
    let mut open = Router::new();
    for route in routes() {
        // Model ids hold `/`: the id route takes the rest of the path.
        let path = route.path.replace("{id}", "{*id}");
        if route.guarded {
            guarded = guarded.route(&path, route.handler);
        } else {
            open = open.route(&path, route.handler);
        }
    }
    let guarded = guarded.route_layer(middleware::from_fn_with_state(
        gateway.clone(),
        guard::require_token,
    ));
    Router::new()
        .merge(guarded)
        .merge(open)
        .fallback(
            |State(gateway): State<Arc<Gateway>>, method: Method, uri: Uri| async move {
                ApiError::NoRoute {
                    method: method.to_string(),
                    // A key pasted where a path goes is not echoed.
                    path: gateway.config().redactor.scrub(uri.path()).into_owned(),
                    routes: route_list(),
                }
            },
        )
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(gateway.clone(), way_in))
        .with_state(gateway)
}

/// The completion APIs clawgate serves, by their front end.
pub use crate::wire::Front;

impl Front {
    /// The route its requests come in on.
    pub fn path(self) -> &'static str {
        match self {
            Front::Chat => "/v1/chat/completions",
            Front::Messages => "/v1/messages",
            Front::Responses => "/v1/responses",
        }
    }

    /// The name of its requests' rows in the ledger.
    pub fn ledger_name(self) -> &'static str {
        match self {
            Front::Chat => "openai-chat",
            Front::Messages => "anthropic-messages",
            Front::Responses => "openai-responses",
        }
    }

    /// The API whose requests come in on `path`, with `/v1` or without.
    pub fn at(path: &str) -> Option<Front> {
        let path = unversioned(path);
        Self::ALL
            .into_iter()
            .find(|front| unversioned(front.path()) == path)
    }
}

/// `path` without its `/v1`.
fn unversioned(path: &str) -> &str {
    path.strip_prefix("/v1").unwrap_or(path)
}

/// `body` decoded by `front`'s front end into the request model, as a
/// request to that API would be (`clawgate explain`: no request, no
/// network).
pub fn decode(
    front: Front,
    config: &crate::config::Config,
    body: bytes::Bytes,
) -> Result<crate::wire::request::ClientRequest, ApiError> {
    use self::front::FrontEnd;
    let record = AccessRecord::default();
    let memos = &crate::gateway::Memos::default();
    match front {
        Front::Chat => {
            chat::Chat::decode(config, memos, body, &record).map(|(request, ())| request)
        }
        Front::Messages => {
            messages::Messages::decode(config, memos, body, &record).map(|(request, ())| request)
        }
        Front::Responses => {
            responses::Responses::decode(config, memos, body, &record).map(|(request, _)| request)
        }
    }
}

#[cfg(test)]
mod tests;
