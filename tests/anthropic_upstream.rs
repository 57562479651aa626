//! Providers reached over Anthropic Messages (`api: "anthropic-messages"`):
//! an OpenAI client talks to clawgate, clawgate talks to the mock's
//! `/v1/messages`, and every answer comes back in OpenAI's shape. Also the
//! config side (OpenClaw's Kimi Coding entry, the built-in provider
//! switched over) and chains that mix transports.

mod common;

use std::time::Duration;

use clawgate::capabilities::Api;
use clawgate::config::{self, Environment, Secrets};
use clawgate_mock::{MockOptions, MockServer};
use common::{KEY, TestGateway, gateway, header, mock, sse_data, user_message};
use serde_json::{Value, json};

/// OpenClaw 2026.9.6's Kimi Coding provider entry (as described in
/// `shared/facts/anthropic.md`), with `baseUrl` as given.
fn openclaw_kimi_entry(base_url: &str) -> Value {
    json!({
        "baseUrl": base_url,
        "apiKey": "${KIMI_API_KEY}",
        "api": "anthropic-messages",
        "headers": {"User-Agent": "claude-code/0.1.0"},
        "models": [{
            "id": "kimi-for-coding", "name": "Kimi For Coding", "reasoning": true,
            "input": ["text", "image"], "contextWindow": 262144, "maxTokens": 32768,
            "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
        }],
    })
}

/// A provider entry for an Anthropic mock, the way OpenClaw writes one:
/// `baseUrl` without `/v1`.
fn anthropic_provider(mock: &MockServer) -> Value {
    json!({"baseUrl": format!("http://{}/", mock.addr), "apiKey": KEY,
           "api": "anthropic-messages", "models": [{"id": "m", "maxTokens": 2048}]})
}

fn openai_provider(mock: &MockServer) -> Value {
    common::provider(mock)
}

async fn single(mock: &MockServer) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {"claude-like": anthropic_provider(mock)}},
        "agents": {"defaults": {"model": "claude-like/m"}},
    }))
    .await
}

/// A chain of two providers given as `(id, entry)`.
async fn chain(primary: (&str, Value), backup: (&str, Value)) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {primary.0: primary.1, backup.0: backup.1}},
        "agents": {"defaults": {"model": {"primary": format!("{}/m", primary.0),
                                          "fallbacks": [format!("{}/m", backup.0)]}}},
    }))
    .await
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])
}

/// The JSON chunks of an SSE body and whether it ended in `[DONE]`.
async fn chunks(response: reqwest::Response) -> (Vec<Value>, bool) {
    let body = response.text().await.unwrap();
    let data = sse_data(&body);
    let done = data.last().map(String::as_str) == Some("[DONE]");
    let chunks = data
        .iter()
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| panic!("not JSON: {d}")))
        .collect();
    (chunks, done)
}

/// The concatenation of `choices[0].delta[field]` over the chunks.
fn joined(chunks: &[Value], field: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c.pointer(&format!("/choices/0/delta/{field}"))?.as_str())
        .collect()
}

#[tokio::test]
async fn a_non_streamed_answer_comes_back_in_openai_shape_with_usage() {
    let upstream = mock(MockOptions {
        cached_tokens: 100,
        cache_write_tokens: 7,
        require_key: Some(KEY.into()),
        ..MockOptions::default()
    })
    .await;
    let gw = single(&upstream).await;
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"}]}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "claude-like/m");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["content"], "Hello from clawgate-mock.");
    assert_eq!(
        choice["message"]["reasoning_content"],
        "The user greets me; I greet back."
    );
    assert_eq!(choice["finish_reason"], "stop");
    let usage = &body["usage"];
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 100);
    assert_eq!(usage["prompt_tokens_details"]["cache_write_tokens"], 7);
    // The mock counts whitespace-separated words of the messages and
    // system JSON (2 + 2), and reads and writes the cache as told:
    // OpenAI's prompt_tokens counts all three.
    assert_eq!(usage["prompt_tokens"], 4 + 100 + 7);
    assert_eq!(usage["completion_tokens"], 7 + 3);
    assert_eq!(usage["total_tokens"], 4 + 100 + 7 + 7 + 3);

    // What the provider received: Anthropic Messages at /v1/messages, the
    // key in x-api-key and nowhere else.
    let requests = upstream.requests();
    let sent = &requests[0];
    assert_eq!(sent["path"], "/v1/messages");
    assert_eq!(sent["headers"]["x-api-key"], KEY);
    assert_eq!(sent["headers"]["anthropic-version"], "2023-06-01");
    assert!(sent["headers"].get("authorization").is_none());
    assert_eq!(
        sent["body"],
        // Streamed upstream even for a client that did not stream: the
        // chain assembles the answer.
        json!({"model": "m", "max_tokens": 2048,
               "system": [{"type": "text", "text": "Be brief."}],
               "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}],
               "stream": true})
    );
}

