//! Streaming chat completions: bytes flow as they arrive, failures before
//! the first byte fall over, failures after it end the stream with an error
//! event, `[DONE]` comes exactly once, a client that leaves cancels the
//! upstream request, and a model's params asking for several choices
//! reach chat clients only.

mod common;

use std::time::Duration;

use clawgate_mock::MockOptions;
use common::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

fn stream_request() -> Value {
    json!({"messages": user_message(), "stream": true, "stream_options": {"include_usage": true}})
}

struct Streamed {
    status: reqwest::StatusCode,
    headers: reqwest::header::HeaderMap,
    events: Vec<String>,
}

impl Streamed {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

async fn stream_body(gw: &TestGateway) -> Streamed {
    let response = gw.chat(stream_request()).await;
    let (status, headers) = (response.status(), response.headers().clone());
    let events = sse_data(&response.text().await.unwrap());
    Streamed {
        status,
        headers,
        events,
    }
}

#[tokio::test]
async fn a_stream_is_relayed_relabelled_and_ends_with_one_done() {
    let (primary, backup) = (healthy_mock().await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let streamed = stream_body(&gw).await;
    let events = &streamed.events;
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.header("content-type"), "text/event-stream");
    assert_eq!(streamed.header("x-clawgate-model"), "primary/m");
    assert_eq!(events.iter().filter(|e| *e == "[DONE]").count(), 1);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    assert!(
        chunks.iter().all(|c| c["model"] == "primary/m"),
        "every chunk names the ref"
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello from clawgate-mock.");
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(reasoning, "The user greets me; I greet back.");
    let usage: Vec<&Value> = chunks.iter().filter(|c| c["usage"].is_object()).collect();
    assert_eq!(usage.len(), 1, "the usage chunk is relayed once");
}

#[tokio::test]
async fn failures_before_the_first_byte_fall_over() {
    let slow_first_byte = MockOptions {
        first_byte_delay_ms: 5_000,
        ..MockOptions::default()
    };
    let error_status = MockOptions {
        fail_status: Some(503),
        ..MockOptions::default()
    };
    let dropped_at_once = MockOptions {
        drop_after_chunks: Some(0),
        ..MockOptions::default()
    };
    // Eleven chunks whose content is empty, then silence: none starts
    // the answer, however many come.
    let empty_chunks = MockOptions {
        reasoning: String::new(),
        reply: "|".repeat(11) + "Hello",
        delta_break: Some("|".into()),
        stall_after_chunks: Some(12),
        ..MockOptions::default()
    };
    for (name, options) in [
        ("slow", slow_first_byte),
        ("503", error_status),
        ("dropped", dropped_at_once),
        ("empty chunks", empty_chunks),
    ] {
        let (primary, backup) = (mock(options).await, healthy_mock().await);
        let mut config = chain_config(&primary, &backup);
        config["gateway"] = json!({"timeouts": {"firstByteSeconds": 0.3, "idleSeconds": 2}});
        let gw = gateway(config).await;
        let streamed = stream_body(&gw).await;
        let events = &streamed.events;
        assert_eq!(streamed.status, 200, "{name}");
        assert_eq!(streamed.header("x-clawgate-provider"), "backup", "{name}");
        assert_eq!(streamed.header("x-clawgate-attempts"), "2", "{name}");
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{name}");
    }
}

/// Asserts the stream's last event is an error of `code` from the
/// primary; its message.
fn assert_ends_with_error(events: &[String], code: &str) -> String {
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "no fake clean ending: {events:?}"
    );
    let last: Value = serde_json::from_str(events.last().expect("at least one event")).unwrap();
    assert_eq!(last["error"]["code"], code, "{last}");
    assert_eq!(last["error"]["type"], "upstream_error");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("primary/m: "),
        "{last}"
    );
    last["error"]["message"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_connection_dropped_mid_stream_ends_with_an_error_event() {
    let (primary, backup) = (
        mock(MockOptions {
            drop_after_chunks: Some(3),
            ..MockOptions::default()
        })
        .await,
        healthy_mock().await,
    );
    let gw = gateway(chain_config(&primary, &backup)).await;
    let streamed = stream_body(&gw).await;
    let events = &streamed.events;
    assert_eq!(streamed.status, 200, "headers were already sent");
    assert_eq!(
        events.len(),
        4,
        "three relayed chunks and the error: {events:?}"
    );
    assert_ends_with_error(events, "stream_interrupted");
    assert!(
        backup.requests().is_empty(),
        "no fallback after the first byte"
    );
}

/// A chat stream that ends without `[DONE]` once its choice has its
/// finish reason said everything: it ends as a whole answer's end is
/// taken, `[DONE]` written, and the target is not counted failed. One that
/// ends before a finish reason is truncated.
#[tokio::test]
async fn a_stream_ending_without_done_is_truncated_unless_it_finished() {
    let (primary, backup) = (
        mock(MockOptions {
            no_done: true,
            ..MockOptions::default()
        })
        .await,
        healthy_mock().await,
    );
    let gw = gateway(chain_config(&primary, &backup)).await;
    let events = stream_body(&gw).await.events;
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.contains("\"error\"")),
        "{events:?}"
    );
    let status = gw.status().await;
    assert_eq!(status["targets"][0]["consecutiveFailures"], 0, "{status}");

