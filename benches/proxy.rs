//! Added latency and throughput of the gateway in front of `clawgate-mock`,
//! against calling the mock directly, with OpenClaw-sized requests (a ~48 KB
//! system prompt and 14 tool definitions, ~65 KB of JSON).
//!
//! Run: `cargo bench --bench proxy` (optionally `-- REQUESTS CONCURRENCY`).
//! Everything runs on loopback in one process; numbers are for comparing
//! changes on one machine, not absolute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate::mock::{MockOptions, MockServer};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn openclaw_sized_request(stream: bool) -> Vec<u8> {
    let system = "You are a helpful personal assistant. ".repeat(1300);
    let tools: Vec<Value> = (0..14)
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
        .collect();
    let mut body = json!({
        "model": "default",
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": "What is on my calendar?"}],
        "tools": tools,
        "tool_choice": "auto",
        "max_tokens": 242097,
    });
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    serde_json::to_vec(&body).unwrap()
}

struct Report {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Report {
    fn percentile(&self, p: f64) -> Duration {
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index]
    }
}

async fn load(
    url: String,
    body: Arc<Vec<u8>>,
    stream: bool,
    requests: usize,
    concurrency: usize,
) -> Report {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let per_worker = requests / concurrency;
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker);
                for _ in 0..per_worker {
                    let start = Instant::now();
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.as_ref().clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                    if stream {
                        let mut chunks = response.bytes_stream();
                        while let Some(chunk) = chunks.next().await {
                            chunk.unwrap();
                        }
                    } else {
                        response.bytes().await.unwrap();
                    }
                    latencies.push(start.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await.unwrap());
    }
    latencies.sort();
    Report {
        latencies,
        elapsed: started.elapsed(),
    }
}

fn line(name: &str, report: &Report) {
    let throughput = report.latencies.len() as f64 / report.elapsed.as_secs_f64();
    println!(
        "{name:<28} p50 {:>8.3} ms  p99 {:>8.3} ms  {throughput:>8.0} req/s",
        report.percentile(0.50).as_secs_f64() * 1000.0,
        report.percentile(0.99).as_secs_f64() * 1000.0,
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(2000);
    let concurrency = args.get(1).copied().unwrap_or(16);

    let mock = MockServer::start(MockOptions {
        reasoning: String::new(),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let config = json!({
        "models": {"mode": "replace", "providers": {"mock": {"baseUrl": mock.base_url(), "apiKey": "sk-bench",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "mock/m"}},
    });
    let loaded = config::load_str(
        &config.to_string(),
        &Environment::default(),
        Secrets::Required,
    )
    .unwrap();
    let gateway = Arc::new(Gateway::new(loaded.config).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gateway_url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    tokio::spawn(clawgate::server::run(
        listener,
        gateway,
        std::future::pending(),
    ));
    let direct_url = format!("{}/chat/completions", mock.base_url());

    println!(
        "{requests} requests of {} KB, {concurrency} at a time",
        openclaw_sized_request(false).len() / 1024
    );
    for stream in [false, true] {
        let body = Arc::new(openclaw_sized_request(stream));
        let kind = if stream { "stream" } else { "json" };
        // Warm both paths: connection pools, allocator, page cache.
        load(direct_url.clone(), body.clone(), stream, 200, concurrency).await;
        load(gateway_url.clone(), body.clone(), stream, 200, concurrency).await;
        let direct = load(
            direct_url.clone(),
            body.clone(),
            stream,
            requests,
            concurrency,
        )
        .await;
        let through = load(
            gateway_url.clone(),
            body.clone(),
            stream,
            requests,
            concurrency,
        )
        .await;
        line(&format!("{kind}: mock directly"), &direct);
        line(&format!("{kind}: through clawgate"), &through);
        println!(
            "{kind}: added latency          p50 {:>8.3} ms  p99 {:>8.3} ms",
            (through.percentile(0.5).as_secs_f64() - direct.percentile(0.5).as_secs_f64()) * 1000.0,
            (through.percentile(0.99).as_secs_f64() - direct.percentile(0.99).as_secs_f64())
                * 1000.0,
        );
    }
}
