//! Reserve, then settle: a request's worst cost is held against the
//! budgets, and its most tokens against `tokensPerMinute`, while it is in
//! flight; when it ends, what it used (reported, or estimated from the
//! bytes when no usage came) takes their place. On the SQLite ledger;
//! `tests/postgres.rs` has the same on a shared PostgreSQL.

mod common;

use std::time::{Duration, SystemTime};

use clawgate::config::ledger::Budgets;
use clawgate::ledger::{Ledger, Row, Tokens, calendar};
use clawgate_mock::MockOptions;
use common::ledgered::{self, Ledgered};
use common::log::Captured;
use common::*;
use serde_json::{Value, json};

const ALICE: &str = "alice-key-0123456789abcdef";

/// One provider `p/m` at $1,000 per million tokens each way ($0.001 a
/// token); alice with `alice` as her settings.
fn config(base_url: &str, alice: Value) -> Value {
    let mut alice = alice;
    alice["key"] = json!("${ALICE_KEY}");
    json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": base_url, "apiKey": KEY,
            "models": [{"id": "m", "cost": {"input": 1000, "output": 1000}}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"clients": {"alice": alice}},
    })
}

async fn start(config: Value) -> Ledgered {
    ledgered::start(config, &[("ALICE_KEY", ALICE)]).await
}

/// What alice has spent today of `p/m`, as the budgets count it.
fn spent_today(ledger: &Ledger) -> f64 {
    let today = calendar::day_of(SystemTime::now());
    ledger.with_totals(|t| t.since(Some("alice"), today, |_| true).cost_usd)
}

