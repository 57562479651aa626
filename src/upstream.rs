//! One upstream attempt, over the provider's transport (one module each,
//! [`openai`] and [`anthropic`], behind [`transport::Transport`]), and the
//! typed outcome the chain loop decides on. Whatever the transport, a reply
//! is in OpenAI's shapes: an Anthropic answer is translated as it is read.
//!
//! Every request asks for a stream. A provider that answers it with one
//! `application/json` body instead (some OpenAI-compatible servers ignore
//! `stream`) is taken at its word: that body is the whole answer.
//!
//! An attempt ends either in a [`Reply`] the client can be given, or in an
//! [`AttemptError`], which `chain::policy` classifies. For streams the
//! attempt reads until the first meaningful event (content, reasoning, a
//! tool call, a finish reason or usage: not a role-only chunk, not a
//! comment), so a provider that fails or hangs before it can still fall
//! over without the client noticing. Everything until then, an error
//! body included, is bounded by one deadline: the per-attempt
//! `firstByteSeconds`, or the chain's deadline if that comes first.
//!
//! What is read from a provider is bounded: a non-streamed answer by
//! `gateway.limits.maxResponseBytes`, each stream event by `maxEventBytes`
//! (see [`crate::format::sse`]). Redirects are not followed, since following
//! one would send the provider's credentials to another host. Every text the
//! provider chose (a message, an error type, a redirect target) is passed
//! through [`Redactor::provider_text`] where it is read.

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue, LOCATION, RETRY_AFTER, USER_AGENT,
};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use tokio::time::{Instant, timeout, timeout_at};

pub mod anthropic;
pub mod openai;
pub mod transport;

/// The transport of a provider's `api`.
pub fn transport_of(api: Api) -> &'static dyn transport::Transport {
    match api {
        Api::OpenAiCompletions => &openai::OpenAi,
        Api::AnthropicMessages => &anthropic::Anthropic,
    }
}

use crate::capabilities::Api;
use crate::config::{ApiKey, Limits, Target, Timeouts};
use crate::format::body::Chunks;
use crate::format::sse::{self, Event, Item, ReadError, SseError};
use crate::ops::redact::Redactor;
use crate::ops::with_causes;
use crate::wire::chunk::ChunkView;

/// What one attempt sends besides the target's own headers.
pub struct Call<'a> {
    pub body: Chunks,
    /// How much of the provider's stream is read, and whether its events
    /// go to the client as they come too
    /// ([`Transport::speaks_natively`](transport::Transport::speaks_natively)).
    pub reading: transport::EventReading,
    /// The attempt's span, when the request is traced.
    pub traceparent: Option<HeaderValue>,
    /// The `anthropic-beta` the plan sends, for a transport that takes it.
    pub betas: Option<&'a HeaderValue>,
}

/// The header every upstream request carries with this process's mark, so
/// that a provider which is in fact this gateway (a `baseUrl` pointing back
/// at it) is refused at once (`http::guard`) instead of calling itself
/// until it is full.
pub const LOOP_HEADER: &str = "x-clawgate-via";

/// The W3C trace context header an attempt's span goes in.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// This process's mark: random, so that one clawgate can still be another's
/// provider.
pub fn loop_mark() -> &'static str {
    static MARK: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    MARK.get_or_init(|| format!("{:016x}", fastrand::u64(..)))
}

/// The shared HTTP client: one connection pool for every provider.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: reqwest::Client,
}

/// The rest of an upstream stream, as event-stream items.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<Item, ReadError<reqwest::Error>>> + Send>>;

