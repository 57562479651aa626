//! The HTTP edge: bad input, authentication, body limits, model listing,
//! health and metrics, and that no error ever shows a key.

mod common;

use clawgate_mock::MockOptions;
use common::*;
use serde_json::{Value, json};

async fn post_raw(gw: &TestGateway, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = gw
        .client()
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.expect("errors are JSON"))
}

fn assert_openai_error(body: &Value, kind: &str, code: &str) {
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn malformed_and_mistyped_requests_are_400_in_the_openai_shape() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let cases = [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        (r#"{"model": "primary/m"}"#, "`messages` is required"),
        (
            r#"{"messages": {"role": "user"}}"#,
            "`messages` must be an array",
        ),
        (
            r#"{"messages": [{"role": "user"}], "stream": 1}"#,
            "`stream` must be a boolean",
        ),
        (
            r#"{"messages": [{"role": "user"}], "model": ["a"]}"#,
            "`model` must be a string",
        ),
        // A thinking signal no API defines would be read as "on" by the
        // rules of every target that translates it.
        (
            r#"{"messages": [{"role": "user"}], "reasoning_effort": "bogus"}"#,
            "`reasoning_effort` must be one of none, minimal, low, medium, high, xhigh, max",
        ),
        (
            r#"{"messages": [{"role": "user"}], "reasoning_effort": 3}"#,
            "`reasoning_effort` must be one of",
        ),
        (
            r#"{"messages": [{"role": "user"}], "thinking": {"type": "adaptive"}}"#,
            "`thinking.type` must be enabled or disabled",
        ),
        (
            r#"{"messages": [{"role": "user"}], "thinking": {"budget_tokens": 5}}"#,
            "`thinking.type` must be enabled or disabled",
        ),
    ];
    for (body, expected) in cases {
        let (status, error) = post_raw(&gw, body).await;
        assert_eq!(status, 400, "{body}");
        assert_openai_error(&error, "invalid_request_error", "invalid_request");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains(expected),
            "{body}: {error}"
        );
    }
    let plain = (gw.client().post(format!("{}/v1/chat/completions", gw.url)))
        .header("content-encoding", "identity")
        .json(&json!({"messages": user_message()}))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    assert_eq!(primary.requests().len(), 1);
}

