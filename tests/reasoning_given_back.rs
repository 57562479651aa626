//! Issue 20 item 4 end to end: a client that replays an assistant
//! tool-call turn without its reasoning (LangChain, `@ai-sdk/openai`,
//! compaction) gets the reasoning the model actually produced sent to Kimi
//! in its place, not `""`; unless `gateway.reasoningCache` is off. Through
//! the chat and the Anthropic front ends (the latter reads the relay's
//! parts, not its bytes).

mod common;

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};

const REASONING: &str = "The user wants a.txt; I should read it before answering.";

async fn kimi_mock() -> MockServer {
    mock(MockOptions {
        reasoning: REASONING.into(),
        tool_calls: vec![r#"read={"path": "a.txt"}"#.into()],
        ..MockOptions::default()
    })
    .await
}

fn config(mock: &MockServer, cache: Option<bool>) -> Value {
    let mut config = json!({
        "models": {"mode": "replace", "providers": {"moonshot": {
            "baseUrl": mock.base_url(), "apiKey": KEY, "models": [{"id": "kimi-k2.6"}]}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6"}}},
    });
    if let Some(cache) = cache {
        config["gateway"] = json!({"reasoningCache": cache});
    }
    config
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "read", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}}}}}])
}

/// `POST /v1/chat/completions` with `key`, if any.
async fn chat(gw: &TestGateway, key: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

/// The first turn (streamed or not): the model reasons, then calls `read`.
/// Returns the tool calls as the client got them.
async fn first_turn(gw: &TestGateway, key: Option<&str>, stream: bool) -> Value {
    let response = chat(
        gw,
        key,
        json!({"model": "moonshot/kimi-k2.6", "stream": stream, "reasoning_effort": "high",
               "tools": tools(), "messages": [{"role": "user", "content": "what is in a.txt?"}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    if !stream {
        let answer: Value = response.json().await.unwrap();
        return answer["choices"][0]["message"]["tool_calls"].clone();
    }
    // Put the streamed call back together as a client does.
    let (mut id, mut name, mut arguments) = (String::new(), String::new(), String::new());
    for data in sse_data(&response.text().await.unwrap()) {
        let Ok(chunk) = serde_json::from_str::<Value>(&data) else {
            continue;
        };
        for call in chunk["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            id.push_str(call["id"].as_str().unwrap_or_default());
            name.push_str(call["function"]["name"].as_str().unwrap_or_default());
            arguments.push_str(call["function"]["arguments"].as_str().unwrap_or_default());
        }
    }
    json!([{"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}])
}

/// The second turn, replaying the first without its reasoning (as
/// LangChain does, re-serialising the arguments); what the provider got
/// as that turn's `reasoning_content`.
async fn replay(gw: &TestGateway, key: Option<&str>, mock: &MockServer, calls: Value) -> Value {
    let mut calls = calls;
    let arguments: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    calls[0]["function"]["arguments"] = json!(arguments.to_string());
    let response = chat(
        gw,
        key,
        json!({"model": "moonshot/kimi-k2.6", "reasoning_effort": "high", "tools": tools(),
        "messages": [
            {"role": "user", "content": "what is in a.txt?"},
            {"role": "assistant", "content": null, "tool_calls": calls},
            {"role": "tool", "tool_call_id": calls[0]["id"], "content": "hello"},
        ]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let sent = mock.requests().last().unwrap()["body"].clone();
    assert_eq!(sent["thinking"], json!({"type": "enabled"}));
    sent["messages"][1]["reasoning_content"].clone()
}

#[tokio::test]
async fn the_provider_receives_the_original_reasoning_of_a_replayed_turn() {
    for stream in [true, false] {
        let mock = kimi_mock().await;
        let gw = gateway(config(&mock, None)).await;
        let calls = first_turn(&gw, None, stream).await;
        assert_eq!(calls[0]["id"], "functions.read:0", "{calls}");
        assert_eq!(
            replay(&gw, None, &mock, calls).await,
            REASONING,
            "streamed first turn: {stream}"
        );
    }
}

#[tokio::test]
async fn without_the_cache_or_for_unknown_turns_the_placeholder_is_empty() {
    let mock = kimi_mock().await;
    let gw = gateway(config(&mock, Some(false))).await;
    let calls = first_turn(&gw, None, true).await;
    assert_eq!(replay(&gw, None, &mock, calls).await, "");

    // A turn the gateway never answered (or made other calls).
    let mock = kimi_mock().await;
    let gw = gateway(config(&mock, None)).await;
    let mut calls = first_turn(&gw, None, true).await;
    calls[0]["function"]["arguments"] = json!(r#"{"path": "b.txt"}"#);
    assert_eq!(replay(&gw, None, &mock, calls).await, "");
}

/// One client's reasoning is never given back to another: the same turn
/// replayed with another client's key gets the placeholder.
#[tokio::test]
async fn one_clients_reasoning_is_never_given_to_another() {
    let (alice, bob) = ("alice-key-0123456789abcdef", "bob-key-0123456789abcdef00");
    let mock = kimi_mock().await;
    let mut config = config(&mock, None);
    config["gateway"] = json!({"clients": {
        "alice": {"key": "${ALICE_KEY}"}, "bob": {"key": "${BOB_KEY}"}}});
    let gw = gateway_with_env(config, &[("ALICE_KEY", alice), ("BOB_KEY", bob)]).await;
    let calls = first_turn(&gw, Some(alice), false).await;
    assert_eq!(replay(&gw, Some(bob), &mock, calls.clone()).await, "");
    assert_eq!(replay(&gw, Some(alice), &mock, calls).await, REASONING);
}

/// An Anthropic client's round trip on `model`: a first turn, streamed
/// or not, in which the model reasons and calls `read`; then a Claude
/// Code-style replay of that turn (its `tool_use` block, no thinking
/// block). The body the provider received for the replay.
async fn anthropic_round_trip(
    gw: &TestGateway,
    mock: &MockServer,
    model: &str,
    stream: bool,
) -> Value {
    let tools = json!([{"name": "read", "input_schema": {
        "type": "object", "properties": {"path": {"type": "string"}}}}]);
    let thinking = json!({"type": "enabled", "budget_tokens": 2048});
    let ask = json!({"role": "user", "content": "what is in a.txt?"});
    let response = gw
        .messages(json!({"model": model, "max_tokens": 4096, "stream": stream,
            "thinking": thinking, "tools": tools, "messages": [ask]}))
        .await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let blocks: Vec<Value> = match stream {
        true => (sse_events(&text).into_iter())
            .filter_map(|(_, e)| e.get("content_block").cloned())
            .collect(),
        false => serde_json::from_str::<Value>(&text).unwrap()["content"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    };
    let block = |kind: &str| blocks.iter().find(|b| b["type"] == kind).cloned();
    assert!(block("thinking").is_some(), "a thinking block in {text}");
    let tool_use = block("tool_use").unwrap_or_else(|| panic!("a tool_use block in {text}"));
    let id = tool_use["id"].as_str().unwrap().to_string();

    let response = gw
        .messages(json!({"model": model, "max_tokens": 4096,
        "thinking": thinking, "tools": tools,
        "messages": [
            ask,
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": id, "name": "read", "input": {"path": "a.txt"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": id, "content": "hello"}]},
        ]}))
        .await;
    assert_eq!(response.status(), 200);
    mock.requests().last().unwrap()["body"].clone()
}

/// The Anthropic front end encodes the stream from the relay's parts: the
/// reasoning is kept from those parts, and a replay of that turn gets it
/// sent to Kimi.
#[tokio::test]
async fn an_anthropic_clients_streamed_turn_is_kept_and_given_back() {
    let mock = kimi_mock().await;
    let gw = gateway(config(&mock, None)).await;
    let sent = anthropic_round_trip(&gw, &mock, "moonshot/kimi-k2.6", true).await;
    assert_eq!(sent["thinking"], json!({"type": "enabled"}), "{sent}");
    assert_eq!(
        sent["messages"][1]["reasoning_content"], REASONING,
        "{sent}"
    );
}

/// The same over Kimi Coding's Anthropic endpoint, where the client's own
/// body goes on and the provider's own events come back as they came (or
/// make the whole answer): the turn's reasoning is kept from those
/// events, streamed or not, and the replayed `tool_use` turn is sent with
/// it as its first `thinking` block.
#[tokio::test]
async fn an_anthropic_clients_turn_from_an_anthropic_provider_is_kept_and_given_back() {
    for stream in [true, false] {
        let mock = kimi_mock().await;
        let gw = gateway(json!({
            "models": {"mode": "replace", "providers": {"kimi": {
                "baseUrl": format!("http://{}/", mock.addr), "apiKey": KEY,
                "api": "anthropic-messages", "dialect": "kimi-coding",
                "models": [{"id": "kimi-for-coding", "reasoning": true}]}}},
            "agents": {"defaults": {"model": {"primary": "kimi/kimi-for-coding"}}},
        }))
        .await;
        let sent = anthropic_round_trip(&gw, &mock, "kimi/kimi-for-coding", stream).await;
        assert_eq!(
            sent["messages"][1]["content"][0],
            json!({"type": "thinking", "thinking": REASONING, "signature": ""}),
            "stream {stream}: {sent}"
        );
    }
}
