//! `POST /v1/messages` and `count_tokens` for Anthropic clients: what the
//! provider receives (recorded by the mock), the answer and the exact event
//! sequence, tool calls both ways, errors in Anthropic's shape, auth.

mod common;

use clawgate_mock::MockOptions;
use common::*;
use serde_json::{Value, json};

const TOOL_ARGS: &str = r#"{"command":"echo from-the-tool"}"#;

fn bash_tool() -> Value {
    json!({"name": "Bash", "description": "Runs a command",
           "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
           "cache_control": {"type": "ephemeral"}})
}

/// A request shaped like Claude Code's (trimmed): billing header, cached
/// system blocks, adaptive thinking, effort, context management, metadata,
/// a mid-conversation system message.
fn claude_code_request(stream: bool) -> Value {
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": stream,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli; cch=1a2b;"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Plan mode is off."},
        ],
        "tools": [bash_tool()],
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"d\"}"},
    })
}

#[tokio::test]
async fn a_claude_code_request_is_translated_for_an_openai_provider() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.messages(claude_code_request(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "primary");
    assert_eq!(header(&response, "x-clawgate-attempts"), "1");
    let sent = &primary.requests()[0]["body"];
    assert_eq!(
        sent,
        &json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "You are Claude Code."},
                {"role": "user", "content": "Say hello"},
                {"role": "system", "content": "Plan mode is off."},
            ],
            "max_tokens": 32000,
            "tools": [{"type": "function", "function": {"name": "Bash", "description": "Runs a command",
                       "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}}}],
            "reasoning_effort": "high",
            "user": "{\"device_id\":\"d\"}",
            // Streamed upstream even for a client that did not stream.
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
    // What a chat provider does not get is named.
    assert_eq!(
        header(&response, "x-clawgate-dropped"),
        "context_management, cache_control"
    );
    let mut body: Value = response.json().await.unwrap();
    // The provider gives every answer one id; each message's is its own
    // (Claude Code joins its transcript by message id when it resumes).
    let id = body["id"].take();
    let again: Value = gw
        .messages(claude_code_request(false))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        id.as_str().unwrap().starts_with("msg_chatcmpl-mock_"),
        "{id}"
    );
    assert_ne!(again["id"], id);
    assert_eq!(
        body,
        json!({
            "id": null, "type": "message", "role": "assistant", "model": "primary/m",
            "content": [
                {"type": "thinking", "thinking": "The user greets me; I greet back.", "signature": ""},
                {"type": "text", "text": "Hello from clawgate-mock."},
            ],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 8, "output_tokens": 3, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0},
        })
    );
}

#[tokio::test]
async fn kimi_rules_apply_to_translated_requests() {
    let mock = healthy_mock().await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"moonshot": {"baseUrl": mock.base_url(), "apiKey": KEY,
            "models": [{"id": "kimi-k2.6", "reasoning": true, "compat": {"thinking": "optional"}}]}}},
        "agents": {"defaults": {"model": {"primary": "moonshot/kimi-k2.6"}}},
    });
    let gw = gateway(config).await;
    // Claude Code's adaptive thinking at high effort: Kimi's switch on.
    assert_eq!(gw.messages(claude_code_request(false)).await.status(), 200);
    let mut request = claude_code_request(false);
    request["thinking"] = json!({"type": "disabled"});
    assert_eq!(gw.messages(request).await.status(), 200);
    let sent: Vec<Value> = mock
        .requests()
        .into_iter()
        .map(|r| r["body"].clone())
        .collect();
    for (sent, switch) in sent.iter().zip(["enabled", "disabled"]) {
        assert_eq!(sent["thinking"], json!({"type": switch}), "{sent:#}");
        assert!(sent.get("reasoning_effort").is_none(), "{sent:#}");
    }
}

