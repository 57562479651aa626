//! `clawgate-mock`: a fake OpenAI-compatible provider for tests, demos and
//! benchmarks, with fault injection. It answers `/v1/chat/completions`
//! (streaming and not, with `reasoning_content` and usage), `/v1/models`,
//! and Anthropic Messages at `/v1/messages` (see `anthropic.rs`),
//! and can fail the way real providers do: an error status with a body,
//! `Retry-After` (well-formed or not), a hang, a slow first byte, a
//! connection dropped mid-stream, a stream that ends without `[DONE]`, an
//! error event mid-stream, a malformed first event, SSE comments, a redirect,
//! a content filter mid-stream, a 429 over N requests at once, and answers
//! or events of any size. It can
//! answer with tool calls. It serves an account's quota and balance, and
//! refuses requests when they are spent (see `quota.rs`). It can keep a
//! prefix cache, as Kimi's, and report its hits in each of Kimi's usage
//! shapes (see `prefix_cache.rs`). It records every request it receives.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

mod anthropic;
mod prefix_cache;
mod quota;

use prefix_cache::PrefixCache;

pub use quota::{INSUFFICIENT_BALANCE_MESSAGE, WEEKLY_QUOTA_MESSAGE};

/// How the mock behaves. Every field has a command-line flag.
#[derive(Debug, Clone, clap::Args)]
pub struct MockOptions {
    /// The answer's text.
    #[arg(long, default_value = "Hello from clawgate-mock.")]
    pub reply: String,
    /// Answer with N bytes of `x` instead of `--reply`: one stream event,
    /// or a non-streamed body sent in 64 KiB pieces (`--chunk-delay-ms`
    /// apart).
    #[arg(long, value_name = "N")]
    pub reply_bytes: Option<usize>,
    /// Stream the reply and the reasoning, each that has TEXT written in
    /// it, in the pieces between each TEXT (left out of the answer),
    /// instead of a word at a time, and a tool call's arguments either side
    /// of it instead of their middle; on both endpoints.
    #[arg(long, value_name = "TEXT")]
    pub delta_break: Option<String>,
    /// The answer's `reasoning_content`; empty for none.
    #[arg(long, default_value = "The user greets me; I greet back.")]
    pub reasoning: String,
    /// Delay before the response starts, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Delay between the stream's headers and its first chunk.
    #[arg(long, default_value_t = 0)]
    pub first_byte_delay_ms: u64,
    /// Delay between stream chunks.
    #[arg(long, default_value_t = 0)]
    pub chunk_delay_ms: u64,
    /// Answer with this status and an OpenAI-shaped error body.
    #[arg(long)]
    pub fail_status: Option<u16>,
    /// The error body's `error.type`, e.g. `engine_overloaded_error`.
    #[arg(long, default_value = "server_error")]
    pub fail_type: String,
    #[arg(long, default_value = "injected failure")]
    pub fail_message: String,
    /// Apply the faults (a failure status, a hang, a broken, stalled or
    /// malformed stream, a redirect) to the first N requests only, then
    /// answer normally.
    #[arg(long)]
    pub fail_times: Option<u32>,
    /// `Retry-After` seconds sent with failures.
    #[arg(long)]
    pub retry_after: Option<u64>,
    /// A `Retry-After` value sent verbatim with failures, such as `1e20` or
    /// an HTTP date; overrides `--retry-after`.
    #[arg(long, value_name = "TEXT")]
    pub retry_after_text: Option<String>,
    /// Answer every chat request with `307 Temporary Redirect` to this URL.
    #[arg(long, value_name = "URL")]
    pub redirect_to: Option<String>,
    /// Send this as the stream's first event's data instead of the first
    /// chunk, e.g. `not json`.
    #[arg(long, value_name = "DATA")]
    pub first_event: Option<String>,
    /// After this many stream chunks, send an error event (with
    /// `--fail-type` and `--fail-message`) and end the stream.
    #[arg(long, value_name = "N")]
    pub error_after_chunks: Option<usize>,
    /// Send an SSE comment line `: TEXT` before every stream event.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// Never answer.
    #[arg(long)]
    pub hang: bool,
    /// Close the connection after this many stream chunks.
    #[arg(long)]
    pub drop_after_chunks: Option<usize>,
    /// End streams without `data: [DONE]`.
    #[arg(long)]
    pub no_done: bool,
    /// End streams after this many chunks, cleanly, before their finish
    /// reason and without `data: [DONE]`.
    #[arg(long)]
    pub end_after_chunks: Option<usize>,
    /// Answer 401 unless `Authorization: Bearer <KEY>` is sent.
    #[arg(long, value_name = "KEY")]
    pub require_key: Option<String>,
    /// Answer 403 like Kimi Coding unless the User-Agent starts with this.
    #[arg(long, value_name = "PREFIX")]
    pub require_user_agent: Option<String>,
    /// Models listed by `/v1/models`.
    #[arg(long, value_delimiter = ',', default_value = "mock-model")]
    pub models: Vec<String>,
    /// Append every received request to this file as a JSON line: its
    /// `path`, `headers`, `body`, and `raw`, the body as it came.
    #[arg(long, value_name = "PATH")]
    pub record: Option<PathBuf>,
    /// Answer in a provider's own shape: `openai` (cache hits in
    /// `prompt_tokens_details.cached_tokens`, as Kimi K2.x); `moonshot`
    /// (usage with a top-level `cached_tokens`, as Kimi K3, streamed inside
    /// `choices[0]` of the last chunk, and sent twice); `openrouter`
    /// (reasoning as `reasoning`). Kimi's Anthropic endpoint's usage is
    /// `--usage-shape kimi-anthropic`.
    #[arg(long, default_value = "openai", value_parser = ["openai", "moonshot", "openrouter"])]
    pub style: String,
    /// The usage's input tokens, cache reads and writes included (OpenAI's
    /// `prompt_tokens`), instead of the request's words counted.
    #[arg(long, value_name = "N")]
    pub prompt_tokens: Option<u64>,
    /// Cache hits reported in usage.
    #[arg(long, default_value_t = 0)]
    pub cached_tokens: u64,
    /// Cache writes reported in Anthropic usage
    /// (`cache_creation_input_tokens`).
    #[arg(long, default_value_t = 0)]
    pub cache_write_tokens: u64,
    /// The Anthropic endpoint's answer without a tool call stops on this
    /// stop sequence (`stop_reason: stop_sequence`).
    #[arg(long)]
    pub stop_sequence: Option<String>,
    /// The Anthropic endpoint's answer opens with a `redacted_thinking`
    /// block holding this data.
    #[arg(long)]
    pub redacted_thinking: Option<String>,
    /// Send a failure's status and headers, then never the body.
    #[arg(long)]
    pub stall_error_body: bool,
    /// After this many stream chunks, fall silent and never finish.
    #[arg(long, value_name = "N")]
    pub stall_after_chunks: Option<usize>,
    /// Stalled (`--stall-after-chunks`), send a keep-alive every MS
    /// milliseconds instead of silence: `: keep-alive` on the chat
    /// endpoint, a `ping` event on the Messages one.
    #[arg(long, value_name = "MS", requires = "stall_after_chunks")]
    pub keep_alive_ms: Option<u64>,
    /// With `--keep-alive-ms`, the keep-alive says nothing in an event:
    /// a chunk with an empty `content` delta on the chat endpoint, an
    /// empty `text_delta` to the first block on the Messages one.
    #[arg(long, requires = "keep_alive_ms")]
    pub empty_keep_alives: bool,
    /// Fail each request at a random point, or not: 40% answer; 60% split
    /// evenly between a 500, a hang before headers, silence after headers,
    /// a drop mid-stream, silence mid-stream and an error event mid-stream.
    #[arg(long)]
    pub chaos: bool,
    /// `NAME=ARGS` (repeatable): answer with a call to the tool NAME taking
    /// ARGS (a JSON object), under a Kimi-style id `functions.NAME:INDEX`,
    /// instead of the reply text, when the request offers that tool and the
    /// calls of its last assistant turn have no results after it. Streamed, the arguments come in
    /// two pieces, the first with the id and name. On `/v1/messages` the
    /// ids are `toolu_mock_<n>`, and without this option the first tool
    /// offered is called.
    #[arg(long = "tool-call", value_name = "NAME=ARGS")]
    pub tool_calls: Vec<String>,
    /// Kimi Coding's weekly window as `GET /v1/usages` reports it; used up
    /// (USED >= LIMIT), chat requests get Kimi Coding's weekly-quota 403.
    #[arg(long, value_name = "USED/LIMIT", default_value = "10/100", value_parser = quota::parse_fraction)]
    pub weekly_quota: (u64, u64),
    /// The 5-hour window `GET /v1/usages` reports.
    #[arg(long, value_name = "USED/LIMIT", default_value = "2/20", value_parser = quota::parse_fraction)]
    pub five_hour_quota: (u64, u64),
    /// Seconds from now to the weekly window's `reset_at`.
    #[arg(long, value_name = "SECONDS", default_value_t = 259_200)]
    pub quota_reset_seconds: u64,
    /// Answer `GET /v1/usages` with this status (404: not served).
    #[arg(long, value_name = "STATUS")]
    pub usages_status: Option<u16>,
    /// Answer `GET /v1/usages` with this body (a changed shape).
    #[arg(long, value_name = "JSON")]
    pub usages_answer: Option<String>,
    /// Answer `GET /v1/usages` after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub usages_delay_ms: u64,
    /// Moonshot's `available_balance` at `GET /v1/users/me/balance`; at 0
    /// or less, chat requests get Moonshot's 429 for insufficient balance.
    #[arg(long, default_value_t = 50.0, allow_negative_numbers = true)]
    pub balance: f64,
    /// After this many stream chunks, end the stream with a chunk whose
    /// `finish_reason` is `content_filter` and `[DONE]`, as Kimi K3 does
    /// when it filters its own answer mid-way.
    #[arg(long, value_name = "N")]
    pub filter_after_chunks: Option<usize>,
    /// Answer 429 (`rate_limit_reached_error`) to a chat request that
    /// arrives while N are being answered (streams until their end), as
    /// Kimi Coding does over its 30 requests at once.
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u32>,
    /// The `finish_reason` of `--filter-after-chunks` (K3 has also been
    /// seen to say `filtered`).
    #[arg(long, value_name = "REASON", default_value = "content_filter")]
    pub filter_reason: String,
    /// Keep a prefix cache, as Kimi's (see `mock/src/prefix_cache.rs`):
    /// cache hits are then the request's longest prefix (tools, system,
    /// messages) seen within its lifetime, in chunks of 256 tokens at 4
    /// bytes a token, instead of `--cached-tokens`.
    #[arg(long)]
    pub prefix_cache: bool,
    /// How long a cached prefix lives after its last use, in seconds.
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = seconds)]
    pub prefix_cache_seconds: Duration,
    /// Where cache hits are reported, as Kimi's models do: `k3`,
    /// `usage.cached_tokens` at the top level; `k2`,
    /// `usage.prompt_tokens_details.cached_tokens`; `kimi-anthropic`, the
    /// Messages stream's `message_start` counting them in `input_tokens`
    /// and its `message_delta` not (with `cache_read_input_tokens`).
    /// Without it, chat usage follows `--style` and Messages usage is
    /// Anthropic's.
    #[arg(long, value_enum, value_name = "SHAPE")]
    pub usage_shape: Option<UsageShape>,
}

