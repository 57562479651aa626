//! The fake provider's prefix cache (`--prefix-cache`, as Kimi's) through
//! the gateway, in each usage shape Kimi reports cache hits in: K3's
//! top-level `usage.cached_tokens`, K2.x's
//! `usage.prompt_tokens_details.cached_tokens`, and the Anthropic-compatible
//! stream's, which counts them in `message_start`'s `input_tokens` and not
//! in `message_delta`'s. The client asks in OpenAI's chat format and reads
//! OpenAI usage back.

mod common;

use std::time::Duration;

use clawgate_mock::{MockOptions, MockServer, UsageShape};
use common::{KEY, TestGateway, gateway};
use serde_json::{Value, json};

const SHAPES: [UsageShape; 3] = [UsageShape::K3, UsageShape::K2, UsageShape::KimiAnthropic];

/// A gateway whose one target `p/m` is a mock with a prefix cache of
/// `lifetime`, reporting in `shape` (over Anthropic Messages for Kimi's
/// Anthropic-compatible shape).
async fn cached(shape: UsageShape, lifetime: Duration) -> (TestGateway, MockServer) {
    let mock = common::mock(MockOptions {
        prefix_cache: true,
        prefix_cache_seconds: lifetime,
        usage_shape: Some(shape),
        ..MockOptions::default()
    })
    .await;
    let provider = match shape {
        UsageShape::KimiAnthropic => json!({
            "baseUrl": format!("http://{}/", mock.addr), "apiKey": KEY,
            "api": "anthropic-messages", "models": [{"id": "m", "maxTokens": 2048}],
        }),
        UsageShape::K3 | UsageShape::K2 => common::provider(&mock),
    };
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"p": provider}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
    }))
    .await;
    (gw, mock)
}

/// A conversation's first turn: a system prompt of some 3,000 bytes (two
/// whole chunks and more), then a question.
fn first_turn(system: &str) -> Vec<Value> {
    vec![
        json!({"role": "system", "content": system.repeat(3000 / system.len())}),
        json!({"role": "user", "content": "What is the weather in Paris?"}),
    ]
}

/// The input tokens and the cache hits among them that the client is told.
async fn turn(gw: &TestGateway, messages: &[Value]) -> (u64, u64) {
    let response = gw.chat(json!({"model": "p/m", "messages": messages})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let usage = &body["usage"];
    let cached = usage
        .pointer("/prompt_tokens_details/cached_tokens")
        .or_else(|| usage.get("cached_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no cached tokens in {usage}"));
    (usage["prompt_tokens"].as_u64().unwrap(), cached)
}

#[tokio::test]
async fn the_second_turn_reads_the_first_turns_prefix_in_whole_chunks() {
    for shape in SHAPES {
        let (gw, _mock) = cached(shape, Duration::from_secs(300)).await;
        let mut messages = first_turn("You are a helpful assistant. ");
        let (first, none) = turn(&gw, &messages).await;
        assert_eq!(none, 0, "{shape:?}: a first turn reads nothing");
        assert!(first >= 512, "{shape:?}: {first}");

        messages.push(json!({"role": "assistant", "content": "Hello from clawgate-mock."}));
        messages.push(json!({"role": "user", "content": "And tomorrow?"}));
        let (second, cached) = turn(&gw, &messages).await;
        assert_eq!(cached, first / 256 * 256, "{shape:?}");
        // Each input token counted once: the second turn adds a few
        // dozen tokens to the first, not the cache hits again.
        assert!(
            second > first && second - first < 256,
            "{shape:?}: {first} then {second}"
        );
    }
}

#[tokio::test]
async fn a_changed_system_prompt_reads_nothing() {
    for shape in SHAPES {
        let (gw, _mock) = cached(shape, Duration::from_secs(300)).await;
        turn(&gw, &first_turn("You are a helpful assistant. ")).await;
        let (_, cached) = turn(&gw, &first_turn("You are a careful assistant. ")).await;
        assert_eq!(cached, 0, "{shape:?}");
        // The first conversation is still cached.
        let (prompt, cached) = turn(&gw, &first_turn("You are a helpful assistant. ")).await;
        assert_eq!(cached, prompt / 256 * 256, "{shape:?}");
    }
}

#[tokio::test]
async fn a_turn_after_the_lifetime_reads_nothing() {
    for shape in SHAPES {
        let (gw, _mock) = cached(shape, Duration::from_millis(300)).await;
        let messages = first_turn("You are a helpful assistant. ");
        turn(&gw, &messages).await;
        // The lifetime is the mock's clock: a wait past it is the test.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let (_, cached) = turn(&gw, &messages).await;
        assert_eq!(cached, 0, "{shape:?}");
    }
}