#[tokio::test]
async fn a_stream_is_the_exact_anthropic_event_sequence() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.messages(claude_code_request(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    let sent = &primary.requests()[0]["body"];
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
    let events = sse_events(&response.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for (name, data) in &events {
        assert_eq!(data["type"], json!(name));
    }
    assert_eq!(events[0].1["message"]["model"], "primary/m");
    assert_eq!(
        events[2].1["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    assert_eq!(
        events[11].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text = |kind: &str| -> String {
        events
            .iter()
            .filter_map(|(_, data)| data["delta"][kind].as_str())
            .collect()
    };
    assert_eq!(text("thinking"), "The user greets me; I greet back.");
    assert_eq!(text("text"), "Hello from clawgate-mock.");
    assert_eq!(
        events[16].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"input_tokens": 8, "output_tokens": 3, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 0}})
    );
}

async fn tool_calling_gateway() -> (TestGateway, clawgate_mock::MockServer) {
    let primary = mock(MockOptions {
        tool_calls: vec![format!("Bash={TOOL_ARGS}")],
        reply: "The tool said from-the-tool.".into(),
        reasoning: String::new(),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    (gateway(chain_config(&primary, &backup)).await, primary)
}

#[tokio::test]
async fn a_tool_round_trip_keeps_ids_paired_and_arguments_whole() {
    let (gw, primary) = tool_calling_gateway().await;
    let ask = json!({"model": "default", "max_tokens": 100, "stream": true, "tools": [bash_tool()],
                     "messages": [{"role": "user", "content": "run it"}]});
    let events = sse_events(&gw.messages(ask.clone()).await.text().await.unwrap());
    let start = events
        .iter()
        .find(|(name, _)| name == "content_block_start")
        .unwrap();
    let id = start.1["content_block"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        start.1["content_block"],
        json!({"type": "tool_use", "id": id, "name": "Bash", "input": {}})
    );
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    );
    let pieces: Vec<&str> = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(pieces, [TOOL_ARGS], "the call is sent whole");
    let delta = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    // The non-streamed answer carries the same call, under an id of its
    // own: the provider says `functions.Bash:0` every time, and Claude Code
    // pairs results by id.
    let mut whole = ask.clone();
    whole["stream"] = json!(false);
    let message: Value = gw.messages(whole).await.json().await.unwrap();
    let second_id = message["content"][0]["id"].as_str().unwrap().to_string();
    assert_ne!(second_id, id, "a tool_use id repeats across answers");
    assert_eq!(
        message["content"],
        json!([{"type": "tool_use", "id": second_id, "name": "Bash", "input": {"command": "echo from-the-tool"}}])
    );
    assert_eq!(message["stop_reason"], "tool_use");

    // The client answers both calls; the provider sees its own id again,
    // each result after its call.
    let mut answer = ask;
    answer["stream"] = json!(false);
    let round = |id: &str, output: &str| {
        [
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "Bash",
                                                     "input": {"command": "echo from-the-tool"}}]}),
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": output}]}),
        ]
    };
    let mut history = vec![json!({"role": "user", "content": "run it"})];
    history.extend(round(&id, "first\n"));
    history.extend(round(&second_id, "from-the-tool\n"));
    answer["messages"] = json!(history);
    let message: Value = gw.messages(answer).await.json().await.unwrap();
    assert_eq!(
        message["content"],
        json!([{"type": "text", "text": "The tool said from-the-tool."}])
    );
    let sent = &primary.requests()[2]["body"]["messages"];
    for (call, result, output) in [(1, 2, "first\n"), (3, 4, "from-the-tool\n")] {
        assert_eq!(
            sent[call]["tool_calls"][0]["id"], "functions.Bash:0",
            "{sent:#}"
        );
        assert_eq!(
            sent[result],
            json!({"role": "tool", "tool_call_id": "functions.Bash:0", "content": output})
        );
    }
}

#[tokio::test]
async fn errors_take_anthropics_shape_with_the_openai_apis_status() {
    let (primary, backup) = (
        mock(MockOptions {
            fail_status: Some(429),
            fail_type: "rate_limit_reached_error".into(),
            retry_after: Some(7),
            ..MockOptions::default()
        })
        .await,
        failing_mock(429, "engine_overloaded_error").await,
    );
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.messages(claude_code_request(false)).await;
    // Every target rate limited: 429, as OpenClaw and the SDKs read it.
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "retry-after"), "7");
    assert_eq!(header(&response, "x-clawgate-attempts"), "2");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert!(body["request_id"].as_str().unwrap().starts_with("req_"));
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("every provider is rate limited"),
        "{body}"
    );
}

