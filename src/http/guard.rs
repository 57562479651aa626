//! What every request passes before a handler sees it: a request id, a cap
//! on header size, the `Host` check that defeats DNS rebinding on loopback
//! binds, the `Origin` check that keeps web pages out, and the client's
//! key (`Authorization: Bearer` or `x-api-key`).
//! Each refusal is an [`ApiError`], so it has the OpenAI error shape.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::{AccessRecord, ApiError};
use crate::config::clients::{Client, Clients};
use crate::config::{Config, is_loopback};
use crate::gateway::Gateway;
use crate::ops::redact::Redactor;
use crate::upstream::{LOOP_HEADER, loop_mark};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The most of all header names and values together; a larger head gets
/// 431. hyper's own, larger buffer limit is the backstop.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

tokio::task_local! {
    static REQUEST_ID: Arc<str>;
}

/// The id of the request being handled, when called inside one.
pub fn request_id() -> Option<Arc<str>> {
    REQUEST_ID.try_with(Arc::clone).ok()
}

/// The client's `x-request-id` when it is sane (1 to 128 characters of
/// `[A-Za-z0-9._:-]`) and holds no key (`redactor`: a configured one, or
/// a credential's shape: it is echoed, logged, traced and kept in the
/// ledger), else a new random one.
pub fn choose_request_id(headers: &HeaderMap, redactor: impl FnOnce() -> Redactor) -> Arc<str> {
    let sane = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        })
        .filter(|id| matches!(redactor().scrub(id), Cow::Borrowed(_)));
    match sane {
        Some(id) => id.into(),
        None => format!("req_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)).into(),
    }
}

/// Gives the request its id ([`choose_request_id`]): returned as
/// `x-request-id`, carried by every log line of the request (a tracing
/// span) and by error bodies. `next` is what comes after (see
/// `http::way_in`).
pub async fn with_request_id<F>(
    id: Arc<str>,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let span = tracing::info_span!("request", id = %id);
    let mut response = REQUEST_ID
        .scope(id.clone(), next(request).instrument(span))
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Host, Origin and header size: the checks that do not depend on the
/// route.
pub async fn check_request<F>(
    gateway: &Gateway,
    request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let config = gateway.config();
    let headers = request.headers();
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge(MAX_HEADER_BYTES).into_response();
    }
    // First: a loop through a name the Host check refuses is still a loop.
    if headers
        .get(LOOP_HEADER)
        .is_some_and(|mark| mark == loop_mark())
    {
        tracing::warn!("{}", ApiError::LoopDetected);
        return ApiError::LoopDetected.into_response();
    }
    if let Err(err) = check_host(&config, &request) {
        return err.into_response();
    }
    let origin = match allowed_origin(&config, headers) {
        Ok(origin) => origin,
        Err(err) => return err.into_response(),
    };
    let Some(origin) = origin else {
        return next(request).await;
    };
    // A configured origin: answer the CORS preflight, and let the browser
    // read the answer.
    let mut response = if request.method() == Method::OPTIONS {
        let allowed = allowed_headers(headers);
        let mut preflight = StatusCode::NO_CONTENT.into_response();
        let headers = preflight.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        preflight
    } else {
        next(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "x-request-id, x-clawgate-provider, x-clawgate-model, x-clawgate-attempts, \
             x-clawgate-dropped, retry-after, x-should-retry",
        ),
    );
    headers.append(
        header::VARY,
        HeaderValue::from_static("origin, access-control-request-headers"),
    );
    response
}

/// The request headers a configured origin's page may send: the ones the
/// APIs and the gateway read, and whatever else its preflight asks for
/// (the SDKs' own, `x-stainless-*`), each a well-formed header name. The
/// key is checked all the same.
fn allowed_headers(headers: &HeaderMap) -> HeaderValue {
    const READ: &str = "authorization, content-type, x-request-id, x-clawgate-fallback, \
        x-clawgate-session, x-api-key, anthropic-version, anthropic-beta";
    let asked = (headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS))
        .and_then(|asked| asked.to_str().ok())
        .filter(|asked| {
            (asked.split(',').map(str::trim))
                .all(|name| header::HeaderName::from_bytes(name.as_bytes()).is_ok())
        });
    match asked {
        Some(asked) => HeaderValue::from_str(&format!("{READ}, {asked}"))
            .unwrap_or(HeaderValue::from_static(READ)),
        None => HeaderValue::from_static(READ),
    }
}

