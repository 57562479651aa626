//! One log line per request, at info, when its response has been sent:
//! the request id (the line is written in the request's span), method and
//! path, status, the model asked, who answered, every attempt with its
//! outcome, the time to the response head and in total, and the tokens.
//!
//! The middleware wraps the response body and writes the line when the body
//! is dropped, so a stream's line comes at its end, and a client that
//! leaves mid-stream still gets one, marked `end="client_left"`; so does
//! one that leaves before the response's head, with status 499. One that
//! shutdown cuts (its connection closed a second after the grace) says
//! `end="shutdown"` instead, and one cut by a bug in the gateway (a panic,
//! which unwinds its connection) `end="panic"`. Handlers
//! add what only they know through the [`AccessRecord`] found in the
//! request's extensions. `/healthz` and `/metrics`, which probes and
//! scrapers poll, are logged at debug.
//!
//! The same record becomes the request's row in the usage ledger
//! ([`Spend`]) when the request was to one of the completion APIs:
//! written once, when the line is, whatever the outcome. When such a
//! request is traced ([`crate::ops::telemetry`]), the record also becomes
//! its server span, ended there too: a stream's span ends with the stream.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body::{Body as HttpBody, Frame, SizeHint};
use memchr::memmem;
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::spend::Spend;
use crate::admission::{Reservation, TokenHold};
use crate::chain::{Answer, Failure, InFlight};
use crate::config::Target;
use crate::format::sse::{Event, Item};
use crate::gateway::{CompletionError, Gateway};
use crate::ledger::{self, Pricing, Row, Tokens};
use crate::ops::redact::Redactor;
use crate::ops::telemetry::content::{self, Output};
use crate::ops::telemetry::histograms::Answered;
use crate::ops::telemetry::{self, Telemetry, Trace};
use crate::session::{Sessions, Turn};
use crate::upstream::EventStream;
use crate::wire::chunk::{self, ChunkView};
use crate::wire::request::ClientRequest;
use crate::wire::usage::Usage;

/// What a handler knows about its request, for the access line. Cheap to
/// clone; every clone writes to the same record.
#[derive(Clone, Debug, Default)]
pub struct AccessRecord(Arc<Mutex<Entry>>);

#[derive(Debug, Default)]
pub(super) struct Entry {
    pub(super) model_asked: Option<String>,
    pub(super) answered_by: Option<String>,
    /// `ref:outcome`, in order.
    pub(super) attempts: Vec<String>,
    /// The answer's usage, as its provider reported it (when it could be
    /// so: [`Entry::note`]).
    pub(super) usage: Option<Usage>,
    /// How the model that answered is counted: its prices, and the most
    /// tokens one call to it can use.
    pricing: Pricing,
    /// The client whose key the request presented (`gateway.clients`).
    pub(super) client: Option<Arc<str>>,
    /// The conversation the request belongs to (`crate::session`).
    pub(super) session: Option<Arc<str>>,
    /// Its turn, compared with the one before, settled when the line is
    /// written (the answer's usage then known).
    turn: Option<(Arc<Sessions>, Turn)>,
    /// How long the provider that answered keeps its prompt cache.
    cache_lifetime: Option<Duration>,
    /// Set when the request is traced; the rest is read only then.
    trace: Option<Arc<Trace>>,
    /// The client's `traceparent`, passed on to the providers of a request
    /// that is not traced.
    onward: Option<HeaderValue>,
    traced: Traced,
    /// What the request holds against its client's limits and the
    /// budgets, settled when its row is counted.
    pub(super) reservation: Reservation,
    /// The body's length as read: a chunked or HTTP/2 body declares none.
    body_bytes: Option<u64>,
    /// How far the chain has gone with the request, while it runs.
    in_flight: InFlight,
    /// The most output the target that answered (or had the request)
    /// could give, where that holds: what an estimate of its output never
    /// passes.
    most_output: Option<u64>,
    /// The client left before the answer began: its budgets count its
    /// most output.
    left_early: bool,
    /// Its stream ended with an error event after it began.
    broken: bool,
}

/// What a traced request's span says beyond the access line.
#[derive(Debug, Default)]
struct Traced {
    /// `max_tokens` (or `max_completion_tokens`), `temperature`, `top_p`.
    max_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    /// The chain's targets, in order.
    chain: Vec<String>,
    /// The class of the failure that ended a failed chain.
    error_type: Option<&'static str>,
    response_id: Option<String>,
    finish_reasons: Vec<String>,
    streamed: bool,
    /// With `captureContent`: `gen_ai.input.messages`, and the answer as
    /// it arrives.
    input: Option<String>,
    output: Option<Output>,
}