#[tokio::test]
async fn a_provider_context_overflow_reads_as_claude_code_expects() {
    let primary = mock(MockOptions {
        fail_status: Some(400),
        fail_type: "invalid_request_error".into(),
        fail_message:
            "Invalid request: Your request exceeded model token limit: 262144 (requested: 270001)"
                .into(),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.messages(claude_code_request(true)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"],
        json!({"type": "invalid_request_error", "message": "prompt is too long: 270001 tokens > 262144"})
    );
    assert!(
        backup.requests().is_empty(),
        "a bad request does not fall over"
    );
}

#[tokio::test]
async fn models_resolve_like_the_openai_api_and_unknown_claude_names_take_the_default_chain() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["agents"]["defaults"]["models"] = json!({"backup/m": {"alias": "claude-haiku-4-5"}});
    let gw = gateway(config).await;
    let ask = |model: &str| json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});

    let response = gw.messages(ask("backup/m")).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");

    // A Claude name the config maps goes where it says.
    let response = gw.messages(ask("claude-haiku-4-5")).await;
    assert_eq!(header(&response, "x-clawgate-model"), "backup/m");

    let response = gw.messages(ask("claude-3-5-haiku-20241022")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-model"), "primary/m");

    let response = gw.messages(ask("gpt-nope")).await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn bad_requests_are_invalid_request_errors() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    for (body, expected) in [
        (json!({"max_tokens": 5}), "messages"),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "document",
                   "source": {"type": "base64", "media_type": "application/pdf", "data": "x"}}]}]}),
            "document block",
        ),
    ] {
        let response = gw.messages(body).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{message}");
    }
    assert!(primary.requests().is_empty());
}

#[tokio::test]
async fn a_stream_broken_after_its_start_ends_with_an_error_event() {
    let primary = mock(MockOptions {
        error_after_chunks: Some(3),
        fail_message: "engine hiccup".into(),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.messages(claude_code_request(true)).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(&response.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "api_error");
    assert!(
        data["error"]["message"]
            .as_str()
            .unwrap()
            .contains("engine hiccup")
    );
    assert_eq!(
        events.iter().filter(|(n, _)| n == "message_start").count(),
        1
    );
    assert!(!events.iter().any(|(n, _)| n == "message_stop"));
}

#[tokio::test]
async fn the_token_is_accepted_as_x_api_key_or_bearer() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"auth": {"token": "gw-token-123"}});
    let gw = gateway(config).await;
    let body = json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
    let send = |header: Option<(&'static str, &'static str)>| {
        let mut request = gw
            .client()
            .post(format!("{}/v1/messages", gw.url))
            .json(&body);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.send()
    };
    for header in [
        ("x-api-key", "gw-token-123"),
        ("authorization", "Bearer gw-token-123"),
    ] {
        assert_eq!(
            send(Some(header)).await.unwrap().status(),
            200,
            "{header:?}"
        );
    }
    for header in [
        None,
        Some(("x-api-key", "wrong")),
        Some(("authorization", "Bearer wrong")),
    ] {
        let response = send(header).await.unwrap();
        assert_eq!(response.status(), 401, "{header:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "authentication_error");
    }
    // The OpenAI API takes the key header too, and keeps its own error shape.
    let chat = |key: &'static str| {
        gw.client()
            .post(format!("{}/v1/chat/completions", gw.url))
            .header("x-api-key", key)
            .json(&json!({"messages": user_message()}))
            .send()
    };
    assert_eq!(chat("gw-token-123").await.unwrap().status(), 200);
    let response = chat("wrong").await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_api_key");
}

