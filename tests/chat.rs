//! Non-streaming chat completions through the chain: routing, fallback
//! decisions, headers and what reaches the provider.

mod common;

use clawgate_mock::MockOptions;
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn primary_answers_with_headers_and_relabelled_model() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw
        .chat(json!({"model": "primary/m", "messages": user_message(), "x_vendor_field": {"keep": true}}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "primary");
    assert_eq!(header(&response, "x-clawgate-model"), "primary/m");
    assert_eq!(header(&response, "x-clawgate-attempts"), "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"], "primary/m");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Hello from clawgate-mock."
    );
    assert_eq!(
        body["choices"][0]["message"]["reasoning_content"],
        "The user greets me; I greet back."
    );

    let sent = primary.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0]["body"]["model"], "m",
        "the provider sees its own model id"
    );
    assert_eq!(
        sent[0]["body"]["x_vendor_field"],
        json!({"keep": true}),
        "unknown fields pass through"
    );
    assert_eq!(sent[0]["headers"]["authorization"], format!("Bearer {KEY}"));
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn default_absent_and_alias_resolve_to_the_configured_model() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["agents"]["defaults"]["models"] = json!({"backup/m": {"alias": "Backup"}});
    let gw = gateway(config).await;
    for (model, expected) in [
        (json!("default"), "primary/m"),
        (Value::Null, "primary/m"),
        (json!("Backup"), "backup/m"),
        (json!("backup"), "backup/m"),
    ] {
        let mut body = json!({"messages": user_message()});
        if !model.is_null() {
            body["model"] = model.clone();
        }
        let response = gw.chat(body).await;
        assert_eq!(response.status(), 200, "model {model}");
        assert_eq!(
            header(&response, "x-clawgate-model"),
            expected,
            "model {model}"
        );
    }
}

#[tokio::test]
async fn unknown_model_is_404_and_reaches_no_provider() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw
        .chat(json!({"model": "nope/x", "messages": user_message()}))
        .await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nope/x")
    );
    assert!(primary.requests().is_empty() && backup.requests().is_empty());
}

/// Each provider-side failure falls over to the backup.
#[tokio::test]
async fn provider_failures_fall_over_to_the_backup() {
    let cases = [
        (500, "server_error"),
        (503, "server_error"),
        (429, "engine_overloaded_error"),
        (429, "rate_limit_reached_error"),
        (429, "exceeded_current_quota_error"),
        (401, "invalid_authentication_error"),
        (403, "access_terminated_error"),
        (402, "payment_required"),
        (404, "resource_not_found_error"),
    ];
    for (status, kind) in cases {
        let (primary, backup) = (failing_mock(status, kind).await, healthy_mock().await);
        let gw = gateway(chain_config(&primary, &backup)).await;
        let response = gw.chat(json!({"messages": user_message()})).await;
        assert_eq!(response.status(), 200, "{status} {kind}");
        assert_eq!(
            header(&response, "x-clawgate-provider"),
            "backup",
            "{status} {kind}"
        );
        assert_eq!(
            header(&response, "x-clawgate-attempts"),
            "2",
            "{status} {kind}"
        );
        // Transient failures are retried once (gateway.retries.perTarget);
        // the others are not.
        let transient = matches!(
            (status, kind),
            (500 | 503, _) | (429, "engine_overloaded_error" | "rate_limit_reached_error")
        );
        assert_eq!(
            primary.requests().len(),
            if transient { 2 } else { 1 },
            "{status} {kind}: retries of the failed provider"
        );
        assert_eq!(backup.requests().len(), 1);
    }
}

/// A request the rules refuse before anything is sent (a tool result
/// that names no call) is a 400 naming the field, said as clawgate's, with
/// no target counted as tried.
#[tokio::test]
async fn a_request_the_rules_refuse_is_said_as_clawgates_with_no_target_tried() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw
        .chat(json!({"messages": [{"role": "user", "content": "hi"},
                                  {"role": "tool", "content": "result"}]}))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "x-clawgate-attempts"), "0");
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("clawgate refused the request for primary/m: ")
            && message.contains("tool_call_id"),
        "{message}"
    );
    assert_eq!(body["error"]["attempts"][0]["tries"], 0, "{body}");
    assert!(primary.requests().is_empty() && backup.requests().is_empty());
}