/// Where cache hits are reported (`--usage-shape`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageShape {
    K3,
    K2,
    KimiAnthropic,
}

/// A number of seconds, as `--prefix-cache-seconds` takes it.
fn seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or_else(|| format!("expected a number of seconds, found {text:?}"))
}

impl Default for MockOptions {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            options: MockOptions,
        }
        Defaults::parse_from(["clawgate-mock"]).options
    }
}

struct MockState {
    options: MockOptions,
    served: AtomicU32,
    recorded: Mutex<Vec<Value>>,
    /// Signalled when a client goes away before a stream's end.
    stream_abandoned: Notify,
    /// TCP connections accepted so far.
    connections: AtomicU32,
    /// Chat requests being answered now, and the most there have been at
    /// once.
    in_flight: AtomicU32,
    peak_in_flight: AtomicU32,
    /// Chat requests being answered now, a stream until its end
    /// (`--max-concurrent`), and those refused for it.
    answering: AtomicU32,
    over_concurrency: AtomicU32,
    /// `--prefix-cache`'s.
    prefix_cache: Option<PrefixCache>,
}

impl MockState {
    fn new(options: MockOptions) -> Arc<Self> {
        let prefix_cache = options
            .prefix_cache
            .then(|| PrefixCache::new(options.prefix_cache_seconds));
        Arc::new(Self {
            prefix_cache,
            options,
            served: AtomicU32::new(0),
            recorded: Mutex::new(Vec::new()),
            stream_abandoned: Notify::new(),
            connections: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
            peak_in_flight: AtomicU32::new(0),
            answering: AtomicU32::new(0),
            over_concurrency: AtomicU32::new(0),
        })
    }
}

