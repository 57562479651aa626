//! clawgate against nginx, side by side in one run, in front of the same
//! fake upstream: CPU per request and throughput per scenario, p99 added
//! latency at a fixed rate, and clawgate's allocations per request.
//!
//! - nginx (Debian's `nginx-light`: `proxy_pass` with upstream keepalive,
//!   unbuffered answers, one worker, an access log) and a real
//!   `clawgate serve` (this build, a provider called `moonshot` so Kimi's
//!   rules are active, logging its access lines) run pinned to core 0.
//! - The fake upstream and the load generator run in this process, pinned
//!   to core 1. The upstream answers every request with bytes recorded
//!   once from `clawgate-mock` (a chat stream or completion, an Anthropic
//!   event stream or message, chosen by path and `"stream":true`), so it
//!   costs little and answers both proxies identically; and for one
//!   scenario a long answer whose events come about two milliseconds
//!   apart (a 1 ms timer before each, which tokio rounds up), as a
//!   model's tokens do.
//! - CPU per request is each proxy's CPU time (`/proc/PID/task/*/schedstat`,
//!   cross-checked with `utime + stime` of `/proc/PID/stat`) over the
//!   requests it served: it does not depend on how busy the machine is.
//! - Allocations are counted by this binary's global allocator, per thread,
//!   on a second clawgate (the same code, `server::run` in this process on
//!   a thread of its own, without the access log's output).
//!
//! - Each scenario runs in rounds, the proxies measured in turn (the order
//!   rotating), and the table gives each proxy's median round: a burst of
//!   the host's noise lands on one round of one proxy and is left out.
//!
//! Run: `cargo bench --bench nginx` (optionally `-- REQUESTS CONCURRENCY
//! SECONDS ROUNDS`: requests per round, scenario and proxy, default 2000,
//! 8 at a time; seconds of the 500 req/s latency run, default 5; rounds,
//! default 5; `CLAWGATE_BENCH_RATE` sets another rate). It installs nothing: without `nginx` on the PATH (or in
//! `/usr/sbin`) it says so and stops.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Response, Uri};
use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate_mock::{MockOptions, MockServer};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

#[path = "common/bodies.rs"]
mod bodies;
#[path = "common/post.rs"]
mod post;
#[allow(dead_code)]
#[path = "common/process.rs"]
mod process;

// ---------------------------------------------------------------------------
// Counting allocations per thread.

struct Counting;