/// What alice has spent today once a row of hers is counted (rows are
/// counted as their bodies are dropped; a second at most).
async fn spent_once_counted(ledger: &Ledger) -> f64 {
    for _ in 0..100 {
        let spent = spent_today(ledger);
        if spent > 0.0 {
            return spent;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    0.0
}

/// A provider whose streams stop after `chunks` chunks, and alice with
/// `alice` as her settings.
async fn stalling(chunks: usize, alice: Value) -> (clawgate_mock::MockServer, Ledgered) {
    let mock = mock(MockOptions {
        stall_after_chunks: Some(chunks),
        ..MockOptions::default()
    })
    .await;
    let served = start(config(&mock.base_url(), alice)).await;
    (mock, served)
}

/// A row of alice's that cost `usd`, as if she had spent it earlier today.
fn spent_earlier(usd: f64) -> Row {
    Row {
        tokens: Tokens::default(),
        cost_usd: Some(usd),
        ..common::rows::answered("p/m")
    }
}

/// The body every request sends: 20 tokens of output at most.
fn body() -> Value {
    json!({"model": "p/m", "max_tokens": 20, "messages": user_message()})
}

/// A request's worst cost, as the gateway reserves it: its body's bytes
/// as tokens (four ASCII bytes a token) and its 20 tokens of output, at
/// $0.001 a token.
fn worst_usd() -> f64 {
    let bytes = body().to_string().len() as u64;
    (bytes.div_ceil(4) + 20) as f64 * 0.001
}

/// Sends `n` requests at once with alice's key to `url`; their statuses.
async fn at_once(url: &str, n: usize) -> Vec<u16> {
    common::at_once(url, ALICE, &body(), n).await
}

/// The bound on one gateway: a budget is called against only while its
/// spend and reservations are under the limit, so the requests at once
/// pass it by one request's worst cost at most, however many they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_requests_at_once_against_a_nearly_spent_budget_end_within_the_bound() {
    // Slow enough that the fifty are in flight together.
    let mock = mock(MockOptions {
        latency_ms: 400,
        ..MockOptions::default()
    })
    .await;
    let served = start(config(&mock.base_url(), json!({"budgets": {"daily": 1.0}}))).await;
    served
        .ledger
        .record(spent_earlier(0.95), &[&Budgets::default()]);
    let statuses = at_once(&served.test.url, 50).await;
    let served_200 = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(
        served_200 + statuses.iter().filter(|s| **s == 402).count(),
        50,
        "{statuses:?}"
    );
    let spent = spent_today(&served.ledger);
    let bound = 1.0 + worst_usd();
    assert!(
        spent <= bound,
        "spent ${spent} past the bound ${bound}; {served_200} of 50 served"
    );
    // 0.05 from the limit, a reservation or two of about 0.04 reach it.
    assert!((1..=2).contains(&served_200), "{statuses:?}");
}

/// A budget spent by rows no check of this gateway's saw (the other
/// gateways' spend read back from a shared store, rows counted with no
/// budget) warns when a request finds it spent: a spent budget lets no
/// priced row through to warn after it.
#[tokio::test]
async fn a_budget_found_spent_warns_once_though_no_row_of_its_own_passed_80_percent() {
    let (captured, _guard) = Captured::start();
    let served = start(config(
        &healthy_mock().await.base_url(),
        json!({"budgets": {"daily": 1.0}}),
    ))
    .await;
    served
        .ledger
        .record(spent_earlier(1.2), &[&Budgets::default()]);
    let warnings = || {
        let lines = captured.lines();
        let warned = lines.iter().filter(|line| {
            line["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("budget: 120% of the daily budget of $1.00"))
        });
        warned.count()
    };
    assert_eq!(warnings(), 0, "no check saw the row");
    for _ in 0..2 {
        let refused = (served.test.client())
            .post(format!("{}/v1/chat/completions", served.test.url))
            .bearer_auth(ALICE)
            .json(&body())
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 402);
    }
    assert_eq!(warnings(), 1, "warned once: {:#?}", captured.lines());
}

/// A stream the client leaves after its content, before the usage chunk:
/// its tokens, estimated from the bytes each way, count against its
/// `tokensPerMinute` (they used to count as none).
#[tokio::test]
async fn a_stream_left_before_its_usage_is_charged_its_estimated_tokens() {
    // More than the request's own reservation (its body and 20 tokens),
    // fewer than that and the tokens it is charged after.
    let (_mock, served) = stalling(3, json!({"limits": {"tokensPerMinute": 60}})).await;
    let mut response = stream_of_400_bytes(&served).await;
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    while !seen.contains("\"content\"") {
        let chunk = response.chunk().await.unwrap().expect("the stream began");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    assert!(
        waits(&served).await,
        "the estimate was charged: alice waits"
    );
}

/// A stream the client leaves midway is charged its bytes as tokens, but
/// never more output than it was let give: the bytes sent count each
/// chunk's framing too, so a few chunks were charged several times the
/// request's worst cost (and a client that pressed Ctrl-C spent its
/// budget many times faster than its provider could bill).
#[tokio::test]
async fn a_stream_left_midway_is_charged_no_more_than_its_worst() {
    let (_mock, served) = stalling(3, json!({"budgets": {"daily": 100.0}})).await;
    let mut body = body();
    body["stream"] = json!(true);
    let worst = (body.to_string().len().div_ceil(4) + 20) as f64 * 0.001;
    let mut response = (served.test.client())
        .post(format!("{}/v1/chat/completions", served.test.url))
        .bearer_auth(ALICE)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut seen = String::new();
    while !seen.contains("reasoning_content") {
        let chunk = response.chunk().await.unwrap().expect("the stream began");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(response);
    let spent = spent_once_counted(&served.ledger).await;
    assert!(spent > 0.0, "the answer begun is charged");
    assert!(spent <= worst + 1e-9, "spent ${spent}, its worst ${worst}");
}

/// Alice asks for a stream with 400 bytes of text: about 120 tokens as
/// estimated, with the body, over her 60 a minute.
async fn stream_of_400_bytes(served: &Ledgered) -> reqwest::Response {
    served
        .test
        .client()
        .post(format!("{}/v1/chat/completions", served.test.url))
        .bearer_auth(ALICE)
        .json(&json!({"model": "p/m", "max_tokens": 20, "stream": true,
                      "messages": [{"role": "user", "content": "x".repeat(400)}]}))
        .send()
        .await
        .unwrap()
}

/// Whether alice is refused (429) within a second, her earlier requests'
/// rows (and tokens) counted as their bodies are dropped.
async fn waits(served: &Ledgered) -> bool {
    for _ in 0..100 {
        match at_once(&served.test.url, 1).await[..] {
            [429] => return true,
            [200] => tokio::time::sleep(Duration::from_millis(10)).await,
            ref other => panic!("{other:?}"),
        }
    }
    false
}

/// A provider whose stream has no usage chunk: one chunk of content, then
/// `[DONE]`.
async fn streams_no_usage() -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let chunk = json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hello"},
                             "finish_reason": "stop"}]});
            let body = format!("data: {chunk}\n\ndata: [DONE]\n\n");
            (
                [(axum::http::header::CONTENT_TYPE, "text/event-stream")],
                body,
            )
        }),
    );
    provider_app(app).await
}

