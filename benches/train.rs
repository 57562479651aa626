//! The training run of the release build's profile (`benches/pgo.sh`): a
//! real `clawgate serve` of the instrumented release build, in front of
//! `clawgate-mock`, sent what its users send, so that the compiler lays
//! out and inlines the code those requests run as the hot path.
//!
//! The requests are the benchmark's (`benches/common/bodies.rs`): OpenClaw's
//! turns, a small chat request, Claude Code's request and next turns (to a
//! chat provider and to an Anthropic-format one), a Codex-style Responses
//! request; each streamed and not, through the front end its client uses.
//! Every answer must be whole, or the run fails: a profile of errors would
//! optimise the wrong path.
//!
//! Run by `benches/pgo.sh`, which names the instrumented gateway
//! (`CLAWGATE_TRAIN_GATEWAY`; this build's own without it) and where it
//! writes its counts (`CLAWGATE_TRAIN_PROFILE`, an `LLVM_PROFILE_FILE`
//! pattern); optionally `-- REQUESTS` a scenario (default 300).

use std::time::Instant;

use clawgate_mock::{MockOptions, MockServer};
use futures_util::StreamExt;
use serde_json::{Value, json};

#[allow(dead_code)]
#[path = "common/bodies.rs"]
mod bodies;
#[path = "common/post.rs"]
mod post;
#[allow(dead_code)]
#[path = "common/process.rs"]
mod process;

/// How many requests are in flight at once, as in the benchmark.
const CONCURRENCY: usize = 8;

/// The model that reaches the Anthropic transport (Kimi Coding's dialect).
const ANTHROPIC_TARGET: &str = "kc/kimi-for-coding";

/// A scenario: the front end's path and the bodies its client sends, in turn.
struct Scenario {
    name: &'static str,
    path: &'static str,
    bodies: Vec<Vec<u8>>,
}

/// `body` (a JSON object) with `member` set to `value`.
fn with(body: &[u8], member: &str, value: Value) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(body).expect("a scenario body is JSON");
    body[member] = value;
    serde_json::to_vec(&body).expect("JSON values serialize")
}

fn scenarios() -> Vec<Scenario> {
    let openclaw_turns: Vec<Vec<u8>> = (0..CONCURRENCY)
        .flat_map(|c| {
            bodies::openclaw_conversation(&format!("Tidy up my notes {c}."), 20..31, true)
        })
        .collect();
    let claude_code_turns: Vec<Vec<u8>> = (0..CONCURRENCY)
        .flat_map(|c| bodies::claude_code_conversation(&format!("Fix the test {c}."), 4..10))
        .collect();
    let to_anthropic = |bodies: &[Vec<u8>]| -> Vec<Vec<u8>> {
        (bodies.iter())
            .map(|body| with(body, "model", json!(ANTHROPIC_TARGET)))
            .collect()
    };
    let not_streamed = |body: &[u8]| with(body, "stream", json!(false));
    let scenario = |name, path, bodies| Scenario { name, path, bodies };
    let chat = "/v1/chat/completions";
    let messages = "/v1/messages";
    let claude_code = bodies::claude_code_request();
    let responses = bodies::responses_request();
    vec![
        scenario("OpenClaw's turn", chat, vec![bodies::openclaw_turn(true)]),
        scenario(
            "OpenClaw's turn, not streamed",
            chat,
            vec![bodies::openclaw_turn(false)],
        ),
        scenario("OpenClaw's next turns", chat, openclaw_turns),
        scenario("a small request", chat, vec![bodies::small_request(true)]),
        scenario(
            "a small request, not streamed",
            chat,
            vec![bodies::small_request(false)],
        ),
        scenario("Claude Code's request", messages, vec![claude_code.clone()]),
        scenario(
            "Claude Code's request, not streamed",
            messages,
            vec![not_streamed(&claude_code)],
        ),
        scenario(
            "Claude Code's request, to Anthropic",
            messages,
            to_anthropic(&[claude_code]),
        ),
        scenario(
            "Claude Code's next turns",
            messages,
            claude_code_turns.clone(),
        ),
        scenario(
            "Claude Code's next turns, to Anthropic",
            messages,
            to_anthropic(&claude_code_turns),
        ),
        scenario("Codex's request", "/v1/responses", vec![responses.clone()]),
        scenario(
            "Codex's request, not streamed",
            "/v1/responses",
            vec![not_streamed(&responses)],
        ),
    ]
}

/// Sends `body` and reads its answer to the end: an error unless it is a
/// success and whole, a JSON answer that parses or a stream that ends as
/// its API ends one (a stream that broke after its head is still a 200).
async fn send(client: &reqwest::Client, url: &str, body: &[u8]) -> Result<(), String> {
    let (status, answer) = post::post(client, url, body).await?;
    let text = String::from_utf8_lossy(&answer);
    let whole = if text.starts_with('{') {
        serde_json::from_slice::<Value>(&answer).is_ok()
    } else {
        let ends = [
            "data: [DONE]",
            "event: message_stop",
            "event: response.completed",
        ];
        ends.iter().any(|end| text.contains(end))
    };
    if !status.is_success() || !whole {
        return Err(format!("{status}: {text}"));
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    let requests: usize = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(300);
    let mock = MockServer::start(MockOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    // Moonshot's rules apply to a provider of that name at any URL; `kc`
    // is Kimi Coding's Anthropic endpoint.
    let root = mock.base_url().trim_end_matches("/v1").to_string();
    let settings = json!({
        "models": {"providers": {
            "moonshot": {"baseUrl": mock.base_url(), "apiKey": "sk-train"},
            "kc": {"baseUrl": root, "apiKey": "sk-train", "api": "anthropic-messages",
                   "dialect": "kimi-coding",
                   "models": [{"id": "kimi-for-coding", "reasoning": true, "maxTokens": 32768}]}}},
        "agents": {"defaults": {"model": "moonshot/kimi-k2.6"}},
    });
    std::fs::write(&config, settings.to_string()).unwrap();
    let (mut child, base) = match std::env::var_os("CLAWGATE_TRAIN_GATEWAY") {
        Some(gateway) => process::serve_binary(gateway.as_ref(), &config, "info", None),
        None => process::serve(&config, "info"),
    };

    let client = reqwest::Client::new();
    let started = Instant::now();
    for scenario in scenarios() {
        let url = format!("{base}{}", scenario.path);
        let bodies = &scenario.bodies;
        let failures: Vec<String> = futures_util::stream::iter(0..requests)
            .map(|nth| send(&client, &url, &bodies[nth % bodies.len()]))
            .buffer_unordered(CONCURRENCY)
            .filter_map(|sent| async move { sent.err() })
            .collect()
            .await;
        if let Some(first) = failures.first() {
            let _ = child.kill();
            panic!(
                "{}: {} of {requests} requests failed; the first: {first}",
                scenario.name,
                failures.len()
            );
        }
        println!("{}: {requests} requests", scenario.name);
    }
    // SIGTERM: the gateway drains and exits, writing its profile.
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "clawgate exits cleanly on SIGTERM: {status}"
    );
    println!("trained in {:.1} s", started.elapsed().as_secs_f64());
}
