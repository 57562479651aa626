//! kimi-for-coding answered 429 to every request with `max` thinking
//! effort (kimi-code #1252): it is never sent `max`, whatever the client
//! or the model's `compat` says; a client that asked `max` is told, in
//! `x-clawgate-dropped`, that its `reasoning_effort` was changed.

mod common;

use clawgate_mock::MockServer;
use common::*;
use serde_json::{Value, json};

/// Kimi Coding at `mock`, its kimi-for-coding told by `reasoning_effort`
/// (`control`: `effort` or `effort-max`), and K3.
fn config(mock: &MockServer, control: &str) -> Value {
    json!({
        "models": {"mode": "replace", "providers": {"kimi": {
            "dialect": "kimi-coding", "baseUrl": mock.base_url(), "apiKey": KEY,
            "models": [{"id": "kimi-for-coding", "compat": {"thinkingControl": control}},
                       {"id": "k3"}]}}},
        "agents": {"defaults": {"model": "kimi/kimi-for-coding"}},
    })
}

async fn sent_effort(gw: &TestGateway, mock: &MockServer, body: Value) -> (Value, String) {
    let response = gw.chat(body).await;
    assert_eq!(response.status(), 200);
    let dropped = response
        .headers()
        .get("x-clawgate-dropped")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let sent = mock.requests().last().unwrap()["body"]["reasoning_effort"].clone();
    (sent, dropped)
}

#[tokio::test]
async fn a_clients_max_reaches_kimi_for_coding_as_high_and_is_said_changed() {
    let mock = healthy_mock().await;
    let gw = gateway(config(&mock, "effort")).await;
    for asked in ["max", "xhigh"] {
        let (sent, dropped) = sent_effort(
            &gw,
            &mock,
            json!({"messages": user_message(), "reasoning_effort": asked}),
        )
        .await;
        assert_eq!(sent, "high", "{asked}");
        assert!(dropped.contains("reasoning_effort"), "{asked}: {dropped:?}");
    }
    // A level it takes passes as it is, unnamed.
    let (sent, dropped) = sent_effort(
        &gw,
        &mock,
        json!({"messages": user_message(), "reasoning_effort": "low"}),
    )
    .await;
    assert_eq!(
        (sent, dropped.contains("reasoning_effort")),
        (json!("low"), false)
    );
    // No level given: the model's default `max` becomes high, and the
    // client, who asked nothing, is told nothing.
    let (sent, dropped) = sent_effort(&gw, &mock, json!({"messages": user_message()})).await;
    assert_eq!(
        (sent, dropped.contains("reasoning_effort")),
        (json!("high"), false)
    );
    // K3 on the same account takes max.
    let (sent, _) = sent_effort(
        &gw,
        &mock,
        json!({"model": "kimi/k3", "messages": user_message(), "reasoning_effort": "max"}),
    )
    .await;
    assert_eq!(sent, "max");
}

#[tokio::test]
async fn a_model_set_to_always_max_is_still_sent_high() {
    let mock = healthy_mock().await;
    let gw = gateway(config(&mock, "effort-max")).await;
    let (sent, _) = sent_effort(&gw, &mock, json!({"messages": user_message()})).await;
    assert_eq!(sent, "high");
}
