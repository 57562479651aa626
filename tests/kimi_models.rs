//! Issue 20 item 3 end to end through `clawgate-mock`, seed-style: a
//! provider entry as users write it, a client's request, and what the
//! provider receives for the 2026 catalog's models, over Kimi Coding's
//! OpenAI endpoint and its Anthropic one.

mod common;

use clawgate_mock::MockServer;
use common::*;
use serde_json::{Value, json};

/// OpenClaw's Kimi Coding entry (the id `kimi-coding`, its models from the
/// catalog) at a mock.
fn kimi_coding(mock: &MockServer, api: &str) -> Value {
    let base = match api {
        "anthropic-messages" => format!("http://{}/", mock.addr),
        _ => mock.base_url(),
    };
    json!({
        "models": {"mode": "merge", "providers": {"kimi-coding": {
            "dialect": "kimi-coding", "baseUrl": base, "apiKey": KEY, "api": api,
            "models": [{"id": "k3"}, {"id": "k3-256k"}, {"id": "kimi-for-coding"}]}}},
        "agents": {"defaults": {"model": {"primary": "kimi-coding/k3"}}},
    })
}

fn tool(name: &str) -> Value {
    json!({"type": "function", "function": {"name": name, "parameters": {"type": "object"}}})
}

#[tokio::test]
async fn k3_on_kimi_coding_gets_its_effort_no_sampling_and_a_narrowed_tool_choice() {
    let provider = healthy_mock().await;
    let gw = gateway(kimi_coding(&provider, "openai-completions")).await;
    for (model, effort, expected) in [
        ("kimi-coding/k3", "medium", "high"),
        ("kimi-coding/k3-256k", "low", "low"),
    ] {
        let response = gw
            .chat(
                json!({"model": model, "messages": user_message(), "reasoning_effort": effort,
                "temperature": 0.6, "top_p": 0.9, "max_tokens": 999_999,
                "tools": [tool("bash"), tool("read")],
                "tool_choice": {"type": "function", "function": {"name": "read"}}}),
            )
            .await;
        assert_eq!(response.status(), 200, "{model}");
        let sent = provider.requests().last().unwrap()["body"].clone();
        assert_eq!(sent["reasoning_effort"], expected, "{model}: {sent}");
        assert!(sent.get("thinking").is_none(), "{model}: {sent}");
        assert!(sent.get("temperature").is_none() && sent.get("top_p").is_none());
        assert_eq!(sent["tool_choice"], "required");
        assert_eq!(sent["tools"], json!([tool("read")]));
        assert_eq!(sent["max_completion_tokens"], 131_072);
        assert!(sent.get("max_tokens").is_none());
    }
    // Every other thinking model: `required` is relaxed, as Kimi refuses it.
    gw.chat(
        json!({"model": "kimi-coding/kimi-for-coding", "messages": user_message(),
        "reasoning_effort": "high", "tools": [tool("read")], "tool_choice": "required"}),
    )
    .await;
    let sent = provider.requests().last().unwrap()["body"].clone();
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["thinking"], json!({"type": "enabled"}));
}

/// K3 fixes its sampling, and the Anthropic transport has no `n` or
/// penalties: what both remove is named once.
#[tokio::test]
async fn what_the_rules_and_the_transport_both_drop_is_named_once() {
    let provider = healthy_mock().await;
    let gw = gateway(kimi_coding(&provider, "anthropic-messages")).await;
    let response = gw
        .chat(
            json!({"model": "kimi-coding/k3", "messages": user_message(),
            "temperature": 0.5, "top_p": 0.5, "n": 2,
            "presence_penalty": 0.1, "frequency_penalty": 0.1}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let dropped: Vec<&str> = header(&response, "x-clawgate-dropped")
        .split(", ")
        .collect();
    for name in [
        "temperature",
        "top_p",
        "n",
        "presence_penalty",
        "frequency_penalty",
    ] {
        let times = dropped.iter().filter(|d| **d == name).count();
        assert_eq!(times, 1, "{name}: {dropped:?}");
    }
}

#[tokio::test]
async fn moonshot_gets_max_tokens_whatever_field_the_client_used() {
    let provider = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"moonshot": {
            "baseUrl": provider.base_url(), "apiKey": KEY, "models": [{"id": "kimi-k2.6"}]}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6"}}},
    }))
    .await;
    // pi-ai's default field (oh-my-pi #2289).
    gw.chat(json!({"messages": user_message(), "max_completion_tokens": 4000}))
        .await;
    let sent = &provider.requests()[0]["body"];
    assert_eq!(sent["max_tokens"], 4000);
    assert!(sent.get("max_completion_tokens").is_none());
}

#[tokio::test]
async fn claude_codes_tool_search_and_a_named_tool_reach_k3_over_anthropic_as_kimi_takes_them() {
    let provider = healthy_mock().await;
    let gw = gateway(kimi_coding(&provider, "anthropic-messages")).await;
    let anthropic_tool = |name: &str, deferred: bool| {
        let mut tool = json!({"name": name, "input_schema": {"type": "object"}});
        if deferred {
            tool["defer_loading"] = json!(true);
        }
        tool
    };
    let response = gw
        .messages(json!({
            "model": "kimi-coding/k3", "max_tokens": 1000,
            "messages": [
                {"role": "user", "content": "open a PR"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "I need the GitHub tool.", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "ToolSearch", "input": {"query": "github"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                    {"type": "tool_reference", "tool_name": "mcp__github__create_pr"}]}]},
            ],
            "tools": [anthropic_tool("ToolSearch", false), anthropic_tool("mcp__github__create_pr", true)],
            "tool_choice": {"type": "tool", "name": "mcp__github__create_pr"},
        }))
        .await;
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let sent = &provider.requests()[0];
    assert_eq!(sent["path"], "/v1/messages");
    let body = &sent["body"];
    assert_eq!(
        body["messages"][2]["content"][0]["content"],
        json!([{"type": "text", "text": "Tool mcp__github__create_pr is available."}])
    );
    // The earlier turn's thinking block stays in the history.
    assert_eq!(body["messages"][1]["content"][0]["type"], "thinking");
    assert_eq!(
        body["tools"],
        json!([anthropic_tool("mcp__github__create_pr", false)])
    );
    assert_eq!(body["tool_choice"], json!({"type": "any"}));
    assert!(!body.to_string().contains("tool_reference"));
}
