//! Sessions in the ledger, through the gateway: every usage shape Kimi
//! sends (K3's top-level `cached_tokens`, K2.x's
//! `prompt_tokens_details.cached_tokens`, and the Anthropic-compatible
//! stream whose `message_start` counts the cache reads in `input_tokens`),
//! whole and streamed, scripted on the mock, reaches each row and
//! `clawgate usage --by session --json` token for token, each counted once,
//! cache writes priced at `cacheWrite`; `/v1/usage?by=session` shows a
//! client that is not an admin its own sessions only.

mod common;

use clawgate_mock::{MockOptions, MockServer, UsageShape};
use common::ledgered::{self, Ledgered};
use common::*;
use serde_json::{Value, json};

/// What every scripted answer reports: input (cache reads and writes
/// included, as OpenAI counts it), of it read and written, and output.
const PROMPT: u64 = 1000;
const CACHED: u64 = 800;
const WRITTEN: u64 = 50;
const REPLY: &str = "one two three";
const OUTPUT: u64 = 3;
/// USD per million tokens, as kimi-k3's: a cache hit at a tenth.
const PRICE: (f64, f64, f64, f64) = (3.0, 0.3, 3.75, 15.0);

const ALICE: &str = "alice-key-0123456789abcdef";
const BOB: &str = "bob-key-0123456789abcdef00";
const ADMIN: &str = "admin-token-0123456789abcdef";

async fn scripted(style: &str, written: u64) -> MockServer {
    mock(MockOptions {
        style: style.into(),
        usage_shape: (written > 0).then_some(UsageShape::KimiAnthropic),
        prompt_tokens: Some(PROMPT),
        cached_tokens: CACHED,
        cache_write_tokens: written,
        reply: REPLY.into(),
        reasoning: String::new(),
        ..MockOptions::default()
    })
    .await
}

fn model() -> Value {
    let (input, cache_read, cache_write, output) = PRICE;
    json!([{"id": "m", "cost": {"input": input, "cacheRead": cache_read,
                                "cacheWrite": cache_write, "output": output}}])
}

async fn start(config: Value) -> Ledgered {
    ledgered::start(config, &[("ALICE_KEY", ALICE), ("BOB_KEY", BOB)]).await
}

/// Sends `body` to `path` as `key`'s client, in `session`, and reads the
/// answer to its end.
async fn send(served: &Ledgered, path: &str, key: &str, session: &str, body: Value) {
    let test = &served.test;
    let mut request = test.client().post(format!("{}{path}", test.url));
    if !key.is_empty() {
        request = request.bearer_auth(key);
    }
    let response = request
        .header("x-clawgate-session", session)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{session}");
    response.text().await.unwrap();
}