    let (primary, backup) = (
        mock(MockOptions {
            end_after_chunks: Some(3),
            ..MockOptions::default()
        })
        .await,
        healthy_mock().await,
    );
    let gw = gateway(chain_config(&primary, &backup)).await;
    let events = stream_body(&gw).await.events;
    assert_ends_with_error(&events, "stream_truncated");
}

#[tokio::test]
async fn a_stream_that_falls_silent_ends_with_a_timeout_event() {
    let stalling = MockOptions {
        chunk_delay_ms: 5_000,
        ..MockOptions::default()
    };
    let (primary, backup) = (mock(stalling).await, healthy_mock().await);
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"timeouts": {"idleSeconds": 0.3}});
    let gw = gateway(config).await;
    let events = stream_body(&gw).await.events;
    // The role-only chunk is held until the first meaningful one (the
    // reasoning's first word); then the stream falls silent.
    assert_eq!(events.len(), 3, "{events:?}");
    assert_ends_with_error(&events, "stream_timeout");

    // Silence is bounded by the idle time alone, even past the chain's
    // deadline, which bounds keep-alives: here none came.
    let stalling = MockOptions {
        stall_after_chunks: Some(3),
        ..MockOptions::default()
    };
    let primary = mock(stalling).await;
    let mut config = chain_config(&primary, &backup);
    config["gateway"] = json!({"timeouts": {"idleSeconds": 1, "chainSeconds": 0.5}});
    let gw = gateway(config).await;
    let started = std::time::Instant::now();
    let events = stream_body(&gw).await.events;
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{events:?}"
    );
    let message = assert_ends_with_error(&events, "stream_timeout");
    assert!(
        message.contains("no next stream event within 1.00s"),
        "{message}"
    );
}

