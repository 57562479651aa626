//! How long reading a request takes (`format::scan::request`, what every
//! chat request goes through), beside `serde_json` checking the same bytes
//! (`IgnoredAny`: nothing built), for a 48 KB system prompt written as
//! real prompts are, a line at a time (a `\n` escape every line), and the
//! same prompt on one line; and how long the key scrubber
//! (`ops::scrub::StreamScrub`, which every relayed answer goes through)
//! takes over streamed answers of the sizes the gateway relays.
//!
//! Run: `cargo bench --bench scan` (optionally `-- ITERATIONS`, default
//! 20000). Figures in docs/performance.md.

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use clawgate::ops::scrub::Scrubber;
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
            let scanned =
                clawgate::format::scan::request(black_box(&body), "messages", "tool_calls", None);
            black_box(scanned.unwrap());
        });
        let serde = per_call(iterations, || {
            let read: IgnoredAny = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(read);
        });
        println!("| {name} | {} | {scan:.2} | {serde:.2} |", body.len());
    }
    scrub_table(iterations);
}

/// A streamed chat answer of `events` text deltas (each about the size a
/// model's token batch is) and its closing usage chunk, as the events a
/// provider sends: the pieces the scrubber is fed one at a time.
fn answer_events(events: usize) -> Vec<Bytes> {
    let mut pieces: Vec<Bytes> = (0..events)
        .map(|i| {
            Bytes::from(format!(
                "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"kimi-k2.6\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word {i} of the answer, with a path /home/me/notes and a \\\"quote\\\" \"}}}}]}}\n\n"
            ))
        })
        .collect();
    pieces.push(Bytes::from_static(
        b"data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":900,\"completion_tokens\":40}}\n\ndata: [DONE]\n\n",
    ));
    pieces
}

/// The scrubber's cost per relayed answer, with the keys of a config of
/// two providers and of one with eight.
fn scrub_table(iterations: usize) {
    let two: Vec<String> = ["sk-moonshot-", "sk-or-v1-"]
        .iter()
        .map(|prefix| format!("{prefix}{}", "a1B2c3D4".repeat(6)))
        .collect();
    let eight: Vec<String> = (0..8)
        .map(|i| format!("sk-key{i}-{}", "Zz9".repeat(16)))
        .collect();
    println!();
    println!("| answer streamed | bytes | keys | scrubbed µs | ns per KB |");
    println!("|---|---|---|---|---|");
    for events in [10, 400] {
        let pieces = answer_events(events);
        let bytes: usize = pieces.iter().map(Bytes::len).sum();
        for keys in [&two, &eight] {
            let scrubber = Scrubber::new(keys.iter());
            let per = per_call(iterations, || {
                let mut stream = scrubber.stream();
                for piece in &pieces {
                    black_box(stream.feed(black_box(piece.clone())));
                }
                black_box(stream.finish());
            });
            println!(
                "| {events} events | {bytes} | {} | {per:.2} | {:.0} |",
                keys.len(),
                per * 1000.0 / (bytes as f64 / 1024.0)
            );
        }
    }
}