/// A successful upstream response.
pub enum Reply {
    /// A whole answer, as a chat completion; and, for a client that speaks
    /// the provider's format, the provider's own events (empty otherwise),
    /// which are then the answer: the completion, read from the stream's
    /// start and end, holds its id, usage and finish reason.
    Complete {
        completion: Map<String, Value>,
        native: Vec<Event>,
    },
    /// A stream whose first event has arrived and is not an error.
    Stream {
        first: Event,
        rest: EventStream,
        /// `rest` carries the provider's own events for the client
        /// ([`Item::Native`]), before their OpenAI readings; `first`, an
        /// OpenAI chunk, may come after the first of them.
        native: bool,
    },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum AttemptError {
    #[error("no API key: environment variable {0}")]
    MissingKey(crate::config::Unset),
    #[error("connection failed: {0}")]
    Connect(String),
    /// No connection could be made at all: refused, no such host, no
    /// route.
    #[error("connection failed: {0}")]
    Unreachable(String),
    /// The TLS handshake met a server that answered in plain HTTP.
    #[error(
        "the server at {address} does not speak TLS (it answered in plain HTTP): check http:// vs https:// in models.providers.{provider}.baseUrl"
    )]
    NotTls {
        /// `host:port`.
        address: String,
        provider: String,
    },
    #[error("no {waiting_for} within {:.2}s", after.as_secs_f64())]
    Timeout {
        /// What did not arrive: `response headers`, `first event`, ...
        waiting_for: &'static str,
        after: Duration,
    },
    #[error("{}{message}", status.map(|s| format!("{} ", s.as_u16())).unwrap_or_default())]
    Upstream {
        /// The HTTP status, or `None` for an error event in a 200 stream.
        status: Option<StatusCode>,
        /// The provider's `error.type`, such as `engine_overloaded_error`.
        error_type: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
    /// An error status whose body did not arrive in time: a timeout for
    /// the policy, whatever the status.
    #[error("{} and no error body within {:.2}s", status.as_u16(), after.as_secs_f64())]
    StalledErrorBody { status: StatusCode, after: Duration },
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    #[error("the provider answered {status} redirecting to {location}; redirects are not followed")]
    Redirected {
        status: StatusCode,
        /// The `Location` target, scrubbed.
        location: String,
    },
    #[error("{what} is larger than the limit of {limit} bytes (gateway.limits.{key})")]
    TooLarge {
        what: &'static str,
        limit: usize,
        /// The limit's key under `gateway.limits`.
        key: &'static str,
    },
}

