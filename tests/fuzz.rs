//! Bounded fuzzing of what clawgate reads from outside: the config reader
//! (JSON5 text to a validated config) and the request-body readers of the
//! front ends. Zero panics, on any input.
//!
//! Two parts: property tests over well-formed but arbitrary JSON, and a
//! mutation loop over seed inputs (byte flips, JSON5 punctuation, deep
//! nesting, long strings, splices) that runs for a time budget per target:
//! `CLAWGATE_FUZZ_SECONDS` (default 2; `.ci/run` gives it 10). A failing
//! input is written to `target/fuzz-failures/` and its seed printed;
//! `CLAWGATE_FUZZ_SEED` replays a run. The same targets run under
//! cargo-fuzz from `fuzz/` where a nightly toolchain is available.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clawgate::config::{Environment, Secrets, load_str};
use clawgate::translate::{anthropic_client, responses_client};
use clawgate::wire::anthropic::MessagesRequest;
use clawgate::wire::openai::ChatRequest;
use clawgate::wire::responses::ResponsesRequest;
use proptest::prelude::*;
use serde_json::{Value, json};

fn config_reader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Environment::from_pairs([
        ("MOONSHOT_API_KEY", "sk-fuzz-moonshot-0123456789"),
        ("OPENROUTER_API_KEY", "sk-fuzz-openrouter-0123456789"),
    ]);
    for secrets in [Secrets::Required, Secrets::Offline] {
        if let Ok(loaded) = load_str(text, &env, secrets) {
            // What `config show` and `serve` do with a config it accepted.
            let _ = loaded.config.redacted();
            let _ = loaded.config.chain(None);
        }
    }
}

fn chat_body(data: &[u8]) {
    if let Ok(request) = ChatRequest::parse(Bytes::copy_from_slice(data)) {
        let _ = request.model();
    }
}

/// The Messages reader as the front end's decode runs it (member by
/// member, remembering the system prompt and tools), held to serde reading
/// the whole body: the same verdict and the same translation, twice over
/// (the second time from what the first remembered).
fn messages_body(data: &[u8]) {
    let whole = MessagesRequest::parse(data);
    for _ in 0..2 {
        let read = anthropic_client::Read::parse(data);
        assert_eq!(read.is_ok(), whole.is_ok(), "read: {:?}", read.err());
        if let (Ok(read), Ok(whole)) = (&read, &whole) {
            let translated = read.translate(None).map(|(chat, _, _)| chat);
            assert_eq!(translated, anthropic_client::request(whole, None));
            if let Ok(chat) = translated {
                let _ = ChatRequest::parse(chat);
            }
        }
    }
}

/// The Responses reader and its translation into the request model, as
/// the front end's decode runs them, held to serde reading the whole body
/// like [`messages_body`].
fn responses_body(data: &[u8]) {
    let whole = ResponsesRequest::parse(data);
    for _ in 0..2 {
        let read = responses_client::Read::parse(data);
        assert_eq!(read.is_ok(), whole.is_ok(), "read: {:?}", read.err());
        if let (Ok(read), Ok(whole)) = (&read, &whole) {
            let translated = read.translate(None).map(|t| (t.body, t.names));
            assert_eq!(translated, responses_client::request(whole, None));
            if let Ok((chat, _)) = translated {
                let _ = ChatRequest::parse(chat);
            }
        }
    }
}

/// `seed` with its long texts longer than what the readers remember
/// (a kilobyte).
fn with_long_texts(mut seed: Value) -> Value {
    let long = "Long enough to be remembered. ".repeat(40);
    if seed.get("instructions").is_some() {
        seed["instructions"] = json!(long);
        seed["tools"][0]["description"] = json!(long);
    } else {
        // Claude Code's attribution block first, then a long prompt.
        seed["system"] = json!([
            {"type": "text", "text": "x-anthropic-billing-header: cch=1;"},
            {"type": "text", "text": long, "cache_control": {"type": "ephemeral"}},
        ]);
        seed["tools"][0]["description"] = json!(long);
    }
    seed
}

struct Target {
    name: &'static str,
    run: fn(&[u8]),
    seeds: Vec<Vec<u8>>,
    /// Mutants longer than this are tried but not mutated further: the
    /// JSON5 parser takes microseconds a byte in a debug build.
    parent_len: usize,
}