thread_local! {
    /// Allocations made by this thread, and their bytes.
    static ALLOCATED: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn counted(size: usize) {
    let _ = ALLOCATED.try_with(|count| {
        let (n, bytes) = count.get();
        count.set((n + 1, bytes + size as u64));
    });
}

// SAFETY: every call is passed to the system allocator unchanged; counting
// touches only a const-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted(layout.size());
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted(new_size);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

// ---------------------------------------------------------------------------
// Scenarios.

#[derive(Clone, Copy, PartialEq)]
enum Answer {
    ChatStream,
    ChatJson,
    MessagesStream,
    ResponsesStream,
}

impl Answer {
    /// Whether `body` is a whole answer of this kind.
    fn complete(self, body: &[u8]) -> bool {
        match self {
            Answer::ChatStream => body.ends_with(b"data: [DONE]\n\n"),
            Answer::ChatJson => serde_json::from_slice::<serde_json::Value>(body)
                .is_ok_and(|answer| answer["choices"][0]["message"].is_object()),
            Answer::MessagesStream => contains(body, b"event: message_stop"),
            Answer::ResponsesStream => contains(body, b"response.completed"),
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

struct Scenario {
    name: &'static str,
    path: &'static str,
    body: Arc<Vec<u8>>,
    /// When not empty, each of the load's clients sends the turns of one
    /// of these conversations in order, over and over, instead of `body`
    /// (which is one of the turns: its size, the rate and allocation runs).
    conversations: Vec<Vec<Vec<u8>>>,
    answer: Answer,
    /// Requests per round whatever REQUESTS says, for a scenario whose
    /// answers take long (a quarter of it to warm up).
    requests: Option<usize>,
}

impl Scenario {
    /// What the load's client `client` sends as its `nth` request.
    fn body(&self, client: usize, nth: usize) -> &[u8] {
        if self.conversations.is_empty() {
            return &self.body;
        }
        let turns = &self.conversations[client % self.conversations.len()];
        &turns[nth % turns.len()]
    }
}

fn scenarios() -> Vec<Scenario> {
    let scenario = |name, path, body: Vec<u8>, answer| Scenario {
        name,
        path,
        body: Arc::new(body),
        conversations: Vec::new(),
        answer,
        requests: None,
    };
    // Eight conversations (one per client at the default concurrency),
    // each of 11 turns from 20 to 30 tool calls, then again: a client's
    // request re-sends its turn before's messages and adds a call and its
    // result, as OpenClaw does, and every eleventh starts over. The other
    // scenarios send one body over and over, which flatters whatever is
    // kept from an earlier request; this one lets it find only what a
    // real next turn lets it find.
    let conversations: Vec<_> = (0..8)
        .map(|c| {
            bodies::openclaw_conversation(&format!("Tidy up my notes folder {c}."), 20..31, true)
        })
        .collect();
    // Claude Code's conversations the same way: eight of them, each of
    // turns from 4 to 9 tool uses with their results.
    let claude_code: Vec<_> = (0..8)
        .map(|c| bodies::claude_code_conversation(&format!("Fix the failing test {c}."), 4..10))
        .collect();
    // The same turns for a target that speaks Anthropic itself (Kimi
    // Coding's endpoint): the client's own body goes on, and the
    // provider's own events come back.
    let to_anthropic: Vec<Vec<Vec<u8>>> = claude_code
        .iter()
        .map(|turns| {
            turns
                .iter()
                .map(|turn| with_model(turn, ANTHROPIC_TARGET))
                .collect()
        })
        .collect();
    let anthropic_turns = Scenario {
        body: Arc::new(to_anthropic[0][5].clone()),
        conversations: to_anthropic,
        ..scenario(
            "/v1/messages to an Anthropic provider, Claude Code's next turns (34-46 KB, 8 conversations), streamed",
            "/v1/messages",
            Vec::new(),
            Answer::MessagesStream,
        )
    };
    let claude_code_turns = Scenario {
        body: Arc::new(claude_code[0][5].clone()),
        conversations: claude_code,
        ..scenario(
            "/v1/messages, Claude Code's next turns (34-46 KB, 8 conversations), streamed",
            "/v1/messages",
            Vec::new(),
            Answer::MessagesStream,
        )
    };
    let next_turns = Scenario {
        body: Arc::new(conversations[0][10].clone()),
        conversations,
        ..scenario(
            "OpenClaw next turns (65-67 KB, 8 conversations, prompt a line at a time), streamed",
            "/v1/chat/completions",
            Vec::new(),
            Answer::ChatStream,
        )
    };
    vec![
        scenario(
            "66 KB OpenClaw turn, streamed",
            "/v1/chat/completions",
            bodies::openclaw_turn(true),
            Answer::ChatStream,
        ),
        scenario(
            "66 KB OpenClaw turn, not streamed",
            "/v1/chat/completions",
            bodies::openclaw_turn(false),
            Answer::ChatJson,
        ),
        next_turns,
        scenario(
            "2 KB request, streamed",
            "/v1/chat/completions",
            bodies::small_request(true),
            Answer::ChatStream,
        ),
        scenario(
            "2 KB request, not streamed",
            "/v1/chat/completions",
            bodies::small_request(false),
            Answer::ChatJson,
        ),
        scenario(
            "/v1/messages, Claude Code's request, streamed",
            "/v1/messages",
            bodies::claude_code_request(),
            Answer::MessagesStream,
        ),
        claude_code_turns,
        anthropic_turns,
        scenario(
            "/v1/responses, Codex-style request, streamed",
            "/v1/responses",
            bodies::responses_request(),
            Answer::ResponsesStream,
        ),
        // What a user's long answers cost: the events come one at a time,
        // so its CPU per request is that of 200-odd events (each a read
        // and a write, the relay's work on it), where the rows above are
        // what a request costs; its req/s is the pacing's.
        Scenario {
            requests: Some(96),
            ..scenario(
                "a long answer (200 text events about 2 ms apart), streamed",
                "/v1/chat/completions",
                bodies::long_answer_request(),
                Answer::ChatStream,
            )
        },
    ]
}

// ---------------------------------------------------------------------------
// The fake upstream.

/// An answer recorded from `clawgate-mock`: its content type and its body,
/// in the pieces (stream events) it is sent as.
#[derive(Clone)]
struct Canned {
    content_type: &'static str,
    pieces: Vec<Bytes>,
    /// The time before each piece; none: back to back.
    pace: Option<Duration>,
}

struct Upstream {
    chat_stream: Canned,
    /// The chat stream with its text event repeated, paced.
    long_answer: Canned,
    chat_json: Canned,
    messages_stream: Canned,
    messages_json: Canned,
    responses_stream: Canned,
}

/// How many text events the long answer has, and their pace.
const LONG_ANSWER_EVENTS: usize = 200;
const LONG_ANSWER_PACE: Duration = Duration::from_millis(1);

/// `events` with its first text event repeated to make `LONG_ANSWER_EVENTS`.
fn long_answer(events: &[Bytes]) -> Vec<Bytes> {
    let text = events
        .iter()
        .position(|event| {
            contains(event, b"\"content\":\"") && !contains(event, b"\"content\":\"\"")
        })
        .expect("the mock's stream has a text event");
    let mut long = events[..text].to_vec();
    long.extend(std::iter::repeat_n(
        events[text].clone(),
        LONG_ANSWER_EVENTS,
    ));
    long.extend_from_slice(&events[text + 1..]);
    long
}

/// The pieces of an event stream, one event each.
fn events(text: &[u8]) -> Vec<Bytes> {
    let text = String::from_utf8_lossy(text);
    text.split_inclusive("\n\n")
        .map(|event| Bytes::from(event.to_string()))
        .collect()
}

async fn record(client: &reqwest::Client, url: &str, body: serde_json::Value) -> Bytes {
    let answer = client.post(url).json(&body).send().await.unwrap();
    assert!(answer.status().is_success(), "the mock answers {url}");
    answer.bytes().await.unwrap()
}

impl Upstream {
    /// The mock's answers, recorded once.
    async fn record() -> Self {
        let defaults = MockOptions::default();
        let mock = MockServer::start(MockOptions {
            reasoning: words("CLAWGATE_BENCH_THINKING_WORDS").unwrap_or("Let me think.".into()),
            reply: words("CLAWGATE_BENCH_REPLY_WORDS").unwrap_or(defaults.reply.clone()),
            ..defaults
        })
        .await
        .unwrap();
        let client = reqwest::Client::new();
        let chat = format!("{}/chat/completions", mock.base_url());
        let messages = format!("{}/messages", mock.base_url());
        let ask = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let stream = |mut body: serde_json::Value| {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
            body
        };
        let anthropic = json!({"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
        let mut anthropic_stream = anthropic.clone();
        anthropic_stream["stream"] = json!(true);
        let sse = "text/event-stream";
        let whole = |bytes: Bytes| vec![bytes];
        let chat_events = events(&record(&client, &chat, stream(ask.clone())).await);
        Self {
            long_answer: Canned {
                content_type: sse,
                pieces: long_answer(&chat_events),
                pace: Some(LONG_ANSWER_PACE),
            },
            chat_stream: Canned {
                content_type: sse,
                pieces: chat_events,
                pace: None,
            },
            chat_json: Canned {
                content_type: "application/json",
                pieces: whole(record(&client, &chat, ask).await),
                pace: None,
            },
            messages_stream: Canned {
                content_type: sse,
                pieces: events(&record(&client, &messages, anthropic_stream).await),
                pace: None,
            },
            messages_json: Canned {
                content_type: "application/json",
                pieces: whole(record(&client, &messages, anthropic).await),
                pace: None,
            },
            // The mock has no Responses endpoint: the shortest stream the
            // API defines, for nginx's row.
            responses_stream: Canned {
                content_type: sse,
                pieces: events(
                    concat!(
                        "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\n",
                        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hello from clawgate-mock.\"}\n\n",
                        "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":8,\"output_tokens\":3,\"total_tokens\":11}}}\n\n",
                    )
                    .as_bytes(),
                ),
                pace: None,
            },
        }
    }

    fn answer(&self, path: &str, body: &[u8]) -> &Canned {
        // memmem, so that this search adds next to nothing on the load's
        // core. `contains` stays as it was: every figure in
        // docs/performance.md was taken with it, and a cheaper upstream
        // moves nginx's figures (nginx reads about 10% less with memmem
        // there on the 66 KB turns).
        if memchr::memmem::find(body, bodies::LONG_ANSWER_ASK.as_bytes()).is_some() {
            return &self.long_answer;
        }
        let stream = contains(body, b"\"stream\":true") || contains(body, b"\"stream\": true");
        match (
            path.ends_with("/messages"),
            path.ends_with("/responses"),
            stream,
        ) {
            (true, _, true) => &self.messages_stream,
            (true, _, false) => &self.messages_json,
            (_, true, _) => &self.responses_stream,
            (_, _, true) => &self.chat_stream,
            (_, _, false) => &self.chat_json,
        }
    }
}

async fn upstream(State(upstream): State<Arc<Upstream>>, uri: Uri, body: Bytes) -> Response<Body> {
    let canned = upstream.answer(uri.path(), &body).clone();
    let pace = canned.pace;
    let pieces = futures_util::stream::iter(canned.pieces).then(move |piece| async move {
        if let Some(pace) = pace {
            tokio::time::sleep(pace).await;
        }
        Ok::<_, std::io::Error>(piece)
    });
    Response::builder()
        .header("content-type", canned.content_type)
        .body(Body::from_stream(pieces))
        .unwrap()
}

async fn start_upstream() -> std::net::SocketAddr {
    let state = Arc::new(Upstream::record().await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(upstream).with_state(state);
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

// ---------------------------------------------------------------------------
// The proxies and their CPU time.

/// A proxy process on core 0 (and, for nginx, its worker).
struct Proxy {
    name: &'static str,
    base: String,
    child: Child,
}

impl Proxy {
    /// The processes whose CPU time is the proxy's: the process and its
    /// children (nginx's worker).
    fn pids(&self) -> Vec<u32> {
        let pid = self.child.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        std::iter::once(pid)
            .chain(children.split_whitespace().filter_map(|p| p.parse().ok()))
            .collect()
    }

    fn cpu(&self) -> Cpu {
        self.pids().iter().map(|&pid| Cpu::of(pid)).sum()
    }
}

impl Drop for Proxy {
    /// SIGTERM, so that nginx's master stops its worker too; SIGKILL after
    /// five seconds.
    fn drop(&mut self) {
        // SAFETY: kill only sends a signal to our own child.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU time used so far: from the scheduler (nanoseconds, threads alive
/// now) and from `utime + stime` (clock ticks, every thread ever).
#[derive(Clone, Copy, Default)]
struct Cpu {
    sched_ns: u64,
    ticks: u64,
}

impl Cpu {
    fn of(pid: u32) -> Self {
        let sched_ns = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| {
                tasks
                    .flatten()
                    .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
                    .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
                    .sum()
            })
            .unwrap_or(0);
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime and stime
        // are the 12th and 13th.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Self { sched_ns, ticks }
    }

    fn since(self, before: Cpu) -> Cpu {
        Cpu {
            sched_ns: self.sched_ns.saturating_sub(before.sched_ns),
            ticks: self.ticks.saturating_sub(before.ticks),
        }
    }
}

impl std::iter::Sum for Cpu {
    fn sum<I: Iterator<Item = Cpu>>(iter: I) -> Self {
        iter.fold(Cpu::default(), |a, b| Cpu {
            sched_ns: a.sched_ns + b.sched_ns,
            ticks: a.ticks + b.ticks,
        })
    }
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

fn find_nginx() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nginx_config(dir: &Path, port: u16, upstream: std::net::SocketAddr) -> String {
    let dir = dir.display();
    // As root, the worker stays root: it must reach this private directory.
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        "user root;"
    } else {
        ""
    };
    format!(
        "{user}
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_max_body_size 16m;
    client_body_buffer_size 1m;
    keepalive_requests 1000000;
    upstream fake {{ server {upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://fake;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_buffering off;
        }}
    }}
}}
"
    )
}

/// Whether something accepts connections on `port` within ten seconds.
async fn listening(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

async fn start_nginx(nginx: &Path, dir: &Path, upstream: std::net::SocketAddr) -> Proxy {
    let port = free_port();
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, port, upstream)).unwrap();
    // nginx starts with an empty environment: with the one `cargo bench`
    // passes (some thirty variables more than a shell's) its cost per
    // request read up to a quarter higher in most starts (docs/performance.md).
    // clawgate and the forwarder start with fixed ones too.
    let child = Command::new("taskset")
        .env_clear()
        .args(["-c", "0"])
        .arg(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx starts");
    if !listening(port).await {
        let log = std::fs::read_to_string(dir.join("error.log")).unwrap_or_default();
        panic!("nginx does not listen on {port}:\n{log}");
    }
    Proxy {
        name: "nginx",
        base: format!("http://127.0.0.1:{port}"),
        child,
    }
}

fn clawgate_config(upstream: std::net::SocketAddr) -> serde_json::Value {
    // The provider is called `moonshot`: Moonshot's rules apply at any URL.
    // `kc` is Kimi Coding's Anthropic endpoint, for ANTHROPIC_TARGET.
    json!({
        "models": {"providers": {
            "moonshot": {"baseUrl": format!("http://{upstream}/v1"), "apiKey": "sk-bench"},
            "kc": {"baseUrl": format!("http://{upstream}/"), "apiKey": "sk-bench",
                   "api": "anthropic-messages", "dialect": "kimi-coding",
                   "models": [{"id": "kimi-for-coding", "reasoning": true, "maxTokens": 32768}]}}},
        "agents": {"defaults": {"model": "moonshot/kimi-k2.6"}},
    })
}

/// The model a Messages scenario names to reach the Anthropic transport.
const ANTHROPIC_TARGET: &str = "kc/kimi-for-coding";

/// `body` (a JSON object) naming `model`.
fn with_model(body: &[u8], model: &str) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_slice(body).expect("a scenario body is JSON");
    body["model"] = json!(model);
    serde_json::to_vec(&body).expect("JSON values serialize")
}

/// `CLAWGATE_BENCH_WITHOUT=ledger,access-log,sessions`: clawgate runs
/// without its ledger, its access line or (this build's only: an earlier
/// one may not know the key) its sessions, to measure what each costs
/// (docs/performance.md, "What the floor is made of"). All are on by
/// default, as for users.
fn without(feature: &str) -> bool {
    std::env::var("CLAWGATE_BENCH_WITHOUT").is_ok_and(|list| list.split(',').any(|f| f == feature))
}

/// `CLAWGATE_BENCH_REPLY_WORDS=N`: every recorded answer says N words
/// (`word0 word1 ...`, each a text event of its own) instead of the mock's
/// short reply; `CLAWGATE_BENCH_THINKING_WORDS=N`, its reasoning likewise:
/// what a longer answer costs each path.
fn words(var: &str) -> Option<String> {
    let words: usize = std::env::var(var).ok()?.parse().ok()?;
    Some(
        (0..words)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `CLAWGATE_BENCH_TELEMETRY=1`: this build's clawgate traces every
/// request (`gateway.telemetry`, sampling 1) to a local collector in this
/// process, on the load side, which takes every batch (docs/observability.md).
fn telemetry() -> bool {
    std::env::var("CLAWGATE_BENCH_TELEMETRY").is_ok_and(|v| v == "1")
}

/// `CLAWGATE_BENCH_BUDGETS=1`: this build's clawgate holds a gateway
/// budget and a provider budget that no run reaches, so each request
/// reserves its worst cost before the call and settles it after
/// (docs/configuration.md, budgets); run beside this same build without them
/// (`CLAWGATE_BENCH_AGAINST`) to measure what reservations cost.
fn budgets() -> bool {
    std::env::var("CLAWGATE_BENCH_BUDGETS").is_ok_and(|v| v == "1")
}

/// The base URL of a collector that answers every OTLP export with 200,
/// started once, on a thread of its own.
fn collector() -> &'static str {
    static URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new()
                    .route("/v1/traces", axum::routing::post(|_: Bytes| async { "" }));
                axum::serve(listener, app).await.unwrap();
            });
        });
        url
    })
}