#[tokio::test]
async fn a_streamed_answer_is_relayed_as_openai_chunks() {
    let upstream = mock(MockOptions {
        cached_tokens: 40,
        comment: Some("keep-alive".into()),
        ..MockOptions::default()
    })
    .await;
    let gw = single(&upstream).await;
    let response = gw
        .chat(
            json!({"model": "claude-like/m", "messages": user_message(), "stream": true,
                     "stream_options": {"include_usage": true}}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/event-stream"));
    let (chunks, done) = chunks(response).await;
    assert!(done, "the stream ends in [DONE]");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(joined(&chunks, "content"), "Hello from clawgate-mock.");
    assert_eq!(
        joined(&chunks, "reasoning_content"),
        "The user greets me; I greet back."
    );
    let finishes: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finishes, [&json!("stop")]);
    let usage: Vec<&Value> = chunks.iter().filter_map(|c| c.get("usage")).collect();
    assert_eq!(usage.len(), 1, "one usage chunk");
    assert_eq!(usage[0]["prompt_tokens_details"]["cached_tokens"], 40);
    assert_eq!(
        usage[0]["completion_tokens"].as_u64().unwrap(),
        7 + 3,
        "reasoning and reply words"
    );
    assert!(chunks.iter().all(|c| c["model"] == "claude-like/m"));
    assert_eq!(upstream.requests()[0]["body"]["stream"], true);
}

#[tokio::test]
async fn tool_calls_stream_their_arguments_and_replay_with_reasoning() {
    let upstream = mock(MockOptions::default()).await;
    let gw = single(&upstream).await;
    let response = gw
        .chat(
            json!({"model": "claude-like/m", "stream": true, "tools": weather_tool(),
                     "messages": [{"role": "user", "content": "weather in Paris?"}]}),
        )
        .await;
    let (chunks, done) = chunks(response).await;
    assert!(done);
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert_eq!(calls[0]["id"], "toolu_mock_1");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert!(
        calls.len() >= 3,
        "the arguments arrive in pieces after the call's start: {calls:?}"
    );
    let arguments: String = calls
        .iter()
        .filter_map(|c| c.pointer("/function/arguments")?.as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "mock"})
    );
    let finish = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/finish_reason")?.as_str())
        .next_back();
    assert_eq!(finish, Some("tool_calls"));
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage chunk for a client that did not ask"
    );
    let sent = &upstream.requests()[0]["body"];
    assert_eq!(sent["tools"][0]["name"], "get_weather");
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );

    // The next turn replays the call with Kimi's id and its reasoning: the
    // provider sees a thinking block and paired, encoded ids; the answer
    // is text.
    let kimi_id = "functions.get_weather:0";
    let response = gw
        .chat(json!({"model": "claude-like/m", "tools": weather_tool(), "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": "", "reasoning_content": "I need the tool.",
             "tool_calls": [{"id": kimi_id, "type": "function",
                             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": kimi_id, "content": "sunny"}]}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none());
    let sent = &upstream.requests()[1]["body"];
    let assistant = &sent["messages"][1];
    assert_eq!(assistant["role"], "assistant");
    assert_eq!(
        assistant["content"][0],
        json!({"type": "thinking", "thinking": "I need the tool.", "signature": ""})
    );
    let tool_use = &assistant["content"][1];
    assert_eq!(tool_use["input"], json!({"city": "Paris"}));
    let encoded = tool_use["id"].as_str().unwrap();
    assert!(encoded.starts_with("cgid_"), "{encoded}");
    assert_eq!(
        sent["messages"][2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": encoded, "content": "sunny"})
    );
}

#[tokio::test]
async fn a_non_streamed_tool_call_comes_back_with_its_arguments_as_a_string() {
    let upstream = mock(MockOptions::default()).await;
    let gw = single(&upstream).await;
    let body: Value = gw
        .chat(
            json!({"model": "claude-like/m", "tools": weather_tool(), "tool_choice": "required",
                     "messages": [{"role": "user", "content": "weather?"}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let message = &body["choices"][0]["message"];
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(message["tool_calls"][0]["id"], "toolu_mock_1");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"mock\"}"
    );
    assert_eq!(
        upstream.requests()[0]["body"]["tool_choice"],
        json!({"type": "any"})
    );
}

/// An Anthropic-format provider first and a chat one behind it, each a
/// plain mock: the two mocks and the gateway.
async fn claude_then_chat() -> (MockServer, MockServer, TestGateway) {
    let (upstream, backup) = (
        mock(MockOptions::default()).await,
        mock(MockOptions::default()).await,
    );
    let gw = chain(
        ("claude-like", anthropic_provider(&upstream)),
        ("openai-like", openai_provider(&backup)),
    )
    .await;
    (upstream, backup, gw)
}

/// What the translation cannot read of a chat body is a 400 naming it,
/// and the provider is not called; a chat target behind it is not tried
/// either (the request is at fault). Arguments written as an object are
/// the call's input.
#[tokio::test]
async fn a_chat_body_the_translation_cannot_read_is_refused_naming_the_member() {
    let (upstream, backup, gw) = claude_then_chat().await;
    let hi = json!({"role": "user", "content": "hi"});
    for (body, named) in [
        (json!({"max_tokens": "100", "messages": [hi]}), "max_tokens"),
        (json!({"stop": ["END", 5], "messages": [hi]}), "stop"),
        (json!({"user": 42, "messages": [hi]}), "user"),
        (
            json!({"tool_choice": {"type": "function"}, "messages": [hi]}),
            "tool_choice",
        ),
        (
            json!({"parallel_tool_calls": "no", "messages": [hi]}),
            "parallel_tool_calls",
        ),
        (
            json!({"messages": [hi, {"role": "critic", "content": "x"}]}),
            "messages[1].role",
        ),
        (
            json!({"messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "text"}]}]}),
            "messages[0].content[0]",
        ),
        (
            json!({"messages": [hi, {"role": "assistant", "tool_calls": "nope"}]}),
            "messages[1].tool_calls",
        ),
        // A member only another role has: the translation has no place
        // for it on this one.
        (
            json!({"messages": [{"role": "user", "content": "x", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}),
            "messages[0].tool_calls",
        ),
    ] {
        let mut sent = body.clone();
        sent["model"] = json!("claude-like/m");
        let response = gw.chat(sent).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("{named}: ")), "{body}: {message}");
        assert!(message.contains("Anthropic-format target"), "{message}");
    }
    assert_eq!(upstream.requests().len(), 0, "the provider is not called");
    assert_eq!(backup.requests().len(), 0, "nor the next target");

    let response = gw
        .chat(json!({"model": "claude-like/m", "tools": weather_tool(), "messages": [
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}]}))
        .await;
    assert_eq!(response.status(), 200);
    let sent = &upstream.requests()[0]["body"];
    assert_eq!(
        sent["messages"][1]["content"][0]["input"],
        json!({"city": "Paris", "days": 2})
    );
}

/// An empty user or assistant message has no Messages form (Anthropic
/// refuses empty content): it is left out, the turns either side joined,
/// and named; a chat provider gets it as sent.
#[tokio::test]
async fn an_empty_message_left_out_for_an_anthropic_provider_is_named() {
    let (upstream, backup, gw) = claude_then_chat().await;
    let messages = json!([{"role": "user", "content": "first question"},
        {"role": "assistant", "content": ""}, {"role": "user", "content": "second question"}]);
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": messages}))
        .await;
    assert_eq!(response.status(), 200);
    let dropped = header(&response, "x-clawgate-dropped").to_string();
    assert!(
        dropped.contains("empty user and assistant messages"),
        "{dropped}"
    );
    let sent = &upstream.requests()[0]["body"]["messages"];
    assert_eq!(sent.as_array().unwrap().len(), 1, "{sent}");
    let response = gw
        .chat(json!({"model": "openai-like/m", "messages": messages}))
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-clawgate-dropped").is_none());
    assert_eq!(backup.requests()[0]["body"]["messages"], messages);
}

/// The status and JSON body a request to `gw` ends with.
async fn outcome(gw: &TestGateway, stream: bool) -> (u16, Value) {
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": user_message(), "stream": stream}))
        .await;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if stream && status == 200 {
        json!(text)
    } else {
        serde_json::from_str(&text).unwrap_or(json!(text))
    };
    (status, body)
}

#[tokio::test]
async fn anthropic_errors_fall_over_or_end_the_chain_like_openai_ones() {
    // (status, Anthropic type, falls over)
    let cases = [
        (429, "rate_limit_error", true),
        (529, "overloaded_error", true),
        (500, "api_error", true),
        (401, "authentication_error", true),
        (404, "resource_not_found_error", true),
        (400, "invalid_request_error", false),
    ];
    for (status, kind, falls_over) in cases {
        let failing = mock(MockOptions {
            fail_status: Some(status),
            fail_type: kind.into(),
            fail_message: format!("injected {kind}"),
            ..MockOptions::default()
        })
        .await;
        let backup = common::healthy_mock().await;
        let gw = chain(
            ("claude-like", anthropic_provider(&failing)),
            ("backup", openai_provider(&backup)),
        )
        .await;
        for stream in [false, true] {
            let (got, body) = outcome(&gw, stream).await;
            if falls_over {
                assert_eq!(
                    got, 200,
                    "{status} {kind} stream={stream} falls over: {body}"
                );
            } else {
                assert_eq!(
                    got, status,
                    "{status} {kind} stream={stream} is final: {body}"
                );
                let text = body.to_string();
                assert!(text.contains(&format!("injected {kind}")), "{text}");
            }
        }
        let expected_backup_calls = if falls_over { 2 } else { 0 };
        assert_eq!(
            backup.requests().len(),
            expected_backup_calls,
            "{status} {kind}"
        );
    }
}

#[tokio::test]
async fn an_error_event_before_any_chunk_falls_over() {
    let failing = mock(MockOptions {
        error_after_chunks: Some(0),
        fail_type: "overloaded_error".into(),
        ..MockOptions::default()
    })
    .await;
    let backup = common::healthy_mock().await;
    let gw = chain(
        ("claude-like", anthropic_provider(&failing)),
        ("backup", openai_provider(&backup)),
    )
    .await;
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": user_message(), "stream": true}))
        .await;
    assert_eq!(response.status(), 200);
    let (chunks, done) = chunks(response).await;
    assert!(done);
    assert!(chunks.iter().all(|c| c["model"] == "backup/m"));
    // An overload is retried once on the same target before moving on.
    assert_eq!(failing.requests().len(), 2);
    assert_eq!(backup.requests().len(), 1);
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_the_stream_with_an_error() {
    let failing = mock(MockOptions {
        error_after_chunks: Some(6),
        fail_type: "api_error".into(),
        fail_message: "broke mid-way".into(),
        ..MockOptions::default()
    })
    .await;
    let gw = single(&failing).await;
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": user_message(), "stream": true}))
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let data = sse_data(&body);
    assert_ne!(data.last().map(String::as_str), Some("[DONE]"));
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("broke mid-way"),
        "{last}"
    );
}

/// A config with the built-in `kimi` provider over Anthropic at `mock`,
/// then `backup`.
async fn kimi_over_anthropic(
    mock: &MockServer,
    headers: Value,
    backup: &MockServer,
) -> TestGateway {
    gateway(json!({
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": format!("http://{}/", mock.addr), "apiKey": KEY, "api": "anthropic-messages",
                     "headers": headers, "models": [{"id": "m"}]},
            "backup": openai_provider(backup)}},
        "agents": {"defaults": {"model": {"primary": "kimi/m", "fallbacks": ["backup/m"]}}},
    }))
    .await
}

#[tokio::test]
async fn kimi_codings_user_agent_gate_applies_to_its_anthropic_endpoint() {
    let gated = || {
        mock(MockOptions {
            require_user_agent: Some("claude-code/".into()),
            ..MockOptions::default()
        })
    };
    let backup = common::healthy_mock().await;

    // Without a configured User-Agent, Kimi Coding over Anthropic sends the
    // one OpenClaw sends there, and passes the gate.
    let upstream = gated().await;
    let gw = kimi_over_anthropic(&upstream, json!({}), &backup).await;
    let (status, _) = outcome_of(&gw, "kimi/m").await;
    assert_eq!(status, 200);
    assert_eq!(
        upstream.requests()[0]["headers"]["user-agent"],
        "claude-code/0.1.0"
    );
    assert!(backup.requests().is_empty());

    // A User-Agent the gate refuses: 403, skipped for the next provider,
    // and the attempt report says why.
    let upstream = gated().await;
    let gw = kimi_over_anthropic(&upstream, json!({"User-Agent": "curl/8"}), &backup).await;
    let response = gw
        .chat(json!({"model": "kimi/m", "messages": user_message()}))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["model"], "backup/m");
    assert_eq!(upstream.requests()[0]["headers"]["user-agent"], "curl/8");
    assert_eq!(backup.requests().len(), 1);

    // Alone, the refusal reaches the client clearly: the final status is the
    // chain's rule, the attempt keeps the provider's 403 and its message.
    let upstream = gated().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": format!("http://{}/", upstream.addr), "apiKey": KEY,
                     "api": "anthropic-messages", "headers": {"User-Agent": "curl/8"},
                     "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "kimi/m"}},
    }))
    .await;
    let (_, body) = outcome_of(&gw, "kimi/m").await;
    let attempt = &body["error"]["attempts"][0];
    assert_eq!(
        (&attempt["outcome"], &attempt["status"], &attempt["type"]),
        (&json!("config"), &json!(403), &json!("permission_error")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only available for Coding Agents"),
        "{body}"
    );
}

async fn outcome_of(gw: &TestGateway, model: &str) -> (u16, Value) {
    let response = gw
        .chat(json!({"model": model, "messages": user_message()}))
        .await;
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_chain_mixing_transports_falls_over_both_ways() {
    for stream in [false, true] {
        // Kimi Coding over Anthropic fails, OpenRouter over OpenAI answers.
        let anthropic = common::failing_mock(529, "overloaded_error").await;
        let openai = common::healthy_mock().await;
        let gw = chain(
            ("kimi", anthropic_provider(&anthropic)),
            ("openrouter", openai_provider(&openai)),
        )
        .await;
        let response = gw
            .chat(json!({"model": "kimi/m", "messages": user_message(), "stream": stream}))
            .await;
        assert_eq!(response.status(), 200);
        let answered_by = answered_model(response, stream).await;
        assert_eq!(answered_by, "openrouter/m", "stream={stream}");
        assert_eq!(anthropic.requests()[0]["path"], "/v1/messages");
        assert_eq!(openai.requests()[0]["path"], "/v1/chat/completions");
        assert!(openai.requests()[0]["body"].get("max_tokens").is_none());

        // The other way: OpenAI fails, Anthropic answers.
        let openai = common::failing_mock(503, "server_error").await;
        let anthropic = common::healthy_mock().await;
        let gw = chain(
            ("openrouter", openai_provider(&openai)),
            ("kimi", anthropic_provider(&anthropic)),
        )
        .await;
        let response = gw
            .chat(json!({"model": "openrouter/m", "messages": user_message(), "stream": stream}))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(answered_model(response, stream).await, "kimi/m");
        assert_eq!(anthropic.requests()[0]["path"], "/v1/messages");
        assert_eq!(anthropic.requests()[0]["body"]["max_tokens"], 2048);
    }
}

/// The `model` the answer is labelled with.
async fn answered_model(response: reqwest::Response, stream: bool) -> String {
    if stream {
        let (chunks, done) = chunks(response).await;
        assert!(done);
        chunks[0]["model"].as_str().unwrap().to_string()
    } else {
        let body: Value = response.json().await.unwrap();
        body["model"].as_str().unwrap().to_string()
    }
}

#[test]
fn openclaws_kimi_coding_entry_is_accepted_as_written() {
    let config = json!({"models": {"providers": {"kimi": openclaw_kimi_entry("https://api.kimi.com/coding/")}},
                        "agents": {"defaults": {"model": "kimi/kimi-for-coding"}}});
    let env = Environment::from_pairs([("KIMI_API_KEY", "sk-kimi")]);
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|errors| panic!("refused:\n{errors}"));
    let kimi = &loaded.config.providers["kimi"];
    assert_eq!(kimi.api, Api::AnthropicMessages);
    assert_eq!(
        kimi.completions_url.as_str(),
        "https://api.kimi.com/coding/v1/messages"
    );
    let model = kimi.model("kimi-for-coding").unwrap();
    assert_eq!(model.headers["user-agent"], "claude-code/0.1.0");
    assert_eq!(model.max_tokens, Some(32768));
}

#[test]
fn the_built_in_kimi_coding_provider_switches_to_anthropic_by_its_api_key() {
    let config = json!({"models": {"providers": {"kimi": {"api": "anthropic-messages"}}}});
    let env = Environment::from_pairs([
        ("KIMI_API_KEY", "sk-kimi"),
        ("MOONSHOT_API_KEY", "sk-moonshot"),
        ("OPENROUTER_API_KEY", "sk-or"),
    ]);
    let loaded = config::load_str(&config.to_string(), &env, Secrets::Required)
        .unwrap_or_else(|errors| panic!("refused:\n{errors}"));
    let kimi = &loaded.config.providers["kimi"];
    assert_eq!(kimi.api, Api::AnthropicMessages);
    assert_eq!(
        kimi.completions_url.as_str(),
        "https://api.kimi.com/coding/v1/messages",
        "the catalog's /v1 base means the same endpoint"
    );
    let model = kimi.model("kimi-for-coding").unwrap();
    assert_eq!(model.headers["user-agent"], "claude-code/0.1.0");
    // The other providers keep the OpenAI transport.
    assert_eq!(
        loaded.config.providers["moonshot"].api,
        Api::OpenAiCompletions
    );
}

#[tokio::test]
async fn openclaws_kimi_coding_entry_works_against_the_mock() {
    let upstream = mock(MockOptions {
        require_key: Some("sk-kimi".into()),
        require_user_agent: Some("claude-code/".into()),
        ..MockOptions::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "kimi": openclaw_kimi_entry(&format!("http://{}/", upstream.addr))}},
        "agents": {"defaults": {"model": "kimi/kimi-for-coding"}},
    });
    let gw = common::gateway_with_env(config, &[("KIMI_API_KEY", "sk-kimi")]).await;
    let response = gw
        .chat(
            json!({"model": "kimi/kimi-for-coding", "messages": user_message(), "stream": true,
                     "reasoning_effort": "high"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let (chunks, done) = chunks(response).await;
    assert!(done);
    assert_eq!(joined(&chunks, "content"), "Hello from clawgate-mock.");
    let sent = &upstream.requests()[0];
    // The Kimi rules ran before the translation: the thinking switch they
    // set from the client's reasoning_effort, and the model's output limit,
    // arrive in Anthropic's terms.
    assert_eq!(sent["body"]["model"], "kimi-for-coding");
    assert_eq!(sent["body"]["max_tokens"], 32768);
    assert!(sent["body"].get("stream_options").is_none());
    assert_eq!(
        sent["body"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 16384})
    );
    assert!(sent["body"].get("reasoning_effort").is_none());
}

/// K3 is told only by an effort, which a Messages body sent to Kimi
/// Coding's Anthropic endpoint has no place for: what each client asked of
/// thinking is sent nowhere in the body and named in `x-clawgate-dropped`,
/// in the client's own terms.
#[tokio::test]
async fn k3_over_kimi_codings_anthropic_endpoint_names_the_effort_it_cannot_send() {
    let upstream = mock(MockOptions::default()).await;
    let config = json!({
        "models": {"providers": {"kimi": {"baseUrl": format!("http://{}/", upstream.addr),
            "api": "anthropic-messages", "apiKey": "${KIMI_API_KEY}"}}},
        "agents": {"defaults": {"model": "kimi/k3"}},
    });
    let gw = common::gateway_with_env(config, &[("KIMI_API_KEY", "sk-kimi")]).await;
    let chat = gw
        .chat(json!({"messages": user_message(), "reasoning_effort": "low"}))
        .await;
    let messages = gw
        .messages(json!({"max_tokens": 4096, "messages": user_message(),
            "thinking": {"type": "enabled", "budget_tokens": 2000}}))
        .await;
    for (response, named) in [
        (chat, &["reasoning_effort"][..]),
        (messages, &["thinking", "thinking.budget_tokens"][..]),
    ] {
        assert_eq!(response.status(), 200);
        let dropped = response.headers()["x-clawgate-dropped"]
            .to_str()
            .unwrap()
            .to_string();
        for name in named {
            assert!(
                dropped.split(", ").any(|n| n == *name),
                "{name}: {dropped:?}"
            );
        }
    }
    for sent in upstream.requests() {
        assert_eq!(sent["body"]["model"], "k3");
        for member in ["thinking", "reasoning_effort", "output_config"] {
            assert!(sent["body"].get(member).is_none(), "{member}: {sent}");
        }
    }
}

#[test]
fn config_show_and_models_list_name_the_transport() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clawgate.json");
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "kimi": openclaw_kimi_entry("https://api.kimi.com/coding/"),
            "local": {"baseUrl": "http://127.0.0.1:9/v1", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "kimi/kimi-for-coding", "fallbacks": ["local/m"]}}},
    });
    std::fs::write(&path, config.to_string()).unwrap();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_clawgate"))
            .args(args)
            .arg("--config")
            .arg(&path)
            .env_clear()
            .env("KIMI_API_KEY", "sk-kimi-secret-value")
            .output()
            .expect("clawgate runs");
        assert!(output.status.success(), "{args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };

    let shown: Value = serde_json::from_str(&run(&["config", "show"])).unwrap();
    let providers = &shown["models"]["providers"];
    assert_eq!(providers["kimi"]["api"], "anthropic-messages");
    assert_eq!(providers["local"]["api"], "openai-completions");

    let listed: Value = serde_json::from_str(&run(&["models", "list", "--json"])).unwrap();
    let api_of = |model: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|row| row["ref"] == model)
            .map(|row| row["api"].clone())
    };
    assert_eq!(
        api_of("kimi/kimi-for-coding"),
        Some(json!("anthropic-messages"))
    );
    assert_eq!(api_of("local/m"), Some(json!("openai-completions")));

    let table = run(&["models", "list"]);
    let kimi_row = table
        .lines()
        .find(|line| line.starts_with("kimi/kimi-for-coding"))
        .unwrap();
    assert!(table.lines().next().unwrap().contains("API"), "{table}");
    assert!(kimi_row.contains("anthropic-messages"), "{table}");
    assert!(!table.contains("sk-kimi-secret-value"));
}

