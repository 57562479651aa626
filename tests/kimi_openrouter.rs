//! Kimi on OpenRouter, pinned to providers through the model's `params`
//! (docs/providers.md): OpenRouter's `provider` object reaches its body
//! as written, and a client's own wins.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn a_models_provider_pins_reach_openrouters_body() {
    let openrouter = healthy_mock().await;
    let pins =
        json!({"only": ["moonshotai"], "quantizations": ["fp8", "bf16"], "allow_fallbacks": false});
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"openrouter": {
            "dialect": "openrouter", "baseUrl": openrouter.base_url(), "apiKey": KEY,
            "models": [{"id": "moonshotai/kimi-k2.6"}]}}},
        "agents": {"defaults": {
            "model": "openrouter/moonshotai/kimi-k2.6",
            "models": {"openrouter/moonshotai/kimi-k2.6": {"params": {"provider": pins}}},
        }},
    }))
    .await;

    for stream in [false, true] {
        let response = gw
            .chat(json!({"messages": user_message(), "stream": stream}))
            .await;
        assert_eq!(response.status(), 200);
        let sent = openrouter.requests().last().unwrap()["body"].clone();
        assert_eq!(sent["provider"], pins, "stream {stream}: {sent}");
        assert_eq!(sent["model"], "moonshotai/kimi-k2.6");
    }

    // The client's own `provider` wins over the model's.
    let own = json!({"order": ["deepinfra"]});
    gw.chat(json!({"messages": user_message(), "provider": own}))
        .await;
    assert_eq!(
        openrouter.requests().last().unwrap()["body"]["provider"],
        own
    );
}

/// OpenRouter's router, `openrouter/auto` as OpenClaw writes the ref (the
/// catalog's `auto`), is sent as the id OpenRouter takes for it.
#[tokio::test]
async fn openrouters_auto_router_is_sent_by_its_own_id() {
    let openrouter = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"providers": {"openrouter": {"baseUrl": openrouter.base_url(), "apiKey": KEY}}},
        "agents": {"defaults": {"model": "openrouter/auto"}},
    }))
    .await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-model"), "openrouter/auto");
    let sent = openrouter.requests().pop().unwrap();
    assert_eq!(sent["body"]["model"], "openrouter/auto");
}