/// `CLAWGATE_BENCH_RATE=N`: the added-latency run's requests per second
/// (default 500; 20 is one person's agents).
fn latency_rate() -> u32 {
    std::env::var("CLAWGATE_BENCH_RATE")
        .ok()
        .and_then(|rate| rate.parse().ok())
        .filter(|rate| *rate > 0)
        .unwrap_or(500)
}

/// `CLAWGATE_BENCH_AGAINST=PATH`: another `clawgate` binary (an earlier
/// build), run beside this build's in the same run, each scenario measuring
/// the two one after the other, so that a change is measured side by side.
fn against() -> Option<PathBuf> {
    std::env::var_os("CLAWGATE_BENCH_AGAINST").map(PathBuf::from)
}

/// `CLAWGATE_BENCH_BUILD=PATH`: this build's `clawgate` made elsewhere
/// than by the benchmark, which builds it with the dev-dependencies'
/// features: the release build optimised by profile (docs/performance.md).
fn this_build() -> PathBuf {
    std::env::var_os("CLAWGATE_BENCH_BUILD")
        .map_or_else(|| env!("CARGO_BIN_EXE_clawgate").into(), PathBuf::from)
}

/// `clawgate serve` from this build, or from `binary`, with its config and
/// its state in `dir`.
fn start_clawgate(
    name: &'static str,
    binary: Option<&Path>,
    dir: &Path,
    upstream: std::net::SocketAddr,
) -> Proxy {
    std::fs::create_dir_all(dir).unwrap();
    let config = dir.join("clawgate.json");
    let mut settings = clawgate_config(upstream);
    if without("ledger") {
        settings["ledger"] = json!({"enabled": false});
    }
    // Only this build's: an earlier one may not know the key.
    if without("sessions") && binary.is_none() {
        settings["gateway"]["sessions"] = json!(false);
    }
    if telemetry() && binary.is_none() {
        settings["gateway"]["telemetry"] = json!({"endpoint": collector(), "sampleRatio": 1.0});
    }
    if budgets() && binary.is_none() {
        settings["gateway"]["budgets"] =
            json!({"daily": 1.0e9, "providers": {"moonshot": {"daily": 1.0e9}}});
    }
    std::fs::write(&config, settings.to_string()).unwrap();
    // The startup line is logged at info; the access lines are muted by target.
    let level = if without("access-log") {
        "info,clawgate::access=warn"
    } else {
        "info"
    };
    let this = this_build();
    let (child, base) = process::serve_binary(binary.unwrap_or(&this), &config, level, Some(0));
    Proxy { name, base, child }
}