impl AttemptError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            AttemptError::Upstream { status, .. } => *status,
            AttemptError::Redirected { status, .. } => Some(*status),
            AttemptError::StalledErrorBody { status, .. } => Some(*status),
            _ => None,
        }
    }

    fn response_too_large(limit: usize) -> Self {
        AttemptError::TooLarge {
            what: "the response",
            limit,
            key: "maxResponseBytes",
        }
    }

    fn event_too_large(limit: usize) -> Self {
        AttemptError::TooLarge {
            what: "a stream event",
            limit,
            key: "maxEventBytes",
        }
    }

    pub fn error_type(&self) -> Option<&str> {
        match self {
            AttemptError::Upstream { error_type, .. } => error_type.as_deref(),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            AttemptError::Upstream { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Chunks that say nothing (a role-only one) held before a stream counts
/// as started; more are left out, and start nothing either.
const MAX_HELD_EVENTS: usize = 8;
/// The most events held before the answer starts, native ones included.
const MAX_HELD_NATIVE: usize = 64;
/// The most of an error body that is read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The most of an upstream error message that is kept.
const MAX_MESSAGE_CHARS: usize = 300;
/// The longest `Retry-After` passed on; a provider asking for more is
/// asking for something clawgate will not promise its clients.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Idle pooled connections kept per provider host.
pub const MAX_IDLE_PER_PROVIDER: usize = 32;

impl Upstream {
    pub fn new(connect_timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            // Enough for steady traffic to reuse connections; a burst's
            // surplus is closed instead of holding descriptors for 90 s.
            .pool_max_idle_per_host(MAX_IDLE_PER_PROVIDER)
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { client })
    }

    /// Sends `body` to `target` and waits for the start of its answer, at
    /// most `firstByteSeconds` and never past `chain_deadline`.
    pub async fn attempt(
        &self,
        target: &Target,
        call: Call<'_>,
        timeouts: &Timeouts,
        chain_deadline: Instant,
        limits: &Limits,
        redactor: &Redactor,
    ) -> Result<Reply, AttemptError> {
        let provider = &target.provider;
        let transport = transport_of(provider.api);
        let started = Instant::now();
        let deadline = (started + timeouts.first_byte).min(chain_deadline);
        let timed_out = |waiting_for| AttemptError::Timeout {
            waiting_for,
            after: started.elapsed(),
        };
        let key = match &provider.api_key {
            ApiKey::Set(key) => Some(key.expose_secret()),
            ApiKey::Missing(unset) => return Err(AttemptError::MissingKey(unset.clone())),
            ApiKey::None => None,
        };
        let headers = transport.headers(target, key, call.betas).ok_or_else(|| {
            AttemptError::InvalidResponse("the API key is not a valid header value".into())
        })?;
        let request = self
            .client
            .post(provider.completions_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("clawgate/", env!("CARGO_PKG_VERSION")))
            .header(LOOP_HEADER, loop_mark())
            .header(ACCEPT, "text/event-stream")
            .headers(headers);
        // Configured headers come last so they win, User-Agent included.
        let request = match call.traceparent {
            Some(traceparent) => request.header(TRACEPARENT, traceparent),
            None => request,
        };
        let request = request
            .headers(target.model.headers.clone())
            .body(reqwest::Body::wrap(call.body));
        // Scrubbed whole, then shortened: a key cut in two by the shortening
        // would no longer be recognised.
        let scrub = |text: String| truncate(redactor.provider_text(&text));

        let response = match timeout_at(deadline, request.send()).await {
            Err(_) => return Err(timed_out("response headers")),
            Ok(Err(err)) if answered_in_plain_http(&err) => {
                let url = &provider.completions_url;
                return Err(AttemptError::NotTls {
                    address: format!(
                        "{}:{}",
                        url.host_str().unwrap_or_default(),
                        url.port_or_known_default().unwrap_or(443)
                    ),
                    provider: provider.id.clone(),
                });
            }
            Ok(Err(err)) if err.is_connect() => {
                return Err(AttemptError::Unreachable(scrub(describe(&err))));
            }
            Ok(Err(err)) => return Err(AttemptError::Connect(scrub(describe(&err)))),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_redirection() {
            let location = match response.headers().get(LOCATION) {
                Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
                None => "nowhere (no Location header)".to_string(),
            };
            return Err(AttemptError::Redirected {
                status,
                location: scrub(location),
            });
        }
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| retry_after(value, SystemTime::now()));
            // An error body is bounded like a first byte. One that stalls is
            // a timeout, whatever the status said: the target kept us
            // waiting and is not waited for again.
            let body = match read_limited(response, MAX_ERROR_BODY, deadline).await {
                Some(body) => body,
                None => {
                    return Err(AttemptError::StalledErrorBody {
                        status,
                        after: started.elapsed(),
                    });
                }
            };
            let (error_type, mut message) = error_details(&body);
            if status == StatusCode::NOT_FOUND && error_type.is_none() {
                message.push_str(NOTHING_SERVED_HERE);
            }
            return Err(AttemptError::Upstream {
                status: Some(status),
                error_type: error_type.map(scrub),
                message: scrub(message),
                retry_after,
            });
        }

        let json = response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if json {
            // Its first byte the client can be given is its last: the whole
            // body is read within the attempt's deadline, so a provider
            // that sends the head and stalls still falls over in time.
            return match timeout_at(
                deadline,
                whole_answer(response, transport, timeouts, limits, scrub),
            )
            .await
            {
                Err(_) => Err(timed_out("more of the answer")),
                Ok(reply) => reply,
            };
        }
        {
            let body = Box::pin(response.bytes_stream());
            let events = Box::pin(sse::items(body, limits.max_event_bytes));
            let mut events = transport.events(events, call.reading);
            // Events before the first meaningful one (a role-only chunk) are
            // held, so that failover stays possible until the answer starts;
            // so are the native events among them, in order.
            let mut held: Vec<Item> = Vec::new();
            let mut chunks = 0;
            loop {
                let event = match timeout_at(deadline, events.next()).await {
                    Err(_) => return Err(timed_out("first event")),
                    Ok(None) => {
                        return Err(AttemptError::InvalidResponse(
                            "the stream ended before its first event".into(),
                        ));
                    }
                    Ok(Some(Err(ReadError::Body(err)))) => {
                        return Err(AttemptError::Connect(scrub(describe(&err))));
                    }
                    Ok(Some(Err(ReadError::Sse(SseError::TooLarge { limit })))) => {
                        return Err(AttemptError::event_too_large(limit));
                    }
                    Ok(Some(Err(ReadError::Sse(SseError::Incomplete)))) => {
                        return Err(AttemptError::InvalidResponse(
                            "the stream ended inside its first event".into(),
                        ));
                    }
                    Ok(Some(Err(error @ (ReadError::OutOfOrder(_) | ReadError::NotJson)))) => {
                        return Err(AttemptError::InvalidResponse(error.to_string()));
                    }
                    // A comment is a sign of life, not the start of an answer.
                    Ok(Some(Ok(Item::Comment(_)))) => continue,
                    Ok(Some(Ok(native @ Item::Native(_)))) => {
                        if held.len() >= MAX_HELD_NATIVE {
                            return Err(AttemptError::InvalidResponse(
                                "the stream sent too many events before its answer started".into(),
                            ));
                        }
                        held.push(native);
                        continue;
                    }
                    Ok(Some(Ok(Item::Event(event)))) => event,
                };
                match first_event(&event.data) {
                    FirstEvent::Chunk { meaningful: true } => {
                        held.push(Item::Event(event));
                        break;
                    }
                    // A chunk that says nothing starts no answer: the first
                    // few are held (a role chunk), the rest left out, and
                    // the first-event deadline runs on.
                    FirstEvent::Chunk { meaningful: false } => {
                        if chunks < MAX_HELD_EVENTS {
                            held.push(Item::Event(event));
                            chunks += 1;
                        }
                    }
                    FirstEvent::Error(error_type, message) => {
                        return Err(AttemptError::Upstream {
                            status: None,
                            error_type: error_type.map(scrub),
                            message: scrub(message),
                            retry_after: None,
                        });
                    }
                    FirstEvent::Done => {
                        return Err(AttemptError::InvalidResponse(
                            "the stream ended before any chunk".into(),
                        ));
                    }
                    FirstEvent::Malformed => {
                        return Err(AttemptError::InvalidResponse(
                            "the first stream event is not a chat completion chunk".into(),
                        ));
                    }
                }
            }
            let at = held
                .iter()
                .position(|item| matches!(item, Item::Event(_)))
                .expect("the loop ends with a chunk held");
            let Item::Event(first) = held.remove(at) else {
                unreachable!("the item at `at` is an event")
            };
            let rest: EventStream = if held.is_empty() {
                events
            } else {
                Box::pin(futures_util::stream::iter(held.into_iter().map(Ok)).chain(events))
            };
            Ok(Reply::Stream {
                first,
                rest,
                native: call.reading.native(),
            })
        }
    }
}

/// A JSON answer to a request for a stream, read whole (within
/// `maxResponseBytes`, each wait within the idle timeout) as the answer.
async fn whole_answer(
    response: reqwest::Response,
    transport: &dyn transport::Transport,
    timeouts: &Timeouts,
    limits: &Limits,
    scrub: impl Fn(String) -> String,
) -> Result<Reply, AttemptError> {
    let bytes = read_body(response, limits.max_response_bytes, timeouts.idle)
        .await
        .map_err(|err| match err {
            BodyError::TooLarge => AttemptError::response_too_large(limits.max_response_bytes),
            BodyError::Silent => AttemptError::Timeout {
                waiting_for: "more of the body",
                after: timeouts.idle,
            },
            BodyError::Transport(err) => AttemptError::Connect(scrub(describe(&err))),
        })?;
    if containers(&bytes) > MAX_ANSWER_CONTAINERS {
        return Err(AttemptError::InvalidResponse(format!(
            "the body holds more than {MAX_ANSWER_CONTAINERS} objects and arrays"
        )));
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) if map.get("error").is_some_and(|e| !e.is_null()) => {
            let (error_type, message) = error_details(&bytes);
            Err(AttemptError::Upstream {
                status: None,
                error_type: error_type.map(&scrub),
                message: scrub(message),
                retry_after: None,
            })
        }
        Ok(Value::Object(map)) => transport
            .completion(map)
            .map(|completion| Reply::Complete {
                completion,
                native: Vec::new(),
            })
            .ok_or_else(|| {
                AttemptError::InvalidResponse("the body is not a chat completion".into())
            }),
        _ => Err(AttemptError::InvalidResponse(
            "the body is not a chat completion".into(),
        )),
    }
}