impl MockState {
    /// A request's input tokens and the cache hits among them: from
    /// `--prefix-cache` when it is on, else `otherwise`'s.
    fn prompt(&self, request: &Value, otherwise: impl FnOnce() -> (u64, u64)) -> (u64, u64) {
        match &self.prefix_cache {
            Some(cache) => {
                let prefix = prefix_cache::prefix(request);
                let cached = cache.serve(&prefix, std::time::Instant::now());
                (prefix_cache::tokens(prefix.len()), cached)
            }
            None => otherwise(),
        }
    }
}

/// Counts a chat request in flight from its arrival until its handler
/// returns (a whole answer sent, or a stream's head).
struct InFlight(Arc<MockState>);

impl InFlight {
    fn enter(state: &Arc<MockState>) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a chat request as answered from its arrival until its answer's
/// last byte is sent or the client leaves (`--max-concurrent`).
struct Answering(Arc<MockState>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `response` with `guard` dropped when its body ends or is dropped.
fn held_until_sent(response: Response, guard: Answering) -> Response {
    use futures_util::StreamExt;
    let (parts, body) = response.into_parts();
    let mut data = body.into_data_stream();
    let body = async_stream::stream! {
        let _guard = guard;
        while let Some(item) = data.next().await {
            yield item;
        }
    };
    Response::from_parts(parts, Body::from_stream(body))
}

/// Notifies when dropped before [`Self::finish`]: the client went away.
struct AbandonGuard {
    state: Arc<MockState>,
    finished: bool,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.state.stream_abandoned.notify_one();
        }
    }
}

