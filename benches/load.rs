//! Load figures for docs/operations.md: many concurrent streams through a
//! real `clawgate serve` process, its peak memory and file descriptors, and
//! a flood of idle connections that must not starve real clients.
//!
//! Run: `cargo bench --bench load` (optionally `-- STREAMS IDLE`, default
//! 1000 and 1100). Everything is on loopback; the mock provider and the
//! clients run in this process, the gateway in its own.

use std::time::{Duration, Instant};

use clawgate_mock::{MockOptions, MockServer};
use futures_util::StreamExt;
use serde_json::json;

#[path = "common/process.rs"]
mod process;

use process::{open_fds, proc_status};

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let streams = args.first().copied().unwrap_or(1000);
    let idle = args.get(1).copied().unwrap_or(1100);
    // This process holds both ends of every client and mock connection.
    if let Some(warning) = clawgate::server::raise_fd_limit((4 * (streams + idle) + 256) as u64) {
        println!("warning: {warning}");
    }

    // Streams of ~40 chunks, 50 ms apart: each lasts about two seconds.
    let mock = MockServer::start(MockOptions {
        chunk_delay_ms: 50,
        reply: "word ".repeat(30),
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        json!({
            "models": {"mode": "replace", "providers": {"mock": {"baseUrl": mock.base_url(), "apiKey": "sk-load",
                "models": [{"id": "m"}]}}},
            "agents": {"defaults": {"model": "mock/m"}},
            "gateway": {"timeouts": {"clientHeaderSeconds": 2}},
        })
        .to_string(),
    )
    .unwrap();
    let (mut child, base) = process::serve(&config, "warn,clawgate::cli=info");
    let pid = child.id();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds_idle = open_fds(pid);
    let rss_idle = proc_status(pid, "VmRSS:");

    // 1. Concurrent streams.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = format!("{base}/v1/chat/completions");
    let started = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let response = client
                    .post(&url)
                    .json(&json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}))
                    .send()
                    .await
                    .ok()?;
                let mut body = response.bytes_stream();
                let mut text = Vec::new();
                while let Some(chunk) = body.next().await {
                    text.extend_from_slice(&chunk.ok()?);
                }
                Some(text.ends_with(b"data: [DONE]\n\n"))
            })
        })
        .collect();
    let mut fds_peak = 0;
    while !tasks.iter().all(|t| t.is_finished()) {
        fds_peak = fds_peak.max(open_fds(pid));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut complete = 0;
    for task in tasks {
        if task.await.unwrap() == Some(true) {
            complete += 1;
        }
    }
    let elapsed = started.elapsed();
    let rss_peak = proc_status(pid, "VmHWM:");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let fds_after = open_fds(pid);
    println!(
        "{streams} concurrent streams: {complete} complete in {:.1} s; gateway RSS idle {} MB, peak {} MB; \
         fds idle {fds_idle}, peak {fds_peak}, after {fds_after}",
        elapsed.as_secs_f64(),
        rss_idle / 1024,
        rss_peak / 1024,
    );

    // 2. A flood of connections that send nothing.
    let mut sockets = Vec::with_capacity(idle);
    for _ in 0..idle {
        if let Ok(socket) = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await
        {
            sockets.push(socket);
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fds_flood = open_fds(pid);
    // Streamed, timed to its head (which leaves with the first event): the
    // mock paces every answer over two seconds, which a whole answer would
    // wait out.
    let during = Instant::now();
    let served = client
        .post(&url)
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map(|r| r.status().as_u16());
    let during = during.elapsed();
    // The header timeout (2 s here) closes them all.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let fds_cleared = open_fds(pid);
    println!(
        "{idle} idle connections: gateway fds {fds_flood}; a real request meanwhile: {served:?}, its head in {:.0} ms; \
         fds {fds_cleared} after the header timeout",
        during.as_secs_f64() * 1000.0
    );
    drop(sockets);
    let _ = child.kill();
    let _ = child.wait();
}
