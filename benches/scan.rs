//! How long reading a request takes (`wire::scan::request`, what every
//! chat request goes through), beside `serde_json` checking the same bytes
//! (`IgnoredAny`: nothing built), for a 48 KB system prompt written as
//! real prompts are, a line at a time (a `\n` escape every line), and the
//! same prompt on one line.
//!
//! Run: `cargo bench --bench scan` (optionally `-- ITERATIONS`, default
//! 20000). Figures in docs/performance.md.

use std::hint::black_box;
use std::time::Instant;

use serde::de::IgnoredAny;
use serde_json::json;

fn body(prompt: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "moonshot/kimi-k2.6",
        "messages": [
            {"role": "system", "content": prompt},
            {"role": "user", "content": "Tidy up my notes folder."},
        ],
    }))
    .unwrap()
}

fn per_call(iterations: usize, mut call: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        call();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        call();
    }
    started.elapsed().as_nanos() as f64 / iterations as f64 / 1000.0
}

fn main() {
    let iterations = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let line = "You are a helpful personal assistant; read the notes before answering.\n";
    let prompts = [
        (
            "48 KB prompt, a line at a time",
            line.repeat(48 * 1024 / line.len()),
        ),
        (
            "48 KB prompt, one line",
            line.trim_end().repeat(48 * 1024 / line.len()),
        ),
        (
            "48 KB prompt, lines beyond ASCII",
            "Vous êtes un assistant personnel ; lisez les notes d'abord.\n".repeat(48 * 1024 / 64),
        ),
    ];
    println!("| body | bytes | clawgate's scan µs | serde_json (IgnoredAny) µs |");
    println!("|---|---|---|---|");
    for (name, prompt) in prompts {
        let body = body(&prompt);
        let scan = per_call(iterations, || {
            let scanned = clawgate::wire::scan::request(black_box(&body), "messages", "tool_calls");
            black_box(scanned.unwrap());
        });
        let serde = per_call(iterations, || {
            let read: IgnoredAny = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(read);
        });
        println!("| {name} | {} | {scan:.2} | {serde:.2} |", body.len());
    }
}