/// A running mock.
#[derive(Clone)]
pub struct MockServer {
    pub addr: SocketAddr,
    state: Arc<MockState>,
}

impl MockServer {
    /// Starts a mock on a free loopback port.
    pub async fn start(options: MockOptions) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = MockState::new(options);
        let app = router(state.clone());
        let counted = state.clone();
        let listener = listener.tap_io(move |tcp| {
            counted.connections.fetch_add(1, Ordering::SeqCst);
            no_delay(tcp);
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(Self { addr, state })
    }

    /// The base URL to put in a provider's `baseUrl`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request received so far: `{"path", "headers", "body", "raw"}`
    /// (`raw`: the body's bytes as they came, when it has one).
    pub fn requests(&self) -> Vec<Value> {
        self.state
            .recorded
            .lock()
            .expect("the lock is never poisoned")
            .clone()
    }

    /// How many TCP connections the mock has accepted.
    pub fn connections(&self) -> u32 {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Chat requests being answered now.
    pub fn in_flight(&self) -> u32 {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// The most chat requests answered at once so far.
    pub fn peak_in_flight(&self) -> u32 {
        self.state.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Chat requests refused with 429 for `--max-concurrent`.
    pub fn over_concurrency(&self) -> u32 {
        self.state.over_concurrency.load(Ordering::SeqCst)
    }

    /// Resolves when a client abandons a stream before its end (at once if
    /// one already has).
    pub async fn stream_abandoned(&self) {
        self.state.stream_abandoned.notified().await
    }
}

/// Serves on `listener` until the process ends (the `clawgate-mock` binary).
pub async fn serve(listener: TcpListener, options: MockOptions) -> std::io::Result<()> {
    axum::serve(listener.tap_io(no_delay), router(MockState::new(options))).await
}

fn no_delay(tcp: &mut tokio::net::TcpStream) {
    let _ = tcp.set_nodelay(true);
}

fn router(state: Arc<MockState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/models", get(models))
        .route("/v1/usages", get(quota::usages))
        .route("/v1/users/me/balance", get(quota::balance))
        .with_state(state)
}

async fn models(State(state): State<Arc<MockState>>) -> Json<Value> {
    let data: Vec<Value> = state
        .options
        .models
        .iter()
        .map(|id| json!({"id": id, "object": "model", "owned_by": "mock"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

fn error(status: u16, kind: &str, message: &str, retry_after: Option<HeaderValue>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        Json(json!({"error": {"message": message, "type": kind}})),
    )
        .into_response();
    if let Some(value) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A failure's status and headers, then never its body
/// (`--stall-error-body`, on either endpoint).
fn stalled_error_body(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let silence = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(silence))
        .expect("static headers are valid")
}

/// The `Retry-After` header failures carry, if any.
fn retry_after(options: &MockOptions) -> Option<HeaderValue> {
    match &options.retry_after_text {
        Some(text) => HeaderValue::from_str(text).ok(),
        None => options.retry_after.map(HeaderValue::from),
    }
}

/// Whether the calls of the conversation's last assistant turn have been
/// answered: a message after it is a tool result (`is_result`). Clients
/// may add messages of their own after the results (OpenClaw's context
/// message), and a request with no assistant turn has nothing answered.
pub(crate) fn answered(request: &Value, is_result: impl Fn(&Value) -> bool) -> bool {
    let messages = request["messages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let after = messages.iter().rposition(|m| m["role"] == "assistant");
    after.is_some_and(|at| messages[at + 1..].iter().any(is_result))
}

impl MockOptions {
    /// The tool calls `request` is answered with, as `(id, name,
    /// arguments)` (see `--tool-call`).
    fn calls(&self, request: &Value) -> Vec<(String, String, String)> {
        if answered(request, |message| message["role"] == "tool") {
            return Vec::new();
        }
        let offered = |name: &str| {
            request["tools"]
                .as_array()
                .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == name))
        };
        self.tool_calls
            .iter()
            .map(|call| call.split_once('=').unwrap_or((call, "{}")))
            .filter(|(name, _)| offered(name))
            .enumerate()
            .map(|(index, (name, arguments))| {
                (
                    format!("functions.{name}:{index}"),
                    name.into(),
                    arguments.into(),
                )
            })
            .collect()
    }

    /// These options without their faults: what `--fail-times` answers
    /// with once its count is used up.
    fn healed(&self) -> Self {
        Self {
            hang: false,
            fail_status: None,
            stall_error_body: false,
            first_event: None,
            error_after_chunks: None,
            filter_after_chunks: None,
            drop_after_chunks: None,
            end_after_chunks: None,
            stall_after_chunks: None,
            no_done: false,
            redirect_to: None,
            ..self.clone()
        }
    }

    fn reply_text(&self) -> String {
        match (self.reply_bytes, &self.delta_break) {
            (Some(size), _) => "x".repeat(size),
            (None, Some(mark)) => self.reply.replace(mark.as_str(), ""),
            (None, None) => self.reply.clone(),
        }
    }

    /// The answer's `reasoning_content`, without `--delta-break`'s marks.
    fn reasoning_text(&self) -> String {
        self.unbroken(&self.reasoning)
    }

    /// `text` without `--delta-break`'s marks.
    fn unbroken(&self, text: &str) -> String {
        match &self.delta_break {
            Some(mark) => text.replace(mark.as_str(), ""),
            None => text.to_string(),
        }
    }

    /// A tool call's arguments, streamed in two pieces: either side of
    /// `--delta-break`'s mark when they have it, else of their middle.
    fn halves<'a>(&self, arguments: &'a str) -> (&'a str, &'a str) {
        if let Some(halves) =
            (self.delta_break.as_deref()).and_then(|mark| arguments.split_once(mark))
        {
            return halves;
        }
        let middle = arguments
            .char_indices()
            .nth(arguments.chars().count() / 2)
            .map_or(arguments.len(), |(at, _)| at);
        arguments.split_at(middle)
    }

    /// The streamed pieces of `text` as written in the options: as
    /// `--delta-break` cuts it when it has the mark, else a word at a time.
    fn pieces<'a>(&self, text: &'a str) -> Vec<&'a str> {
        match &self.delta_break {
            Some(mark) if text.contains(mark.as_str()) => text.split(mark.as_str()).collect(),
            _ => text.split_inclusive(' ').collect(),
        }
    }

    /// The streamed pieces of `reply` (the answer's text): a word at a
    /// time, or as `--delta-break` cuts it.
    fn reply_pieces<'a>(&'a self, reply: &'a str) -> Vec<&'a str> {
        match &self.delta_break {
            Some(mark) if self.reply_bytes.is_none() && !reply.is_empty() => {
                self.reply.split(mark.as_str()).collect()
            }
            _ => reply.split_inclusive(' ').collect(),
        }
    }
}

/// Records a request: its `path`, `headers`, `body` read, and `raw`, the
/// body's bytes as they came (when it has one).
async fn record(state: &MockState, path: &str, headers: &HeaderMap, body: &Value, raw: &[u8]) {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap_or_default())))
        .collect();
    let mut entry = json!({"path": path, "headers": headers, "body": body});
    if !raw.is_empty() {
        entry["raw"] = json!(String::from_utf8_lossy(raw));
    }
    if let Some(path) = &state.options.record {
        let line = format!("{entry}\n");
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await;
        if let Ok(mut file) = file {
            // tokio's `write_all` hands the bytes to a blocking thread;
            // `flush` waits for the write, so the line is in the file when
            // the answer leaves (a test reads it right after).
            let _ = file.write_all(line.as_bytes()).await;
            let _ = file.flush().await;
        }
    }
    state
        .recorded
        .lock()
        .expect("the lock is never poisoned")
        .push(entry);
}

