//! CPU cost per request of clawgate against a byte-forwarding proxy built on
//! the same HTTP stack (axum + reqwest, no JSON work), side by side in one
//! run, in front of the same `clawgate-mock`.
//!
//! Each server runs alone on its own thread (a current-thread runtime), so
//! that thread's CPU time is exactly the server's work: accepting, reading
//! the body, the rules, forwarding, relaying the stream. Clients and the
//! mock run elsewhere.
//!
//! Bodies: an OpenClaw turn (~48 KB system prompt, 14 tools) with a 30-turn
//! tool-call history carrying Kimi-style ids (`functions.<name>:0`, repeated
//! every turn, so the duplicate-id rule rewrites them), about 66 KB; and a
//! 2 KB request. The target is `moonshot/kimi-k2.6` (thinking on), so the
//! Kimi rules are active.
//!
//! Run: `cargo bench --bench proxy` (optionally `-- REQUESTS CONCURRENCY`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate_mock::{MockOptions, MockServer};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

fn tools() -> Vec<Value> {
    (0..14)
        .map(|i| {
            json!({"type": "function", "function": {
                "name": format!("tool_{i}"),
                "description": "Does something useful with the arguments it is given. ".repeat(12),
                "parameters": {"type": "object", "properties": {
                    "path": {"type": "string", "description": "A path."},
                    "query": {"type": "string", "description": "What to look for."}
                }, "required": ["path"]}
            }})
        })
        .collect()
}

/// An OpenClaw-sized turn after 30 tool calls.
fn openclaw_turn() -> Vec<u8> {
    let system = "You are a helpful personal assistant. ".repeat(1300);
    let mut messages = vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": "Tidy up my notes folder."}),
    ];
    for turn in 0..30 {
        let name = ["read", "write", "exec"][turn % 3];
        let id = format!("functions.{name}:0");
        messages.push(json!({"role": "assistant", "content": "", "reasoning_content": "Next step.",
            "tool_calls": [{"id": id, "type": "function",
                "function": {"name": name, "arguments": format!("{{\"path\":\"notes/{turn}.md\"}}")}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": format!("done with notes/{turn}.md")}));
    }
    body(messages, tools())
}

fn small_request() -> Vec<u8> {
    let messages = vec![
        json!({"role": "system", "content": "You are brief. ".repeat(20)}),
        json!({"role": "user", "content": "What is on my calendar today? ".repeat(40)}),
    ];
    body(messages, vec![])
}

fn body(messages: Vec<Value>, tools: Vec<Value>) -> Vec<u8> {
    let mut body = json!({
        "model": "moonshot/kimi-k2.6",
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
        "reasoning_effort": "low",
        "max_tokens": 242097,
    });
    if !tools.is_empty() {
        body["tools"] = json!(tools);
        body["tool_choice"] = json!("auto");
    }
    serde_json::to_vec(&body).unwrap()
}

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the struct given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A server alone on its own thread; answers requests for that thread's CPU
/// time.
struct Isolated {
    url: String,
    cpu: mpsc::UnboundedSender<oneshot::Sender<Duration>>,
}

impl Isolated {
    fn start<F, Fut>(name: &str, serve: F) -> Self
    where
        F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (cpu_tx, mut cpu_rx) = mpsc::unbounded_channel::<oneshot::Sender<Duration>>();
        let thread = std::thread::Builder::new().name(name.to_string());
        let _ = thread.spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                tokio::task::spawn_local(serve(listener));
                while let Some(reply) = cpu_rx.recv().await {
                    let _ = reply.send(thread_cpu());
                }
            });
        });
        let addr = ready_rx.recv().unwrap();
        Self {
            url: format!("http://{addr}/v1/chat/completions"),
            cpu: cpu_tx,
        }
    }

    async fn cpu(&self) -> Duration {
        let (tx, rx) = oneshot::channel();
        self.cpu.send(tx).unwrap();
        rx.await.unwrap()
    }
}