/// The most objects and arrays a whole answer is read with: a tree costs
/// some hundred bytes a node, so 32 MB of `{}` took 1.3 GB; an answer with
/// every token's log probabilities holds some ten thousand.
const MAX_ANSWER_CONTAINERS: usize = 200_000;

/// How many objects and arrays the JSON text `bytes` opens, strings
/// stepped over.
fn containers(bytes: &[u8]) -> usize {
    let (mut count, mut in_string, mut escaped) = (0, false, false);
    for &byte in bytes {
        match (in_string, byte) {
            (true, _) if escaped => escaped = false,
            (true, b'\\') => escaped = true,
            (_, b'"') => in_string = !in_string,
            (false, b'{' | b'[') => count += 1,
            _ => {}
        }
    }
    count
}

/// Why a body could not be read whole.
enum BodyError {
    TooLarge,
    /// The body fell silent for the idle timeout.
    Silent,
    Transport(reqwest::Error),
}

/// The whole body, read as it arrives and given up as soon as it is known
/// to be over `limit` (from its `Content-Length`, or once that much has
/// arrived). Returning drops the response, which closes its connection.
async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
    idle: Duration,
) -> Result<Bytes, BodyError> {
    let announced = response.content_length();
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = BytesMut::with_capacity(announced.map_or(0, |length| length as usize));
    loop {
        match timeout(idle, response.chunk()).await {
            Err(_) => return Err(BodyError::Silent),
            Ok(Err(err)) => return Err(BodyError::Transport(err)),
            Ok(Ok(None)) => return Ok(body.freeze()),
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > limit {
                    return Err(BodyError::TooLarge);
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// A transport error's message with its causes, without the URL reqwest
/// puts first (URLs are from the config, but keep messages short).
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let message = if err.is_connect() {
        "could not connect".to_string()
    } else if err.is_body() || err.is_decode() {
        "the response body broke off".to_string()
    } else {
        "request failed".to_string()
    };
    with_causes(message, err)
}

/// Whether the request failed because the server answered the TLS
/// handshake in plain HTTP (rustls reads the answer as a record of an
/// invalid content type).
fn answered_in_plain_http(err: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        if cause.to_string().contains("InvalidContentType") {
            return true;
        }
        source = cause.source();
    }
    false
}

/// Added to a 404 without an API error in its body: the URL, not the
/// model, is what the server does not know.
const NOTHING_SERVED_HERE: &str = " (a 404 without an API error: nothing is served at this URL; check the provider's baseUrl, which for an OpenAI-compatible server usually ends in /v1)";

/// A body's first `limit` bytes (what arrived, should it break off), or
/// `None` when it did not arrive by `deadline`.
async fn read_limited(
    response: reqwest::Response,
    limit: usize,
    deadline: Instant,
) -> Option<Bytes> {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    loop {
        match timeout_at(deadline, chunks.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(chunk))) => {
                let room = limit.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= limit {
                    break;
                }
            }
            Ok(Some(Err(_)) | None) => break,
        }
    }
    Some(Bytes::from(body))
}