/// Bytes per token for an estimate that should not fall short: a token is
/// about four bytes of English or code, and JSON or SSE framing only adds
/// bytes, so the estimate errs on the high side.
const BYTES_PER_TOKEN: u64 = 4;

impl Entry {
    /// The answer's usage, unless its counts are more than one call could
    /// have used ([`Pricing::takes`]). Such usage is no usage: the
    /// request's tokens are estimated from its bytes.
    fn note(&mut self, usage: Usage) {
        if !self.pricing.takes(&usage) {
            tracing::warn!(
                model = self.answered_by.as_deref().unwrap_or_default(),
                input = usage.input,
                output = usage.output,
                most = self.pricing.most_tokens(),
                "the provider reported more tokens than one call can use: its usage is not taken, the tokens are estimated from the bytes"
            );
            return;
        }
        self.usage = Some(usage);
    }

    /// A request that ended before its answer began (`end`: its client
    /// left, or shutdown cut it): the targets the chain gave up, and the
    /// one it was at, noted as ended so, which had the request and may
    /// finish the answer: it is counted as that target's, at its most
    /// output, its budget hold settled by the row (unless the provider
    /// had refused its last try and was not sent another).
    fn left_before_the_answer(&mut self, end: &'static str) {
        if self.answered_by.is_some() {
            return;
        }
        let progress = self.in_flight.take();
        // A chain that failed whole has said every attempt already.
        if self.attempts.is_empty() {
            self.attempts = progress.before;
        }
        let Some(sending) = progress.sending else {
            return;
        };
        self.attempts.push(format!("{}:{end}", sending.model_ref));
        self.reservation.budget = sending.reserved;
        if sending.at_provider {
            self.answered_by = Some(sending.model_ref.to_string());
            self.pricing = sending.pricing;
            self.most_output = Some(sending.most_output);
            self.left_early = true;
        }
    }