/// A chain from an Anthropic provider at `primary` to an OpenAI one at
/// `backup`, with `gateway` settings.
async fn faulty_chain(primary: &MockServer, backup: &MockServer, settings: Value) -> TestGateway {
    gateway(json!({
        "gateway": settings,
        "models": {"mode": "replace", "providers": {
            "claude-like": anthropic_provider(primary), "backup": openai_provider(backup)}},
        "agents": {"defaults": {"model": {"primary": "claude-like/m", "fallbacks": ["backup/m"]}}},
    }))
    .await
}

async fn streamed(gw: &TestGateway) -> (String, Vec<String>) {
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": user_message(), "stream": true}))
        .await;
    let provider = header(&response, "x-clawgate-provider").to_string();
    let body = response.text().await.unwrap();
    (provider, sse_data(&body))
}

#[tokio::test]
async fn faults_before_the_first_event_fall_over_to_the_next_transport() {
    let faults = [
        (
            "silent",
            MockOptions {
                first_byte_delay_ms: 5_000,
                ..MockOptions::default()
            },
        ),
        (
            "dropped",
            MockOptions {
                drop_after_chunks: Some(0),
                ..MockOptions::default()
            },
        ),
        (
            "hang",
            MockOptions {
                hang: true,
                ..MockOptions::default()
            },
        ),
        (
            "503 headers, then no error body",
            MockOptions {
                fail_status: Some(503),
                stall_error_body: true,
                ..MockOptions::default()
            },
        ),
    ];
    for (name, options) in faults {
        let (primary, backup) = (mock(options).await, common::healthy_mock().await);
        let gw = faulty_chain(
            &primary,
            &backup,
            json!({"timeouts": {"firstByteSeconds": 0.3}}),
        )
        .await;
        let (provider, events) = streamed(&gw).await;
        assert_eq!(provider, "backup", "{name}");
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{name}");
        if name.contains("no error body") {
            // A stall is a timeout: not retried on its target.
            assert_eq!(primary.requests().len(), 1, "{name}");
        }
    }
}

