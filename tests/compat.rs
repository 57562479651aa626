//! The Kimi compatibility layer end to end: an OpenAI-style request through
//! `clawgate` to a recording `clawgate-mock` that answers in each
//! provider's own shape. Each test checks what the provider received and
//! what the client got, streamed and not.

mod common;

use clawgate_mock::{MockOptions, MockServer};
use common::*;
use serde_json::{Value, json};

/// A config with one provider `id` at `mock` serving `model`, chained alone.
fn one_provider(id: &str, mock: &MockServer, model: &str) -> Value {
    json!({
        "models": {"mode": "replace", "providers": {id: {
            "baseUrl": mock.base_url(), "apiKey": KEY, "models": [{"id": model}]}}},
        "agents": {"defaults": {"model": format!("{id}/{model}")}},
    })
}

/// An OpenClaw-like turn: a developer message and a replayed tool-call
/// history whose Kimi ids repeat.
fn openclaw_turn(extra: Value) -> Value {
    let call = |id: &str| {
        json!({"role": "assistant", "content": "", "tool_calls": [
        {"id": id, "type": "function", "function": {"name": "read", "arguments": "{}"}}]})
    };
    let result = |id: &str| json!({"role": "tool", "tool_call_id": id, "content": "ok"});
    let mut body = json!({
        "messages": [
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "tidy up"},
            call("functions.read:0"), result("functions.read:0"),
            call("functions.read:0"), result("functions.read:0"),
        ],
        "max_tokens": 999_999,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// Every chunk of an SSE body, `[DONE]` excluded.
fn chunks(body: &str) -> Vec<Value> {
    sse_data(body)
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

fn moonshot_mock() -> MockOptions {
    MockOptions {
        style: "moonshot".into(),
        cached_tokens: 2,
        reasoning: "Let me think.".into(),
        ..MockOptions::default()
    }
}

#[tokio::test]
async fn moonshot_gets_its_rules_and_the_client_gets_openai_usage_with_cost() {
    let provider = mock(moonshot_mock()).await;
    // Called `moonshot` at a URL that is not Moonshot's: the rules follow
    // the id.
    let gw = gateway(one_provider("moonshot", &provider, "kimi-k2.6")).await;

    let streamed = gw
        .chat(openclaw_turn(
            json!({"stream": true, "stream_options": {"include_usage": true},
            "reasoning_effort": "none"}),
        ))
        .await;
    assert_eq!(streamed.status(), 200);
    let events = chunks(&streamed.text().await.unwrap());

    let sent = &provider.requests()[0]["body"];
    assert_eq!(sent["model"], "kimi-k2.6");
    assert_eq!(sent["thinking"], json!({"type": "disabled"}));
    assert!(sent.get("reasoning_effort").is_none(), "{sent}");
    assert_eq!(sent["max_tokens"], 262_144, "clamped to the model's output");
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(
        sent["messages"][4]["tool_calls"][0]["id"],
        "call_48530e21d1a951803b2f0bee"
    );
    assert_eq!(
        sent["messages"][5]["tool_call_id"],
        "call_48530e21d1a951803b2f0bee"
    );
    assert_eq!(
        sent["messages"][2]["tool_calls"][0]["id"],
        "functions.read:0"
    );

    let with_usage: Vec<&Value> = events.iter().filter(|e| e.get("usage").is_some()).collect();
    assert_eq!(with_usage.len(), 1, "usage counted once: {events:?}");
    let usage = &with_usage[0]["usage"];
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 2);
    assert!(usage["cost"].as_f64().is_some_and(|c| c > 0.0), "{usage}");
    assert!(
        events
            .iter()
            .all(|e| e["choices"].get(0).is_none_or(|c| c.get("usage").is_none()))
    );
    assert!(events.iter().all(|e| e["model"] == "moonshot/kimi-k2.6"));
    let reasoning: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "Let me think.");

    let whole = gw
        .chat(openclaw_turn(json!({"reasoning_effort": "high"})))
        .await;
    let body: Value = whole.json().await.unwrap();
    assert_eq!(
        provider.requests()[1]["body"]["thinking"],
        json!({"type": "enabled"})
    );
    // Thinking on: the replayed tool turns carry reasoning_content.
    assert_eq!(
        provider.requests()[1]["body"]["messages"][2]["reasoning_content"],
        ""
    );
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
    assert!(
        body["usage"]["cost"].as_f64().is_some_and(|c| c > 0.0),
        "{body}"
    );
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        "Let me think."
    );
}