    /// The ledger row `to` writes for the request this records, which
    /// ended with `status` and `end` after `first_byte` and `total`, its
    /// body of `request_bytes` (as read, else as declared) answered with
    /// `sent` bytes
    /// (what a budget and the token limit count when no usage came); and
    /// the tokens it used, as reported or else as estimated from those
    /// bytes.
    fn row(
        &self,
        to: &Spend,
        (status, end): (StatusCode, &'static str),
        (first_byte, total): (Duration, Duration),
        (request_bytes, sent): (Option<u64>, u64),
    ) -> (Row, u64) {
        let usage = self.usage;
        // A provider's counts are not trusted to be sane: they saturate.
        let tokens = match (usage, self.estimated_tokens(request_bytes, sent)) {
            (Some(u), _) => u.input.saturating_add(u.output),
            (None, Some((input, output))) => input.saturating_add(output),
            (None, None) => 0,
        };
        let row = Row {
            ts_ms: ledger::calendar::millis(to.gateway.ledger().now()),
            request_id: to.request_id.as_ref().map(|id| id.to_string()),
            front_end: to.front_end,
            model_asked: self.model_asked.clone(),
            answered_by: self.answered_by.clone(),
            attempts: self.attempts.clone(),
            status: status.as_u16(),
            end,
            first_byte_ms: first_byte.as_millis() as u64,
            total_ms: total.as_millis() as u64,
            tokens: Tokens {
                input: usage.map(|u| u.input),
                cached: usage.and_then(|u| u.cache_read),
                written: usage.and_then(|u| u.cache_written),
                output: usage.map(|u| u.output),
                reasoning: usage.and_then(|u| u.reasoning),
            },
            cost_usd: self.cost(),
            uncached_cost_usd: usage.and_then(|u| {
                ledger::price_usd(self.pricing.price.as_ref(), u.input, 0, 0, u.output)
            }),
            budget_estimate_usd: self.estimate(request_bytes, sent),
            agent: to.agent,
            // No client for a request refused before its key was checked.
            client: self.client.clone().unwrap_or_else(|| "".into()),
            // The row names the client beside it.
            session: self
                .session
                .as_deref()
                .map(|key| crate::session::id(key).into()),
        };
        (row, tokens)
    }

    /// What a budget counts for an answered, priced request whose provider
    /// sent no usage (the client left before the usage chunk, the stream
    /// broke): the request's and the response's bytes as tokens at the
    /// model's prices. `None` when the cost is known or there is no price.
    fn estimate(&self, request_bytes: Option<u64>, sent: u64) -> Option<f64> {
        if self.cost().is_some() {
            return None;
        }
        let (input, output) = self.estimated_tokens(request_bytes, sent)?;
        ledger::price_usd(self.pricing.price.as_ref(), input, 0, 0, output)
    }

    /// The tokens of an answered request whose provider sent no usage,
    /// from the bytes each way (input, output), the output never more than
    /// the target was let give (the bytes sent count the format's framing
    /// too), and all of that when the client left before the answer
    /// began; `None` when usage came or nothing answered.
    fn estimated_tokens(&self, request_bytes: Option<u64>, sent: u64) -> Option<(u64, u64)> {
        if self.answered_by.is_none() || self.usage.is_some() {
            return None;
        }
        let most = self.most_output.unwrap_or(u64::MAX);
        let output = match self.left_early {
            true => most,
            false => (sent / BYTES_PER_TOKEN).min(most),
        };
        Some((request_bytes.unwrap_or(0) / BYTES_PER_TOKEN, output))
    }

    /// What the call cost ([`ledger::call_cost`]).
    fn cost(&self) -> Option<f64> {
        self.pricing.cost(self.usage.as_ref())
    }
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

    /// The client the request came from.
    pub fn client(&self, name: Arc<str>) {
        self.update(|entry| entry.client = Some(name));
    }

    /// The conversation the request belongs to.
    pub fn session(&self, key: Arc<str>) {
        self.update(|entry| entry.session = Some(key));
    }

    /// The request's turn of its session, settled in `sessions` when the
    /// line is written.
    pub fn session_turn(&self, sessions: Arc<Sessions>, turn: Turn) {
        self.update(|entry| entry.turn = Some((sessions, turn)));
    }

    /// The model the client named, cut to 128 characters (it is the
    /// client's text, of any length), without a key pasted where a model
    /// goes.
    pub fn model_asked(&self, model: Option<&str>, redactor: &Redactor) {
        let model = redactor.scrub(model.unwrap_or("default"));
        let model = crate::ops::redact::cut_to(&model, 128).0.to_string();
        self.update(|entry| entry.model_asked = Some(model));
    }

    /// A request shutdown cut before its answer began: its attempts are
    /// kept as for a client that leaves then.
    pub fn cut_by_shutdown(&self) {
        self.update(|entry| entry.left_before_the_answer("shutdown"));
    }

    /// A stream that ended with an error after it began (its `code`, as
    /// the client got it): the request failed, as its trace says.
    pub fn stream_broken(&self, code: &'static str) {
        self.update(|entry| {
            entry.traced.error_type = Some(code);
            entry.broken = true;
        });
    }

    /// Records the attempts of a chain's result and passes it on.
    pub fn chain(
        &self,
        mut result: Result<Answer, CompletionError>,
    ) -> Result<Answer, CompletionError> {
        self.update(|entry| match &mut result {
            Ok(answer) => {
                entry.reservation.budget = answer.reserved.take();
                entry.attempts = answer.failures.iter().map(Failure::label).collect();
                entry
                    .attempts
                    .push(format!("{}:ok", answer.target.model_ref));
                entry.answered_by = Some(answer.target.model_ref.to_string());
                entry.pricing = Pricing::of(&answer.target.model);
                entry.cache_lifetime = Some(answer.target.provider.cache_lifetime);
                entry.most_output = answer.most_output;
            }
            Err(CompletionError::Failed(failures)) => {
                entry.attempts = failures.iter().map(Failure::label).collect();
                entry.traced.error_type = failures.last().map(|f| f.class.label());
            }
            Err(CompletionError::UnknownModel(_)) => {}
        });
        result
    }

    /// The request's body was read whole: `bytes` long.
    pub fn body_read(&self, bytes: usize) {
        self.update(|entry| entry.body_bytes = Some(bytes as u64));
    }

    /// The request's tokens reserved against its client's limit, held
    /// until its row is counted.
    pub fn hold_tokens(&self, hold: TokenHold) {
        self.update(|entry| entry.reservation.tokens = Some(hold));
    }

    /// Where the chain notes how far it has gone with the request.
    pub fn in_flight(&self) -> InFlight {
        let in_flight = InFlight::default();
        self.update(|entry| entry.in_flight = in_flight.clone());
        in_flight
    }

    /// The request's trace, when it is traced.
    pub fn trace(&self) -> Option<Arc<Trace>> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .trace
            .clone()
    }