async fn chat(State(state): State<Arc<MockState>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(limit) = state.options.max_concurrent else {
        return answer_chat(state, headers, body).await;
    };
    let now = state.answering.fetch_add(1, Ordering::SeqCst) + 1;
    let answering = Answering(state.clone());
    if now > limit {
        state.over_concurrency.fetch_add(1, Ordering::SeqCst);
        let message = format!(
            "We're receiving too many requests at the moment: max concurrency {limit} reached, please try again later"
        );
        return error(429, "rate_limit_reached_error", &message, None);
    }
    held_until_sent(answer_chat(state, headers, body).await, answering)
}

async fn answer_chat(state: Arc<MockState>, headers: HeaderMap, body: Bytes) -> Response {
    let _in_flight = InFlight::enter(&state);
    let options = &if state.options.chaos {
        chaos(&state.options)
    } else {
        state.options.clone()
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "invalid_request_error", "the body is not JSON", None);
    };
    record(&state, "/v1/chat/completions", &headers, &request, &body).await;
    let count = state.served.fetch_add(1, Ordering::SeqCst) + 1;
    let healed;
    let options = if options.fail_times.is_some_and(|times| count > times) {
        healed = options.healed();
        &healed
    } else {
        options
    };

    if options.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(options.latency_ms)).await;
    }
    if options.hang {
        return std::future::pending().await;
    }
    if let Some(refused) = refused(options, &headers) {
        return refused;
    }
    if let Some(refused) = quota::refusal(options) {
        return refused;
    }
    if let Some(url) = &options.redirect_to {
        let Ok(location) = HeaderValue::from_str(url) else {
            return error(500, "server_error", "invalid --redirect-to", None);
        };
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response();
    }
    if let Some(status) = options.fail_status {
        if options.fail_times.is_none_or(|times| count <= times) && options.stall_error_body {
            return stalled_error_body(status);
        }
        if options.fail_times.is_none_or(|times| count <= times) {
            return error(
                status,
                &options.fail_type,
                &options.fail_message,
                retry_after(options),
            );
        }
    }
    let calls = options.calls(&request);
    let reply = if calls.is_empty() {
        options.reply_text()
    } else {
        String::new()
    };

    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-model")
        .to_string();
    let (prompt_tokens, cached_tokens) = state.prompt(&request, || {
        (
            (options.prompt_tokens).unwrap_or_else(|| words(&request["messages"].to_string())),
            options.cached_tokens,
        )
    });
    let mut usage = json!({
        "prompt_tokens": prompt_tokens,
        "completion_tokens": words(&reply),
        "total_tokens": prompt_tokens + words(&reply),
    });
    let top_level = match options.usage_shape {
        Some(UsageShape::K3) => true,
        Some(UsageShape::K2) => false,
        Some(UsageShape::KimiAnthropic) | None => options.style == "moonshot",
    };
    if top_level {
        usage["cached_tokens"] = json!(cached_tokens);
    } else {
        usage["prompt_tokens_details"] = json!({"cached_tokens": cached_tokens});
    }
    let reasoning_field = if options.style == "openrouter" {
        "reasoning"
    } else {
        "reasoning_content"
    };
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = request
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        let logprobs = request.get("logprobs").and_then(Value::as_bool) == Some(true);
        return stream(
            state.clone(),
            options.clone(),
            model,
            reply,
            calls,
            include_usage.then_some(usage),
            logprobs,
        );
    }
    let large = options.reply_bytes.is_some();
    let mut message = json!({"role": "assistant", "content": reply});
    if !options.reasoning.is_empty() {
        message[reasoning_field] = json!(options.reasoning_text());
        if options.style == "openrouter" {
            message["reasoning_details"] = json!([reasoning_detail(&options.reasoning_text())]);
        }
    }
    if !calls.is_empty() {
        message["tool_calls"] = calls
            .iter()
            .map(|(id, name, arguments)| {
                json!({"id": id, "type": "function", "function": {"name": name, "arguments": options.unbroken(arguments)}})
            })
            .collect();
    }
    let answer = json!({
        "id": format!("chatcmpl-mock-{count}"),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(&calls)}],
        "usage": usage,
    });
    if large {
        return pieces(state.clone(), answer.to_string().into_bytes());
    }
    Json(answer).into_response()
}

