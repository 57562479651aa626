//! The usage ledger at scale, in one run:
//!
//! 1. writes ROWS raw rows (default 5 million) spread over the 90 days of
//!    the default retention through the writer's own code (`Store::write`:
//!    each row and its daily rollup in one transaction per batch) and
//!    reports the rate;
//! 2. times `clawgate usage` (the real binary, a process each time) against
//!    that database: `--since 30d`, `--since 30d --per day --by model`, and
//!    `--since 90d --csv`;
//! 3. times requests through an in-process gateway against `clawgate-mock`,
//!    alternating a gateway whose ledger writes into that database with one
//!    whose ledger only counts in memory, side by side: what writing adds to
//!    a request's latency.
//!
//! Run: `cargo bench --bench ledger` (optionally `-- ROWS REQUESTS`).

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clawgate::config::ledger::LedgerSettings;
use clawgate::config::{self, Environment, Secrets};
use clawgate::gateway::Gateway;
use clawgate::ledger::calendar::millis;
use clawgate::ledger::store::Store;
use clawgate::ledger::{self, Ledger, Row, Tokens};
use clawgate_mock::{MockOptions, MockServer};
use serde_json::json;

const MODELS: [&str; 6] = [
    "moonshot/kimi-k2.6",
    "moonshot/kimi-k2.5",
    "kimi/kimi-for-coding",
    "openrouter/moonshotai/kimi-k2.6",
    "openrouter/qwen/qwen3-coder",
    "openrouter/z-ai/glm-4.6",
];
const PEOPLE: [&str; 3] = ["alice", "bob", "ci"];
const CLIENTS: [&str; 5] = [
    "openclaw",
    "claude-code",
    "codex",
    "openai-python",
    "ai-sdk",
];
const FRONT_ENDS: [&str; 3] = ["openai-chat", "anthropic-messages", "openai-responses"];