    /// The client's `traceparent` to pass on, for a request not traced.
    pub fn onward(&self) -> Option<HeaderValue> {
        let entry = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        entry.onward.clone()
    }

    /// What a traced request's span says of the request: its sampling
    /// settings and its chain (and, when the trace keeps content, its
    /// messages, from its chat form: a Messages client's is written for
    /// it).
    pub fn traced_request(&self, client: &ClientRequest, chain: &[Target]) {
        let request = client.facts();
        let number = |key: &str| {
            request
                .raw(key)
                .and_then(|raw| raw.trim().parse::<f64>().ok())
        };
        self.update(|entry| {
            let traced = &mut entry.traced;
            traced.max_tokens = ["max_tokens", "max_completion_tokens"]
                .into_iter()
                .find_map(|key| request.raw(key)?.trim().parse().ok());
            traced.temperature = number("temperature");
            traced.top_p = number("top_p");
            traced.chain = chain.iter().map(|t| t.model_ref.to_string()).collect();
            if entry.trace.as_ref().is_some_and(|t| t.captures_content()) {
                // The chat form's, written for it if it was not yet.
                let chat = client.chat_form().ok();
                let messages = chat.and_then(|chat| chat.value("messages"));
                let messages = messages.unwrap_or_default();
                traced.input = Some(content::input_messages(&messages));
                traced.output = Some(Output::default());
            }
        });
    }

    /// The tokens of a whole completion (and, when traced, its id and
    /// finish reasons).
    pub fn usage_of(&self, body: &Map<String, Value>) {
        let usage = Usage::of(body);
        self.update(|entry| {
            if let Some(usage) = usage {
                entry.note(usage);
            }
            if entry.trace.is_some() {
                entry.traced.response_id = body.get("id").and_then(Value::as_str).map(Into::into);
                entry.traced.finish_reasons = finish_reasons(body.get("choices"));
                if let Some(output) = &mut entry.traced.output {
                    output.add_choice(body.get("choices"));
                }
            }
        });
    }

    /// Where the relay tells the answer's usage
    /// ([`crate::relay::Answering::usage`]).
    pub fn usage_sink(&self) -> Box<dyn FnMut(Usage) + Send> {
        let record = self.clone();
        Box::new(move |usage| record.note(usage))
    }

    /// `rest` of a stream, read as before. When the request is traced, the
    /// stream's id and finish reasons are noted on the way (`first`'s too).
    pub fn watch_answer(&self, first: &Event, rest: EventStream) -> EventStream {
        if self.trace().is_none() {
            return rest;
        }
        let record = self.clone();
        let mut captures = false;
        self.update(|entry| {
            entry.traced.streamed = true;
            captures = entry.traced.output.is_some();
        });
        let mut wants_id = self.answer_event(first, true, captures);
        Box::pin(rest.inspect(move |item| {
            if let Ok(Item::Event(event)) = item {
                wants_id = record.answer_event(event, wants_id, captures);
            }
        }))
    }

    /// A traced stream's id (from its first chunk that has one, while
    /// `wants_id`) and finish reasons (read only from chunks that name
    /// one); with `captures` (`captureContent`), every chunk's delta.
    /// Whether the id is still wanted after `event`.
    fn answer_event(&self, event: &Event, wants_id: bool, captures: bool) -> bool {
        static FINISH_REASON: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\"finish_reason\""));
        let data = event.data.as_str();
        let finishes = FINISH_REASON.find(data.as_bytes()).is_some_and(|at| {
            !data[at + 15..]
                .trim_start_matches([':', ' '])
                .starts_with("null")
        });
        if !(finishes || wants_id || captures) {
            return wants_id;
        }
        let Some(view) = ChunkView::read(data) else {
            return wants_id;
        };
        let id = chunk::text(view.id).filter(|id| !id.is_empty());
        let still_wants_id = wants_id && id.is_none();
        let reasons: Vec<String> = match &view.choices {
            Some(choices) if finishes => choices
                .iter()
                .filter_map(|choice| chunk::text(choice.finish_reason))
                .map(Cow::into_owned)
                .collect(),
            _ => Vec::new(),
        };
        // The deltas as a tree only when they are kept (`captureContent`).
        let delta = if captures {
            serde_json::from_str::<Map<String, Value>>(data)
                .ok()
                .and_then(|mut tree| tree.remove("choices"))
        } else {
            None
        };
        let id = id.filter(|_| wants_id);
        if id.is_none() && reasons.is_empty() && !captures {
            return still_wants_id;
        }
        self.update(|entry| {
            if let Some(id) = id {
                entry.traced.response_id = Some(id.into_owned());
            }
            // One per choice; a provider repeating them is not followed far.
            if entry.traced.finish_reasons.len() < MAX_FINISH_REASONS {
                entry.traced.finish_reasons.extend(reasons);
            }
            if let Some(output) = &mut entry.traced.output {
                output.add_choice(delta.as_ref());
            }
        });
        still_wants_id
    }

    fn note(&self, usage: Usage) {
        self.update(|entry| entry.note(usage));
    }
}