#[tokio::test]
async fn faults_after_the_first_event_end_the_stream_with_an_error_event() {
    let faults = [
        (
            "dropped",
            MockOptions {
                drop_after_chunks: Some(6),
                ..MockOptions::default()
            },
            "stream_interrupted",
        ),
        (
            "no message_stop",
            MockOptions {
                no_done: true,
                ..MockOptions::default()
            },
            "stream_truncated",
        ),
        (
            "ended early",
            MockOptions {
                end_after_chunks: Some(4),
                ..MockOptions::default()
            },
            "stream_truncated",
        ),
        (
            "stalled",
            MockOptions {
                chunk_delay_ms: 5_000,
                ..MockOptions::default()
            },
            "stream_timeout",
        ),
    ];
    for (name, options, code) in faults {
        let (primary, backup) = (mock(options).await, common::healthy_mock().await);
        let gw = faulty_chain(&primary, &backup, json!({"timeouts": {"idleSeconds": 0.3}})).await;
        let (provider, events) = streamed(&gw).await;
        assert_eq!(provider, "claude-like", "{name}");
        assert!(!events.iter().any(|e| e == "[DONE]"), "{name}: {events:?}");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], code, "{name}: {last}");
        assert!(backup.requests().is_empty(), "{name}");
    }
}

/// Pings, or text deltas that say nothing, alone hold a started stream
/// for the chain deadline at most, for a chat client (for which the
/// transport reads either as a keep-alive comment) and a Messages client
/// (which gets them as they came, the relay telling what adds nothing).
#[tokio::test]
async fn keep_alives_alone_hold_a_started_stream_for_the_chain_deadline_at_most() {
    for (empty_keep_alives, relayed) in [(false, "event: ping"), (true, r#""text":"""#)] {
        // A gateway each: a cut stream cools its target.
        let pinging = MockOptions {
            stall_after_chunks: Some(4),
            keep_alive_ms: Some(100),
            empty_keep_alives,
            ..MockOptions::default()
        };
        let (primary, backup) = (mock(pinging).await, common::healthy_mock().await);
        let timeouts = json!({"timeouts": {"idleSeconds": 0.5, "chainSeconds": 1.5}});
        let gw = faulty_chain(&primary, &backup, timeouts).await;
        // A chat client: the keep-alives are read, and count as comments.
        let (provider, events) = tokio::time::timeout(Duration::from_secs(10), streamed(&gw))
            .await
            .expect("the stream is cut, not held by its keep-alives");
        assert_eq!(provider, "claude-like");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], "stream_timeout", "{last}");
        // A Messages client: the provider's own events go on as they
        // came, the keep-alives with them.
        let request = json!({"model": "claude-like/m", "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "Hi"}]});
        let response = gw.messages(request).await;
        assert_eq!(header(&response, "x-clawgate-provider"), "claude-like");
        let body = tokio::time::timeout(Duration::from_secs(10), response.text())
            .await
            .expect("the stream is cut, not held by its keep-alives")
            .unwrap();
        assert!(body.matches(relayed).count() >= 5, "{body}");
        let (name, error) = common::sse_events(&body).pop().unwrap();
        assert_eq!(name, "error", "{body}");
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no stream event but keep-alives within 1.50s"),
            "{error}"
        );
    }
}

/// A provider of Anthropic's format whose stream breaks the block order,
/// by the model asked: `gap` starts its text at block 1 (nothing at 0),
/// before the answer starts; `late` sends block 0's text, then a delta
/// for block 3, which was never started.
async fn out_of_order_provider() -> String {
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/v1/messages",
        axum::routing::post(|body: axum::body::Bytes| async move {
            let request: Value = serde_json::from_slice(&body).unwrap();
            let text = |index: u64, text: &str| {
                [
                    json!({"type": "content_block_start", "index": index,
                        "content_block": {"type": "text", "text": ""}}),
                    json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": text}}),
                    json!({"type": "content_block_stop", "index": index}),
                ]
            };
            let mut events = vec![json!({"type": "message_start", "message": {"id": "msg_1",
                "type": "message", "role": "assistant", "model": "m", "content": [],
                "stop_reason": null, "usage": {"input_tokens": 3, "output_tokens": 0}}})];
            match request["model"].as_str() {
                Some("gap") => events.extend(text(1, "starts at one")),
                _ => {
                    events.extend(text(0, "well begun"));
                    events.push(json!({"type": "content_block_delta", "index": 3,
                        "delta": {"type": "text_delta", "text": "orphan"}}));
                }
            }
            events.push(
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 5}}),
            );
            events.push(json!({"type": "message_stop"}));
            let body: String = (events.iter())
                .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
                .collect();
            ([("content-type", "text/event-stream")], body).into_response()
        }),
    );
    common::provider_app(app).await
}

/// A Messages client gets a provider of its format's events as they came,
/// and its SDK indexes blocks by their numbers: events out of that order
/// are a faulty answer. Before the answer starts the chain falls over
/// (streamed or not: a whole answer is never one with its text lost);
/// after, the stream ends with an error event naming the fault.
#[tokio::test]
async fn an_anthropic_provider_s_events_out_of_block_order_are_a_faulty_answer() {
    let base = out_of_order_provider().await;
    let backup = common::healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "claude-like": {"baseUrl": base.strip_suffix("v1").unwrap(),
                "api": "anthropic-messages", "apiKey": KEY,
                "models": [{"id": "gap"}, {"id": "late"}]},
            "backup": openai_provider(&backup)}},
        "agents": {"defaults": {"model": {"primary": "claude-like/gap",
            "fallbacks": ["backup/m"]}}},
    }))
    .await;
    let ask = |model: &str, stream: bool| {
        let messages = user_message();
        json!({"model": model, "max_tokens": 50, "stream": stream, "messages": messages})
    };
    for stream in [false, true] {
        let response = gw.messages(ask("claude-like/gap", stream)).await;
        assert_eq!(response.status(), 200, "stream {stream}");
        assert_eq!(
            header(&response, "x-clawgate-provider"),
            "backup",
            "stream {stream}"
        );
        assert_eq!(
            header(&response, "x-clawgate-attempts"),
            "2",
            "stream {stream}"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("Hello"), "stream {stream}: {body}");
        assert!(!body.contains("starts at one"), "stream {stream}: {body}");
    }
    let response = gw.messages(ask("claude-like/late", true)).await;
    assert_eq!(header(&response, "x-clawgate-provider"), "claude-like");
    let events = messages_events(response).await;
    assert_eq!(streamed_text(&events), "well begun", "{events:?}");
    let (name, last) = events.last().unwrap();
    assert_eq!(name, "error", "{events:?}");
    let message = last["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("a delta for block 3, which was not open"),
        "{message}"
    );
    assert!(
        !events.iter().any(|(name, _)| name == "message_stop"),
        "{events:?}"
    );
    // A chat client's answer is rebuilt from the events: it needs no order.
    let response = gw
        .chat(json!({"model": "claude-like/late", "messages": user_message()}))
        .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "well begunorphan"
    );
}