fn rows(count: usize, now_ms: i64) -> impl Iterator<Item = Row> {
    let span_ms = 90 * 86_400_000 - 60_000;
    (0..count).map(move |i| {
        let n = i as u64;
        let model = MODELS[(n * 7 % 6) as usize];
        let failed = n.is_multiple_of(50);
        let fallback = !failed && n.is_multiple_of(17);
        let mut attempts = Vec::new();
        if fallback {
            attempts.push(format!("{}:timeout", MODELS[0]));
        }
        if failed {
            attempts.push(format!("{model}:provider_error"));
        } else {
            attempts.push(format!("{model}:ok"));
        }
        let input = 2_000 + n % 60_000;
        Row {
            ts_ms: now_ms - span_ms + (i as i64 * span_ms / count as i64),
            request_id: Some(format!("req_{n:032x}")),
            front_end: FRONT_ENDS[(n % 3) as usize],
            model_asked: Some("default".into()),
            answered_by: (!failed).then(|| model.to_string()),
            attempts,
            status: if failed { 502 } else { 200 },
            end: "complete",
            first_byte_ms: 300 + n % 900,
            total_ms: 2_000 + n % 20_000,
            tokens: Tokens {
                input: Some(input),
                cached: Some(input / 2),
                written: None,
                output: Some(200 + n % 3_000),
                reasoning: Some(n % 500),
            },
            cost_usd: (!failed && !n.is_multiple_of(11)).then_some(input as f64 * 0.95e-6),
            uncached_cost_usd: None,
            budget_estimate_usd: None,
            agent: CLIENTS[(n % 5) as usize],
            client: PEOPLE[(n % 3) as usize].into(),
            session: None,
        }
    })
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn quantile(mut samples: Vec<Duration>, q: f64) -> Duration {
    samples.sort();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

fn usage(path: &std::path::Path, args: &[&str]) -> (Duration, usize) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_clawgate"))
        .arg("usage")
        .args(args)
        .arg("--ledger")
        .arg(path)
        .output()
        .expect("clawgate usage runs");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (took, output.stdout.len())
}

async fn gateway(mock: &MockServer, ledger: Arc<Ledger>) -> (String, Arc<Gateway>) {
    let config = json!({
        "models": {"mode": "replace", "providers": {"moonshot": {
            "baseUrl": mock.base_url(), "apiKey": "sk-bench",
            "models": [{"id": "kimi-k2.6", "cost": {"input": 0.95, "output": 4.0, "cacheRead": 0.16}}]}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6"}}},
    });
    let loaded = config::load_str(
        &config.to_string(),
        &Environment::from_pairs::<&str, &str>([]),
        Secrets::Required,
    )
    .unwrap();
    let gateway = Arc::new(Gateway::new(loaded.config).unwrap().with_ledger(ledger));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(clawgate::server::run(
        listener,
        gateway.clone(),
        std::future::pending(),
    ));
    (url, gateway)
}

/// `requests` streamed chat requests, 8 at a time: each one's latency until
/// its body has ended.
async fn load(url: &str, requests: usize) -> Vec<Duration> {
    let client = reqwest::Client::new();
    let body = json!({"messages": [{"role": "user", "content": "Summarise the budget report in one line."}], "stream": true});
    let mut latencies = Vec::with_capacity(requests);
    let mut left = requests;
    while left > 0 {
        let batch = left.min(8);
        left -= batch;
        let mut tasks = Vec::new();
        for _ in 0..batch {
            let (client, url, body) = (client.clone(), url.to_string(), body.clone());
            tasks.push(tokio::spawn(async move {
                let started = Instant::now();
                let response = client
                    .post(format!("{url}/v1/chat/completions"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
                started.elapsed()
            }));
        }
        for task in tasks {
            latencies.push(task.await.unwrap());
        }
    }
    latencies
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let count: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(5_000_000);
    let requests: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.db");
    let now_ms = millis(SystemTime::now());

    // 1. The rows.
    let (mut store, _) = Store::open(&path).unwrap();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1024);
    for row in rows(count, now_ms) {
        batch.push(row);
        if batch.len() == 1024 {
            store.write(&batch).unwrap();
            batch.clear();
        }
    }
    store.write(&batch).unwrap();
    let took = started.elapsed();
    drop(store);
    let size = std::fs::metadata(&path).unwrap().len()
        + std::fs::metadata(dir.path().join("ledger.db-wal")).map_or(0, |m| m.len());
    println!(
        "wrote {count} rows over 90 days in {:.1} s ({:.0} rows/s, batches of 1024); database {:.0} MB",
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64(),
        size as f64 / 1e6
    );

    // 2. `clawgate usage`, five runs each; the first run of all is cold.
    for args in [
        vec!["--since", "30d"],
        vec!["--since", "30d", "--per", "day", "--by", "model"],
        vec!["--since", "90d", "--per", "week", "--by", "client", "--csv"],
        vec!["--since", "30d", "--json", "--by", "front-end"],
    ] {
        let runs: Vec<(Duration, usize)> = (0..5).map(|_| usage(&path, &args)).collect();
        let times: Vec<Duration> = runs.iter().map(|r| r.0).collect();
        println!(
            "clawgate usage {:<48} median {:>6.1} ms, max {:>6.1} ms ({} bytes out)",
            args.join(" "),
            median(times.clone()).as_secs_f64() * 1e3,
            times.iter().max().unwrap().as_secs_f64() * 1e3,
            runs[0].1
        );
    }

    // 3. Requests with the ledger writing into the big database, and with
    // a memory-only ledger, alternating rounds.
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let writing = Arc::new(Ledger::open(
        &path,
        &LedgerSettings::default(),
        ledger::system_clock(),
    ));
    let (writing_url, _keep) = gateway(&mock, writing.clone()).await;
    let (memory_url, _keep2) = gateway(&mock, Arc::new(Ledger::in_memory())).await;
    load(&writing_url, 200).await;
    load(&memory_url, 200).await;
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        on.extend(load(&writing_url, requests / 4).await);
        off.extend(load(&memory_url, requests / 4).await);
    }
    let ledger2 = writing.clone();
    tokio::task::spawn_blocking(move || ledger2.flush(Duration::from_secs(30)))
        .await
        .unwrap();
    let health = writing.health();
    println!(
        "{requests} streamed requests each, 8 at a time, rounds alternating; latency until the body ends"
    );
    for (name, samples) in [
        ("ledger writing (5M-row db)", on),
        ("ledger in memory only", off),
    ] {
        println!(
            "  {name:<28} p50 {:>6.2} ms  p99 {:>6.2} ms",
            quantile(samples.clone(), 0.5).as_secs_f64() * 1e3,
            quantile(samples, 0.99).as_secs_f64() * 1e3
        );
    }
    println!(
        "  rows written during the run: {}, dropped: {}",
        health.rows_written, health.rows_dropped
    );
}