fn targets() -> Vec<Target> {
    vec![
        Target {
            name: "config_reader",
            run: config_reader,
            seeds: config_seeds(),
            parent_len: 4 * 1024,
        },
        Target {
            name: "chat_body",
            run: chat_body,
            seeds: vec![chat_seed().to_string().into_bytes()],
            parent_len: 64 * 1024,
        },
        Target {
            name: "messages_body",
            run: messages_body,
            seeds: vec![
                messages_seed().to_string().into_bytes(),
                with_long_texts(messages_seed()).to_string().into_bytes(),
            ],
            parent_len: 64 * 1024,
        },
        Target {
            name: "responses_body",
            run: responses_body,
            seeds: vec![
                responses_seed().to_string().into_bytes(),
                with_long_texts(responses_seed()).to_string().into_bytes(),
            ],
            parent_len: 64 * 1024,
        },
    ]
}

fn config_seeds() -> Vec<Vec<u8>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/seeds");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("the seed configs")
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    seeds.push(
        br#"{ gateway: { port: 0, auth: { token: 'gw-token-0123456789' }, timeouts: { idleSeconds: 1e-3, chainSeconds: 90 },
             limits: { maxEventBytes: 1024 }, allowedHosts: ['x.local'], retries: { perTarget: 2 } },
             env: { K: 'sk-env-0123456789' },
             models: { mode: 'merge', providers: { p: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: '${K}', api: 'anthropic-messages',
               headers: { 'X-Key': 'v' }, models: [{ id: 'm', contextWindow: 1000, cost: { input: 1.5 } }] } } },
             agents: { defaults: { model: { primary: 'p/m', fallbacks: ['kimi/kimi-for-coding'] },
               models: { 'p/m': { alias: 'fast', params: { temperature: 0.2 } } } } } }"#
            .to_vec(),
    );
    seeds
}

fn chat_seed() -> Value {
    json!({
        "model": "kimi/kimi-for-coding",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi \u{e9}"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
            {"role": "assistant", "content": null, "reasoning_content": "think", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "42"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"a": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}}}}],
        "tool_choice": "auto",
        "max_tokens": 100,
        "temperature": 0.5,
        "reasoning_effort": "high"
    })
}

/// Codex-shaped: developer and user items, reasoning, a call and its
/// output, function, namespace, custom and hosted tools.
fn responses_seed() -> Value {
    json!({
        "model": "kimi/kimi-for-coding",
        "stream": true,
        "store": false,
        "instructions": "be brief",
        "reasoning": {"effort": "high", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "n", "schema": {"type": "object"}}},
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "rules"}]},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "think"}], "content": null},
            {"type": "function_call", "call_id": "cgid_0badcafe_66", "name": "wait", "namespace": "agents", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "cgid_0badcafe_66", "output": "42"},
            {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"}
        ],
        "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"}},
            {"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "wait"}]},
            {"type": "custom", "name": "apply_patch", "format": {"type": "grammar", "syntax": "lark", "definition": "start: x"}},
            {"type": "web_search"}
        ],
        "tool_choice": {"type": "function", "name": "f"}
    })
}

fn messages_seed() -> Value {
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "stream": true,
        "system": [{"type": "text", "text": "x-anthropic-billing-header: cc\nbe brief", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}}
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "42"}]}]}
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "metadata": {"user_id": "u"}
    })
}

/// Bytes that mean something to a JSON or JSON5 reader.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"'",
    b":",
    b",",
    b"\\",
    b"\\u",
    b"\\ud800",
    b"/*",
    b"//",
    b"\n",
    b"0",
    b"-",
    b"1e-300",
    b"1e999",
    b"NaN",
    b"Infinity",
    b"null",
    b"true",
    b"${",
    b"${A}",
    b"\xff",
    b"\xc3",
    b"\0",
    b"-0",
    b"18446744073709551616",
    b"\"messages\"",
    b"\"role\"",
    b"\"content\"",
    b"\"tool_calls\"",
    b"\"model\"",
    b"\"type\"",
    b"apiKey",
];