/// The most finish reasons a stream's span keeps.
const MAX_FINISH_REASONS: usize = 16;

/// The `finish_reason`s of `choices` that have one.
fn finish_reasons(choices: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(choices)) = choices else {
        return Vec::new();
    };
    choices
        .iter()
        .filter_map(|choice| choice.get("finish_reason")?.as_str())
        .map(str::to_string)
        .collect()
}

/// Lets the request through to `next` (see `http::way_in`) with a fresh
/// [`AccessRecord`], and hands the response body the line to write when it
/// ends.
pub async fn access_log<F>(
    gateway: Arc<Gateway>,
    mut request: Request,
    next: impl FnOnce(Request) -> F,
) -> Response
where
    F: Future<Output = Response>,
{
    let started = Instant::now();
    let record = AccessRecord::default();
    let method = request.method().clone();
    // A key pasted where a path goes is not logged.
    let path = (gateway.config().redactor)
        .scrub(request.uri().path())
        .into_owned();
    let request_bytes = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let shutdown = gateway.shutdown_token();
    let ledger = Spend::of(gateway, &request);
    if let Some(telemetry) = ledger.as_ref().and_then(|to| to.gateway.telemetry()) {
        let trace = telemetry.trace(request.headers());
        let onward = (trace.is_none())
            .then(|| Telemetry::passed_on(request.headers()))
            .flatten();
        record.update(|entry| {
            entry.trace = trace;
            entry.onward = onward;
        });
    }
    request.extensions_mut().insert(record.clone());
    // Written as it is if the client leaves before the response's head
    // (this future is then dropped); else completed with the response.
    let mut unanswered = Unanswered(Some(Line {
        span: tracing::Span::current(),
        method,
        path,
        status: CLIENT_CLOSED_REQUEST,
        refused: None,
        record,
        started,
        head_after: Duration::ZERO,
        ledger,
        request_bytes,
        shutdown,
    }));
    let response = next(request).await;
    if response.status() == CLIENT_CLOSED_REQUEST {
        // The client left while it sent its body: the response was counted
        // as it was made, and no one reads it.
        if let Some(line) = unanswered.0.take() {
            line.left("client_left");
        }
        return response;
    }
    let mut line = unanswered.0.take().expect("taken only here");
    line.status = response.status();
    line.refused = response.extensions().get::<Refused>().map(|r| r.0);
    line.head_after = started.elapsed();
    response.map(|body| {
        Body::new(Logged {
            inner: body,
            line: Some(line),
            ended: false,
            sent: 0,
        })
    })
}

/// The status of a request the client left before its response's head.
pub const CLIENT_CLOSED_REQUEST: StatusCode =
    match StatusCode::from_u16(ledger::CLIENT_CLOSED_REQUEST) {
        Ok(status) => status,
        Err(_) => panic!("499 is a status code"),
    };

/// The line of a request whose response has no head yet.
struct Unanswered(Option<Line>);

impl Drop for Unanswered {
    fn drop(&mut self) {
        // A panic is not the client leaving.
        if let Some(mut line) = self.0.take().filter(|_| !std::thread::panicking()) {
            line.head_after = line.started.elapsed();
            let end = line.unended();
            // Counted as a stream left before its end is.
            crate::ops::metrics::request(match end {
                "client_left" => "client_closed",
                other => other,
            });
            line.left(end);
        }
    }
}