// ---------------------------------------------------------------------------
// Load.

async fn send(
    client: &reqwest::Client,
    url: &str,
    scenario: &Scenario,
    body: &[u8],
) -> Result<(), String> {
    let (status, body) = post::post(client, url, body).await?;
    if !status.is_success() || !scenario.answer.complete(&body) {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&body)));
    }
    Ok(())
}

/// `requests` requests, `concurrency` at a time: the wall time they took.
async fn closed_loop(
    client: &reqwest::Client,
    url: &str,
    scenario: &Scenario,
    requests: usize,
    concurrency: usize,
) -> Duration {
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|worker| {
            let share = requests / concurrency + usize::from(worker < requests % concurrency);
            async move {
                for nth in 0..share {
                    let body = scenario.body(worker, nth);
                    if let Err(error) = send(client, url, scenario, body).await {
                        panic!("{url}: {}: {error:.300}", scenario.name);
                    }
                }
            }
        })
        .collect();
    futures_util::future::join_all(workers).await;
    started.elapsed()
}

#[derive(Clone, Copy)]
struct Measured {
    cpu_us: f64,
    per_second: f64,
    /// `utime + stime` disagreed with the scheduler's figure.
    doubtful: bool,
}

impl Measured {
    /// The median of the rounds' CPU and throughput, each on its own;
    /// doubtful when any round was.
    fn median(rounds: &[Measured]) -> Measured {
        let middle = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            let n = values.len();
            if n % 2 == 1 {
                values[n / 2]
            } else {
                (values[n / 2 - 1] + values[n / 2]) / 2.0
            }
        };
        Measured {
            cpu_us: middle(rounds.iter().map(|m| m.cpu_us).collect()),
            per_second: middle(rounds.iter().map(|m| m.per_second).collect()),
            doubtful: rounds.iter().any(|m| m.doubtful),
        }
    }
}