/// A body its client compressed (Codex CLI and pi send zstd) is decoded
/// on each API, bounded by `gateway.maxBodyBytes` as it expands; a coding
/// clawgate does not read, or data that is not what its coding says, is a
/// 400 naming it.
#[tokio::test]
async fn compressed_bodies_are_decoded_within_the_body_limit() {
    use std::io::Write;
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"maxBodyBytes": 65536});
    let gw = gateway(config).await;
    let gzip = |data: &[u8]| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    };
    let zstd = |data: &[u8]| {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    };
    let post = |path: &str, coding: &str, body: Vec<u8>| {
        (gw.client().post(format!("{}{path}", gw.url)))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(body)
            .send()
    };
    let bodies = [
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "zipped"}]}),
        ),
        (
            "/v1/messages",
            json!({"model": "default", "max_tokens": 64, "messages": [{"role": "user", "content": "zipped"}]}),
        ),
        (
            "/v1/responses",
            json!({"model": "default", "input": "zipped"}),
        ),
    ];
    for (path, body) in &bodies {
        let plain = serde_json::to_vec(body).unwrap();
        for (coding, encoded) in [("gzip", gzip(&plain)), ("zstd", zstd(&plain))] {
            let response = post(path, coding, encoded).await.unwrap();
            assert_eq!(response.status(), 200, "{path} {coding}");
            let sent = primary.requests().pop().expect("the provider was asked");
            assert!(
                sent.to_string().contains("zipped"),
                "{path} {coding}: {sent}"
            );
        }
        // What expands past the limit is too large, as a plain body is.
        let padded = format!(r#"{{"pad": "{}", "messages": []}}"#, " ".repeat(1 << 20));
        let response = post(path, "zstd", zstd(padded.as_bytes())).await.unwrap();
        assert_eq!(response.status(), 413, "{path}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains("gateway.maxBodyBytes"), "{path}: {error}");
        for (coding, body, expected) in [
            (
                "br",
                gzip(&plain),
                "Content-Encoding \"br\" is not one clawgate reads",
            ),
            ("gzip", plain.clone(), "not valid gzip data"),
        ] {
            let response = post(path, coding, body).await.unwrap();
            assert_eq!(response.status(), 400, "{path} {coding}");
            let error: Value = response.json().await.unwrap();
            let message = error["error"]["message"].as_str().unwrap();
            assert!(message.contains(expected), "{path} {coding}: {error}");
        }
    }
    assert_eq!(primary.requests().len(), 6);
}

/// The thinking signals a chat request may give, each read by the rules,
/// are taken (and `null` is a signal left out).
#[tokio::test]
async fn defined_thinking_signals_are_taken() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let signals = [
        json!({"reasoning_effort": "max"}),
        json!({"reasoning_effort": "off"}),
        json!({"reasoning_effort": null}),
        json!({"thinking": {"type": "enabled", "keep": "all"}}),
        json!({"thinking": {"type": "disabled"}}),
        json!({"thinking": null}),
    ];
    for signal in &signals {
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}]});
        body.as_object_mut()
            .unwrap()
            .extend(signal.as_object().unwrap().clone());
        let (status, answer) = post_raw(&gw, body.to_string()).await;
        assert_eq!(status, 200, "{signal}: {answer}");
    }
    assert_eq!(primary.requests().len(), signals.len());
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"maxBodyBytes": 4096});
    let gw = gateway(config).await;
    let big = json!({"messages": [{"role": "user", "content": "x".repeat(5000)}]}).to_string();
    let (status, error) = post_raw(&gw, big).await;
    assert_eq!(status, 413);
    assert_openai_error(&error, "invalid_request_error", "request_too_large");
    assert!(error["error"]["message"].as_str().unwrap().contains("4096"));

    // Without a Content-Length the limit holds as well.
    let chunks = futures_util::stream::iter(
        (0..10).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 1000]))),
    );
    let (status, _) = post_raw(&gw, reqwest::Body::wrap_stream(chunks)).await;
    assert_eq!(status, 413);

    let fits = json!({"messages": [{"role": "user", "content": "x".repeat(3000)}]}).to_string();
    assert_eq!(post_raw(&gw, fits).await.0, 200);
    assert_eq!(primary.requests().len(), 1);
}

