//! `POST /v1/responses` for Codex and the SDKs' `responses` clients: what
//! the provider receives (recorded by the mock), the response object and
//! the exact event sequence, a tool round trip, fallback, errors before and
//! after the start, the stateless refusals, bad input, and the access line
//! and `/v1/status` for Responses traffic.
//!
//! Each test runs on a current-thread runtime with a log subscriber set for
//! that thread (see tests/access_log.rs for why every test sets one).

mod common;

use clawgate_mock::{MockOptions, MockServer};
use common::log::Captured;
use common::*;
use serde_json::{Value, json};

async fn post(gw: &TestGateway, path: &str, body: Value) -> reqwest::Response {
    gw.client()
        .post(format!("{}{path}", gw.url))
        .json(&body)
        .send()
        .await
        .expect("the gateway answers")
}

async fn responses(gw: &TestGateway, body: Value) -> reqwest::Response {
    post(gw, "/v1/responses", body).await
}

const EXEC_ARGS: &str = r#"{"cmd":"echo clawgate-$((6*7))"}"#;

fn exec_tool() -> Value {
    json!({"type": "function", "name": "exec_command", "description": "Runs a command", "strict": false,
           "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]}})
}

/// A request shaped like Codex's (trimmed): developer instructions as an
/// input item, the environment and the prompt as user items, a function
/// tool, a namespace, web search, and what a stateless bridge ignores.
fn codex_request(stream: bool) -> Value {
    json!({
        "model": "default",
        "stream": stream,
        "store": false,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "01a2-session",
        "client_metadata": {"turn_id": "t1"},
        "reasoning": {"effort": "medium", "summary": "auto"},
        "tool_choice": "auto",
        "parallel_tool_calls": true,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context/>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello"}]},
        ],
        "tools": [
            exec_tool(),
            {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents",
             "tools": [{"type": "function", "name": "wait_agent", "parameters": {"type": "object"}}]},
            {"type": "web_search", "external_web_access": false},
        ],
    })
}

async fn tool_mock() -> MockServer {
    mock(MockOptions {
        tool_calls: vec![format!("exec_command={EXEC_ARGS}")],
        reply: "Done: the command printed its number.".into(),
        ..MockOptions::default()
    })
    .await
}

#[tokio::test]
async fn a_codex_request_is_translated_and_answered_with_a_response_object() {
    let (_captured, _guard) = Captured::start();
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = responses(&gw, codex_request(false)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "primary");
    assert_eq!(header(&response, "x-clawgate-model"), "primary/m");
    assert_eq!(header(&response, "x-clawgate-attempts"), "1");
    let sent = &primary.requests()[0]["body"];
    assert_eq!(
        sent,
        &json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "You are Codex."},
                {"role": "user", "content": "<environment_context/>"},
                {"role": "user", "content": "Say hello"},
            ],
            "tools": [
                {"type": "function", "function": {"name": "exec_command", "description": "Runs a command",
                 "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}, "required": ["cmd"]},
                 "strict": false}},
                {"type": "function", "function": {"name": "multi_agent_v1__wait_agent",
                 "parameters": {"type": "object"}}},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning_effort": "medium",
            "prompt_cache_key": "01a2-session",
            // Streamed upstream even for a client that did not stream.
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    );
    let body: Value = response.json().await.unwrap();
    // The request's tools and choice, as sent.
    assert_eq!(body["tools"], codex_request(false)["tools"]);
    assert_eq!(body["tool_choice"], json!("auto"));
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("resp_clawgate_"), "{id}");
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["model"], "primary/m");
    let output = body["output"].as_array().unwrap();
    assert_eq!(output.len(), 2, "{body}");
    assert_eq!(output[0]["type"], "reasoning");
    assert_eq!(
        output[0]["summary"],
        json!([{"type": "summary_text", "text": "The user greets me; I greet back."}])
    );
    assert_eq!(output[1]["type"], "message");
    assert_eq!(
        output[1]["content"],
        json!([{"type": "output_text", "text": "Hello from clawgate-mock.", "annotations": []}])
    );
    // The mock counts a token per word of the prompt.
    let input = body["usage"]["input_tokens"].as_u64().unwrap();
    assert!(input > 0, "{body}");
    assert_eq!(
        body["usage"],
        json!({"input_tokens": input, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3,
               "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input + 3})
    );
    // A second answer has ids of its own.
    let again: Value = responses(&gw, codex_request(false))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(again["id"], body["id"]);
    assert_ne!(again["output"][1]["id"], body["output"][1]["id"]);
}

#[tokio::test]
async fn a_stream_is_the_exact_event_sequence_with_usage_and_cost_at_the_end() {
    let (_captured, _guard) = Captured::start();
    let primary = mock(MockOptions {
        cached_tokens: 2,
        ..MockOptions::default()
    })
    .await;
    let mut config = json!({
        "models": {"mode": "replace", "providers": {"primary": {"baseUrl": primary.base_url(), "apiKey": KEY,
            "models": [{"id": "m", "cost": {"input": 1.0, "output": 2.0, "cacheRead": 0.5}}]}}},
        "agents": {"defaults": {"model": {"primary": "primary/m"}}},
    });
    config["gateway"] = json!({});
    let gw = gateway(config).await;
    // Without `/v1`, as a base URL without it would send.
    let body = json!({"input": "please say hello to me now", "stream": true});
    let response = post(&gw, "/responses", body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    let text = response.text().await.unwrap();
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names[..9],
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
        ]
    );
    assert_eq!(
        names[names.len() - 5..],
        [
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (index, (name, data)) in events.iter().enumerate() {
        assert_eq!(data["type"], *name);
        assert_eq!(data["sequence_number"], index, "{name}");
    }
    let text_added = names
        .iter()
        .position(|n| *n == "response.content_part.added")
        .unwrap();
    assert_eq!(names[text_added - 1], "response.output_item.added");
    assert_eq!(events[text_added - 1].1["item"]["type"], "message");
    let (_, completed) = events.last().unwrap();
    let response = &completed["response"];
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "primary/m");
    assert_eq!(
        response["output"][1]["content"][0]["text"],
        "Hello from clawgate-mock."
    );
    let usage = &response["usage"];
    let input = usage["input_tokens"].as_u64().unwrap() as f64;
    assert_eq!(usage["input_tokens_details"]["cached_tokens"], 2);
    assert_eq!(usage["output_tokens"], 3);
    // Uncached input at 1.0, 2 cached at 0.5 and 3 out at 2.0 per million.
    let expected = ((input - 2.0) * 1.0 + 2.0 * 0.5 + 3.0 * 2.0) / 1e6;
    assert!(
        (usage["cost"].as_f64().unwrap() - expected).abs() < 1e-12,
        "{usage}"
    );
}

/// A client that pretty-prints its body (`JSON.stringify(x, null, 2)`):
/// its `tools` and `tool_choice`, echoed in the response object, keep every
/// event's data on its one `data:` line.
#[tokio::test]
async fn a_pretty_printed_request_gets_each_events_data_on_one_line() {
    let (_captured, _guard) = Captured::start();
    let primary = healthy_mock().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"primary": provider(&primary)}},
        "agents": {"defaults": {"model": {"primary": "primary/m"}}},
    }))
    .await;
    let mut body = codex_request(true);
    body["tool_choice"] = json!({"type": "function", "name": "exec_command"});
    let pretty = serde_json::to_string_pretty(&body).unwrap();
    let response = gw
        .client()
        .post(format!("{}/v1/responses", gw.url))
        .header("content-type", "application/json")
        .body(pretty)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in text.lines() {
        assert!(
            line.is_empty() || line.starts_with("event: ") || line.starts_with("data: "),
            "a line of no field: {line:?}"
        );
    }
    let events = sse_events(&text);
    let (name, completed) = events.last().unwrap();
    assert_eq!(name, "response.completed");
    assert_eq!(completed["response"]["tools"][0]["name"], "exec_command");
    assert_eq!(completed["response"]["tool_choice"]["name"], "exec_command");
}