/// Each of `n` choices may give the request's most output: `n` of them
/// are reserved (one was, so `n` answers could pass a budget or a
/// `tokensPerMinute` by many times one request's worst).
#[tokio::test]
async fn n_choices_reserve_n_times_the_most_output() {
    // Slow enough that the first is in flight when the second comes.
    let mock = mock(MockOptions {
        latency_ms: 400,
        ..MockOptions::default()
    })
    .await;
    let with_n = |n: u64| {
        let mut body = body();
        body["n"] = json!(n);
        body
    };
    // Room for one choice's 20 tokens and the input, not five choices'.
    let input = with_n(5).to_string().len().div_ceil(4) as u64;
    let limit = json!({"limits": {"tokensPerMinute": input + 60}});
    let served = start(config(&mock.base_url(), limit)).await;
    let ask = |body: Value| {
        let client = served.test.client();
        let url = format!("{}/v1/chat/completions", served.test.url);
        async move {
            client
                .post(url)
                .bearer_auth(ALICE)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Five choices of 20 tokens put alice 40 tokens in debt while the
    // request is in flight; one choice would have left her 40 to spare.
    let first = tokio::spawn(ask(with_n(5)));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let second = ask(with_n(1)).await;
    assert_eq!(second.status(), 429, "{:?}", second.text().await);
    assert_eq!(first.await.unwrap().status(), 200);
}

/// A model that streams no usage: its answers are charged the tokens
/// estimated from the bytes each way (they used to be charged none).
#[tokio::test]
async fn a_model_that_streams_no_usage_is_charged_its_estimated_tokens() {
    let base = streams_no_usage().await;
    let served = start(config(&base, json!({"limits": {"tokensPerMinute": 60}}))).await;
    let response = stream_of_400_bytes(&served).await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Hello"));
    assert!(
        waits(&served).await,
        "the estimate was charged: alice waits"
    );
}

/// A body sent in chunks declares no length: when no usage comes, its
/// bytes are counted as read against the budgets (they used to count as
/// none, the answer's alone charged).
#[tokio::test]
async fn a_chunked_body_that_streams_no_usage_is_charged_its_bytes() {
    let base = streams_no_usage().await;
    let served = start(config(&base, json!({"budgets": {"daily": 100.0}}))).await;
    let body = json!({"model": "p/m", "max_tokens": 1, "stream": true,
        "messages": [{"role": "user", "content": "x".repeat(4000)}]})
    .to_string();
    let body_usd = (body.len() / 4) as f64 * 0.001;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (body.as_bytes().chunks(512))
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let response = served
        .test
        .client()
        .post(format!("{}/v1/chat/completions", served.test.url))
        .bearer_auth(ALICE)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Hello"));
    let spent = spent_once_counted(&served.ledger).await;
    assert!(
        spent >= body_usd,
        "spent ${spent}, the body alone ${body_usd}"
    );
}

/// A whole answer the client leaves before it begins (the gateway still
/// assembling it from the provider's stream) is counted at its worst: the
/// provider had the request and may finish the answer. Such a request
/// used to write no row at all, its reservation released and nothing
/// counted, so leaving before the answer was a way round a budget. With
/// no budget to reserve against, it is counted the same (its own
/// `max_tokens`, not the 16,384 of a request that names none).
#[tokio::test]
async fn a_whole_answer_left_before_it_begins_is_counted_at_its_worst() {
    for alice in [json!({"budgets": {"daily": 100.0}}), json!({})] {
        // Its first chunks come, then nothing: the answer is never whole.
        let (_mock, served) = stalling(2, alice.clone()).await;
        let left = served
            .test
            .client()
            .post(format!("{}/v1/chat/completions", served.test.url))
            .bearer_auth(ALICE)
            .json(&body())
            .timeout(Duration::from_millis(500))
            .send()
            .await;
        assert!(left.is_err_and(|e| e.is_timeout()), "no answer began");
        // Its body's bytes as tokens, and the 20 tokens of output it asked.
        let worst = (body().to_string().len() / 4 + 20) as f64 * 0.001;
        let spent = spent_once_counted(&served.ledger).await;
        assert!(
            (spent - worst).abs() < 1e-9,
            "{alice}: spent ${spent}, worst ${worst}"
        );
    }
}

/// A provider slow enough that requests sent together are in flight
/// together, and alice with 1,000 tokens a minute.
async fn slow_with_a_token_limit() -> (clawgate_mock::MockServer, Ledgered) {
    let mock = mock(MockOptions {
        latency_ms: 400,
        ..MockOptions::default()
    })
    .await;
    let served = start(config(
        &mock.base_url(),
        json!({"limits": {"tokensPerMinute": 1000}}),
    ))
    .await;
    (mock, served)
}

/// Requests at once reserve their tokens: with room for one request's
/// reservation, the others are refused while it is in flight, and its
/// unused reservation is given back when it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_at_once_reserve_their_tokens_and_give_back_the_rest() {
    let (_mock, served) = slow_with_a_token_limit().await;
    let statuses = at_once(&served.test.url, 10).await;
    // Each reserves its body and 20 tokens (under 50): all fit.
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    // Asking for 2,000 tokens of output takes the bucket into debt: the
    // next ones wait.
    let client = served.test.client();
    let big = client
        .post(format!("{}/v1/chat/completions", served.test.url))
        .bearer_auth(ALICE)
        .json(&json!({"model": "p/m", "max_tokens": 2000, "messages": user_message()}))
        .send();
    let (big, _) = tokio::join!(big, async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let statuses = at_once(&served.test.url, 5).await;
        assert!(statuses.iter().all(|s| *s == 429), "{statuses:?}");
    });
    let big = big.unwrap();
    assert_eq!(big.status(), 200);
    big.bytes().await.unwrap();
    // Settled to the few tokens it used: the rest is given back.
    let mut served_again = false;
    for _ in 0..100 {
        if at_once(&served.test.url, 1).await == [200] {
            served_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(served_again, "the unused reservation was given back");
}

/// A request that gives both output limits reserves the larger: the rules
/// keep the field the model reads, so a small `max_tokens` beside a large
/// `max_completion_tokens` must not reserve the small one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_output_limits_the_larger_is_reserved() {
    let (_mock, served) = slow_with_a_token_limit().await;
    let client = served.test.client();
    let both = client
        .post(format!("{}/v1/chat/completions", served.test.url))
        .bearer_auth(ALICE)
        .json(
            &json!({"model": "p/m", "max_tokens": 1, "max_completion_tokens": 2000,
            "messages": user_message()}),
        )
        .send();
    let (both, _) = tokio::join!(both, async {
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Its 2,000 tokens took the bucket into debt.
        assert_eq!(at_once(&served.test.url, 1).await, [429]);
    });
    assert_eq!(both.unwrap().status(), 200);
}

/// An answer costs no more than was reserved: a request that sets no
/// output limit is sent the one its reservation assumed (the model's
/// `maxTokens`, in the field the model reads, else 16,384), through each
/// front end that lets a client leave it out. A client whose requests
/// reserve nothing is sent no limit it did not ask for.
#[tokio::test]
async fn a_request_that_sets_no_output_limit_is_sent_the_one_its_reservation_assumed() {
    let mock = mock(MockOptions::default()).await;
    let cost = json!({"input": 1, "output": 1});
    let config = json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": mock.base_url(), "apiKey": KEY, "models": [
                {"id": "m", "maxTokens": 20, "cost": cost},
                {"id": "c", "maxTokens": 30, "cost": cost,
                    "compat": {"maxTokensField": "max_completion_tokens"}},
                {"id": "n", "cost": cost}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
        "gateway": {"clients": {
            "alice": {"key": "${ALICE_KEY}", "budgets": {"daily": 100.0}},
            "bob": {"key": "${BOB_KEY}"}}},
    });
    const BOB: &str = "bob-key-0123456789abcdef00";
    let served = ledgered::start(config, &[("ALICE_KEY", ALICE), ("BOB_KEY", BOB)]).await;
    let client = served.test.client();
    let cases = [
        (
            ALICE,
            "/v1/chat/completions",
            "p/m",
            ("max_tokens", Some(20)),
        ),
        (ALICE, "/v1/responses", "p/m", ("max_tokens", Some(20))),
        (
            ALICE,
            "/v1/chat/completions",
            "p/c",
            ("max_completion_tokens", Some(30)),
        ),
        (
            ALICE,
            "/v1/chat/completions",
            "p/n",
            ("max_tokens", Some(16_384)),
        ),
        (BOB, "/v1/chat/completions", "p/m", ("max_tokens", None)),
        (BOB, "/v1/responses", "p/m", ("max_tokens", None)),
    ];
    for (at, (key, path, model, (field, limit))) in cases.into_iter().enumerate() {
        let body = match path {
            "/v1/responses" => json!({"model": model, "input": "hi"}),
            _ => json!({"model": model, "messages": user_message()}),
        };
        let response = (client.post(format!("{}{path}", served.test.url)))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path} {model}");
        let sent = &mock.requests()[at]["body"];
        assert_eq!(sent[field].as_u64(), limit, "{path} {model}: {sent}");
        let other = ["max_tokens", "max_completion_tokens"].map(|f| &sent[f]);
        assert_eq!(
            other.iter().filter(|v| !v.is_null()).count(),
            usize::from(limit.is_some()),
            "{path} {model}: {sent}"
        );
    }
}