/// `(error.type, error.message)` of an OpenAI-shaped error body, or the
/// start of the body when it has another shape.
pub fn error_details(body: &[u8]) -> (Option<String>, String) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let error_type = error
        .and_then(|e| e.get("type").or_else(|| e.get("code")))
        .and_then(|t| {
            t.as_str()
                .map(str::to_string)
                .or_else(|| t.as_u64().map(|n| n.to_string()))
        });
    let message = match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
        Some(message) => message.to_string(),
        None if body.is_empty() => "empty response body".to_string(),
        None => String::from_utf8_lossy(body).trim().to_string(),
    };
    (error_type, message)
}

/// What a stream's first event says about the attempt.
#[derive(Debug, PartialEq)]
enum FirstEvent {
    /// A chat completion chunk. `meaningful` when it says something
    /// ([`ChunkView::says_something`]): the answer has started and the
    /// stream can be relayed.
    Chunk { meaningful: bool },
    /// `{"error": {...}}`: `(error.type, error.message)`, unscrubbed.
    Error(Option<String>, String),
    /// `[DONE]` before any chunk.
    Done,
    /// Neither JSON with `choices` or `error`, nor `[DONE]`.
    Malformed,
}

fn first_event(data: &str) -> FirstEvent {
    match ChunkView::read(data.trim_start()) {
        // `"error": null` reads as absent.
        Some(chunk) if chunk.error.is_some() => {
            let (error_type, message) = error_details(data.as_bytes());
            FirstEvent::Error(error_type, message)
        }
        Some(
            chunk @ ChunkView {
                choices: Some(_), ..
            },
        ) => FirstEvent::Chunk {
            meaningful: chunk.says_something(),
        },
        _ if data.trim() == "[DONE]" => FirstEvent::Done,
        _ => FirstEvent::Malformed,
    }
}