/// The lowest and highest of the rounds' ratios (each round's `ours`
/// over the same round's `base`), for the table; nothing for one round.
fn ratio_range(ours: &[Measured], base: &[Measured]) -> String {
    let ratios: Vec<f64> = ours
        .iter()
        .zip(base)
        .map(|(ours, base)| ours.cpu_us / base.cpu_us)
        .collect();
    if ratios.len() < 2 {
        return String::new();
    }
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(0.0, f64::max);
    format!(" ({low:.2}–{high:.2})")
}

async fn measure(
    proxy: &Proxy,
    client: &reqwest::Client,
    scenario: &Scenario,
    requests: usize,
    concurrency: usize,
) -> Measured {
    let url = format!("{}{}", proxy.base, scenario.path);
    let before = proxy.cpu();
    let wall = closed_loop(client, &url, scenario, requests, concurrency).await;
    let spent = proxy.cpu().since(before);
    let sched = spent.sched_ns as f64 / 1e9;
    let ticks = spent.ticks as f64 / ticks_per_second();
    Measured {
        cpu_us: sched / requests as f64 * 1e6,
        per_second: requests as f64 / wall.as_secs_f64(),
        doubtful: (ticks - sched).abs() > 0.03 + 0.1 * sched,
    }
}

/// Requests sent at `rate` per second for `seconds` whatever the answers'
/// pace: each request's time to its answer's last byte, sorted.
async fn open_loop(
    client: &reqwest::Client,
    url: &str,
    scenario: &Arc<Scenario>,
    rate: u32,
    seconds: u32,
) -> Vec<Duration> {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate);
    let mut requests = Vec::new();
    for _ in 0..rate * seconds {
        tick.tick().await;
        let (client, url, scenario) = (client.clone(), url.to_string(), scenario.clone());
        requests.push(tokio::spawn(async move {
            let started = Instant::now();
            send(&client, &url, &scenario, &scenario.body)
                .await
                .unwrap();
            started.elapsed()
        }));
    }
    let mut latencies = Vec::new();
    for request in requests {
        latencies.push(request.await.unwrap());
    }
    latencies.sort();
    latencies
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------
// Allocations, counted on an in-process clawgate thread.