/// A provider whose chat stream reports more tokens than one call can use
/// (2^42 each way), or for model `c` a cost of $1e300 for 15 tokens, and
/// whose Messages stream reports no usage at all.
async fn miscounting_provider() -> String {
    use axum::response::IntoResponse;
    // Anthropic's events are named by their type.
    let sse = |events: Vec<Value>| {
        let body: String = (events.into_iter())
            .map(|data| match data["type"].as_str() {
                Some(name) => format!("event: {name}\ndata: {data}\n\n"),
                None => format!("data: {data}\n\n"),
            })
            .collect();
        ([("content-type", "text/event-stream")], body).into_response()
    };
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(move |body: axum::body::Bytes| async move {
                let request: Value = serde_json::from_slice(&body).unwrap();
                let huge = 1_u64 << 42;
                let usage = match request["model"].as_str() {
                    Some("c") => {
                        json!({"prompt_tokens": 10, "completion_tokens": 5, "cost": 1e300})
                    }
                    _ => json!({"prompt_tokens": huge, "completion_tokens": huge,
                        "total_tokens": 2 * huge}),
                };
                let chunk = |delta: Value, finish: Value| {
                    json!({"id": "c1", "choices": [{"index": 0, "delta": delta,
                        "finish_reason": finish}]})
                };
                sse(vec![
                    chunk(json!({"role": "assistant", "content": "hi"}), Value::Null),
                    chunk(json!({}), json!("stop")),
                    json!({"id": "c1", "choices": [], "usage": usage}),
                ])
            }),
        )
        .route(
            "/v1/messages",
            axum::routing::post(move || async move {
                sse(vec![
                    json!({"type": "message_start", "message": {"id": "msg_1",
                        "type": "message", "role": "assistant", "model": "m", "content": [],
                        "stop_reason": null, "usage": {}}}),
                    json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
                    json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "hi"}}),
                    json!({"type": "content_block_stop", "index": 0}),
                    json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                        "usage": {}}),
                    json!({"type": "message_stop"}),
                ])
            }),
        );
    provider_app(app).await
}