pub(crate) fn truncate(mut message: String) -> String {
    if let Some((cut, _)) = message.char_indices().nth(MAX_MESSAGE_CHARS) {
        message.truncate(cut);
        message.push('…');
    }
    message
}

/// A `Retry-After` value as a delay from `now`, at most [`MAX_RETRY_AFTER`]:
/// delay-seconds (an integer, or a decimal as some APIs send) or an HTTP
/// date, a past date meaning now. Anything else is `None`.
fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = match delay_seconds(value) {
        Some(delay) => delay,
        None => {
            let date = httpdate::parse_http_date(value).ok()?;
            date.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// `digits` or `digits.digits`; no sign, exponent or special value.
fn delay_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
        Some(_) => return None,
        None => (text, ""),
    };
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) {
        return None;
    }
    // More digits than a u64 holds is certainly over the cap.
    let seconds: u64 = whole.parse().unwrap_or(u64::MAX);
    if seconds >= MAX_RETRY_AFTER.as_secs() {
        return Some(MAX_RETRY_AFTER);
    }
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |nanos, digit| nanos * 10 + u32::from(digit - b'0'));
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    #[test]
    fn containers_are_counted_outside_strings() {
        let text = br#"{"a": [1, {"b": "{[\"}"}], "c": "\\"}"#;
        assert_eq!(super::containers(text), 3);
        assert_eq!(super::containers(b"[{},{},{}]"), 4);
    }

    use super::*;

    #[test]
    fn error_bodies_are_read_in_every_shape() {
        let moonshot = br#"{"error":{"message":"The engine is currently overloaded","type":"engine_overloaded_error"}}"#;
        assert_eq!(
            error_details(moonshot),
            (
                Some("engine_overloaded_error".into()),
                "The engine is currently overloaded".into()
            )
        );
        let openrouter = br#"{"error":{"message":"Insufficient credits","code":402}}"#;
        assert_eq!(
            error_details(openrouter),
            (Some("402".into()), "Insufficient credits".into())
        );
        assert_eq!(
            error_details(b"Bad Gateway\n"),
            (None, "Bad Gateway".into())
        );
        assert_eq!(error_details(b""), (None, "empty response body".into()));
        let long = "x".repeat(1000);
        assert_eq!(
            truncate(error_details(long.as_bytes()).1).chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }

    #[test]
    fn retry_after_is_parsed_defensively_and_capped() {
        // 2015-10-21 07:28:00 UTC.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let secs = |s: u64| Some(Duration::from_secs(s));
        let cases: &[(&str, Option<Duration>)] = &[
            ("5", secs(5)),
            (" 7 ", secs(7)),
            ("0", secs(0)),
            ("1.5", Some(Duration::from_millis(1500))),
            ("0.0000000001", secs(0)),
            ("3599.999", Some(Duration::from_millis(3_599_999))),
            ("3600", secs(3600)),
            ("86400", secs(3600)),
            ("18446744073709551616", secs(3600)),
            (&"9".repeat(400), secs(3600)),
            ("Wed, 21 Oct 2015 07:28:30 GMT", secs(30)),
            ("Wednesday, 21-Oct-15 07:29:00 GMT", secs(60)),
            ("Wed Oct 21 07:28:10 2015", secs(10)),
            ("Wed, 21 Oct 2015 07:00:00 GMT", secs(0)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", secs(3600)),
            ("1e20", None),
            ("1E3", None),
            ("NaN", None),
            ("inf", None),
            ("infinity", None),
            ("-1", None),
            ("+5", None),
            ("", None),
            ("   ", None),
            (".5", None),
            ("5.", None),
            ("1.2.3", None),
            ("0x10", None),
            ("5 seconds", None),
            ("Wed, 21 Oct 2015 25:00:00 GMT", None),
            ("tomorrow", None),
        ];
        for (text, expected) in cases {
            assert_eq!(retry_after(text, now), *expected, "Retry-After {text:?}");
        }
    }

    fn started(meaningful: bool) -> FirstEvent {
        FirstEvent::Chunk { meaningful }
    }

    /// A wait that ran out says what was waited for, in plain words: the
    /// places that wait name it without an article.
    #[test]
    fn a_timeout_says_what_was_waited_for() {
        let source = include_str!("upstream.rs").to_string()
            + include_str!("relay/mod.rs")
            + include_str!("chain/assemble.rs")
            + include_str!("chain/policy.rs");
        let waited: Vec<&str> = (source.split("waiting_for: \"").skip(1))
            .chain(source.split("timed_out(\"").skip(1))
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert!(waited.len() >= 8, "{waited:?}");
        for what in waited {
            assert!(!what.starts_with("the "), "no the {what}");
        }
        let error = AttemptError::Timeout {
            waiting_for: "next stream event",
            after: Duration::from_secs(2),
        };
        assert_eq!(error.to_string(), "no next stream event within 2.00s");
    }

    #[test]
    fn first_events_are_classified() {
        let cases = [
            (r#"{"choices":[{"delta":{"content":"hi"}}]}"#, started(true)),
            (
                r#"{"choices":[],"usage":{"total_tokens":3}}"#,
                started(true),
            ),
            (r#"{"choices":[],"usage":{}}"#, started(true)),
            (
                r#"{"choices":[{"delta":{"content":"the word \"error\""}}]}"#,
                started(true),
            ),
            (r#"{"error":null,"choices":[]}"#, started(false)),
            (
                r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
                started(false),
            ),
            (
                r#"{"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"refusal":"I can't"}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"reasoning_details":[{"type":"reasoning.encrypted"}]}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"reasoning_details":[]}}]}"#,
                started(false),
            ),
            (
                r#"{"choices":[{"delta":{"annotations":[{"type":"url_citation"}]}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"role":"assistant","content":""},"logprobs":{"content":[],"refusal":[]}}]}"#,
                started(false),
            ),
            (
                r#"{"choices":[{"delta":{"content":""},"logprobs":{"content":[{"token":"\u00e9"}]}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"function_call":{"name":"f","arguments":""}}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"images":[{"type":"image_url"}]}}]}"#,
                started(true),
            ),
            // Moonshot's usage, in the choice.
            (
                r#"{"choices":[{"delta":{},"usage":{"prompt_tokens":3}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}"#,
                started(true),
            ),
            (
                r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
                started(true),
            ),
            (
                r#"{"error":{"message":"boom","type":"server_error"}}"#,
                FirstEvent::Error(Some("server_error".into()), "boom".into()),
            ),
            ("[DONE]", FirstEvent::Done),
            (" [DONE] ", FirstEvent::Done),
            ("not json", FirstEvent::Malformed),
            ("", FirstEvent::Malformed),
            (
                r#"{"id":"x","object":"chat.completion.chunk"}"#,
                FirstEvent::Malformed,
            ),
            (r#"[{"choices":[]}]"#, FirstEvent::Malformed),
            // Read through views of the text: empty values spelt with
            // spaces, other members and other value types.
            (
                r#"{ "choices" : [ { "delta" : { "tool_calls" : [ ] , "content" : null } } ] }"#,
                started(false),
            ),
            (
                r#"{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"logprobs":null}]}"#,
                started(true),
            ),
            (r#"{"choices":[{"delta":{"content":7}}]}"#, started(true)),
            ("42", FirstEvent::Malformed),
        ];
        for (data, expected) in cases {
            assert_eq!(first_event(data), expected, "first event {data:?}");
        }
    }
}