/// Keep-alives alone hold a started stream for the chain deadline at
/// most: comments, and chunks that say nothing (an empty `content` delta),
/// for a client of each API. Each goes on to the client meanwhile (the
/// chat client gets them as they came), restarting the idle timeout, which
/// they outlast.
#[tokio::test]
async fn keep_alives_alone_hold_a_started_stream_for_the_chain_deadline_at_most() {
    let hi = json!([{"role": "user", "content": "Hi"}]);
    let messages = json!({"model": "default", "max_tokens": 64, "stream": true, "messages": hi});
    let responses = json!({"model": "default", "stream": true, "input": "Hi"});
    let cases = [
        ("chat", stream_request(), false, "\n: keep-alive\n"),
        ("chat", stream_request(), true, r#""content":"""#),
        ("messages", messages, true, ""),
        ("responses", responses, true, ""),
    ];
    for (api, request, empty_keep_alives, relayed) in cases {
        // A gateway each: a cut stream cools its target.
        let pinging = MockOptions {
            stall_after_chunks: Some(3),
            keep_alive_ms: Some(100),
            empty_keep_alives,
            ..MockOptions::default()
        };
        let (primary, backup) = (mock(pinging).await, healthy_mock().await);
        let mut config = chain_config(&primary, &backup);
        config["gateway"] = json!({"timeouts": {"idleSeconds": 0.5, "chainSeconds": 1.5}});
        let gw = gateway(config).await;
        let case = format!("{api}, empty chunks: {empty_keep_alives}");
        let started = std::time::Instant::now();
        let response = match api {
            "chat" => gw.chat(request).await,
            "messages" => gw.messages(request).await,
            _ => gw.responses(request).await,
        };
        assert_eq!(response.status(), 200, "{case}");
        let body = tokio::time::timeout(Duration::from_secs(10), response.text())
            .await
            .unwrap_or_else(|_| panic!("{case}: the stream is cut, not held by its keep-alives"))
            .unwrap();
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(1_400), "{case}: {took:?}");
        assert!(
            body.contains("no stream event but keep-alives within 1.50s"),
            "{case}: {body}"
        );
        if api == "chat" {
            assert!(body.matches(relayed).count() >= 5, "{case}: {body}");
            let events = sse_data(&body);
            assert_ends_with_error(&events, "stream_timeout");
        }
    }
}

#[tokio::test]
async fn a_client_leaving_mid_stream_cancels_the_upstream_request() {
    let slow = MockOptions {
        chunk_delay_ms: 200,
        reply: "many words ".repeat(50),
        ..MockOptions::default()
    };
    let (primary, backup) = (mock(slow).await, healthy_mock().await);
    let gw = gateway(chain_config(&primary, &backup)).await;
    let response = gw.chat(stream_request()).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.expect("a first chunk").unwrap();
    assert!(first.starts_with(b"data: "));
    drop(body);
    tokio::time::timeout(Duration::from_secs(10), primary.stream_abandoned())
        .await
        .expect("the upstream stream is dropped when the client leaves");
}

/// A chat provider answering as many choices as the request's `n` (two
/// at most): the first says "Zero" and stops, the second says "One" and
/// calls a tool.
async fn choices_provider() -> String {
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|axum::Json(request): axum::Json<Value>| async move {
            let chunk = |index: u32, delta: Value, finish: Value| {
                json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": index, "delta": delta, "finish_reason": finish}]})
            };
            let call = json!([{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "get", "arguments": "{\"c\":1}"}}]);
            let mut events = vec![chunk(
                0,
                json!({"role": "assistant", "content": "Zero"}),
                Value::Null,
            )];
            if request["n"] == 2 {
                events.push(chunk(
                    1,
                    json!({"role": "assistant", "content": "One"}),
                    Value::Null,
                ));
                events.push(chunk(1, json!({"tool_calls": call}), Value::Null));
            }
            events.push(chunk(0, json!({}), json!("stop")));
            if request["n"] == 2 {
                events.push(chunk(1, json!({}), json!("tool_calls")));
            }
            let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            body.push_str("data: [DONE]\n\n");
            ([("content-type", "text/event-stream")], body).into_response()
        }),
    );
    provider_app(app).await
}

