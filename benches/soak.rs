//! The soak of docs/fallback.md: 1,000 concurrent streaming requests
//! through a real `clawgate serve` process, in front of three mock
//! providers that each fail at random points (`clawgate-mock --chaos`).
//! Prints how the requests ended and the gateway's memory and file
//! descriptors before, at peak and after.
//!
//! Run: `cargo bench --bench soak` (optionally `-- REQUESTS ROUNDS`, default
//! 1000 and 3).

// Shared with tests/soak.rs; the CI-sized settings are unused here.
#[allow(dead_code)]
#[path = "../tests/common/soak.rs"]
mod soak;

use std::time::{Duration, Instant};

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
    let requests = args.first().copied().unwrap_or(1000);
    let rounds = args.get(1).copied().unwrap_or(3);
    if let Some(warning) = clawgate::server::raise_fd_limit((8 * requests + 256) as u64) {
        println!("warning: {warning}");
    }
    let timeouts = soak::SoakTimeouts::LARGE;
    let (mocks, models) = soak::chaos_providers().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        json!({"gateway": timeouts.gateway_settings(), "models": models, "agents": soak::chaos_routing()})
            .to_string(),
    )
    .unwrap();
    let (mut child, base) = process::serve(&config, "error,clawgate::cli=info");
    let pid = child.id();
    let url = format!("{base}/v1/chat/completions");
    // One request first, so that the idle figures include a warmed process.
    let _ = soak::soak(&url, 1, timeouts).await;
    let (rss_idle, fds_idle) = (proc_status(pid, "VmRSS:"), open_fds(pid));

    // Several rounds: memory that a leak holds grows with each; memory the
    // allocator merely keeps for reuse levels off.
    for round in 1..=rounds {
        println!("round {round}:");
        let started = Instant::now();
        let run = tokio::spawn({
            let url = url.clone();
            async move { soak::soak(&url, requests, timeouts).await }
        });
        let mut fds_peak = 0;
        while !run.is_finished() {
            fds_peak = fds_peak.max(open_fds(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let report = run.await.unwrap();
        let elapsed = started.elapsed();
        let rss_peak = proc_status(pid, "VmHWM:");
        // Idle upstream connections stay pooled (up to 32 per provider) for
        // 90 s; client connections close at once.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rss_after, fds_after) = (proc_status(pid, "VmRSS:"), open_fds(pid));
        let upstream: usize = mocks.iter().map(|m| m.requests().len()).sum();
        println!(
            "{requests} concurrent streams through 3 chaos providers in {:.1} s: {} complete, {} explicit errors, \
             {} unexplained (slowest {:.2} s; bound {:.0} s); {upstream} upstream requests",
            elapsed.as_secs_f64(),
            report.complete,
            report.explicit_errors,
            report.unexplained.len(),
            report.slowest.as_secs_f64(),
            timeouts.bound().as_secs_f64(),
        );
        println!(
            "gateway RSS idle {} MB, peak {} MB, after {} MB; fds idle {fds_idle}, peak {fds_peak}, after {fds_after}; threads {}",
            rss_idle / 1024,
            rss_peak / 1024,
            rss_after / 1024,
            proc_status(pid, "Threads:"),
        );
        println!("explicit errors by code: {:?}", report.error_codes);
        for why in report.unexplained.iter().take(5) {
            println!("unexplained: {why}");
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