struct Counted {
    url: String,
    counts: mpsc::UnboundedSender<oneshot::Sender<(u64, u64)>>,
}

impl Counted {
    fn start(upstream: std::net::SocketAddr) -> Self {
        let env = Environment::from_pairs([("OPENROUTER_API_KEY", "sk-unused")]);
        let loaded = config::load_str(
            &clawgate_config(upstream).to_string(),
            &env,
            Secrets::Required,
        )
        .unwrap();
        let gateway = Arc::new(Gateway::new(loaded.config).unwrap());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (counts_tx, mut counts_rx) = mpsc::unbounded_channel::<oneshot::Sender<(u64, u64)>>();
        let _ = std::thread::Builder::new()
            .name("clawgate".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    ready_tx.send(listener.local_addr().unwrap()).unwrap();
                    tokio::spawn(async move {
                        let _ =
                            clawgate::server::run(listener, gateway, std::future::pending()).await;
                    });
                    while let Some(reply) = counts_rx.recv().await {
                        let _ = reply.send(ALLOCATED.with(Cell::get));
                    }
                });
            });
        let addr = ready_rx.recv().unwrap();
        Self {
            url: format!("http://{addr}"),
            counts: counts_tx,
        }
    }

    async fn counts(&self) -> (u64, u64) {
        let (tx, rx) = oneshot::channel();
        self.counts.send(tx).unwrap();
        rx.await.unwrap()
    }

    /// Allocations and kilobytes allocated per request.
    async fn per_request(&self, client: &reqwest::Client, scenario: &Scenario) -> (f64, f64) {
        let requests = scenario.requests.unwrap_or(200);
        let url = format!("{}{}", self.url, scenario.path);
        closed_loop(client, &url, scenario, requests / 4, 4).await;
        let (n0, b0) = self.counts().await;
        closed_loop(client, &url, scenario, requests, 4).await;
        let (n1, b1) = self.counts().await;
        (
            (n1 - n0) as f64 / requests as f64,
            (b1 - b0) as f64 / requests as f64 / 1024.0,
        )
    }
}

// ---------------------------------------------------------------------------

/// Pins the calling thread (and the threads it starts later) to `cpu`.
fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is an empty set; CPU_SET writes inside it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

// ---------------------------------------------------------------------------
// What a wake-up costs on this machine.

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe {
        let mut t: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
        t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
    }
}

/// Microseconds of CPU a thread on core 0 spends per round trip of one byte
/// through a socket pair with a thread on `other` (1: the load's core, as
/// the proxies' writes to the load generator and the upstream are; 0: the
/// same core). Where waking an idle core is dear (a virtual machine whose
/// idle cores halt at once: a wake-up is an exit to the hypervisor), the
/// first figure is many times the second, and a proxy pays it on each write
/// that finds the load's core idle: the slower the proxy, the idler that
/// core, so the dearer each request. Printed with the table to read its
/// ratios by.
fn wake_round_trip_us(other: usize) -> f64 {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    const TRIPS: u32 = 20_000;
    let (mut near, mut far) = UnixStream::pair().unwrap();
    let echo = std::thread::spawn(move || {
        pin_to(other);
        let mut byte = [0u8];
        while far.read_exact(&mut byte).is_ok() {
            far.write_all(&byte).unwrap();
        }
    });
    let timed = std::thread::spawn(move || {
        pin_to(0);
        let mut byte = [0u8];
        let before = thread_cpu_ns();
        for _ in 0..TRIPS {
            near.write_all(&byte).unwrap();
            near.read_exact(&mut byte).unwrap();
        }
        (thread_cpu_ns() - before) as f64 / 1e3 / f64::from(TRIPS)
    });
    let us = timed.join().unwrap();
    echo.join().unwrap();
    us
}

// ---------------------------------------------------------------------------
// The stack's floor: the same HTTP stack as clawgate doing none of its work.

/// Set in the environment of this binary run as the forwarder: the
/// upstream's address.
const FORWARDER_ENV: &str = "CLAWGATE_BENCH_FORWARDER";