/// Messages and Responses answer one choice: a model's `params` asking
/// for several (`n: 2`) is not sent for them, and named, so that the
/// others' text and calls are not read into theirs; a chat client gets
/// them all.
#[tokio::test]
async fn a_models_params_asking_several_choices_go_to_chat_clients_only() {
    let base = choices_provider().await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": base, "apiKey": KEY,
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "p/m", "models": {"p/m": {"params": {"n": 2}}}}},
    }))
    .await;
    let tools = json!([{"name": "get", "input_schema": {"type": "object"}}]);
    let response = gw
        .messages(json!({"max_tokens": 100, "stream": true, "tools": tools,
                         "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert!(header(&response, "x-clawgate-dropped").contains("params.n"));
    let messages = response.text().await.unwrap();
    let events = sse_events(&messages);
    let texts: String = (events.iter())
        .filter_map(|(_, e)| e.pointer("/delta/text")?.as_str())
        .collect();
    assert_eq!(texts, "Zero", "{messages}");
    assert!(!messages.contains("tool_use"), "{messages}");

    let response = gw
        .responses(json!({"input": "hi", "stream": true,
            "tools": [{"type": "function", "name": "get", "parameters": {"type": "object"}}]}))
        .await;
    assert!(header(&response, "x-clawgate-dropped").contains("params.n"));
    let responses = response.text().await.unwrap();
    let completed = sse_events(&responses)
        .into_iter()
        .find(|(name, _)| name == "response.completed")
        .map(|(_, e)| e)
        .unwrap_or_else(|| panic!("{responses}"));
    let output = &completed["response"]["output"];
    assert_eq!(output.as_array().unwrap().len(), 1, "{output}");
    assert_eq!(output[0]["content"][0]["text"], "Zero", "{output}");

    let chat = gw
        .chat(json!({"stream": true, "messages": user_message()}))
        .await
        .text()
        .await
        .unwrap();
    assert!(chat.contains("\"index\":1"), "{chat}");
}

/// A chat client of OpenAI's legacy `functions` gets the model's
/// `function_call` whole when it asked for a whole answer (clawgate
/// streams from the provider and joins the pieces: the name as first
/// said, the arguments in order), and as the provider sent it when it
/// asked for a stream; `functions` reaches the provider as sent.
#[tokio::test]
async fn a_legacy_function_call_reaches_a_chat_client_whole_or_streamed() {
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|axum::Json(request): axum::Json<Value>| async move {
            assert_eq!(request["functions"][0]["name"], "get_weather", "{request}");
            let chunk = |delta: Value, finish: Value| {
                json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            let events = [
                chunk(
                    json!({"role": "assistant", "content": null,
                           "function_call": {"name": "get_weather", "arguments": ""}}),
                    Value::Null,
                ),
                chunk(
                    json!({"function_call": {"arguments": "{\"city\":"}}),
                    Value::Null,
                ),
                chunk(
                    json!({"function_call": {"arguments": "\"Paris\"}"}}),
                    Value::Null,
                ),
                chunk(json!({}), json!("function_call")),
            ];
            let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            body.push_str("data: [DONE]\n\n");
            ([("content-type", "text/event-stream")], body).into_response()
        }),
    );
    let base = provider_app(app).await;
    let gw = gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": base, "apiKey": KEY,
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": "p/m"}},
    }))
    .await;
    let functions = json!([{"name": "get_weather", "parameters": {"type": "object"}}]);
    let whole: Value = (gw.chat(json!({"messages": user_message(), "functions": functions})))
        .await
        .json()
        .await
        .unwrap();
    let choice = &whole["choices"][0];
    assert_eq!(
        choice["message"]["function_call"],
        json!({"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}),
        "{whole}"
    );
    assert_eq!(choice["finish_reason"], "function_call", "{whole}");

    let streamed = (gw.chat(json!({"messages": user_message(), "functions": functions,
                                   "stream": true})))
    .await
    .text()
    .await
    .unwrap();
    let arguments: String = sse_data(&streamed)
        .iter()
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .filter_map(|chunk| {
            let piece = chunk.pointer("/choices/0/delta/function_call/arguments")?;
            piece.as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(arguments, "{\"city\":\"Paris\"}", "{streamed}");
}