/// A provider of Anthropic's format whose stream sends, after the answer
/// started, a delta cut off (not JSON) and then goes on.
async fn cut_event_provider() -> String {
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/v1/messages",
        axum::routing::post(|| async move {
            let delta = |text: &str| {
                json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": text}})
                .to_string()
            };
            let events = [
                json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
                    "role": "assistant", "model": "m", "content": [], "stop_reason": null,
                    "usage": {"input_tokens": 3, "output_tokens": 0}}})
                .to_string(),
                json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}})
                .to_string(),
                delta("Hello "),
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"LOST""#
                    .to_string(),
                delta("world."),
                json!({"type": "content_block_stop", "index": 0}).to_string(),
                json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 5}})
                .to_string(),
                json!({"type": "message_stop"}).to_string(),
            ];
            let body: String = (events.iter())
                .map(|data| {
                    let name = serde_json::from_str::<Value>(data)
                        .map_or("content_block_delta".into(), |e| e["type"].as_str().unwrap().to_string());
                    format!("event: {name}\ndata: {data}\n\n")
                })
                .collect();
            ([("content-type", "text/event-stream")], body).into_response()
        }),
    );
    common::provider_app(app).await
}

/// An event that is not JSON after the answer started ends the stream with
/// an error event in the client's own format, for each front end: it is
/// neither passed on (an SDK fails on it) nor left out without a word,
/// and the answer is counted as broken, not complete.
#[tokio::test]
async fn an_event_that_is_not_json_mid_stream_ends_it_with_an_error() {
    let (captured, _guard) = common::log::Captured::start();
    let base = cut_event_provider().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "cut": {"baseUrl": base.strip_suffix("v1").unwrap(),
                "api": "anthropic-messages", "apiKey": KEY, "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "cut/m"}}},
    }))
    .await;
    let messages = user_message();
    let chat = gw
        .chat(json!({"model": "cut/m", "stream": true, "messages": messages}))
        .await
        .text()
        .await
        .unwrap();
    let messages = gw
        .messages(json!({"model": "cut/m", "max_tokens": 50, "stream": true, "messages": messages}))
        .await
        .text()
        .await
        .unwrap();
    let responses = gw
        .responses(json!({"model": "cut/m", "stream": true, "input": "hi"}))
        .await
        .text()
        .await
        .unwrap();
    let not_json = "the provider sent an event that is not JSON";
    for (front, body, ended) in [
        ("chat", &chat, "data: {\"error\""),
        ("messages", &messages, "event: error"),
        ("responses", &responses, "event: response.failed"),
    ] {
        assert!(
            body.contains(ended) && body.contains(not_json),
            "{front}: {body}"
        );
        assert!(
            !body.contains("LOST") && !body.contains("world."),
            "{front}: {body}"
        );
        assert!(
            !body.contains("[DONE]") && !body.contains("message_stop"),
            "{front}: {body}"
        );
    }
    let lines = captured.wait_for(3).await;
    for line in &lines[..3] {
        assert_eq!(line["fields"]["end"], "stream_broken", "{line}");
    }
}

#[tokio::test]
async fn a_client_leaving_cancels_the_anthropic_stream() {
    let slow = MockOptions {
        chunk_delay_ms: 200,
        reply: "many words ".repeat(50),
        ..MockOptions::default()
    };
    let upstream = mock(slow).await;
    let gw = single(&upstream).await;
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": user_message(), "stream": true}))
        .await;
    let mut body = response.bytes_stream();
    let first = futures_util::StreamExt::next(&mut body)
        .await
        .expect("a first chunk")
        .unwrap();
    assert!(first.starts_with(b"data: "));
    drop(body);
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        upstream.stream_abandoned(),
    )
    .await
    .expect("the upstream stream is dropped when the client leaves");
}

/// `(event name, data)` of each frame of an SSE body.
fn named_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|frame| !frame.trim().is_empty())
        .map(|frame| {
            let field = |name: &str| {
                frame
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {frame:?}"))
                    .to_string()
            };
            (
                field("event: "),
                serde_json::from_str(&field("data: ")).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_mock_speaks_anthropic_messages_as_clients_expect() {
    let upstream = mock(MockOptions {
        require_key: Some(KEY.into()),
        cached_tokens: 3,
        cache_write_tokens: 2,
        ..MockOptions::default()
    })
    .await;
    let url = format!("http://{}/v1/messages", upstream.addr);
    let client = reqwest::Client::new();
    let request = json!({"model": "k", "max_tokens": 100, "stream": true,
        "tools": [{"name": "f", "input_schema": {"type": "object", "required": ["a"]}}],
        "messages": [{"role": "user", "content": "hi"}]});

    let refused = client.post(&url).json(&request).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");

    let body = client
        .post(&url)
        .header("x-api-key", KEY)
        .json(&request)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = named_events(&body);
    for (name, data) in &events {
        assert_eq!(
            data["type"],
            name.as_str(),
            "every frame is named by its type"
        );
    }
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names[..2], ["message_start", "ping"]);
    assert_eq!(names[names.len() - 2..], ["message_delta", "message_stop"]);
    assert_eq!(
        events[0].1["message"]["usage"]["cache_read_input_tokens"],
        3
    );
    // Blocks open one at a time, indices from 0, each delta of its block's
    // kind: thinking, text, then the tool call with its input in pieces.
    let mut open: Option<(u64, String)> = None;
    let mut starts = Vec::new();
    let mut input = String::new();
    for (name, data) in &events {
        match name.as_str() {
            "content_block_start" => {
                assert!(open.is_none());
                let index = data["index"].as_u64().unwrap();
                assert_eq!(index, starts.len() as u64);
                let kind = data["content_block"]["type"].as_str().unwrap().to_string();
                starts.push(kind.clone());
                open = Some((index, kind));
            }
            "content_block_delta" => {
                let (index, kind) = open.clone().expect("a block is open");
                assert_eq!(data["index"], index);
                let delta = data["delta"]["type"].as_str().unwrap();
                let allowed: &[&str] = match kind.as_str() {
                    "thinking" => &["thinking_delta", "signature_delta"],
                    "text" => &["text_delta"],
                    _ => &["input_json_delta"],
                };
                assert!(allowed.contains(&delta), "{delta} in a {kind} block");
                if delta == "input_json_delta" {
                    input.push_str(data["delta"]["partial_json"].as_str().unwrap());
                }
            }
            "content_block_stop" => {
                assert_eq!(data["index"], open.take().expect("a block is open").0);
            }
            _ => {}
        }
    }
    assert_eq!(starts, ["thinking", "text", "tool_use"]);
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"a": "mock"})
    );
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);

    // Not streamed: the same blocks in one message.
    let mut plain = request.clone();
    plain["stream"] = json!(false);
    let message: Value = client
        .post(&url)
        .header("x-api-key", KEY)
        .json(&plain)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(message["type"], "message");
    let kinds: Vec<&str> = message["content"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["thinking", "text", "tool_use"]);
    assert_eq!(message["usage"]["cache_creation_input_tokens"], 2);
    assert_eq!(upstream.requests()[1]["path"], "/v1/messages");
}

#[tokio::test]
async fn limits_and_scrubbing_apply_to_the_anthropic_transport() {
    // An answer over gateway.limits.maxResponseBytes falls over.
    let (large, backup) = (
        mock(MockOptions {
            reply_bytes: Some(64 * 1024),
            ..MockOptions::default()
        })
        .await,
        common::healthy_mock().await,
    );
    let gw = faulty_chain(
        &large,
        &backup,
        json!({"limits": {"maxResponseBytes": 16384}}),
    )
    .await;
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": user_message()}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");

    // A provider's error text that echoes the key is scrubbed.
    let leaky = mock(MockOptions {
        fail_status: Some(401),
        fail_message: format!("invalid x-api-key {KEY}"),
        ..MockOptions::default()
    })
    .await;
    let gw = single(&leaky).await;
    let response = gw
        .chat(json!({"model": "claude-like/m", "messages": user_message()}))
        .await;
    let body = response.text().await.unwrap();
    assert!(body.contains("invalid x-api-key"), "{body}");
    assert!(!body.contains(KEY), "{body}");
}