fn mutate(rng: &mut fastrand::Rng, input: &mut Vec<u8>, pool: &[Vec<u8>], long: usize) {
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=input.len());
        match rng.u8(..9) {
            0 if !input.is_empty() => {
                let at = rng.usize(..input.len());
                input[at] ^= 1 << rng.u8(..8);
            }
            1 | 2 => {
                let token = TOKENS[rng.usize(..TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
            3 if !input.is_empty() => {
                let end = (at + rng.usize(..64)).min(input.len());
                input.drain(at.min(end)..end);
            }
            4 => {
                // Deep nesting, balanced or not.
                let depth = [10, 100, 1_000, 100_000][rng.usize(..4)];
                let open = if rng.bool() { b'[' } else { b'{' };
                let mut nest = vec![open; depth];
                if rng.bool() {
                    nest.extend(std::iter::repeat_n(
                        if open == b'[' { b']' } else { b'}' },
                        depth,
                    ));
                }
                input.splice(at..at, nest);
            }
            5 => {
                let long = format!("\"{}\"", "a".repeat(rng.usize(..long)));
                input.splice(at..at, long.into_bytes());
            }
            6 => {
                let other = &pool[rng.usize(..pool.len())];
                if !other.is_empty() {
                    let from = rng.usize(..other.len());
                    let to = (from + rng.usize(..256)).min(other.len());
                    input.splice(at..at, other[from..to].iter().copied());
                }
            }
            7 => input.truncate(at),
            _ => {
                if let Some(&byte) = input.get(at) {
                    input.insert(at, byte);
                }
            }
        }
    }
}

fn budget() -> Duration {
    let seconds = std::env::var("CLAWGATE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(seconds)
}

/// Runs `target` on its seeds and on mutations of them until the budget is
/// spent; returns how many inputs were tried.
fn fuzz(target: &Target) -> usize {
    let seed = std::env::var("CLAWGATE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut pool = target.seeds.clone();
    let deadline = Instant::now() + budget();
    let mut tried = 0;
    loop {
        let input = if tried < target.seeds.len() {
            target.seeds[tried].clone()
        } else {
            let mut input = pool[rng.usize(..pool.len())].clone();
            mutate(&mut rng, &mut input, &pool, 2 * target.parent_len);
            input
        };
        if catch_unwind(AssertUnwindSafe(|| (target.run)(&input))).is_err() {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/fuzz-failures");
            std::fs::create_dir_all(dir).unwrap();
            let path = format!("{dir}/{}-{seed}", target.name);
            std::fs::write(&path, &input).unwrap();
            panic!(
                "{} panicked on input #{tried} (CLAWGATE_FUZZ_SEED={seed}); input written to {path}",
                target.name
            );
        }
        tried += 1;
        // Keep some mutants as parents; bounded, so long runs stay fast.
        if input.len() <= target.parent_len && rng.u8(..8) == 0 {
            if pool.len() < 256 {
                pool.push(input);
            } else {
                let at = rng.usize(target.seeds.len()..pool.len());
                pool[at] = input;
            }
        }
        if tried >= target.seeds.len() && Instant::now() >= deadline {
            return tried;
        }
    }
}

#[test]
fn the_config_reader_never_panics() {
    let targets = targets();
    let tried = fuzz(&targets[0]);
    eprintln!("config_reader: {tried} inputs");
}

#[test]
fn the_request_body_readers_never_panic() {
    for target in &targets()[1..] {
        let tried = fuzz(target);
        eprintln!("{}: {tried} inputs", target.name);
    }
}

/// Arbitrary JSON, up to a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[a-z_${}/.:-]{0,12}".prop_map(Value::from),
        prop::sample::select(vec![
            "user",
            "assistant",
            "tool",
            "system",
            "text",
            "image_url",
            "tool_use",
            "auto",
            "kimi/kimi-for-coding"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec![
                        "model",
                        "messages",
                        "role",
                        "content",
                        "type",
                        "text",
                        "tool_calls",
                        "id",
                        "function",
                        "arguments",
                        "name",
                        "tools",
                        "stream",
                        "max_tokens",
                        "system",
                        "gateway",
                        "models",
                        "providers",
                        "agents",
                        "defaults",
                        "primary",
                        "fallbacks",
                        "baseUrl",
                        "apiKey",
                        "timeouts",
                        "idleSeconds",
                        "x",
                    ]),
                    inner,
                ),
                0..6,
            )
            .prop_map(|members| {
                Value::Object(
                    members
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                )
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_json_never_makes_a_reader_panic(value in json_value()) {
        let text = value.to_string();
        for target in targets() {
            (target.run)(text.as_bytes());
        }
    }
}