/// Each row's session and tokens: in, cached, written, out.
fn read_rows(path: &std::path::Path) -> Vec<(String, [i64; 4])> {
    let conn = clawgate::ledger::store::open_read_only(path).unwrap();
    let mut statement = conn
        .prepare(
            "SELECT session, tokens_in, tokens_cached, tokens_written, tokens_out \
             FROM requests ORDER BY id",
        )
        .unwrap();
    statement
        .query_map([], |r| {
            let count = |i| r.get::<_, Option<i64>>(i).map(|n| n.unwrap_or(-1));
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                [count(1)?, count(2)?, count(3)?, count(4)?],
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// What a turn costs with `written` tokens written to the cache, and what
/// it would have at the full input price.
fn costs(written: u64) -> (f64, f64) {
    let (input, cache_read, cache_write, output) = PRICE;
    let uncached = (PROMPT - CACHED - written) as f64;
    let cost = (uncached * input
        + CACHED as f64 * cache_read
        + written as f64 * cache_write
        + OUTPUT as f64 * output)
        / 1e6;
    (cost, (PROMPT as f64 * input + OUTPUT as f64 * output) / 1e6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_usage_shape_kimi_sends_is_counted_once_in_its_session() {
    // K3 (`cached_tokens` at the top), K2.x (in `prompt_tokens_details`),
    // and Kimi's Anthropic-compatible endpoint (with cache writes).
    let (k3, k2, anthropic) = (
        scripted("moonshot", 0).await,
        scripted("openai", 0).await,
        scripted("anthropic", WRITTEN).await,
    );
    let served = start(json!({
        "models": {"mode": "replace", "providers": {
            "k3": {"baseUrl": k3.base_url(), "apiKey": KEY, "models": model()},
            "k2": {"baseUrl": k2.base_url(), "apiKey": KEY, "models": model()},
            "kimi": {"baseUrl": format!("http://{}/", anthropic.addr), "apiKey": KEY,
                     "api": "anthropic-messages", "models": model()},
        }},
        "agents": {"defaults": {"model": {"primary": "k3/m"}}},
    }))
    .await;
    let chat = |model: &str, stream: bool| {
        json!({"model": model, "messages": user_message(), "stream": stream,
               "stream_options": {"include_usage": true}})
    };
    let messages = |model: &str, stream: bool| {
        json!({"model": model, "max_tokens": 64, "stream": stream,
               "messages": [{"role": "user", "content": "hello"}]})
    };
    // Each shape whole and streamed, two turns of one session; the
    // Anthropic endpoint from a chat client (translated) and from a
    // Messages client (its own events).
    let cases: [(&str, &str, Value, u64); 8] = [
        ("k3", "/v1/chat/completions", chat("k3/m", false), 0),
        ("k3-stream", "/v1/chat/completions", chat("k3/m", true), 0),
        ("k2", "/v1/chat/completions", chat("k2/m", false), 0),
        ("k2-stream", "/v1/chat/completions", chat("k2/m", true), 0),
        (
            "kimi",
            "/v1/chat/completions",
            chat("kimi/m", false),
            WRITTEN,
        ),
        (
            "kimi-stream",
            "/v1/chat/completions",
            chat("kimi/m", true),
            WRITTEN,
        ),
        (
            "kimi-messages",
            "/v1/messages",
            messages("kimi/m", false),
            WRITTEN,
        ),
        (
            "kimi-messages-stream",
            "/v1/messages",
            messages("kimi/m", true),
            WRITTEN,
        ),
    ];
    for (session, path, body, _) in &cases {
        for _ in 0..2 {
            send(&served, path, "", session, body.clone()).await;
        }
    }
    served.rows(2 * cases.len()).await;

    let rows = read_rows(&served.path());
    for (session, .., written) in &cases {
        let counts: Vec<_> = rows.iter().filter(|(s, _)| s == session).collect();
        assert_eq!(counts.len(), 2, "{session}: {rows:?}");
        for (_, counts) in counts {
            let scripted = [PROMPT, CACHED, *written, OUTPUT].map(|n| n as i64);
            let scripted = match written {
                // No cache write said: none written (NULL).
                0 => [scripted[0], scripted[1], -1, scripted[3]],
                _ => scripted,
            };
            assert_eq!(*counts, scripted, "{session}: the row's tokens");
        }
    }

    let output = clawgate(&[
        "usage",
        "--by",
        "session",
        "--json",
        "--since",
        "today",
        "--ledger",
        served.path().to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", shown(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let sessions = report["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), cases.len(), "{report}");
    for (session, _, body, written) in &cases {
        let line = sessions
            .iter()
            .find(|s| s["session"] == *session)
            .unwrap_or_else(|| panic!("{session}: {report}"));
        let model = body["model"].as_str().unwrap();
        assert_eq!(line["targets"], json!([model]), "{session}");
        assert_eq!(line["turns"], 2, "{session}");
        assert_eq!(
            [
                &line["tokensIn"],
                &line["tokensCached"],
                &line["tokensWritten"],
                &line["tokensOut"]
            ],
            [
                &json!(2 * PROMPT),
                &json!(2 * CACHED),
                &json!(2 * written),
                &json!(2 * OUTPUT)
            ],
            "{session}: {line}"
        );
        assert_eq!(line["hitRate"], 0.8, "{session}");
        let (cost, uncached) = costs(*written);
        let close = |field: &str, usd: f64| {
            let shown = line[field].as_f64().unwrap();
            assert!(
                (shown - 2.0 * usd).abs() < 1e-12,
                "{session} {field}: {line}"
            );
        };
        close("costUsd", cost);
        close("uncachedCostUsd", uncached);
        close("savedUsd", uncached - cost);
    }

    // The table: a line per session, with its hit rate.
    let path = served.path();
    let output = clawgate(&[
        "usage",
        "--by",
        "session",
        "--ledger",
        path.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let table = shown(&output);
    assert!(output.status.success(), "{table}");
    assert!(table.contains("hit rate"), "{table}");
    let line = table
        .lines()
        .find(|l| l.starts_with("kimi-messages-stream "))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains(" 80.0% "), "{table}");
}

#[tokio::test]
async fn a_client_that_is_not_an_admin_reads_its_own_sessions_only() {
    let provider = scripted("openai", 0).await;
    let served = start(json!({
        "models": {"mode": "replace", "providers": {
            "p": {"baseUrl": provider.base_url(), "apiKey": KEY, "models": model()}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"auth": {"token": ADMIN}, "clients": {
            "alice": {"key": "${ALICE_KEY}"}, "bob": {"key": "${BOB_KEY}"}}},
    }))
    .await;
    let body = json!({"model": "p/m", "messages": user_message()});
    // Both name a session "shared": two clients' two sessions.
    send(
        &served,
        "/v1/chat/completions",
        ALICE,
        "shared",
        body.clone(),
    )
    .await;
    send(
        &served,
        "/v1/chat/completions",
        ALICE,
        "alice-only",
        body.clone(),
    )
    .await;
    send(&served, "/v1/chat/completions", BOB, "shared", body.clone()).await;
    served.rows(3).await;
    let usage = |key: &'static str, query: &'static str| {
        let client = served.test.client();
        let url = format!("{}/v1/usage?{query}", served.test.url);
        async move {
            let response = client.get(url).bearer_auth(key).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let listed = |report: &Value| -> Vec<(String, String)> {
        report["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let text = |key: &str| s[key].as_str().unwrap().to_string();
                (text("client"), text("session"))
            })
            .collect()
    };
    let (status, all) = usage(ADMIN, "by=session&since=today").await;
    assert_eq!(status, 200, "{all}");
    let mut everyone = listed(&all);
    everyone.sort();
    assert_eq!(
        everyone,
        [
            ("alice".into(), "alice-only".into()),
            ("alice".into(), "shared".into()),
            ("bob".into(), "shared".into())
        ]
    );
    let (_, bobs) = usage(BOB, "by=session&since=today").await;
    assert_eq!(listed(&bobs), [("bob".into(), "shared".into())], "{bobs}");
    assert_eq!(bobs["total"]["requests"], 1, "{bobs}");
    let (status, refused) = usage(BOB, "by=session&client=alice").await;
    assert_eq!(status, 403, "{refused}");
    // Bounded: the last used first, at most the limit.
    let (_, last) = usage(ADMIN, "by=session&since=today&limit=1").await;
    assert_eq!(listed(&last), [("bob".into(), "shared".into())], "{last}");
    for bad in ["limit=0", "limit=1001", "limit=some"] {
        let (status, body) = usage(ADMIN, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}