/// The code of the error a response answers with (`model_not_allowed`,
/// `client_rate_limited`, ...), in its extensions for the access line.
#[derive(Clone, Copy)]
pub struct Refused(pub &'static str);

/// Everything the line says but the end.
struct Line {
    span: tracing::Span,
    method: Method,
    path: String,
    status: StatusCode,
    /// Why the request was refused, when it was.
    refused: Option<&'static str>,
    record: AccessRecord,
    started: Instant,
    head_after: Duration,
    ledger: Option<Spend>,
    /// The request body's declared length.
    request_bytes: Option<u64>,
    /// Cancelled once shutdown's grace is over: a request that ends
    /// unanswered then was cut by it, not left by its client.
    shutdown: CancellationToken,
}

impl Line {
    /// How a request that did not end ends: cut by a bug in the gateway (a
    /// panic unwinding its response), by shutdown, or left by its client.
    fn unended(&self) -> &'static str {
        if std::thread::panicking() {
            "panic"
        } else if self.shutdown.is_cancelled() {
            "shutdown"
        } else {
            "client_left"
        }
    }

    /// Written for a request that ended (`end`) before its response's head.
    fn left(self, end: &'static str) {
        self.record
            .update(|entry| entry.left_before_the_answer(end));
        self.write(end, 0);
    }

    /// `sent`: the bytes of the response body sent before it ended.
    fn write(self, end: &'static str, sent: u64) {
        let _in_request = self.span.enter();
        let mut entry = self.record.0.lock().unwrap_or_else(PoisonError::into_inner);
        // A stream that ended with an error event went to its end, but
        // did not complete: the row counts it failed, as its trace does.
        let end = match end {
            "complete" if entry.broken => "stream_broken",
            end => end,
        };
        let attempts = (!entry.attempts.is_empty()).then(|| entry.attempts.join(","));
        let cache_break = entry.turn.take().and_then(|(sessions, turn)| {
            let usage = entry.usage.map(|u| (u.input, u.cache_read));
            sessions.settle(
                turn,
                entry.answered_by.as_deref(),
                usage,
                entry.cache_lifetime,
            )
        });
        let cache_break = cache_break.map(|cause| cause.to_string());
        let probe = matches!(self.path.as_str(), "/healthz" | "/metrics");
        macro_rules! line {
            ($level:expr) => {
                tracing::event!(
                    target: "clawgate::access",
                    $level,
                    status = self.status.as_u16(),
                    client = entry.client.as_deref(),
                    session = entry.session.as_deref(),
                    cache_break = cache_break.as_deref(),
                    reason = self.refused,
                    model = entry.model_asked.as_deref(),
                    answered_by = entry.answered_by.as_deref(),
                    attempts = attempts.as_deref(),
                    first_byte_ms = (self.status != CLIENT_CLOSED_REQUEST)
                        .then_some(self.head_after.as_millis() as u64),
                    total_ms = self.started.elapsed().as_millis() as u64,
                    tokens_in = entry.usage.map(|u| u.input),
                    tokens_out = entry.usage.map(|u| u.output),
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
        // The requests the ledger counts a success, as `/metrics` does.
        let whole = ledger::answered_whole(self.status.as_u16(), end);
        if let (Some(telemetry), Some(answered_by), true) = (
            self.ledger.as_ref().and_then(|to| to.gateway.telemetry()),
            entry.answered_by.as_deref(),
            whole,
        ) {
            telemetry.record_answer(&Answered {
                provider: answered_by.split_once('/').map_or("", |(p, _)| p),
                model: answered_by,
                input_tokens: entry.usage.map(|u| u.input),
                output_tokens: entry.usage.map(|u| u.output),
                total: self.started.elapsed(),
                first_byte: (self.status != CLIENT_CLOSED_REQUEST).then_some(self.head_after),
            });
        }
        if let (Some(trace), Some(to)) = (&entry.trace, &self.ledger) {
            // A failure as the ledger counts one: an error status, or an
            // answer cut short (named by how it ended).
            let failed = entry.traced.error_type.map(Cow::Borrowed).or_else(|| {
                (self.status.as_u16() >= 400)
                    .then(|| self.status.as_str().to_owned().into())
                    .or_else(|| (!whole && entry.answered_by.is_some()).then_some(end.into()))
            });
            let model = entry.model_asked.as_deref().unwrap_or("default");
            trace.end_request(
                ["chat", model],
                self.span_attributes(&entry, to, end, cache_break.as_deref()),
                failed.as_deref(),
            );
        }
        if let Some(to) = self.ledger {
            let (row, tokens) = entry.row(
                &to,
                (self.status, end),
                (self.head_after, self.started.elapsed()),
                (entry.body_bytes.or(self.request_bytes), sent),
            );
            let reservation = std::mem::take(&mut entry.reservation);
            drop(entry);
            to.record(row, tokens, reservation);
        }
    }
}

impl Line {
    /// The request span's attributes (GenAI conventions, then clawgate's).
    fn span_attributes(
        &self,
        entry: &Entry,
        to: &Spend,
        end: &str,
        cache_break: Option<&str>,
    ) -> telemetry::Attributes {
        let traced = &entry.traced;
        let mut attributes = telemetry::Attributes::with_capacity(28);
        let a = &mut attributes;
        a.text("gen_ai.operation.name", "chat");
        a.text(
            "gen_ai.request.model",
            entry.model_asked.as_deref().unwrap_or("default"),
        );
        a.text("http.request.method", self.method.as_str());
        a.text("url.path", self.path.as_str());
        a.int("http.response.status_code", self.status.as_u16().into());
        a.text("clawgate.front_end", to.front_end);
        a.text("clawgate.agent", to.agent);
        a.text("clawgate.end", end);
        a.texts("clawgate.chain", traced.chain.iter().map(String::as_str));
        a.texts(
            "clawgate.attempts",
            entry.attempts.iter().map(String::as_str),
        );
        if let Some(n) = traced.max_tokens {
            a.int("gen_ai.request.max_tokens", n);
        }
        if let Some(t) = traced.temperature {
            a.float("gen_ai.request.temperature", t);
        }
        if let Some(p) = traced.top_p {
            a.float("gen_ai.request.top_p", p);
        }
        if let Some(id) = &traced.response_id {
            a.text("gen_ai.response.id", id);
        }
        if !traced.finish_reasons.is_empty() {
            a.texts(
                "gen_ai.response.finish_reasons",
                traced.finish_reasons.iter().map(String::as_str),
            );
        }
        let tokens = [
            ("gen_ai.usage.input_tokens", entry.usage.map(|u| u.input)),
            ("gen_ai.usage.output_tokens", entry.usage.map(|u| u.output)),
            (
                "gen_ai.usage.cache_read.input_tokens",
                entry.usage.and_then(|u| u.cache_read),
            ),
            (
                "clawgate.usage.reasoning_tokens",
                entry.usage.and_then(|u| u.reasoning),
            ),
        ];
        for (key, count) in tokens {
            if let Some(n) = count {
                a.int(key, n);
            }
        }
        if let Some(usd) = entry.cost() {
            a.float("clawgate.cost_usd", usd);
        }
        if let Some(client) = entry.client.as_deref() {
            a.text("clawgate.client", client);
        }
        if let Some(session) = entry.session.as_deref() {
            a.text("clawgate.session", session);
        }
        if let Some(cause) = cache_break {
            a.text("clawgate.session.cache_break", cause);
        }
        if traced.streamed {
            a.float(
                "clawgate.time_to_first_token_s",
                self.head_after.as_secs_f64(),
            );
        }
        if let Some(id) = &to.request_id {
            a.text("clawgate.request_id", id.as_ref());
        }
        if let Some(input) = &traced.input {
            // Content passes the key scrubber, then is bounded.
            let redactor = &to.gateway.config().redactor;
            let scrubbed = |text: &str| content::bounded(redactor.scrub(text).into_owned());
            a.text("gen_ai.input.messages", &scrubbed(input));
            if let Some(output) = &traced.output {
                let output = output.output_messages();
                a.text("gen_ai.output.messages", &scrubbed(&output));
            }
        }
        if let Some((provider, model)) =
            entry.answered_by.as_deref().and_then(|r| r.split_once('/'))
        {
            a.text("gen_ai.provider.name", provider);
            a.text("gen_ai.response.model", model);
            a.text(
                "clawgate.answered_by",
                entry.answered_by.as_deref().unwrap_or_default(),
            );
            let first = traced.chain.first().map(String::as_str);
            a.flag("clawgate.fallback", first != entry.answered_by.as_deref());
        }
        attributes
    }
}

/// The response body, passed through unchanged; the line is written when
/// it is dropped, which hyper does when it is sent or the client is gone.
struct Logged {
    inner: Body,
    line: Option<Line>,
    ended: bool,
    /// Body bytes passed on so far.
    sent: u64,
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
            Poll::Ready(Some(Ok(frame))) => {
                self.sent += frame.data_ref().map_or(0, |data| data.len() as u64);
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(line) = self.line.take() {
                    line.write("body_error", self.sent);
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
                line.unended()
            };
            line.write(end, self.sent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cost;

    /// What a line says of how its request ended when it is dropped
    /// unended: as the client left, once shutdown's grace is over, and
    /// while a panic unwinds it.
    #[test]
    fn an_unended_line_says_what_cut_it() {
        struct Dropped(Line, Arc<Mutex<Option<&'static str>>>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                *self.1.lock().unwrap() = Some(self.0.unended());
            }
        }
        let line = |shutdown: &CancellationToken| Line {
            span: tracing::Span::none(),
            method: Method::POST,
            path: "/v1/chat/completions".into(),
            status: StatusCode::OK,
            refused: None,
            record: AccessRecord::default(),
            started: Instant::now(),
            head_after: Duration::ZERO,
            ledger: None,
            request_bytes: None,
            shutdown: shutdown.clone(),
        };
        let said = Arc::new(Mutex::new(None));
        let shutdown = CancellationToken::new();
        drop(Dropped(line(&shutdown), said.clone()));
        assert_eq!(*said.lock().unwrap(), Some("client_left"));
        let unwound = std::panic::catch_unwind(|| {
            let _dropped = Dropped(line(&shutdown), said.clone());
            panic!("a bug mid-stream");
        });
        assert!(unwound.is_err());
        assert_eq!(*said.lock().unwrap(), Some("panic"));
        shutdown.cancel();
        drop(Dropped(line(&shutdown), said.clone()));
        assert_eq!(*said.lock().unwrap(), Some("shutdown"));
    }

    #[test]
    fn a_priced_answer_without_usage_is_estimated_from_its_bytes() {
        let price = Cost {
            input: 1.0,
            output: 2.0,
            cache_read: 0.0,
            cache_write: 0.0,
        };
        let answered = Entry {
            answered_by: Some("p/m".into()),
            pricing: Pricing {
                price: Some(price),
                context_window: None,
            },
            ..Entry::default()
        };
        // 4,000 bytes in, 400 out: 1,000 and 100 tokens at $1 and $2 per
        // million.
        assert_eq!(answered.estimate(Some(4_000), 400), Some(0.0012));
        // Never more output than the target was let give (50 tokens); all
        // of it when the client left before the answer began.
        let capped = Entry {
            most_output: Some(50),
            ..Entry {
                answered_by: Some("p/m".into()),
                pricing: answered.pricing,
                ..Entry::default()
            }
        };
        assert_eq!(capped.estimate(Some(4_000), 400), Some(0.0011));
        assert_eq!(capped.estimate(Some(4_000), 40), Some(0.00102));
        let early = Entry {
            left_early: true,
            ..capped
        };
        assert_eq!(early.estimate(Some(4_000), 0), Some(0.0011));
        // A known cost, no price, or nothing answered: no estimate.
        let known = Entry {
            usage: Some(Usage {
                input: 10,
                output: 10,
                ..Usage::default()
            }),
            ..Entry {
                answered_by: Some("p/m".into()),
                pricing: Pricing {
                    price: Some(price),
                    context_window: None,
                },
                ..Entry::default()
            }
        };
        assert_eq!(known.estimate(Some(4_000), 400), None);
        let unpriced = Entry {
            answered_by: Some("p/m".into()),
            ..Entry::default()
        };
        assert_eq!(unpriced.estimate(Some(4_000), 400), None);
        assert_eq!(Entry::default().estimate(Some(4_000), 400), None);
    }

    /// A provider's reported cost never lowers what the configured prices
    /// say (a `cost: 0` would otherwise take a priced call past a budget);
    /// it counts when it is higher, or when there is no price.
    #[test]
    fn a_reported_cost_never_lowers_the_priced_one() {
        let price = Cost {
            input: 1.0,
            output: 2.0,
            cache_read: 0.0,
            cache_write: 0.0,
        };
        let entry = |price: Option<Cost>, reported: Option<f64>| Entry {
            answered_by: Some("p/m".into()),
            pricing: Pricing {
                price,
                context_window: None,
            },
            usage: Some(Usage {
                input: 1_000_000,
                output: 1_000_000,
                cost: reported,
                ..Usage::default()
            }),
            ..Entry::default()
        };
        // $1 + $2 for a million tokens each way.
        assert_eq!(entry(Some(price), None).cost(), Some(3.0));
        assert_eq!(entry(Some(price), Some(0.0)).cost(), Some(3.0));
        assert_eq!(entry(Some(price), Some(1.5)).cost(), Some(3.0));
        assert_eq!(entry(Some(price), Some(4.0)).cost(), Some(4.0));
        assert_eq!(entry(Some(price), Some(f64::NAN)).cost(), Some(3.0));
        assert_eq!(entry(Some(price), Some(-1.0)).cost(), Some(3.0));
        assert_eq!(entry(None, Some(0.25)).cost(), Some(0.25));
        assert_eq!(entry(None, None).cost(), None);
        // A price of zero is free: the call cost $0, it is not uncosted.
        assert_eq!(entry(Some(Cost::default()), None).cost(), Some(0.0));
    }
}