/// The baseline: reads the body, forwards the bytes, streams the answer back.
async fn forward(
    State((client, upstream)): State<(reqwest::Client, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut request = client.post(&upstream).body(body);
    if let Some(kind) = headers.get("content-type") {
        request = request.header("content-type", kind);
    }
    match request.send().await {
        Ok(answer) => Response::builder()
            .status(answer.status().as_u16())
            .header("content-type", "text/event-stream")
            .body(Body::from_stream(answer.bytes_stream()))
            .unwrap(),
        Err(_) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap(),
    }
}

struct Run {
    cpu_per_request: Duration,
    p50: Duration,
}

async fn load(server: &Isolated, body: Arc<Vec<u8>>, requests: usize, concurrency: usize) -> Run {
    let client = reqwest::Client::new();
    let before = server.cpu().await;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, body) = (client.clone(), server.url.clone(), body.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                for _ in 0..requests / concurrency {
                    let start = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                    let mut chunks = response.bytes_stream();
                    let mut last = Bytes::new();
                    while let Some(chunk) = chunks.next().await {
                        last = chunk.unwrap();
                    }
                    assert!(last.ends_with(b"data: [DONE]\n\n"));
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    let spent = server.cpu().await - before;
    latencies.sort();
    Run {
        cpu_per_request: spent / latencies.len() as u32,
        p50: latencies[latencies.len() / 2],
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(2000);
    let concurrency = args.get(1).copied().unwrap_or(8);

    let mock = MockServer::start(MockOptions {
        reasoning: "Let me think.".into(),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let upstream = format!("{}/chat/completions", mock.base_url());
    // The provider is called `moonshot`: Moonshot's rules apply at any URL.
    let config = json!({
        "models": {"providers": {"moonshot": {"baseUrl": mock.base_url(), "apiKey": "sk-bench"}}},
        "agents": {"defaults": {"model": "moonshot/kimi-k2.6"}},
    });
    let env = Environment::from_pairs([("OPENROUTER_API_KEY", "sk-unused")]);
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required).unwrap();
    let gateway = Arc::new(Gateway::new(loaded.config).unwrap());
    let clawgate = Isolated::start("clawgate", move |listener| async move {
        let _ = clawgate::server::run(listener, gateway, std::future::pending()).await;
    });
    let proxy = Isolated::start("forwarder", move |listener| async move {
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(forward))
            .with_state((reqwest::Client::new(), upstream));
        // TCP_NODELAY as clawgate sets it, so streams are not held back.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let _ = axum::serve(listener, app).await;
    });

    println!(
        "{requests} streamed requests, {concurrency} at a time; CPU time of the server thread per request"
    );
    for (name, body) in [
        ("66 KB OpenClaw turn", openclaw_turn()),
        ("2 KB request", small_request()),
    ] {
        let size = body.len();
        let body = Arc::new(body);
        // Warm both: connection pools, allocator, page cache.
        load(&proxy, body.clone(), 200, concurrency).await;
        load(&clawgate, body.clone(), 200, concurrency).await;
        let baseline = load(&proxy, body.clone(), requests, concurrency).await;
        let gateway = load(&clawgate, body.clone(), requests, concurrency).await;
        println!(
            "{name} ({:.1} KB): forwarding proxy {:>6.1} µs, clawgate {:>6.1} µs, ratio {:.2}x; p50 latency {:.2} / {:.2} ms",
            size as f64 / 1024.0,
            baseline.cpu_per_request.as_secs_f64() * 1e6,
            gateway.cpu_per_request.as_secs_f64() * 1e6,
            gateway.cpu_per_request.as_secs_f64() / baseline.cpu_per_request.as_secs_f64(),
            baseline.p50.as_secs_f64() * 1e3,
            gateway.p50.as_secs_f64() * 1e3,
        );
    }
}