#[tokio::test]
async fn a_tool_call_round_trips_with_the_providers_own_id() {
    let (_captured, _guard) = Captured::start();
    let (primary, backup) = (tool_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let mut request = codex_request(true);
    let text = responses(&gw, request.clone()).await.text().await.unwrap();
    let events = sse_events(&text);
    let (_, done) = events
        .iter()
        .find(|(name, data)| {
            name == "response.output_item.done" && data["item"]["type"] == "function_call"
        })
        .expect("a function call");
    let call = done["item"].clone();
    assert_eq!(call["name"], "exec_command");
    assert_eq!(call["arguments"], EXEC_ARGS);
    assert_eq!(call["status"], "completed");
    let call_id = call["call_id"].as_str().unwrap();
    assert!(call_id.starts_with("cgid_"), "{call_id}");
    let added = events
        .iter()
        .position(|(name, data)| {
            name == "response.output_item.added" && data["item"]["type"] == "function_call"
        })
        .unwrap();
    assert_eq!(
        events[added + 1].0,
        "response.function_call_arguments.delta"
    );
    let (_, completed) = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");

    // Codex runs the command and sends the whole history back.
    let history = request["input"].as_array_mut().unwrap();
    for (name, data) in &events {
        if name == "response.output_item.done" {
            history.push(data["item"].clone());
        }
    }
    history.push(
        json!({"type": "function_call_output", "call_id": call_id, "output": "clawgate-42\n"}),
    );
    let text = responses(&gw, request).await.text().await.unwrap();
    assert!(
        text.contains("Done: the command printed its number."),
        "{text}"
    );
    let sent = &primary.requests()[1]["body"]["messages"];
    let messages = sent.as_array().unwrap();
    let n = messages.len();
    assert_eq!(
        messages[n - 2],
        json!({"role": "assistant", "content": "", "reasoning_content": "The user greets me; I greet back.",
               "tool_calls": [{"id": "functions.exec_command:0", "type": "function",
                               "function": {"name": "exec_command", "arguments": EXEC_ARGS}}]})
    );
    assert_eq!(
        messages[n - 1],
        json!({"role": "tool", "tool_call_id": "functions.exec_command:0", "content": "clawgate-42\n"})
    );
}

#[tokio::test]
async fn a_failing_primary_falls_over_and_status_and_the_access_line_show_it() {
    let (captured, _guard) = Captured::start();
    let (primary, backup) = (
        failing_mock(500, "server_error").await,
        healthy_mock().await,
    );
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = responses(
        &gw,
        json!({"model": "primary/m", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-clawgate-provider"), "backup");
    assert_eq!(header(&response, "x-clawgate-attempts"), "2");
    let text = response.text().await.unwrap();
    assert!(text.contains("event: response.completed"), "{text}");

    let lines = captured.wait_for(1).await;
    let fields = &lines[0]["fields"];
    assert_eq!(fields["message"], "POST /v1/responses 200");
    assert_eq!(fields["model"], "primary/m");
    assert_eq!(fields["answered_by"], "backup/m");
    assert_eq!(fields["end"], "complete");
    assert!(fields["tokens_in"].as_u64().unwrap() > 0, "{fields}");

    let status = gw.status().await;
    assert_eq!(
        target(&status, "primary/m")["failures"]["provider_error"],
        1,
        "{status}"
    );
    assert!(
        target(&status, "backup/m")["lastSuccess"].is_string(),
        "{status}"
    );
}

#[tokio::test]
async fn errors_before_the_start_keep_the_openai_status_and_shape() {
    let (_captured, _guard) = Captured::start();
    let (primary, backup) = (
        failing_mock(429, "rate_limit_error").await,
        failing_mock(500, "server_error").await,
    );
    let gw = gateway(chain_config(&primary, &backup)).await;

    let unknown = responses(
        &gw,
        json!({"model": "gpt-5-codex", "input": "hi", "stream": true}),
    )
    .await;
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("gpt-5-codex"),
        "{body}"
    );

    let failed = responses(&gw, json!({"input": "hi", "stream": true})).await;
    assert_eq!(failed.status(), 502);
    assert_eq!(header(&failed, "x-clawgate-attempts"), "2");
    let body: Value = failed.json().await.unwrap();
    assert_eq!(body["error"]["attempts"].as_array().unwrap().len(), 2);
    assert!(body["error"]["message"].is_string());
}

#[tokio::test]
async fn a_failure_after_the_start_ends_the_stream_with_response_failed() {
    let (_captured, _guard) = Captured::start();
    let primary = mock(MockOptions {
        error_after_chunks: Some(3),
        fail_type: "rate_limit_error".into(),
        fail_message: "slow down".into(),
        ..MockOptions::default()
    })
    .await;
    let backup = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = responses(&gw, json!({"input": "hi", "stream": true})).await;
    assert_eq!(response.status(), 200);
    let events = sse_events(&response.text().await.unwrap());
    let (name, failed) = events.last().unwrap();
    assert_eq!(name, "response.failed");
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["code"], "rate_limit_exceeded");
    let message = failed["response"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("primary/m"), "{message}");
    assert!(!events.iter().any(|(n, _)| n == "response.completed"));
    assert!(backup.requests().is_empty(), "no fallback after the start");
}

#[tokio::test]
async fn what_a_stateless_bridge_cannot_serve_and_bad_input_get_a_clear_400() {
    let (_captured, _guard) = Captured::start();
    let primary = healthy_mock().await;
    let gw = gateway(chain_config(&primary, &primary)).await;
    let cases = [
        (
            json!({"input": "hi", "previous_response_id": "resp_abc"}),
            "previous_response_id is not supported: clawgate stores no responses; send the whole conversation in `input` (Codex does)",
        ),
        (json!({"model": "primary/m"}), "`input` is required"),
        (json!({"input": 42}), "invalid Responses request: input:"),
        (
            json!({"input": "hi", "tools": [{"type": "code_interpreter", "container": {"type": "auto"}}]}),
            "tools[0]: a tool of type \"code_interpreter\"",
        ),
        (
            json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]: an item_reference",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "file-1"}]}]}),
            "input[0]: a content part of type \"input_file\"",
        ),
    ];
    for (body, expected) in cases {
        let response = responses(&gw, body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["type"], "invalid_request_error");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{body}: {message}");
    }
    let not_json = gw
        .client()
        .post(format!("{}/v1/responses", gw.url))
        .header("content-type", "application/json")
        .body("{\"input\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert!(
        primary.requests().is_empty(),
        "nothing reached the provider"
    );
}

#[tokio::test]
async fn the_token_guards_the_route_like_the_others() {
    let (_captured, _guard) = Captured::start();
    let primary = healthy_mock().await;
    let mut config = chain_config(&primary, &primary);
    config["gateway"] = json!({"auth": {"token": "t0ken"}});
    let gw = gateway(config).await;
    let refused = responses(&gw, json!({"input": "hi"})).await;
    assert_eq!(refused.status(), 401);
    let answered = gw
        .client()
        .post(format!("{}/v1/responses", gw.url))
        .bearer_auth("t0ken")
        .json(&json!({"input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
}

/// A provider that speaks Anthropic Messages (Kimi Coding's other
/// endpoint): the Responses request reaches it translated like any chat
/// request, and its tool call comes back as a function call whose id
/// decodes to the provider's own.
#[tokio::test]
async fn a_provider_speaking_anthropic_messages_answers_a_responses_client() {
    let (_captured, _guard) = Captured::start();
    let upstream = mock(MockOptions {
        tool_calls: vec![format!("exec_command={EXEC_ARGS}")],
        ..MockOptions::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"kc": {
            "baseUrl": format!("http://{}/", upstream.addr), "apiKey": KEY,
            "api": "anthropic-messages", "models": [{"id": "m", "maxTokens": 2048}]}}},
        "agents": {"defaults": {"model": {"primary": "kc/m"}}},
    });
    let gw = gateway(config).await;
    let response = responses(&gw, codex_request(false)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let sent = &upstream.requests()[0];
    assert_eq!(sent["path"], "/v1/messages");
    assert_eq!(
        sent["body"]["system"],
        json!([{"type": "text", "text": "You are Codex."}])
    );
    let call = body["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .cloned()
        .unwrap_or_else(|| panic!("a function call: {body}"));
    assert_eq!(call["name"], "exec_command");
    assert_eq!(call["arguments"], EXEC_ARGS);
    assert_eq!(
        clawgate::translate::ids::decode(call["call_id"].as_str().unwrap()),
        "functions.exec_command:0"
    );
}

mod properties {
    //! Whatever the body, the Responses reader and translation answer
    //! without panicking, with a chat request the pipeline accepts or a
    //! refusal naming the field it is about; whatever the pieces of an
    //! answer, the stream keeps the order Codex parses.

    use clawgate::translate::ids::Nonce;
    use clawgate::translate::responses_client::{
        self, Identity, ResponseEncoder, ToolNames, TranslateError,
    };
    use clawgate::wire::openai::{ChatRequest, Part};
    use clawgate::wire::responses::{ResponsesRequest, StreamEvent};
    use clawgate::wire::usage::Usage;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const KEYS: &[&str] = &[
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "type",
        "role",
        "content",
        "text",
        "name",
        "namespace",
        "call_id",
        "arguments",
        "output",
        "summary",
        "input",
        "parameters",
        "format",
        "reasoning",
        "effort",
        "stream",
        "store",
        "image_url",
        "previous_response_id",
        "max_output_tokens",
        "parallel_tool_calls",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u32>().prop_map(|n| json!(n)),
            prop_oneof![
                "[a-z_ ]{0,8}",
                Just("message".to_string()),
                Just("function_call".to_string()),
                Just("function_call_output".to_string()),
                Just("custom_tool_call".to_string()),
                Just("reasoning".to_string()),
                Just("function".to_string()),
                Just("namespace".to_string()),
                Just("custom".to_string()),
                Just("input_text".to_string()),
                Just("input_image".to_string()),
                Just("user".to_string()),
                Just("assistant".to_string()),
                Just("developer".to_string()),
                Just("{}".to_string()),
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(
                    |pairs| {
                        Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                    }
                ),
            ]
        })
    }

    /// Any value, or an object whose `input` holds any values: these reach
    /// the translation more often.
    fn body() -> impl Strategy<Value = Value> {
        prop_oneof![
            json_value(),
            prop::collection::vec(json_value(), 1..4).prop_map(|items| json!({ "input": items })),
        ]
    }

    fn part() -> impl Strategy<Value = Part> {
        prop_oneof![
            "[a-z ]{0,6}".prop_map(Part::Text),
            "[a-z ]{0,6}".prop_map(Part::Reasoning),
            (
                0u64..3,
                proptest::option::of("[a-z0-9:._]{1,6}"),
                proptest::option::of("[a-z]{1,4}"),
                "[{}a-z\":]{0,6}"
            )
                .prop_map(|(index, id, name, arguments)| Part::ToolCall {
                    index,
                    id,
                    name,
                    arguments
                }),
            Just(Part::Usage(Usage {
                input: 5,
                output: 2,
                ..Usage::default()
            })),
            prop_oneof![Just("stop"), Just("length"), Just("tool_calls")]
                .prop_map(|r| Part::Finish(r.to_string())),
        ]
    }

    /// The path a refusal begins with, in backticks or not: `input[2]` of
    /// "input[2]: a message needs a `role`", `input` of "`input` is
    /// required".
    fn place(message: &str) -> &str {
        let end = message.find([':', ' ']).unwrap_or(message.len());
        message[..end].trim_matches('`')
    }

    /// The value at `path` (`input[0].content`, `[1]`) in `value`, or the
    /// array on the way that serde read as a struct (its fields in order).
    fn value_at<'v>(mut value: &'v Value, path: &str) -> Option<&'v Value> {
        if path.is_empty() {
            return None;
        }
        for segment in path.split('.') {
            let mut pieces = segment.split('[');
            let key = pieces.next()?;
            if !key.is_empty() {
                if value.is_array() {
                    return Some(value);
                }
                value = value.get(key)?;
            }
            for index in pieces {
                value = value.get(index.strip_suffix(']')?.parse::<usize>().ok()?)?;
            }
        }
        Some(value)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// A refusal of an object begins with the path of a field it
        /// holds, or with `input` when it holds none.
        #[test]
        fn any_body_is_a_chat_request_or_a_refusal_naming_the_field(body in body()) {
            let bytes = body.to_string();
            let refusal = match ResponsesRequest::parse(bytes.as_bytes()) {
                Err(err) => err.to_string().replacen("invalid Responses request: ", "", 1),
                Ok(parsed) => match responses_client::request(&parsed, None) {
                    Ok((chat, _)) => {
                        let parsed = ChatRequest::parse(chat);
                        prop_assert!(parsed.is_ok(), "{body}: {parsed:?}");
                        return Ok(());
                    }
                    Err(TranslateError::NoInput) => {
                        prop_assert!(body["input"].is_null(), "{body}");
                        return Ok(());
                    }
                    Err(err) => err.to_string(),
                },
            };
            // Anything else is refused as a whole (or read as the fields
            // in order, as serde reads a struct from an array).
            if body.is_object() {
                prop_assert!(value_at(&body, place(&refusal)).is_some(), "{refusal}: no field of {body}");
            }
        }

        #[test]
        fn any_answer_streams_in_the_order_codex_parses(
            chunks in prop::collection::vec(prop::collection::vec(part(), 0..4), 0..8),
            fails in any::<bool>(),
        ) {
            let identity = Identity { response_id: "resp_1".into(), nonce: Nonce(1), created_at: 0 };
            let mut encoder = ResponseEncoder::new("m", identity, ToolNames::default(), clawgate::wire::responses::Echo::default());
            let mut events = Vec::new();
            for parts in &chunks {
                events.extend(encoder.parts(parts));
            }
            if fails {
                encoder.fail("server_error", "broken".into(), &mut events);
            } else {
                encoder.done(&mut events);
            }
            prop_assert!(encoder.is_finished());
            let names: Vec<&str> = events.iter().map(StreamEvent::name).collect();
            prop_assert_eq!(&names[..2], &["response.created", "response.in_progress"][..]);
            let last = *names.last().unwrap();
            prop_assert!(
                ["response.completed", "response.incomplete", "response.failed"].contains(&last),
                "{names:?}"
            );
            prop_assert_eq!(names.iter().filter(|n| **n == "response.created").count(), 1);
            // Every delta belongs to an item added before it and not yet done.
            let mut open: Vec<String> = Vec::new();
            for event in &events {
                let value = serde_json::to_value(event).unwrap();
                let name = event.name();
                if name == "response.output_item.added" {
                    open.push(value["item"]["id"].as_str().unwrap().to_string());
                } else if name == "response.output_item.done" {
                    let id = value["item"]["id"].as_str().unwrap();
                    prop_assert!(open.iter().any(|o| o == id), "{name} before its item");
                    open.retain(|o| o != id);
                } else if let Some(item) = value.get("item_id").and_then(Value::as_str) {
                    prop_assert!(open.iter().any(|o| o == item), "{name} outside its item: {names:?}");
                }
                prop_assert!(open.len() <= 1, "two items open at once: {names:?}");
            }
            prop_assert!(open.is_empty() || fails, "an item left open: {names:?}");
        }
    }
}