// An Anthropic client in front of an Anthropic provider: the client's own
// body passes with the least change (`translate::anthropic_provider::passthrough`).

/// Kimi Coding over Anthropic at `kimi` (a thinking model with a 4,096-token
/// output limit), then an OpenAI-speaking backup; `defaults` are merged into
/// `agents.defaults`.
async fn kimi_first(kimi: &MockServer, backup: &MockServer, defaults: Value) -> TestGateway {
    let mut agents = json!({"model": {"primary": "kimi/m", "fallbacks": ["backup/m"]}});
    for (key, value) in defaults.as_object().unwrap() {
        agents[key] = value.clone();
    }
    gateway(json!({
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": format!("http://{}/", kimi.addr), "apiKey": KEY, "api": "anthropic-messages",
                     "models": [{"id": "m", "reasoning": true, "maxTokens": 4096}]},
            "backup": openai_provider(backup)}},
        "agents": {"defaults": agents},
    }))
    .await
}

fn bash_tool() -> Value {
    json!({"name": "Bash", "description": "Runs a command",
           "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                            "required": ["command"]}})
}

/// A trimmed Claude Code request, with what it sends that Kimi cannot take.
fn claude_code_request(stream: bool) -> Value {
    json!({
        "model": "kimi/m",
        "max_tokens": 32000,
        "stream": stream,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli; cch=1a2b;"},
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Auto mode is on."},
        ],
        "tools": [bash_tool(), {"type": "web_search_20250305", "name": "web_search", "max_uses": 5}],
        "tool_choice": {"type": "any"},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"d\"}"},
    })
}

/// The `(event, data)` pairs of a Messages stream, pings left out.
async fn messages_events(response: reqwest::Response) -> Vec<(String, Value)> {
    let body = response.text().await.unwrap();
    common::sse_events(&body)
        .into_iter()
        .filter(|(name, _)| name != "ping")
        .collect()
}

/// The text of a Messages stream's `text_delta`s.
fn streamed_text(events: &[(String, Value)]) -> String {
    events
        .iter()
        .filter(|(_, data)| data["delta"]["type"] == "text_delta")
        .filter_map(|(_, data)| data["delta"]["text"].as_str())
        .collect()
}

#[tokio::test]
async fn an_anthropic_clients_body_reaches_an_anthropic_provider_with_the_least_change() {
    let kimi = mock(MockOptions {
        cached_tokens: 100,
        ..MockOptions::default()
    })
    .await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;
    // The target's model id and output limit; no billing header; cache
    // marks kept; no Anthropic-only members or server tools; the system
    // message moved to the system prompt; the forced choice relaxed for a
    // thinking Kimi; streamed whatever the client asked (the chain streams
    // every request); the rest as the client wrote it.
    let expected = json!({
        "model": "m",
        "max_tokens": 4096,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Auto mode is on."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}]}],
        "tools": [bash_tool()],
        "tool_choice": {"type": "auto"},
        "thinking": {"type": "adaptive"},
        "metadata": {"user_id": "{\"device_id\":\"d\"}"},
    });

    let mut request = claude_code_request(false);
    // Without a tool to call, the mock answers in text.
    request["tools"] = json!([]);
    request.as_object_mut().unwrap().remove("tool_choice");
    let response = gw.messages(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "kimi");
    let mut unstreamed = expected.clone();
    for key in ["tools", "tool_choice"] {
        unstreamed.as_object_mut().unwrap().remove(key);
    }
    assert_eq!(kimi.requests()[0]["path"], "/v1/messages");
    assert_eq!(kimi.requests()[0]["body"], unstreamed);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["type"], "thinking");
    assert_eq!(body["content"][1]["text"], "Hello from clawgate-mock.");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["cache_read_input_tokens"], 100);

    let response = gw.messages(claude_code_request(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(kimi.requests()[1]["body"], expected);
    let events = messages_events(response).await;
    assert_eq!(events.first().map(|e| e.0.as_str()), Some("message_start"));
    assert_eq!(events.last().map(|e| e.0.as_str()), Some("message_stop"));
    assert_eq!(streamed_text(&events), "Hello from clawgate-mock.");
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn the_messages_tools_and_system_prompt_reach_an_anthropic_provider_as_written() {
    let kimi = mock(MockOptions::default()).await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;
    // Spaced and escaped as no serializer would write them: any rewriting
    // shows.
    let messages = r#"[ {"role": "user", "content": [ {"type":"text", "text":"caf\u00e9 \"system\"", "cache_control": {"type":"ephemeral"}} ] } ]"#;
    let tools = r#"[ {"name": "Bash", "description": "Runs\ta command", "input_schema": {"type":"object","properties":{"command":{"type":"string"}}} } ]"#;
    let kept_block = r#"{"type": "text", "text": "You are Claude Code.", "cache_control": {"type":"ephemeral"}}"#;
    let body = format!(
        r#"{{"model": "kimi/m", "max_tokens": 100, "stream": true,
            "system": [ {{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cch=1a2b;"}}, {kept_block} ],
            "messages": {messages}, "tools": {tools}, "thinking": {{"type": "adaptive"}} }}"#
    );
    let response = gw
        .client()
        .post(format!("{}/v1/messages", gw.url))
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        streamed_text(&messages_events(response).await),
        "Hello from clawgate-mock."
    );
    let sent = kimi.requests()[0]["raw"].as_str().unwrap().to_string();
    for part in [
        format!(r#""messages":{messages}"#),
        format!(r#""tools":{tools}"#),
        format!(r#""system":[{kept_block}]"#),
    ] {
        assert!(sent.contains(&part), "{part} in {sent}");
    }
    assert!(sent.contains(r#""model":"m","max_tokens":100"#), "{sent}");
}

#[tokio::test]
async fn claude_codes_streamed_tool_round_trip_pairs_up_through_an_anthropic_provider() {
    let kimi = common::healthy_mock().await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;
    let mut request = claude_code_request(true);
    request["tool_choice"] = json!({"type": "auto"});

    // Turn one: the provider calls Bash; the client gets the call whole.
    let events = messages_events(gw.messages(request.clone()).await).await;
    let (index, call) = events
        .iter()
        .find_map(|(name, data)| {
            (name == "content_block_start" && data["content_block"]["type"] == "tool_use")
                .then(|| (data["index"].clone(), data["content_block"].clone()))
        })
        .expect("a tool_use block");
    assert_eq!(call["name"], "Bash");
    let id = call["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cgid_"), "{id}");
    let input: String = events
        .iter()
        .filter(|(_, data)| data["index"] == index && data["delta"]["type"] == "input_json_delta")
        .filter_map(|(_, data)| data["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        json!({"command": "mock"})
    );
    let stop = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .map(|(_, data)| data["delta"]["stop_reason"].clone());
    assert_eq!(stop, Some(json!("tool_use")));
    let thinking: String = events
        .iter()
        .filter_map(|(_, data)| data["delta"]["thinking"].as_str())
        .collect();

    // Turn two: Claude Code replays the call and its result under the id it
    // was given; the provider gets them as sent, paired, and answers.
    let messages = request["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": [
        {"type": "thinking", "thinking": thinking, "signature": "sig"},
        {"type": "tool_use", "id": id, "name": "Bash", "input": {"command": "mock"}},
    ]}));
    messages.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": id, "content": "a.txt"},
    ]}));
    let response = gw.messages(request).await;
    assert_eq!(response.status(), 200);
    let events = messages_events(response).await;
    assert_eq!(streamed_text(&events), "Hello from clawgate-mock.");
    let stop = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .map(|(_, data)| data["delta"]["stop_reason"].clone());
    assert_eq!(stop, Some(json!("end_turn")));

    let sent = &kimi.requests()[1]["body"]["messages"];
    assert_eq!(
        sent[1]["content"],
        json!([
            {"type": "thinking", "thinking": "The user greets me; I greet back.", "signature": "sig"},
            {"type": "tool_use", "id": id, "name": "Bash", "input": {"command": "mock"}},
        ])
    );
    assert_eq!(
        sent[2]["content"],
        json!([{"type": "tool_result", "tool_use_id": id, "content": "a.txt"}])
    );
    assert!(backup.requests().is_empty());
}

#[tokio::test]
async fn the_models_thinking_default_applies_where_the_client_says_nothing() {
    let kimi = common::healthy_mock().await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({"thinkingDefault": "off"})).await;
    let mut request = claude_code_request(false);
    let effort = request.as_object_mut().unwrap().remove("output_config");
    request.as_object_mut().unwrap().remove("thinking");
    assert_eq!(gw.messages(request.clone()).await.status(), 200);
    let sent = &kimi.requests()[0]["body"];
    assert_eq!(sent["thinking"], json!({"type": "disabled"}));
    // With thinking off, the forced choice is honoured as sent.
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));

    // Claude Code's effort asks for thinking, as it does on the OpenAI
    // path: on, with half the output limit as its budget.
    request["output_config"] = effort.unwrap();
    assert_eq!(gw.messages(request.clone()).await.status(), 200);
    let sent = &kimi.requests()[1]["body"];
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 2048})
    );
    assert_eq!(sent["tool_choice"], json!({"type": "auto"}));

    // The client's own switch is kept, its budget below the clamped limit.
    request["thinking"] = json!({"type": "enabled", "budget_tokens": 10000});
    assert_eq!(gw.messages(request).await.status(), 200);
    assert_eq!(
        kimi.requests()[2]["body"]["thinking"],
        json!({"type": "enabled", "budget_tokens": 4095})
    );
}