/// The forwarder's request handler: the body forwarded to the same path
/// upstream with its content type (and `anthropic-version`), the answer
/// streamed back as it comes. No JSON is read.
async fn forward(
    State((client, upstream)): State<(reqwest::Client, String)>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response<Body> {
    let mut request = client.post(format!("{upstream}{}", uri.path())).body(body);
    for name in ["content-type", "anthropic-version"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(answer) => {
            let kind = answer.headers().get("content-type").cloned();
            let mut response = Response::builder().status(answer.status().as_u16());
            if let Some(kind) = kind {
                response = response.header("content-type", kind);
            }
            response
                .body(Body::from_stream(answer.bytes_stream()))
                .unwrap()
        }
        Err(_) => Response::builder().status(502).body(Body::empty()).unwrap(),
    }
}

/// This binary as the forwarder: axum + hyper serving, a reqwest client,
/// tokio's multi-thread runtime as `clawgate serve` has them; prints its
/// address and serves until killed.
fn serve_forwarder(upstream: String) {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("http://{}", listener.local_addr().unwrap());
            let client = reqwest::Client::builder()
                .tcp_nodelay(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let app = axum::Router::new()
                .fallback(forward)
                .with_state((client, format!("http://{upstream}")));
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app).await.unwrap();
        });
}