/// Kimi Coding's answer to a client that is not a coding agent.
const NOT_A_CODING_AGENT: &str = "Kimi For Coding is currently only available for Coding Agents \
     such as Kimi CLI, Claude Code, Roo Code, Kilo Code, etc.";

/// Whether `--require-user-agent` refuses a request with `headers`.
fn wrong_agent(options: &MockOptions, headers: &HeaderMap) -> bool {
    options.require_user_agent.as_ref().is_some_and(|prefix| {
        let agent = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        !agent.starts_with(prefix.as_str())
    })
}

/// The refusal, in OpenAI's shape, of `--require-key` (a bearer token)
/// then `--require-user-agent`, if any: for chat requests and the
/// account's endpoints.
fn refused(options: &MockOptions, headers: &HeaderMap) -> Option<Response> {
    if let Some(expected) = &options.require_key {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if sent != Some(&format!("Bearer {expected}")) {
            let message = "Invalid Authentication";
            return Some(error(401, "invalid_authentication_error", message, None));
        }
    }
    wrong_agent(options, headers)
        .then(|| error(403, "access_terminated_error", NOT_A_CODING_AGENT, None))
}

/// A large JSON body sent in 64 KiB pieces without a length, so the reader
/// cannot know its size in advance.
fn pieces(state: Arc<MockState>, body: Vec<u8>) -> Response {
    let delay = Duration::from_millis(state.options.chunk_delay_ms);
    let body = Bytes::from(body);
    let stream = async_stream::stream! {
        let mut guard = AbandonGuard { state, finished: false };
        let mut offset = 0;
        while offset < body.len() {
            if offset > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let end = (offset + 64 * 1024).min(body.len());
            yield Ok::<_, std::io::Error>(body.slice(offset..end));
            offset = end;
        }
        guard.finished = true;
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .expect("static headers are valid")
}

fn finish_reason(calls: &[(String, String, String)]) -> &'static str {
    if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// One of `--chaos`'s faults, or none, chosen at random for one request.
fn chaos(options: &MockOptions) -> MockOptions {
    let mut options = options.clone();
    match fastrand::u8(0..10) {
        0..=3 => {}
        4 => options.fail_status = Some(500),
        5 => options.hang = true,
        6 => options.first_byte_delay_ms = 3_600_000,
        7 => options.drop_after_chunks = Some(3),
        8 => options.stall_after_chunks = Some(3),
        _ => options.error_after_chunks = Some(3),
    }
    options
}

/// One of OpenRouter's `reasoning_details`: a text, or a piece of one.
fn reasoning_detail(text: &str) -> Value {
    json!({"type": "reasoning.text", "text": text, "index": 0, "format": "unknown"})
}

fn stream(
    state: Arc<MockState>,
    options: MockOptions,
    model: String,
    reply: String,
    calls: Vec<(String, String, String)>,
    usage: Option<Value>,
    logprobs: bool,
) -> Response {
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": "chatcmpl-mock",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
    };
    let mut events = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    events.extend(options.pieces(&options.reasoning).into_iter().map(|w| {
        if options.style == "openrouter" {
            // OpenRouter's text comes twice: as `reasoning`, and as a piece of
            // a detail.
            return chunk(
                json!({"reasoning": w, "reasoning_details": [reasoning_detail(w)]}),
                Value::Null,
            );
        }
        chunk(json!({ "reasoning_content": w }), Value::Null)
    }));
    // Asked for, each piece of the text comes with its `logprobs`, after
    // the delta, as OpenAI sends them: lists named `content` and `refusal`.
    events.extend((options.reply_pieces(&reply).into_iter()).map(|w| {
        let mut piece = chunk(json!({"content": w}), Value::Null);
        if logprobs {
            piece["choices"][0]["logprobs"] = json!({"content": [{"token": w,
                "logprob": -0.5, "bytes": w.as_bytes(), "top_logprobs": []}], "refusal": null});
        }
        piece
    }));
    let finish = json!(finish_reason(&calls));
    for (index, (id, name, arguments)) in calls.into_iter().enumerate() {
        let call = |value: Value| chunk(json!({"tool_calls": [value]}), Value::Null);
        let (head, tail) = options.halves(&arguments);
        // The first half rides with the id and name, as Kimi sends it.
        events.push(call(json!({"index": index, "id": id, "type": "function",
                                "function": {"name": name, "arguments": head}})));
        events.push(call(
            json!({"index": index, "function": {"arguments": tail}}),
        ));
    }
    match usage {
        // Moonshot: usage inside the last chunk's choice, and sent twice.
        Some(usage) if options.style == "moonshot" => {
            let mut last = chunk(json!({}), finish.clone());
            last["choices"][0]["usage"] = usage.clone();
            events.push(last);
            let mut repeat = chunk(json!({}), Value::Null);
            repeat["choices"][0]["usage"] = usage;
            events.push(repeat);
        }
        Some(usage) => {
            events.push(chunk(json!({}), finish.clone()));
            events.push(
                json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [], "usage": usage}),
            );
        }
        None => events.push(chunk(json!({}), finish)),
    }
    let mut frames: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    if let Some(data) = &options.first_event {
        frames[0] = format!("data: {data}\n\n");
    }
    if let Some(count) = options.filter_after_chunks {
        frames.truncate(count);
        let filtered = chunk(json!({}), json!(options.filter_reason));
        frames.push(format!("data: {filtered}\n\n"));
        frames.push("data: [DONE]\n\n".to_string());
    } else if let Some(count) = options.error_after_chunks {
        frames.truncate(count);
        let error = json!({"error": {"message": options.fail_message, "type": options.fail_type}});
        frames.push(format!("data: {error}\n\n"));
    } else if !options.no_done {
        frames.push("data: [DONE]\n\n".to_string());
    }
    let keep_alive = match options.empty_keep_alives {
        true => EMPTY_CHUNK,
        false => ": keep-alive\n\n",
    };
    send_frames(state, options, frames, keep_alive)
}