#[tokio::test]
async fn openrouter_gets_its_reasoning_object_and_the_client_gets_reasoning_content() {
    let provider = mock(MockOptions {
        style: "openrouter".into(),
        reasoning: "Hmm, let me see.".into(),
        ..MockOptions::default()
    })
    .await;
    let gw = gateway(one_provider(
        "openrouter",
        &provider,
        "moonshotai/kimi-k2.6",
    ))
    .await;
    let streamed = gw
        .chat(json!({"messages": user_message(), "stream": true, "reasoning_effort": "minimal"}))
        .await;
    let events = chunks(&streamed.text().await.unwrap());
    let sent = &provider.requests()[0];
    assert_eq!(sent["body"]["reasoning"], json!({"effort": "low"}));
    // clawgate asked for usage for itself; the client, which did not, gets
    // no usage chunk.
    assert_eq!(
        sent["body"]["stream_options"],
        json!({"include_usage": true})
    );
    assert!(
        events.iter().all(|e| e.get("usage").is_none()),
        "{events:?}"
    );
    assert!(sent["body"].get("reasoning_effort").is_none());
    assert_eq!(sent["headers"]["x-openrouter-title"], "clawgate");
    let reasoning: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "Hmm, let me see.");
    assert!(
        events
            .iter()
            .all(|e| e["choices"][0]["delta"].get("reasoning").is_none())
    );

    let whole: Value = gw
        .chat(json!({"messages": user_message(), "reasoning_effort": "none"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        provider.requests()[1]["body"]["reasoning"],
        json!({"enabled": false})
    );
    let message = &whole["choices"][0]["message"];
    assert_eq!(message["reasoning_content"], "Hmm, let me see.");
    assert!(message.get("reasoning").is_none());
    // OpenRouter's details, streamed in pieces, reach a whole answer joined.
    assert_eq!(
        message["reasoning_details"],
        json!([{"type": "reasoning.text", "text": "Hmm, let me see.", "index": 0, "format": "unknown"}])
    );
}

#[tokio::test]
async fn kimi_coding_passes_its_gate_and_gets_moonshots_rules() {
    let provider = mock(MockOptions {
        require_user_agent: Some("KimiCLI/".into()),
        ..moonshot_mock()
    })
    .await;
    // OpenClaw's own spelling of the id, at a URL that is not Kimi's.
    let gw = gateway(one_provider("kimi-code", &provider, "kimi-for-coding")).await;
    let response = gw
        .chat(openclaw_turn(json!({"reasoning_effort": "low"})))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let sent = &provider.requests()[0];
    assert!(
        sent["headers"]["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("KimiCLI/")
    );
    assert_eq!(sent["body"]["messages"][0]["role"], "system");
    // Where OpenClaw 2026.9.6 puts it for Kimi Coding.
    assert_eq!(sent["body"]["max_completion_tokens"], 32_768);
    assert!(sent["body"].get("max_tokens").is_none());
    assert_eq!(sent["body"]["thinking"], json!({"type": "enabled"}));
}

#[tokio::test]
async fn a_plain_endpoint_gets_the_request_as_sent() {
    let provider = healthy_mock().await;
    let gw = gateway(one_provider("local", &provider, "m")).await;
    let request = openclaw_turn(json!({"reasoning_effort": "low"}));
    gw.chat(request.clone()).await;
    let mut sent = provider.requests()[0]["body"].clone();
    sent["model"] = Value::Null;
    let mut expected = request;
    expected["model"] = Value::Null;
    // The one change: a non-streaming request is streamed upstream (with
    // usage) and assembled, so that liveness timeouts protect it too.
    expected["stream"] = json!(true);
    expected["stream_options"] = json!({"include_usage": true});
    assert_eq!(sent, expected);
}