/// `count` tools, in the Anthropic or the OpenAI shape.
fn many_tools(count: usize, anthropic: bool) -> Vec<Value> {
    (0..count)
        .map(|i| match anthropic {
            true => json!({"name": format!("tool_{i}"), "input_schema": {"type": "object"}}),
            false => json!({"type": "function", "function": {"name": format!("tool_{i}")}}),
        })
        .collect()
}

#[tokio::test]
async fn more_tools_than_kimi_takes_skip_to_the_fallback_on_both_paths() {
    let kimi = common::healthy_mock().await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;

    // An OpenAI client: the translated path.
    let response = gw
        .chat(
            json!({"model": "kimi/m", "messages": user_message(), "tools": many_tools(129, false)}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");

    // An Anthropic client: the passthrough.
    let mut request = claude_code_request(false);
    request["tools"] = json!(many_tools(129, true));
    let response = gw.messages(request.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert!(kimi.requests().is_empty());
    let offered: Vec<usize> = backup
        .requests()
        .iter()
        .map(|r| r["body"]["tools"].as_array().unwrap().len())
        .collect();
    assert_eq!(offered, [129, 129]);

    // 128 pass, and so do 129 for a provider that is not Kimi.
    request["tools"] = json!(many_tools(128, true));
    assert_eq!(gw.messages(request.clone()).await.status(), 200);
    assert_eq!(
        kimi.requests()[0]["body"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        128
    );
    let other = mock(MockOptions::default()).await;
    let gw = single(&other).await;
    request["model"] = json!("claude-like/m");
    request["tools"] = json!(many_tools(129, true));
    assert_eq!(gw.messages(request).await.status(), 200);
    assert_eq!(
        other.requests()[0]["body"]["tools"]
            .as_array()
            .unwrap()
            .len(),
        129
    );
}

#[tokio::test]
async fn a_passed_through_request_falls_over_to_an_openai_provider() {
    let kimi = common::failing_mock(503, "overloaded_error").await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;
    let response = gw.messages(claude_code_request(true)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    let events = messages_events(response).await;
    assert_eq!(streamed_text(&events), "Hello from clawgate-mock.");
    // Kimi got the client's body, the backup the translated one.
    assert_eq!(
        kimi.requests()[0]["body"]["tool_choice"],
        json!({"type": "auto"})
    );
    let sent = &backup.requests()[0];
    assert_eq!(sent["path"], "/v1/chat/completions");
    assert_eq!(sent["body"]["tools"][0]["function"]["name"], "Bash");
}

/// A Kimi-like Anthropic provider whose answers carry what a translation
/// through chat would lose: cache reads and writes, a stop sequence, a
/// redacted thinking block (and the mock's signed thinking).
fn native_answers() -> MockOptions {
    MockOptions {
        cached_tokens: 300,
        cache_write_tokens: 700,
        stop_sequence: Some("END".into()),
        redacted_thinking: Some("opaque-bytes".into()),
        ..MockOptions::default()
    }
}

/// An Anthropic client on an Anthropic provider gets the provider's own
/// events, not a translation through chat and back: the thinking
/// signature, a redacted thinking block, the stop sequence and the cache
/// counts reach it. What the gateway owns is still its own: the model is
/// the ref that answered, and the ledger prices the cache writes.
#[tokio::test]
async fn an_anthropic_clients_stream_from_an_anthropic_provider_is_the_providers_own() {
    let kimi = mock(native_answers()).await;
    let backup = common::healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "kimi": {"baseUrl": format!("http://{}/", kimi.addr), "apiKey": KEY, "api": "anthropic-messages",
                     "models": [{"id": "m", "reasoning": true, "maxTokens": 4096,
                                 "cost": {"input": 1, "output": 2, "cacheRead": 0.1, "cacheWrite": 1.25}}]},
            "backup": openai_provider(&backup)}},
        "agents": {"defaults": {"model": {"primary": "kimi/m", "fallbacks": ["backup/m"]}}},
    }))
    .await;
    let response = gw
        .messages(
            json!({"model": "kimi/m", "max_tokens": 1000, "stream": true,
            "stop_sequences": ["END"], "thinking": {"type": "enabled", "budget_tokens": 500},
            "messages": [{"role": "user", "content": "hello there"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "kimi");
    let body = response.text().await.unwrap();
    let events = common::sse_events(&body);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{body}");
    assert_eq!(names.last(), Some(&"message_stop"), "{body}");
    assert_eq!(names.iter().filter(|n| **n == "message_start").count(), 1);

    let start = &events[0].1["message"];
    assert_eq!(start["model"], "kimi/m");
    assert_eq!(start["usage"]["cache_read_input_tokens"], 300);
    assert_eq!(start["usage"]["cache_creation_input_tokens"], 700);
    let blocks: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "content_block_start")
        .map(|(_, data)| &data["content_block"])
        .collect();
    assert_eq!(
        blocks[0],
        &json!({"type": "redacted_thinking", "data": "opaque-bytes"})
    );
    assert_eq!(blocks[1]["type"], "thinking");
    let signature = events
        .iter()
        .find(|(_, data)| data["delta"]["type"] == "signature_delta")
        .map(|(_, data)| data["delta"]["signature"].clone());
    assert_eq!(signature, Some(json!("mock-signature")), "{body}");
    let delta = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .map(|(_, data)| data["delta"].clone());
    assert_eq!(
        delta,
        Some(json!({"stop_reason": "stop_sequence", "stop_sequence": "END"}))
    );
    // The provider's events, byte for byte where the gateway owns nothing.
    assert!(
        body.contains(r#"data: {"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Hello "}}"#),
        "{body}"
    );

    // Priced with its cache: input (the mock's word count), 300 read at
    // 0.1, 700 written at 1.25, and the output at 2, per million.
    let sent = kimi.requests();
    let words = |value: &Value| value.to_string().split_whitespace().count() as f64;
    let input = words(&sent[0]["body"]["messages"]) + words(&sent[0]["body"]["system"]);
    let output = 7.0 + 3.0;
    let expected = (input * 1.0 + 300.0 * 0.1 + 700.0 * 1.25 + output * 2.0) / 1e6;
    let ledger = gw.gateway.ledger().clone();
    let spent = tokio::task::spawn_blocking(move || {
        ledger.flush(std::time::Duration::from_secs(5));
        ledger.with_totals(|totals| totals.since(None, 0, |_| true).cost_usd)
    })
    .await
    .unwrap();
    assert!((spent - expected).abs() < 1e-12, "{spent} != {expected}");
    assert!(backup.requests().is_empty());
}

/// A whole answer to an Anthropic client from an Anthropic provider is the
/// message the provider's own events spell (the gateway streams every
/// upstream call): the same signature, redacted block, stop sequence and
/// cache counts as a stream, the model the ref, a tool call's id carrying
/// the answer's nonce and its input whole.
#[tokio::test]
async fn an_anthropic_clients_whole_answer_from_an_anthropic_provider_is_the_providers_own() {
    let kimi = mock(native_answers()).await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;
    let response = gw
        .messages(
            json!({"model": "kimi/m", "max_tokens": 1000, "stop_sequences": ["END"],
            "messages": [{"role": "user", "content": "hello there"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.unwrap();
    assert_eq!(message["model"], "kimi/m");
    assert_eq!(
        message["content"],
        json!([
            {"type": "redacted_thinking", "data": "opaque-bytes"},
            {"type": "thinking", "thinking": "The user greets me; I greet back.", "signature": "mock-signature"},
            {"type": "text", "text": "Hello from clawgate-mock."},
        ]),
        "{message}"
    );
    assert_eq!(message["stop_reason"], "stop_sequence");
    assert_eq!(message["stop_sequence"], "END");
    assert_eq!(message["usage"]["cache_creation_input_tokens"], 700);
    assert_eq!(message["usage"]["output_tokens"], 7 + 3);

    // A tool call: Kimi's id under the answer's nonce, its input whole.
    let kimi = mock(MockOptions {
        tool_calls: vec![r#"Bash={"command":"ls"}"#.into()],
        ..MockOptions::default()
    })
    .await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;
    let mut request = claude_code_request(false);
    request["tool_choice"] = json!({"type": "auto"});
    let message: Value = gw.messages(request).await.json().await.unwrap();
    let call = message["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["type"] == "tool_use")
        .unwrap_or_else(|| panic!("a tool call: {message}"));
    let id = call["id"].as_str().unwrap();
    assert!(id.starts_with("cgid_"), "{id}");
    assert_eq!(clawgate::translate::ids::decode(id), "functions.Bash:0");
    assert_eq!(call["input"], json!({"command": "ls"}));
    assert_eq!(message["stop_reason"], "tool_use");
    assert!(backup.requests().is_empty());
}

/// Kimi's tool-call ids are not valid Anthropic ids and repeat across
/// turns: the provider's own events reach the client with each `tool_use`
/// id carrying the answer's nonce, so two answers never hand out the same
/// one (the replay is `claude_codes_streamed_tool_round_trip_...`).
#[tokio::test]
async fn a_passed_through_tool_call_gets_an_id_the_client_can_replay() {
    let kimi = mock(MockOptions {
        tool_calls: vec![r#"Bash={"command":"ls"}"#.into()],
        ..MockOptions::default()
    })
    .await;
    let backup = common::healthy_mock().await;
    let gw = kimi_first(&kimi, &backup, json!({})).await;
    let mut request = claude_code_request(true);
    request["tool_choice"] = json!({"type": "auto"});
    let first = messages_events(gw.messages(request.clone()).await).await;
    let second = messages_events(gw.messages(request).await).await;
    let id = |events: &[(String, Value)]| {
        events
            .iter()
            .find_map(|(name, data)| {
                (name == "content_block_start" && data["content_block"]["type"] == "tool_use")
                    .then(|| data["content_block"]["id"].as_str().unwrap().to_string())
            })
            .expect("a tool_use block")
    };
    let (one, two) = (id(&first), id(&second));
    assert!(
        one.starts_with("cgid_") && two.starts_with("cgid_"),
        "{one} {two}"
    );
    assert_ne!(one, two, "two answers never hand out the same id");
    for id in [&one, &two] {
        assert_eq!(clawgate::translate::ids::decode(id), "functions.Bash:0");
    }
    assert!(
        one.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    );
}

/// Claude Code's tool search and mid-conversation system beta, with
/// Anthropic's own members: what only Kimi Coding cannot take.
fn tool_search_request(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 1000,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code."}],
        "messages": [
            {"role": "user", "content": "open a PR"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "ToolSearch", "input": {"query": "github"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "tool_reference", "tool_name": "mcp__github__create_pr"}]}]},
            {"role": "system", "content": "Auto mode is on."},
        ],
        "tools": [
            {"name": "ToolSearch", "input_schema": {"type": "object"}},
            {"name": "mcp__github__create_pr", "input_schema": {"type": "object"}, "defer_loading": true},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
        ],
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
    })
}

/// Kimi Coding's rewrites are its own: an Anthropic-format provider of
/// another dialect gets the client's body as sent (the model id and
/// limit aside), and only Kimi Coding gets tool references as text,
/// every tool whole, the system message in `system`, and no server tool
/// or `context_management`, which the answer names as dropped.
#[tokio::test]
async fn kimi_codings_rewrites_reach_kimi_coding_only() {
    let claude = mock(MockOptions::default()).await;
    let kimi = mock(MockOptions::default()).await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {
            "claude-like": anthropic_provider(&claude),
            "kimi": {"baseUrl": format!("http://{}/", kimi.addr), "apiKey": KEY,
                     "api": "anthropic-messages", "models": [{"id": "m", "maxTokens": 2048}]}}},
        "agents": {"defaults": {"model": "claude-like/m"}},
    }))
    .await;

    let response = gw.messages(tool_search_request("claude-like/m")).await;
    assert_eq!(response.status(), 200);
    let dropped = header(&response, "x-clawgate-dropped");
    assert!(!dropped.contains("context_management"), "{dropped}");
    assert!(!dropped.contains("web_search"), "{dropped}");
    assert!(!dropped.contains("defer_loading"), "{dropped}");
    assert!(!dropped.contains("tool_reference"), "{dropped}");
    let mut as_sent = tool_search_request("m");
    as_sent["max_tokens"] = json!(1000);
    assert_eq!(claude.requests()[0]["body"], as_sent);

    let response = gw.messages(tool_search_request("kimi/m")).await;
    assert_eq!(response.status(), 200);
    let dropped = header(&response, "x-clawgate-dropped");
    assert!(dropped.contains("context_management"), "{dropped}");
    // The server tool is named by its type.
    assert!(dropped.contains("web_search_20250305"), "{dropped}");
    assert!(!dropped.contains("server tools"), "{dropped}");
    // The deferred tool is sent loaded, and said so.
    assert!(dropped.contains("defer_loading on tools"), "{dropped}");
    // The tool reference is sent as text, and said so.
    assert!(dropped.contains("tool_reference blocks"), "{dropped}");
    let expected = json!({
        "model": "m",
        "max_tokens": 1000,
        "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code."},
                   {"type": "text", "text": "Auto mode is on."}],
        "messages": [
            {"role": "user", "content": "open a PR"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "ToolSearch", "input": {"query": "github"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
                {"type": "text", "text": "Tool mcp__github__create_pr is available."}]}]},
        ],
        "tools": [
            {"name": "ToolSearch", "input_schema": {"type": "object"}},
            {"name": "mcp__github__create_pr", "input_schema": {"type": "object"}},
        ],
    });
    assert_eq!(kimi.requests()[0]["body"], expected);
}

