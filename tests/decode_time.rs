//! What decoding one of Claude Code's next turns costs, stage by stage, on
//! the benchmark's own bodies (`benches/common/bodies.rs`): reading the
//! Messages body, translating it into chat bytes, and reading those into
//! the request model (the whole of `Messages::decode` today, paid whatever
//! the target). A figure to compare across changes of the request model
//! without the whole benchmark; run it built `--release`:
//! `cargo test --release --test decode_time -- --ignored --nocapture`.

#[allow(dead_code)]
#[path = "../benches/common/bodies.rs"]
mod bodies;

use std::time::{Duration, Instant};

use clawgate::gateway::Memos;
use clawgate::translate::anthropic_client::Read;
use clawgate::translate::fields;
use clawgate::wire::openai::ChatRequest;
use clawgate::wire::request::ClientRequest;

/// The mean time of `run` over `rounds` rounds of every body, after one
/// round that fills the memos.
fn mean(bodies: &[Vec<u8>], rounds: u32, mut run: impl FnMut(&[u8])) -> Duration {
    for body in bodies {
        run(body);
    }
    let start = Instant::now();
    for _ in 0..rounds {
        for body in bodies {
            run(body);
        }
    }
    start.elapsed() / (rounds * bodies.len() as u32)
}

#[test]
#[ignore = "a timing: run built --release, with --nocapture"]
fn a_claude_code_next_turn_decodes_in() {
    let bodies = bodies::claude_code_conversation("Fix the failing test 0.", 4..10);
    let rounds = 300;
    let memos = Memos::default();
    let read = mean(&bodies, rounds, |body| {
        let read = Read::parse_with(body, &memos.messages).expect("reads");
        std::hint::black_box(read);
    });
    let translated = mean(&bodies, rounds, |body| {
        let read = Read::parse_with(body, &memos.messages).expect("reads");
        let translated = read.translate(Some("k/m")).expect("translates");
        std::hint::black_box(translated);
    });
    let decoded = mean(&bodies, rounds, |body| {
        let read = Read::parse_with(body, &memos.messages).expect("reads");
        let (chat, _, _) = read.translate(Some("k/m")).expect("translates");
        let request = ChatRequest::parse_with(chat, &memos.requests).expect("parses");
        std::hint::black_box(request);
    });
    let size = bodies.iter().map(Vec::len).sum::<usize>() / bodies.len();
    eprintln!(
        "Claude Code's next turn ({size} bytes): read {read:?}, read and translated \
         {translated:?}, decoded into the chat model {decoded:?} (the chat part: {:?})",
        decoded.saturating_sub(read)
    );
    assert!(read <= decoded);
}

/// What the chat path spends on OpenClaw's 66 KB turn before the call, stage
/// by stage: reading the body, the session's fingerprint, and the plan for
/// `moonshot/kimi-k2.6` (Kimi's rules: the repeated tool-call ids renamed).
/// `cargo test --release --test decode_time -- --ignored --nocapture`.
#[test]
#[ignore = "a timing: run built --release, with --nocapture"]
fn an_openclaw_turn_is_read_and_planned_in() {
    use clawgate::config::{self, Environment, Secrets};
    use clawgate::providers::{Memo, plan};
    use clawgate::session::conversation::Conversation;

    let config = serde_json::json!({
        "models": {"providers": {"moonshot": {"baseUrl": "http://127.0.0.1:9/v1", "apiKey": "sk-x"}}},
        "agents": {"defaults": {"model": "moonshot/kimi-k2.6"}}});
    let loaded = config::load_str(
        &config.to_string(),
        &Environment::default(),
        Secrets::Required,
    )
    .unwrap_or_else(|errors| panic!("refused:\n{errors}"));
    let target = loaded.config.chain(None).unwrap().remove(0);
    let bodies = vec![bodies::openclaw_turn(true)];
    let rounds: u32 = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2000);
    let memos = Memos::default();
    let parse = |body: &[u8]| {
        ChatRequest::parse_with(bytes::Bytes::copy_from_slice(body), &memos.requests).unwrap()
    };
    let read = mean(&bodies, rounds, |body| {
        std::hint::black_box(parse(body));
    });
    let request = parse(&bodies[0]);
    // The fields the tools hold: remembered, and read anew each time.
    let noted = mean(&bodies, rounds, |_| {
        std::hint::black_box(fields::chat(&request, &memos.chat_tools));
    });
    let noted_anew = mean(&bodies, rounds, |_| {
        std::hint::black_box(fields::chat(&request, &fields::ToolsMemo::default()));
    });
    let fingerprint = mean(&bodies, rounds, |_| {
        std::hint::black_box(Conversation::of(&request));
    });
    let memo = Memo::default();
    let client = ClientRequest::from(request.clone());
    let planned = mean(&bodies, rounds, |_| {
        std::hint::black_box(plan(&client, &target, &memo).unwrap());
    });
    let written = mean(&bodies, rounds, |_| {
        let plan = plan(&client, &target, &memo).unwrap();
        std::hint::black_box(plan.decided.write(&request));
    });
    eprintln!(
        "OpenClaw's turn ({} bytes): read {read:?}, fields noted {noted:?} \
         ({noted_anew:?} with its tools read anew), fingerprinted {fingerprint:?}, \
         planned {planned:?}, planned and written {written:?}",
        bodies[0].len()
    );
}
