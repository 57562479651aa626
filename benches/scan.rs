//! How long reading a request takes (`wire::scan::request`, what every
//! chat request goes through), beside `serde_json` checking the same bytes
//! (`IgnoredAny`: nothing built), for a 48 KB system prompt written as
//! real prompts are, a line at a time (a `\n` escape every line), and the
//! same prompt on one line; and a conversation's turns one after another,
//! each re-sending the turn before's messages, where `request` steps over
//! the history it read the turn before.
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
    for (name, prompt) in &prompts {
        let body = body(prompt);
        // Read in full: `request` would find this body's history, read
        // the time before, and step over it.
        let scan = per_call(iterations, || {
            let scanned = clawgate::wire::scan::object_nested(
                black_box(&body),
                Some("messages"),
                Some("tool_calls"),
            );
            black_box(scanned.unwrap());
        });
        let serde = per_call(iterations, || {
            let read: IgnoredAny = serde_json::from_slice(black_box(&body)).unwrap();
            black_box(read);
        });
        println!("| {name} | {} | {scan:.2} | {serde:.2} |", body.len());
    }

    conversation(iterations, &prompts[0].1);
}

/// A conversation's turns, one after another: each re-sends the messages
/// of the turn before and adds a tool call and its result (as OpenClaw
/// does). `request`, which steps over the history read the turn before,
/// beside a scan in full of the same turns.
fn conversation(iterations: usize, prompt: &str) {
    const TURNS: usize = 100;
    let mut messages = vec![json!({"role": "system", "content": prompt})];
    let mut turns = Vec::with_capacity(TURNS);
    for turn in 0..TURNS {
        messages.push(json!({"role": "assistant", "content": "", "tool_calls": [{
            "id": format!("functions.read:{turn}"), "type": "function",
            "function": {"name": "read", "arguments": format!("{{\"path\":\"notes/{turn}.md\"}}")},
        }]}));
        messages.push(
            json!({"role": "tool", "tool_call_id": format!("functions.read:{turn}"),
            "content": "A note of a few lines.\nIt says what was done.\n".repeat(8)}),
        );
        turns.push(
            serde_json::to_vec(
                &json!({"model": "moonshot/kimi-k2.6", "messages": messages, "stream": true}),
            )
            .unwrap(),
        );
    }
    let passes = (iterations / TURNS).max(1);
    let each_turn = |scan: &dyn Fn(&[u8])| {
        per_call(passes, || {
            for body in &turns {
                scan(black_box(body));
            }
        }) / TURNS as f64
    };
    let next = each_turn(&|body| {
        black_box(clawgate::wire::scan::request(body, "messages", "tool_calls").unwrap());
    });
    let full = each_turn(&|body| {
        black_box(
            clawgate::wire::scan::object_nested(body, Some("messages"), Some("tool_calls"))
                .unwrap(),
        );
    });
    let sizes = (turns[0].len(), turns[TURNS - 1].len());
    println!();
    println!(
        "| {TURNS} turns of a conversation (48 KB prompt a line at a time, a tool call and its result a turn) | bytes | µs per turn |"
    );
    println!("|---|---|---|");
    println!(
        "| each turn's history stepped over (`request`) | {}–{} | {next:.2} |",
        sizes.0, sizes.1
    );
    println!(
        "| each turn read in full | {}–{} | {full:.2} |",
        sizes.0, sizes.1
    );
}