#[tokio::test]
async fn a_request_the_provider_rejects_does_not_fall_over() {
    let primary = mock(MockOptions {
        fail_status: Some(400),
        fail_type: "invalid_request_error".into(),
        fail_message: "Invalid request: tool_choice is invalid".into(),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "x-clawgate-attempts"), "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "upstream_rejected_request");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("primary/m rejected the request") && message.contains("tool_choice"),
        "{message}"
    );
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn unreachable_and_hanging_providers_fall_over() {
    // Port 1, which nothing here listens on and no test binds:
    // connections are refused. (A port bound and released could be given
    // to the hanging mock started next, which then got both targets'
    // requests.)
    let closed = "127.0.0.1:1";
    let hanging = mock(MockOptions {
        hang: true,
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let config = json!({
        "gateway": {"timeouts": {"firstByteSeconds": 0.5}},
        "models": {"mode": "replace", "providers": {
            "dead": {"baseUrl": format!("http://{closed}/v1"), "apiKey": KEY, "models": [{"id": "m"}]},
            "slow": provider(&hanging),
            "backup": provider(&backup),
        }},
        "agents": {"defaults": {"model": {"primary": "dead/m", "fallbacks": ["slow/m", "backup/m"]}}},
    });
    let gw = gateway(config).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(header(&response, "x-clawgate-attempts"), "3");
    assert_eq!(hanging.requests().len(), 1);
}

async fn all_failing(
    primary_opts: MockOptions,
    backup_opts: MockOptions,
) -> (reqwest::StatusCode, Option<String>, Value) {
    let (primary, backup) = (mock(primary_opts).await, mock(backup_opts).await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"timeouts": {"firstByteSeconds": 0.3}});
    let gw = gateway(config).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(header(&response, "x-clawgate-attempts"), "2");
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (
        response.status(),
        retry_after,
        response.json().await.unwrap(),
    )
}

#[tokio::test]
async fn exhausted_chains_report_every_attempt_with_an_honest_status() {
    let fail = |status: u16, kind: &str, retry_after: Option<u64>| MockOptions {
        fail_status: Some(status),
        fail_type: kind.into(),
        fail_message: format!("{kind} happened"),
        retry_after,
        ..MockOptions::default()
    };
    let hang = MockOptions {
        hang: true,
        ..MockOptions::default()
    };

    let (status, _, body) = all_failing(
        fail(500, "server_error", None),
        fail(429, "rate_limit_reached_error", None),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "all_providers_failed");
    let attempts = body["error"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["provider"], "primary");
    assert_eq!(attempts[0]["model"], "primary/m");
    assert_eq!(attempts[0]["status"], 500);
    assert_eq!(attempts[0]["type"], "server_error");
    assert_eq!(attempts[0]["outcome"], "provider_error");
    assert_eq!(attempts[1]["outcome"], "rate_limited");
    assert!(
        attempts[1]["message"]
            .as_str()
            .unwrap()
            .contains("rate_limit_reached_error happened")
    );

    let (status, _, body) = all_failing(hang.clone(), hang).await;
    assert_eq!(status, 504);
    assert_eq!(body["error"]["code"], "upstream_timeout");

    let (status, retry_after, body) = all_failing(
        fail(429, "engine_overloaded_error", Some(7)),
        fail(429, "engine_overloaded_error", Some(3)),
    )
    .await;
    assert_eq!(status, 429, "all rate limited means 429 to OpenClaw");
    assert_eq!(
        retry_after.as_deref(),
        Some("3"),
        "the soonest Retry-After is passed on"
    );
    assert_eq!(body["error"]["code"], "upstream_rate_limited");
}

#[tokio::test]
async fn configured_headers_win_over_the_client_and_model_headers_win_over_provider_headers() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["models"]["providers"]["primary"]["headers"] =
        json!({"User-Agent": "provider-agent", "X-Title": "clawgate"});
    config["models"]["providers"]["primary"]["models"][0]["headers"] =
        json!({"User-Agent": "KimiCLI/0.77"});
    let gw = gateway(config).await;
    let response = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("user-agent", "OpenAI/JS 5.0")
        .header("authorization", "Bearer client-token")
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let sent = &primary.requests()[0]["headers"];
    assert_eq!(sent["user-agent"], "KimiCLI/0.77");
    assert_eq!(sent["x-title"], "clawgate");
    // The edited body goes out with its length, not chunked.
    assert!(
        sent["content-length"]
            .as_str()
            .is_some_and(|n| n.parse::<u64>().is_ok()),
        "{sent}"
    );
    assert!(sent.get("transfer-encoding").is_none(), "{sent}");
    assert_eq!(
        sent["authorization"],
        format!("Bearer {KEY}"),
        "the client's credentials never reach a provider"
    );
}

#[tokio::test]
async fn a_provider_without_its_key_is_skipped_at_request_time() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["models"]["providers"]["spare"] =
        json!({"baseUrl": primary.base_url(), "apiKey": "${SPARE_KEY}", "models": [{"id": "m"}]});
    config["agents"]["defaults"]["model"]["fallbacks"] = json!(["backup/m"]);
    let gw = gateway(config).await;
    // `spare` is not in the default chain, so its missing key only warned;
    // asking for it directly falls over to the chain's fallback.
    let response = gw
        .chat(json!({"model": "spare/m", "messages": user_message()}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert!(
        primary.requests().is_empty(),
        "nothing was sent without a key"
    );
}

#[tokio::test]
async fn kimi_compat_rewrites_reach_the_provider() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["models"]["providers"]["primary"]["models"][0]["compat"] = json!({"supportsDeveloperRole": false, "maxTokensField": "max_tokens", "supportsUsageInStreaming": false});
    let gw = gateway(config).await;
    let response = gw
        .chat(json!({
            "messages": [{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}],
            "max_completion_tokens": 100,
            "stream_options": {"include_usage": true},
        }))
        .await;
    assert_eq!(response.status(), 200);
    let sent = &primary.requests()[0]["body"];
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["max_tokens"], 100);
    assert!(sent.get("max_completion_tokens").is_none());
    assert!(sent.get("stream_options").is_none());
}

#[tokio::test]
async fn a_ref_already_in_the_chain_is_tried_once() {
    let (primary, backup) = (
        failing_mock(500, "server_error").await,
        healthy_mock().await,
    );
    let mut config = chain_config(&primary, &backup);
    config["agents"]["defaults"]["models"] = json!({"backup/m": {"alias": "b"}});
    let gw = gateway(config).await;
    // Asking for the backup puts it first; the fallbacks then add nothing new.
    let response = gw
        .chat(json!({"model": "b", "messages": user_message()}))
        .await;
    assert_eq!(header(&response, "x-clawgate-attempts"), "1");
    assert!(primary.requests().is_empty());
}

#[tokio::test]
async fn upstream_connections_are_reused() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    for stream in [false, true, false, true, false] {
        let response = gw
            .chat(json!({"messages": user_message(), "stream": stream}))
            .await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    assert_eq!(primary.requests().len(), 5);
    assert_eq!(
        primary.connections(),
        1,
        "one pooled connection served every request"
    );
}