/// A chunk that says nothing: `--empty-keep-alives`' keep-alive.
const EMPTY_CHUNK: &str = concat!(
    r#"data: {"id":"chatcmpl-mock","object":"chat.completion.chunk","created":0,"#,
    r#""model":"mock","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}"#,
    "\n\n"
);

/// An event stream of `frames` (each a whole event), with the stream faults
/// of `options`: a comment before each, a delay before the first and
/// between them, a dropped connection or silence after some. Shared by
/// both APIs the mock speaks.
/// `keep_alive` is the API's keep-alive frame, sent while stalled with
/// `--keep-alive-ms`.
fn send_frames(
    state: Arc<MockState>,
    options: MockOptions,
    frames: Vec<String>,
    keep_alive: &'static str,
) -> Response {
    let frames: Vec<Bytes> = frames
        .into_iter()
        .map(|frame| match &options.comment {
            Some(comment) => Bytes::from(format!(": {comment}\n{frame}")),
            None => Bytes::from(frame),
        })
        .collect();
    let body = async_stream::stream! {
        let mut guard = AbandonGuard { state, finished: false };
        if options.first_byte_delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(options.first_byte_delay_ms)).await;
        }
        for (index, frame) in frames.into_iter().enumerate() {
            if options.end_after_chunks == Some(index) {
                guard.finished = true;
                return;
            }
            if options.drop_after_chunks == Some(index) {
                guard.finished = true;
                if index > 0 {
                    // Let the chunks already written leave before the reset,
                    // as they would on a real network; otherwise the server
                    // may discard its unflushed buffer with the connection.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                yield Err(std::io::Error::other("connection dropped by fault injection"));
                return;
            }
            if options.stall_after_chunks == Some(index) {
                let Some(every) = options.keep_alive_ms else {
                    std::future::pending::<()>().await;
                    return;
                };
                loop {
                    tokio::time::sleep(Duration::from_millis(every)).await;
                    yield Ok(Bytes::from_static(keep_alive.as_bytes()));
                }
            }
            if index > 0 && options.chunk_delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(options.chunk_delay_ms)).await;
            }
            yield Ok(frame);
        }
        guard.finished = true;
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(body))
        .expect("static headers are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_cache_is_off_by_default_with_a_lifetime_of_five_minutes() {
        let options = MockOptions::default();
        assert!(!options.prefix_cache);
        assert_eq!(options.prefix_cache_seconds, Duration::from_secs(300));
        assert_eq!(options.usage_shape, None);
    }

    /// `--tool-call` calls until the last assistant turn's calls have
    /// results, whatever a client adds after them (OpenClaw's context).
    #[test]
    fn tool_calls_stop_once_the_calls_have_results() {
        let options = MockOptions {
            tool_calls: vec![r#"read={"path":"a"}"#.into()],
            ..MockOptions::default()
        };
        let tools = json!([{"type": "function", "function": {"name": "read"}}]);
        let user = json!({"role": "user", "content": "read a"});
        let call = json!({"role": "assistant", "tool_calls": [{"id": "functions.read:0"}]});
        let result = json!({"role": "tool", "tool_call_id": "functions.read:0", "content": "x"});
        let context = json!({"role": "user", "content": [{"type": "text", "text": "context"}]});
        let answer = json!({"role": "assistant", "content": "done"});
        let cases = [
            (vec![&user], 1),
            (vec![&user, &context], 1),
            (vec![&user, &call, &result], 0),
            (vec![&user, &call, &result, &context], 0),
            (vec![&user, &call], 1),
            (vec![&user, &call, &result, &answer, &user], 1),
        ];
        for (messages, calls) in cases {
            let request = json!({"messages": messages, "tools": tools});
            assert_eq!(options.calls(&request).len(), calls, "{messages:?}");
        }
    }

    #[test]
    fn lifetimes_are_seconds_and_nothing_else() {
        assert_eq!(seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("30"), Ok(Duration::from_secs(30)));
        for bad in ["-1", "abc", "inf", "NaN", ""] {
            assert!(seconds(bad).is_err(), "{bad}");
        }
    }
}