/// A body whose JSON the scanner would pass but serde_json could not read
/// (a number past an `f64`'s range, a `\u` escape of half a surrogate
/// pair) is refused with a 400 naming what and where, on each front end,
/// before any target: never sent on to an Anthropic provider emptied of
/// its messages, as a tree reading that failed once did, nor sent on for
/// the provider to read one way or another.
#[tokio::test]
async fn what_a_tree_cannot_read_is_refused_not_sent_emptied() {
    let claude = mock(MockOptions::default()).await;
    let gw = single(&claude).await;
    let bodies = [
        (
            "/v1/chat/completions",
            r#"{"messages":[{"role":"user","content":"Summarise the contract"}],"temperature":1e400}"#,
            "number out of range",
        ),
        (
            "/v1/chat/completions",
            r#"{"messages":[{"role":"user","content":"hello \ud800 world"}],"stream":true}"#,
            "lone surrogate",
        ),
        (
            "/v1/chat/completions",
            r#"{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","maximum":-2e308}}}]}"#,
            "number out of range",
        ),
        (
            "/v1/responses",
            r#"{"input":"A","tools":[{"type":"function","name":"f","parameters":{"type":"object","maximum":1e400}}]}"#,
            "number out of range",
        ),
        // Its own format's body too, though it would go on whole.
        (
            "/v1/messages",
            r#"{"max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"a \ud800 b"}]}]}"#,
            "lone surrogate",
        ),
    ];
    for (path, body, named) in bodies {
        let response = gw
            .client()
            .post(format!("{}{path}", gw.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{body}: {error}");
        assert!(message.contains("at byte"), "{body}: {error}");
    }
    assert!(claude.requests().is_empty(), "{:?}", claude.requests());
    // The same request with its number in range goes, whole.
    let response = gw
        .chat(
            json!({"messages": [{"role": "user", "content": "Summarise the contract"}],
                     "temperature": 1.0}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let sent = &claude.requests()[0]["body"];
    assert_eq!(
        sent["messages"][0]["content"][0]["text"], "Summarise the contract",
        "{sent}"
    );
}

/// A chat client's custom tools have no Messages form: when they are all
/// it offers, the choice it made goes with them, named, and is not sent
/// alone (Anthropic's API refuses a `tool_choice` without `tools`); with a
/// function tool beside them, it stays.
#[tokio::test]
async fn a_tool_choice_whose_only_tools_are_custom_ones_is_not_sent_to_messages() {
    let mock = mock(MockOptions::default()).await;
    let gw = single(&mock).await;
    let custom = json!({"type": "custom", "custom": {"name": "apply_patch"}});
    let cases = [
        (json!([custom]), "required", None),
        (json!([custom]), "auto", None),
        (
            json!([custom, weather_tool()[0]]),
            "required",
            Some(json!({"type": "any"})),
        ),
    ];
    for (at, (tools, choice, sent)) in cases.into_iter().enumerate() {
        let response = gw
            .chat(json!({"model": "claude-like/m", "messages": user_message(),
                "tools": tools, "tool_choice": choice}))
            .await;
        assert_eq!(response.status(), 200, "{choice}");
        let dropped = header(&response, "x-clawgate-dropped").to_string();
        let body = &mock.requests()[at]["body"];
        assert_eq!(body.get("tool_choice"), sent.as_ref(), "{choice}: {body}");
        let named = dropped.split(", ").any(|entry| entry == "tool_choice");
        assert_eq!(named, sent.is_none(), "{dropped}");
    }
}