#[tokio::test]
async fn a_guards_refusal_other_than_401_takes_anthropics_shape() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"maxBodyBytes": 2048});
    let gw = gateway(config).await;
    let big = json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x".repeat(4096)}]});
    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let response = gw
            .client()
            .post(format!("{}{path}", gw.url))
            .json(&big)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 413, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["type"], "error", "{path}");
        assert_eq!(body["error"]["type"], "request_too_large", "{path}");
    }
}

#[tokio::test]
async fn count_tokens_takes_a_slot_under_the_concurrency_cap() {
    let hanging = mock(MockOptions {
        hang: true,
        ..MockOptions::default()
    })
    .await;
    let mut config = chain_config(&hanging, &hanging);
    config["gateway"] = json!({"limits": {"maxConcurrentRequests": 1}});
    let gw = gateway(config).await;
    let holder = tokio::spawn(
        gw.client()
            .post(format!("{}/v1/messages", gw.url))
            .json(&json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}))
            .send(),
    );
    // The held request has its slot once it reached the provider.
    while hanging.requests().is_empty() {
        tokio::task::yield_now().await;
    }
    let refused = gw
        .client()
        .post(format!("{}/v1/messages/count_tokens", gw.url))
        .json(&json!({"messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "overloaded_error");
    holder.abort();
}

#[tokio::test]
async fn count_tokens_estimates_without_calling_a_provider() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let count = |body: Value| {
        let request = gw
            .client()
            .post(format!("{}/v1/messages/count_tokens?beta=true", gw.url))
            .json(&body)
            .send();
        async move {
            let response = request.await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            body["input_tokens"].as_u64().unwrap()
        }
    };
    let short =
        count(json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]})).await;
    let long = count(claude_code_request(false)).await;
    assert!(short > 0 && long > short, "{short} {long}");
    assert!(primary.requests().is_empty() && backup.requests().is_empty());
}

#[tokio::test]
async fn the_base_url_answers_head_and_get() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"auth": {"token": "gw-token-123"}});
    let gw = gateway(config).await;
    let client = gw.client();
    assert_eq!(client.head(&gw.url).send().await.unwrap().status(), 200);
    assert_eq!(client.get(&gw.url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn moonshot_usage_streams_once_with_cache_reads_apart() {
    let primary = mock(MockOptions {
        style: "moonshot".into(),
        cached_tokens: 3,
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let ask = json!({"max_tokens": 50, "stream": true,
                     "messages": [{"role": "user", "content": "one two three four five six"}]});
    let events = sse_events(&gw.messages(ask).await.text().await.unwrap());
    let deltas: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "message_delta")
        .map(|(_, data)| data)
        .collect();
    // The mock counts the prompt's words: the whole messages array as JSON.
    assert_eq!(
        deltas,
        [
            &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                 "usage": {"input_tokens": 3, "output_tokens": 3, "cache_creation_input_tokens": 0,
                           "cache_read_input_tokens": 3}})
        ]
    );
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn a_request_too_long_for_every_window_reads_as_claude_code_expects() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["models"]["providers"]["primary"]["models"][0]["contextWindow"] = json!(1000);
    config["models"]["providers"]["backup"]["models"][0]["contextWindow"] = json!(2000);
    let gw = gateway(config).await;
    let response = gw
        .messages(json!({"model": "default", "max_tokens": 100,
            "messages": [{"role": "user", "content": "word ".repeat(8000)}]}))
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("prompt is too long: ") && message.ends_with(" tokens > 2000"),
        "{body}"
    );
    assert!(primary.requests().is_empty() && backup.requests().is_empty());
}

/// Messages of the `system` role alone are no turn to answer: a 400
/// naming `messages`, before any provider (Kimi Coding's rules, which
/// move them into `system`, would send it none).
#[tokio::test]
async fn messages_of_the_system_role_alone_are_refused() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw
        .messages(
            json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "BASE",
            "messages": [{"role": "system", "content": "S"}]}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`messages` holds only system messages"),
        "{message}"
    );
    assert!(primary.requests().is_empty() && backup.requests().is_empty());
}