/// A provider's counts are not taken on trust. Counts more than one call
/// can use are no usage, and one Anthropic-format answer that reports no
/// usage is not free: each is counted as an answer of unknown usage is,
/// from its bytes and its most output, and neither spends the budget. Nor
/// does a reported cost past what any model's tokens cost.
#[tokio::test]
async fn a_provider_s_counts_past_one_call_or_missing_are_estimated_not_taken() {
    let base = miscounting_provider().await;
    let priced = json!({"input": 1000, "output": 1000});
    let model = json!([{"id": "m", "maxTokens": 20, "contextWindow": 1000, "cost": priced},
        {"id": "c", "maxTokens": 20, "cost": priced}]);
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "chat": {"baseUrl": base, "apiKey": KEY, "models": model},
            "blocks": {"baseUrl": base.strip_suffix("v1").unwrap(), "api": "anthropic-messages",
                "apiKey": KEY, "models": model}}},
        "agents": {"defaults": {"model": {"primary": "chat/m"}}},
        "gateway": {"clients": {"alice": {"key": "${ALICE_KEY}", "budgets": {"daily": 1.0}}}},
    });
    let served = start(config).await;
    let ask = |model: &str| {
        (served.test.client())
            .post(format!("{}/v1/chat/completions", served.test.url))
            .bearer_auth(ALICE)
            .json(&json!({"model": model, "messages": user_message()}))
            .send()
    };
    let mut spent = 0.0;
    for (rows, model) in [(1, "chat/m"), (2, "blocks/m"), (3, "chat/m"), (4, "chat/c")] {
        let response = ask(model).await.unwrap();
        assert_eq!(response.status(), 200, "{model}");
        let answer: Value = response.json().await.unwrap();
        served.rows(rows).await;
        let now = spent_once_counted(&served.ledger).await;
        assert!(
            now > spent && now < 1.0,
            "{model}: ${spent} then ${now}; {answer}"
        );
        spent = now;
    }
    let conn = clawgate::ledger::store::open_read_only(&served.path()).unwrap();
    let unknown: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM requests WHERE tokens_in IS NULL AND cost_usd IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unknown, 3);
    // The $1e300 was not taken: the 15 tokens at the model's prices were.
    let cost: f64 = conn
        .query_row(
            "SELECT cost_usd FROM requests WHERE tokens_in = 10",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!((cost - 0.015).abs() < 1e-9, "{cost}");
}