/// The request's host is one `name[:port]` on every bind: two `Host`
/// headers are a 400 (which one would a proxy in front have checked?), as
/// is none in an HTTP/1.1 request; userinfo (`127.0.0.1:18700@evil.example`)
/// a 403, as is anything else that is not a host name or address. A
/// request to an absolute URI (`GET http://name/...`) is to that URI's
/// host, whatever `Host` says (RFC 9112, 3.2.2). On a loopback bind only
/// loopback names (and `gateway.allowedHosts`) may be it: a web page that
/// rebinds its own name to 127.0.0.1 still sends that name. Other binds
/// need the token anyway.
fn check_host(config: &Config, request: &Request) -> Result<(), ApiError> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err(ApiError::BadRequest(
            "more than one Host header; send exactly one".into(),
        ));
    }
    let host = match (request.uri().authority(), header) {
        (Some(authority), _) => authority.as_str(),
        (None, Some(header)) => header.to_str().unwrap_or_default(),
        // HTTP/1.0 clients may send none; browsers always do.
        (None, None) if request.version() < axum::http::Version::HTTP_11 => return Ok(()),
        (None, None) => {
            return Err(ApiError::BadRequest(
                "no Host header; an HTTP/1.1 request sends exactly one".into(),
            ));
        }
    };
    // As written, scrubbed of the config's secrets and of key shapes: a
    // key sent as a Host is not echoed.
    let refused = |host: &str| ApiError::HostNotAllowed(config.redactor.provider_text(host));
    if let Some((_, after)) = host.rsplit_once('@') {
        // What came before `@` may be a password: it is not echoed.
        return Err(refused(&format!("[userinfo]@{after}")));
    }
    if !is_authority(host) {
        return Err(refused(host));
    }
    let gateway = &config.gateway;
    if !is_loopback(gateway.bind) {
        return Ok(());
    }
    // Names compared ignoring case; an authority is ASCII.
    let name = host_name(host);
    let suffix = |end: &str| {
        (name.get(name.len().saturating_sub(end.len())..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(end))
    };
    let loopback_name = name.eq_ignore_ascii_case("localhost")
        || suffix(".localhost")
        || name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .is_ok_and(is_loopback);
    if loopback_name
        || gateway
            .allowed_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(name))
    {
        Ok(())
    } else {
        Err(refused(host))
    }
}

/// Whether `host` is `name[:port]`: a name of letters, digits, `-`, `.` and
/// `_`, or a bracketed IPv6 address, and a port of 1 to 5 digits.
fn is_authority(host: &str) -> bool {
    let (name_ok, port) = match host.strip_prefix('[') {
        Some(rest) => {
            let Some((address, port)) = rest.split_once(']') else {
                return false;
            };
            let address_ok = address
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'));
            (!address.is_empty() && address_ok, port)
        }
        None => {
            let (name, port) = host.split_at(host.find(':').unwrap_or(host.len()));
            let name_ok = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            (!name.is_empty() && name_ok, port)
        }
    };
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|digits| {
            (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
        });
    name_ok && port_ok
}

/// `host[:port]` without the port; IPv6 literals keep their brackets.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_inclusive(']').next().unwrap_or(host);
    }
    host.rsplit_once(':').map_or(host, |(name, _)| name)
}

/// A request from a web page carries `Origin`; it is refused unless the
/// origin is configured. `Ok(Some(..))` is the value to echo in CORS headers.
fn allowed_origin(config: &Config, headers: &HeaderMap) -> Result<Option<HeaderValue>, ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(None);
    };
    let text = origin.to_str().unwrap_or_default();
    if config
        .gateway
        .allowed_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(text))
    {
        Ok(Some(origin.clone()))
    } else {
        // Scrubbed as a Host is.
        Err(ApiError::OriginNotAllowed(
            config.redactor.provider_text(text),
        ))
    }
}

/// Who sent a request: the client whose key it presented, or everyone's
/// [`Clients::anonymous`] when no key is required. In the extensions of
/// every request to a guarded route.
#[derive(Clone)]
pub struct Caller(pub Arc<Client>);

impl Caller {
    pub fn of(request: &Request) -> Option<Arc<Client>> {
        request.extensions().get::<Self>().map(|c| c.0.clone())
    }
}