#[tokio::test]
async fn the_bearer_token_guards_the_api_but_not_health() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"auth": {"token": "${GATEWAY_TOKEN}"}});
    let gw = gateway_with_env(config, &[("GATEWAY_TOKEN", "let-me-in")]).await;
    let client = gw.client();
    let chat = |auth: Option<&'static str>| {
        let mut request = client
            .post(format!("{}/v1/chat/completions", gw.url))
            .json(&json!({"messages": user_message()}));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("let-me-in"),
        Some("Bearer let-me-in-please"),
        Some("Basic let-me-in"),
    ] {
        let response = chat(auth).await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_openai_error(&body, "authentication_error", "invalid_api_key");
    }
    assert_eq!(chat(Some("Bearer let-me-in")).await.unwrap().status(), 200);
    let models = client
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
    let health = client
        .get(format!("{}/healthz", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(primary.requests().len(), 1);
}

#[tokio::test]
async fn models_lists_refs_and_aliases_with_their_limits_and_never_a_key() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["models"]["providers"]["primary"]["models"] = json!([{"id": "m", "name": "Mock", "contextWindow": 1000, "maxTokens": 100, "reasoning": true, "input": ["text", "image"]}]);
    config["agents"]["defaults"]["models"] = json!({"primary/m": {"alias": "fast"}});
    let gw = gateway(config).await;
    let response = gw
        .client()
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(!text.contains(KEY));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["default", "backup/m", "primary/m", "fast"]);
    let primary_entry = &body["data"][2];
    assert_eq!(primary_entry["context_window"], 1000);
    assert_eq!(primary_entry["max_output_tokens"], 100);
    assert_eq!(primary_entry["reasoning"], true);
    assert_eq!(primary_entry["input"], json!(["text", "image"]));
    assert_eq!(primary_entry["owned_by"], "primary");
    assert_eq!(body["data"][3]["alias_of"], "primary/m");
    assert_eq!(body["data"][0]["alias_of"], "primary/m");
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_openai_shape() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw
        .client()
        .get(format!("{}/v1/nothing", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_openai_error(&body, "invalid_request_error", "not_found");
}

#[tokio::test]
async fn upstream_errors_that_echo_the_key_are_scrubbed() {
    let echo = MockOptions {
        fail_status: Some(401),
        fail_type: "invalid_authentication_error".into(),
        fail_message: format!("Incorrect API key provided: {KEY}"),
        ..MockOptions::default()
    };
    let (primary, backup) = (mock(echo.clone()).await, mock(echo).await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.chat(json!({"messages": user_message()})).await;
    assert_eq!(response.status(), 502, "every provider refused its key");
    let text = response.text().await.unwrap();
    assert!(!text.contains(KEY), "{text}");
    assert!(
        text.contains("Incorrect API key provided: [redacted]"),
        "{text}"
    );

    // A key that straddles the point where long messages are cut is
    // scrubbed before the cut, so no piece of it is left.
    let straddling = MockOptions {
        fail_status: Some(401),
        fail_message: format!("{}{KEY} and more", "x".repeat(290)),
        ..MockOptions::default()
    };
    let (primary, backup) = (mock(straddling.clone()).await, mock(straddling).await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let text = gw
        .chat(json!({"messages": user_message()}))
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&KEY[..8]), "{text}");
}

#[tokio::test]
async fn metrics_count_requests_attempts_and_fallbacks_by_low_cardinality_labels() {
    let primary = mock(MockOptions {
        fail_status: Some(500),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let mut config = chain_config(&primary, &backup);
    // Provider ids unique to this test: the metrics registry is process-wide.
    let providers = config["models"]["providers"].take();
    config["models"]["providers"] =
        json!({"metrics-primary": providers["primary"], "metrics-backup": providers["backup"]});
    config["agents"]["defaults"]["model"] =
        json!({"primary": "metrics-primary/m", "fallbacks": ["metrics-backup/m"]});
    let gw = gateway(config).await;
    assert_eq!(
        gw.chat(json!({"messages": user_message()})).await.status(),
        200
    );
    let text = gw.metrics().await;
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .map(str::to_string)
    };
    assert!(
        line("clawgate_requests_total{outcome=\"fallback\"}").is_some(),
        "{text}"
    );
    assert_eq!(
        line("clawgate_attempts_total{provider=\"metrics-primary\",model=\"metrics-primary/m\",outcome=\"provider_error\"}").as_deref(),
        // Tried, then retried once (gateway.retries.perTarget).
        Some("clawgate_attempts_total{provider=\"metrics-primary\",model=\"metrics-primary/m\",outcome=\"provider_error\"} 2"),
        "{text}"
    );
    assert!(line("clawgate_attempts_total{provider=\"metrics-backup\",model=\"metrics-backup/m\",outcome=\"ok\"} 1").is_some());
    assert!(
        line("clawgate_fallbacks_total{provider=\"metrics-backup\",model=\"metrics-backup/m\",reason=\"provider_error\"} 1")
            .is_some()
    );
    assert!(
        line("clawgate_retries_total{provider=\"metrics-primary\",model=\"metrics-primary/m\",class=\"provider_error\"} 1")
            .is_some(),
        "{text}"
    );
    assert!(
        line("clawgate_upstream_latency_seconds_bucket{provider=\"metrics-backup\"").is_some(),
        "{text}"
    );
    assert!(
        !text.contains("injected failure"),
        "messages are never labels"
    );
    // Each metric says what it counts, as Prometheus' linter asks.
    let lines: Vec<&str> = text.lines().collect();
    for (at, line) in lines.iter().enumerate() {
        if let Some(name) = line.strip_prefix("# TYPE ") {
            let name = name.split(' ').next().unwrap();
            let help = at.checked_sub(1).map(|before| lines[before]);
            assert!(
                help.is_some_and(|help| help.starts_with(&format!("# HELP {name} "))),
                "{name} has no HELP line:\n{text}"
            );
        }
    }
}