fn start_forwarder(upstream: std::net::SocketAddr) -> Proxy {
    use std::io::BufRead;
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(std::env::current_exe().unwrap())
        .env_clear()
        .env(FORWARDER_ENV, upstream.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the forwarder starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Proxy {
        name: "forwarder",
        base: line.trim().to_string(),
        child,
    }
}

/// The added-latency measurement's name, for CLAWGATE_BENCH_ONLY.
const LATENCY: &str = "added latency at 500 req/s";

fn main() {
    if let Ok(upstream) = std::env::var(FORWARDER_ENV) {
        return serve_forwarder(upstream);
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(2000);
    let concurrency = args.get(1).copied().unwrap_or(8);
    let seconds = args.get(2).copied().unwrap_or(5) as u32;
    let rounds = args.get(3).copied().unwrap_or(5).max(1);
    let Some(nginx) = find_nginx() else {
        eprintln!("nginx is not installed: apt-get install nginx-light");
        std::process::exit(2);
    };
    if std::thread::available_parallelism().map_or(1, usize::from) < 2 {
        eprintln!("this benchmark needs two cores (proxies on 0, load on 1)");
        std::process::exit(2);
    }
    pin_to(1);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(&nginx, requests, concurrency, seconds, rounds));
}

async fn run(nginx: &Path, requests: usize, concurrency: usize, seconds: u32, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let upstream = start_upstream().await;
    let nginx = start_nginx(nginx, dir.path(), upstream).await;
    let clawgate = start_clawgate("clawgate", None, dir.path(), upstream);
    let against = against();
    let earlier = against.as_deref().map(|binary| {
        let dir = dir.path().join("against");
        start_clawgate("earlier build", Some(binary), &dir, upstream)
    });
    let forwarder = start_forwarder(upstream);
    let counted = Counted::start(upstream);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    println!(
        "{rounds} rounds of {requests} requests per scenario and proxy, {concurrency} at a time, the proxies in turn \
         (the table: each proxy's median round, and the range of the rounds' ratios); proxies pinned to core 0, \
         load and upstream to core 1; CPU time of each proxy's processes per request\n"
    );
    println!(
        "This machine: a thread on core 0 spends {:.1} µs of CPU per round trip of a byte with a thread on core 1, \
         {:.1} µs with one on core 0 (wake-ups across cores; see docs/performance.md)\n",
        wake_round_trip_us(1),
        wake_round_trip_us(0)
    );
    if let Some(binary) = &against {
        println!(
            "**clawgate side by side with an earlier build: {}** (a row of its own after each scenario)\n",
            binary.display()
        );
    }
    if let Ok(list) = std::env::var("CLAWGATE_BENCH_WITHOUT") {
        println!("**clawgate runs without: {list}** (not the configuration users run)\n");
    }
    println!(
        "| scenario | body | nginx µs/req | clawgate µs/req | ratio | forwarder µs/req (ratio) | nginx req/s | clawgate req/s | clawgate allocs/req (KB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // CLAWGATE_BENCH_ONLY=text runs only the scenarios whose name holds it
    // (to profile one: `perf record -p` on the clawgate it starts), and the
    // added latency only when LATENCY holds it too (`latency`).
    let only = std::env::var("CLAWGATE_BENCH_ONLY").unwrap_or_default();
    for scenario in scenarios().into_iter().filter(|s| s.name.contains(&only)) {
        let probe = format!("{}{}", clawgate.base, scenario.path);
        if let Err(error) = send(&client, &probe, &scenario, &scenario.body).await {
            println!(
                "| {} | {:.1} KB | | | | | | | not run: clawgate answers {:.60} |",
                scenario.name,
                scenario.body.len() as f64 / 1024.0,
                error.replace('\n', " ")
            );
            continue;
        }
        let requests = scenario.requests.unwrap_or(requests);
        let warm_up = scenario.requests.map_or(200, |n| n / 4);
        // Warm both: connection pools, allocators, caches.
        for proxy in [&nginx, &clawgate, &forwarder]
            .into_iter()
            .chain(earlier.as_ref())
        {
            let url = format!("{}{}", proxy.base, scenario.path);
            closed_loop(&client, &url, &scenario, warm_up, concurrency).await;
        }
        // Rounds: each proxy measured in turn, the order rotating from round
        // to round, so a burst of the host's noise lands on one round of one
        // proxy, and the medians below leave it out.
        let mut proxies: Vec<&Proxy> = vec![&nginx, &clawgate, &forwarder];
        proxies.extend(earlier.as_ref());
        let mut rounds_of: Vec<Vec<Measured>> = vec![Vec::new(); proxies.len()];
        for round in 0..rounds {
            for turn in 0..proxies.len() {
                let at = (turn + round) % proxies.len();
                let measured =
                    measure(proxies[at], &client, &scenario, requests, concurrency).await;
                rounds_of[at].push(measured);
            }
        }
        let ratios = ratio_range(&rounds_of[1], &rounds_of[0]);
        let mut medians = rounds_of.iter().map(|rounds| Measured::median(rounds));
        let (base, ours, floor) = (
            medians.next().unwrap(),
            medians.next().unwrap(),
            medians.next().unwrap(),
        );
        let before = medians.next();
        let (allocs, kb) = counted.per_request(&client, &scenario).await;
        let ratio = ours.cpu_us / base.cpu_us;
        let doubt = if base.doubtful || ours.doubtful || floor.doubtful {
            " (utime+stime disagrees)"
        } else {
            ""
        };
        println!(
            "| {} | {:.1} KB | {:.1} | {:.1} | {:.2}x{doubt}{ratios} | {:.1} ({:.2}x) | {:.0} | {:.0} | {:.0} ({:.0}) |",
            scenario.name,
            scenario.body.len() as f64 / 1024.0,
            base.cpu_us,
            ours.cpu_us,
            ratio,
            floor.cpu_us,
            floor.cpu_us / base.cpu_us,
            base.per_second,
            ours.per_second,
            allocs,
            kb,
        );
        if let Some(before) = before {
            let ratios = ratio_range(&rounds_of[3], &rounds_of[0]);
            println!(
                "| {}, the earlier build | | {:.1} | {:.1} | {:.2}x{ratios} | | | {:.0} | |",
                scenario.name,
                base.cpu_us,
                before.cpu_us,
                before.cpu_us / base.cpu_us,
                before.per_second,
            );
        }
    }

    if !LATENCY.contains(&only) {
        return;
    }
    // Added latency at a fixed rate, on the 66 KB streamed turn. Each path
    // (the upstream directly, then each proxy) gets `seconds` one-second
    // slices at that rate, in turn, the order rotating from slice to slice,
    // so the host's noise and drift land on every path alike; a path's
    // quantiles are over all its slices' requests together.
    let rate = latency_rate();
    let scenario = Arc::new(scenarios().swap_remove(0));
    let mut proxies: Vec<&Proxy> = vec![&nginx, &clawgate, &forwarder];
    proxies.extend(earlier.as_ref());
    for proxy in &proxies {
        let url = format!("{}{}", proxy.base, scenario.path);
        closed_loop(&client, &url, &scenario, 200, concurrency).await;
    }
    let urls: Vec<String> = std::iter::once(format!("http://{upstream}{}", scenario.path))
        .chain(
            proxies
                .iter()
                .map(|proxy| format!("{}{}", proxy.base, scenario.path)),
        )
        .collect();
    let mut latencies: Vec<Vec<Duration>> = vec![Vec::new(); urls.len()];
    let mut cpu_ns = vec![0u64; urls.len()];
    for slice in 0..seconds as usize {
        for turn in 0..urls.len() {
            let at = (turn + slice) % urls.len();
            let proxy = at.checked_sub(1).map(|p| proxies[p]);
            let before = proxy.map(Proxy::cpu);
            latencies[at].extend(open_loop(&client, &urls[at], &scenario, rate, 1).await);
            if let (Some(proxy), Some(before)) = (proxy, before) {
                // CPU per request at this rate, where no proxy is the
                // bottleneck (the closed-loop table runs each flat out).
                cpu_ns[at] += proxy.cpu().since(before).sched_ns;
            }
        }
    }
    for sorted in &mut latencies {
        sorted.sort();
    }
    let direct = &latencies[0];
    println!(
        "\n{} at {rate} req/s, {seconds} one-second slices per path, the paths in turn: time to the answer's last byte, and each proxy's CPU per request at that rate\n",
        scenario.name
    );
    println!("| path | p50 ms | p99 ms | p99 added ms | CPU µs/req |");
    println!("|---|---|---|---|---|");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "| upstream directly | {:.2} | {:.2} | - | - |",
        ms(quantile(direct, 0.5)),
        ms(quantile(direct, 0.99))
    );
    let mut added = Vec::new();
    for (at, proxy) in proxies.iter().enumerate() {
        let through = &latencies[at + 1];
        let extra = ms(quantile(through, 0.99)) - ms(quantile(direct, 0.99));
        added.push(extra);
        println!(
            "| through {} | {:.2} | {:.2} | {:.2} | {:.1} |",
            proxy.name,
            ms(quantile(through, 0.5)),
            ms(quantile(through, 0.99)),
            extra,
            cpu_ns[at + 1] as f64 / 1e3 / through.len() as f64
        );
    }
    let ratio = added[1] / added[0];
    println!(
        "\np99 added latency: clawgate {:.2} ms, nginx {:.2} ms, ratio {:.2}x; the forwarder {:.2}x",
        added[1],
        added[0],
        ratio,
        added[2] / added[0]
    );
    if let Some(earlier) = added.get(3) {
        println!(
            "the earlier build: {earlier:.2} ms, {:.2}x",
            earlier / added[0]
        );
    }
}