/// The key a request presents as `Authorization: Bearer <key>` (the
/// scheme matched in any case) and as `x-api-key: <key>` (how Anthropic's
/// SDKs send it).
fn presented(headers: &HeaderMap) -> (Option<&str>, Option<&str>) {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let api_key = headers
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim);
    (bearer, api_key)
}

/// The client whose key `headers` present, if any. Both places are looked
/// up, so the time taken does not say which matched.
pub fn client_of(clients: &Clients, headers: &HeaderMap) -> Option<Arc<Client>> {
    let (bearer, api_key) = presented(headers);
    let by_bearer = bearer.and_then(|key| clients.find(key));
    let by_key = api_key.and_then(|key| clients.find(key));
    by_bearer.or(by_key).cloned()
}

/// With `gateway.auth.token` or `gateway.clients` set, the API (and
/// `/metrics`, unless `gateway.auth.openMetrics`) requires a client's key;
/// the request carries its [`Caller`] on.
pub async fn require_token(
    State(gateway): State<Arc<Gateway>>,
    mut request: Request,
    next: Next,
) -> Response {
    let config = gateway.config();
    let clients = &config.gateway.clients;
    let open = config.gateway.open_metrics && request.uri().path() == "/metrics";
    let caller = if clients.require_key() && !open {
        match client_of(clients, request.headers()) {
            Some(client) => client,
            None => {
                // Said once, at WARN: clients such as Claude Code retry a
                // 401 without a word, so the log is where the user learns
                // why.
                let (bearer, api_key) = presented(request.headers());
                let key_sent =
                    bearer.is_some_and(|k| !k.is_empty()) || api_key.is_some_and(|k| !k.is_empty());
                let reason = if !key_sent {
                    "no key sent (as Authorization: Bearer or x-api-key)"
                } else {
                    "the key sent is neither gateway.auth.token nor a client's key (gateway.clients)"
                };
                tracing::warn!(
                    path = request.uri().path(),
                    "request refused (401): {reason}; set the client's key (ANTHROPIC_AUTH_TOKEN, OPENAI_API_KEY, OpenClaw's apiKey) to gateway.auth.token or its key under gateway.clients"
                );
                // A wrong key stays wrong: `x-should-retry: false` (see
                // `ErrorReport::final_refusal`), so the SDKs (Claude
                // Code's too) stop retrying and show the error.
                return ApiError::Unauthorized { key_sent }.into_response();
            }
        }
    } else {
        clients.anonymous().clone()
    };
    AccessRecord::of(&request).client(caller.name.clone());
    request.extensions_mut().insert(Caller(caller));
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_drop_the_port() {
        for (host, name) in [
            ("localhost:18700", "localhost"),
            ("127.0.0.1", "127.0.0.1"),
            ("[::1]:18700", "[::1]"),
            ("[::ffff:127.0.0.1]", "[::ffff:127.0.0.1]"),
            ("evil.example:80", "evil.example"),
        ] {
            assert_eq!(host_name(host), name, "{host}");
        }
    }

    #[test]
    fn hosts_are_a_name_or_address_and_an_optional_port() {
        for good in [
            "localhost",
            "localhost:18700",
            "127.0.0.1:1",
            "[::1]:18700",
            "[::ffff:127.0.0.1]",
            "my-box.local_domain",
        ] {
            assert!(is_authority(good), "{good}");
        }
        for bad in [
            "",
            "127.0.0.1:18700@evil.example",
            "localhost:",
            "localhost:123456",
            "localhost:80:80",
            "localhost:http",
            "local host",
            "[::1",
            "[]",
            "[::1]x",
            "[::1]:",
            "evil.example/path",
            "evil.example\\",
        ] {
            assert!(!is_authority(bad), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_kept_when_sane() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(REQUEST_ID_HEADER, HeaderValue::from_str(value).unwrap());
            choose_request_id(&headers, || Redactor::new(["gw-token-0123456789"]))
        };
        assert_eq!(&*with("abc-123_x.y:z"), "abc-123_x.y:z");
        let keys = [
            "gw-token-0123456789",
            "x-gw-token-0123456789",
            "sk-0123456789abc",
        ];
        for insane in ["", "has space", "new\tline", &"x".repeat(129)]
            .into_iter()
            .chain(keys)
        {
            let id = with(insane);
            assert!(
                id.starts_with("req_") && id.len() == 36,
                "{insane:?} -> {id}"
            );
        }
    }
}
