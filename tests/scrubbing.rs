//! Issue 23 item 4: a provider that echoes its key anywhere in what it
//! sends (a chunk's text, a tool call's arguments, an unknown member, a
//! whole answer), raw or `\u`-escaped, never gets it to the client, on
//! any front end, streamed or not: every relayed byte passes one place
//! (`http::front::Outgoing`), the scrubber.

mod common;

use std::collections::BTreeSet;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::post;
use clawgate_mock::{MockOptions, MockServer};
use common::log::Captured;
use common::*;
use serde_json::{Value, json};

const SECRET: &str = "sk-echoed-0123456789abcdef";

/// `SECRET` with its letters `\u`-escaped, as a JSON writer may send it.
fn escaped() -> String {
    SECRET
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A provider that echoes the key everywhere it can.
async fn echoing_provider() -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|body: axum::body::Bytes| async move {
            let request: Value = serde_json::from_slice(&body).unwrap();
            let esc = escaped();
            if request["stream"] == json!(true) {
                let events = [
                    format!(r#"{{"id":"c1","echo":"{SECRET}","choices":[{{"index":0,"delta":{{"role":"assistant","content":"the key is {SECRET}"}}}}]}}"#),
                    format!(r#"{{"id":"c1","choices":[{{"index":0,"delta":{{"content":" or {esc}"}}}}]}}"#),
                    format!(r#"{{"id":"c1","choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"call_1","type":"function","function":{{"name":"read","arguments":"{{\"k\":\"{SECRET}\"}}"}}}}]}},"finish_reason":"tool_calls"}}]}}"#),
                    r#"{"id":"c1","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#.to_string(),
                    "[DONE]".to_string(),
                ];
                let body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
                ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
            } else {
                unreachable!("clawgate asks every provider for a stream")
            }
        }),
    );
    provider_app(app).await
}

#[tokio::test]
async fn an_echoed_key_reaches_no_client_in_any_field() {
    let base = echoing_provider().await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"echo": {"baseUrl": base, "apiKey": "${ECHO_KEY}",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "echo/m"}}},
    });
    let gw = gateway_with_env(config, &[("ECHO_KEY", SECRET)]).await;
    let turn = json!([{"role": "user", "content": "hi"}]);
    let tools = json!([{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}]);
    let mut answers = Vec::new();
    for stream in [false, true] {
        let response = gw
            .chat(json!({"messages": turn, "tools": tools, "stream": stream}))
            .await;
        assert_eq!(response.status(), 200);
        answers.push((
            format!("chat stream={stream}"),
            response.text().await.unwrap(),
        ));
        let response = gw
            .messages(
                json!({"model": "echo/m", "max_tokens": 10, "stream": stream,
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [{"name": "read", "input_schema": {"type": "object"}}]}),
            )
            .await;
        assert_eq!(response.status(), 200);
        answers.push((
            format!("messages stream={stream}"),
            response.text().await.unwrap(),
        ));
        let response = gw
            .client()
            .post(format!("{}/v1/responses", gw.url))
            .json(&json!({"model": "echo/m", "input": "hi", "stream": stream,
                "tools": [{"type": "function", "name": "read", "parameters": {"type": "object"}}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        answers.push((
            format!("responses stream={stream}"),
            response.text().await.unwrap(),
        ));
    }
    let escaped = escaped();
    for (what, text) in &answers {
        assert!(!text.contains(SECRET), "{what}: {text}");
        assert!(!text.contains(&escaped), "{what}: {text}");
        // The answer went through, scrubbed, not refused.
        assert!(text.contains("the key is "), "{what}: {text}");
        assert!(text.contains("[redacted]"), "{what}: {text}");
    }
}

/// A provider whose refusal echoes the key, escaped as a JSON writer may
/// write it, in a body whose `error.message` is no string (so clawgate
/// quotes the body itself).
async fn refusing_provider() -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let body = format!(
                r#"{{"error":{{"message":null}},"detail":"key {} rejected, or {}"}}"#,
                SECRET.replace('-', "\\u002d"),
                escaped()
            );
            (
                axum::http::StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }),
    );
    provider_app(app).await
}

#[tokio::test]
async fn an_escaped_key_in_a_provider_refusal_reaches_neither_the_client_nor_the_log() {
    let (captured, _guard) = Captured::start();
    let base = refusing_provider().await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"echo": {"baseUrl": base, "apiKey": "${ECHO_KEY}",
            "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "echo/m"}}},
    });
    let gw = gateway_with_env(config, &[("ECHO_KEY", SECRET)]).await;
    let response = gw
        .chat(json!({"messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(response.status(), 502);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("rejected"),
        "the provider's words are quoted: {text}"
    );
    assert!(text.contains("[redacted]"), "{text}");
    for form in [
        SECRET.to_string(),
        SECRET.replace('-', "\\u002d"),
        escaped(),
    ] {
        assert!(!text.contains(&form), "{form} in {text}");
    }
    let log = serde_json::to_string(&captured.lines()).unwrap();
    assert!(log.contains("rejected"), "{log}");
    for form in [
        SECRET.to_string(),
        SECRET.replace('-', "\\u002d"),
        escaped(),
    ] {
        assert!(!log.contains(&form), "{form} in the log");
    }
}

/// A provider's key a client pastes where a model or a path goes (a
/// client's settings swapped) is echoed neither in the error that answers
/// it nor in the access line, the ledger's model column or any log line.
#[tokio::test]
async fn a_key_pasted_as_a_model_a_path_or_a_session_is_not_echoed() {
    let (captured, _guard) = Captured::start();
    let mock = healthy_mock().await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": mock.base_url(),
            "apiKey": "${PASTED_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
    });
    let gw = gateway_with_env(config, &[("PASTED_KEY", SECRET)]).await;
    let as_model = gw
        .chat(json!({"model": SECRET, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    let mut answers = vec![as_model];
    for path in ["", "/v1/models"] {
        let url = format!("{}{path}/{SECRET}", gw.url);
        answers.push(gw.client().get(url).send().await.unwrap());
    }
    for response in answers {
        assert_eq!(response.status(), 404);
        let text = response.text().await.unwrap();
        assert!(!text.contains(SECRET), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
    }
    // A session named by a key, in the header or as the body's hint: the
    // access line (and the ledger's row, the sessions' memory, the usage
    // by session, all from the same name) says `[redacted]`.
    let user = json!([{"role": "user", "content": "hi"}]);
    let with_header = |name: &'static str, value: &'static str| {
        (gw.client().post(format!("{}/v1/chat/completions", gw.url)))
            .header(name, value)
            .json(&json!({"model": "p/m", "messages": user}))
            .send()
    };
    let named = with_header("x-clawgate-session", SECRET);
    let hinted = gw.chat(json!({"model": "p/m", "messages": user, "prompt_cache_key": SECRET}));
    for response in [named.await.unwrap(), hinted.await] {
        assert_eq!(response.status(), 200);
    }
    // A key as the request's id: echoed, logged and kept, so not taken.
    let response = with_header("x-request-id", SECRET).await.unwrap();
    assert!(header(&response, "x-request-id").starts_with("req_"));
    // Ids that differ only in their keys stay apart; `key=…` is a key's
    // shape after the client's name too.
    for id in [
        "sk-other0aaaaaaaaaaaa",
        "sk-other1aaaaaaaaaaaa",
        "key=hunter2topsecret",
    ] {
        let response = with_header("x-clawgate-session", id).await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // A tool named with a key, added between two turns of a session: the
    // cache break that names it says `[redacted]`.
    let tool = |name: &str| json!({"type": "function", "function": {"name": name}});
    let turns = [
        (
            json!([{"role": "user", "content": "hi"}]),
            json!([tool("read")]),
        ),
        (
            json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"},
                {"role": "user", "content": "more"}]),
            json!([tool("read"), tool(SECRET)]),
        ),
    ];
    for (messages, tools) in turns {
        let response = (gw.client().post(format!("{}/v1/chat/completions", gw.url)))
            .header("x-clawgate-session", "tools-s")
            .json(&json!({"model": "p/m", "messages": messages, "tools": tools}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap();
    }
    // An access line is written as the server drops its body, which may
    // come just after the client read it.
    let mut log = String::new();
    for _ in 0..500 {
        log = serde_json::to_string(&captured.lines()).unwrap();
        if log.contains("tools: added [redacted]") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(log.contains("[redacted]"), "{log}");
    assert!(!log.contains(SECRET), "{log}");
    let sessions = log.matches(r#"anonymous/[redacted]"#).count();
    assert!(sessions >= 4, "{log}");
    let apart: std::collections::HashSet<_> = (log.split("anonymous/[redacted]#").skip(1))
        .map(|after| &after[..8])
        .collect();
    assert_eq!(apart.len(), 3, "{log}");
    assert!(log.contains("anonymous/key=[redacted]#"), "{log}");
    assert!(!log.contains("hunter2topsecret"), "{log}");
    assert!(log.contains("tools: added [redacted]"), "{log}");
    let status = gw.status().await.to_string();
    assert!(!status.contains(SECRET), "{status}");
}

const SPLIT_KEY: &str = "sk-split-0123456789abcdef";

/// A gateway before a mock whose key is `SPLIT_KEY` and whose answer
/// spells it out across two deltas of its text (`…sk-split-01234`,
/// `56789abcdef…`, after a delta of its own) and two of its reasoning (`…sk-split-0123`,
/// `456789abcdef…`), spoken in `style` (the mock's) or, `anthropic`, in
/// Anthropic's format.
async fn split_key_gateway(style: &str) -> (MockServer, TestGateway) {
    let mock = mock(MockOptions {
        reply: "so |the key is sk-split-01234|56789abcdef, said once".into(),
        reasoning: "I recall sk-split-0123|456789abcdef, noted".into(),
        delta_break: Some("|".into()),
        tool_calls: vec![r#"read={"path":"sk-split-0123456|789abcdef"}"#.into()],
        style: if style == "anthropic" {
            "openai"
        } else {
            style
        }
        .into(),
        ..MockOptions::default()
    })
    .await;
    let provider = match style {
        "anthropic" => json!({"baseUrl": format!("http://{}/", mock.addr),
            "api": "anthropic-messages", "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}),
        _ => json!({"baseUrl": mock.base_url(), "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}),
    };
    let config = json!({
        "models": {"mode": "replace", "providers": {"split": provider}},
        "agents": {"defaults": {"model": {"primary": "split/m"}}},
    });
    let gateway = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
    (mock, gateway)
}

/// A tool's arguments as a client puts them together from a stream
/// (chat's `function.arguments`, Messages' `input_json_delta`, Responses'
/// `function_call_arguments.delta`), or the whole body.
fn arguments_put_together(body: &str) -> String {
    let Some(events) = stream_events(body) else {
        return body.to_string();
    };
    let mut arguments = String::new();
    for event in events {
        let calls = event["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .cloned();
        let pieces = match event["type"].as_str() {
            Some("content_block_delta") => vec![event["delta"]["partial_json"].clone()],
            Some("response.function_call_arguments.delta") => vec![event["delta"].clone()],
            _ => (calls.into_iter().flatten())
                .map(|call| call["function"]["arguments"].clone())
                .collect(),
        };
        for piece in pieces {
            arguments.push_str(piece.as_str().unwrap_or_default());
        }
    }
    arguments
}

/// A tool call's arguments that spell the key out across two deltas
/// (`…sk-split-0123456`, `789abcdef…`) reach no client, on every front
/// end, before an OpenAI provider and one of Anthropic's format.
#[tokio::test]
async fn a_key_split_across_two_argument_deltas_reaches_no_client() {
    let schema = json!({"type": "object", "properties": {"path": {"type": "string"}}});
    let user = json!([{"role": "user", "content": "hi"}]);
    for style in ["openai", "anthropic"] {
        let (_mock, gw) = split_key_gateway(style).await;
        for stream in [false, true] {
            let asks = [
                (
                    "/v1/chat/completions",
                    json!({"model": "split/m", "messages": user,
                    "tools": [{"type": "function", "function": {"name": "read", "parameters": schema}}]}),
                ),
                (
                    "/v1/messages",
                    json!({"model": "split/m", "max_tokens": 10, "messages": user,
                    "tools": [{"name": "read", "input_schema": schema}]}),
                ),
                (
                    "/v1/responses",
                    json!({"model": "split/m", "input": "hi",
                    "tools": [{"type": "function", "name": "read", "parameters": schema}]}),
                ),
            ];
            for (path, mut ask) in asks {
                ask["stream"] = json!(stream);
                let what = format!("{path} {style} stream={stream}");
                let response = match path {
                    "/v1/messages" => gw.messages(ask).await,
                    _ => gw.post(path, ask).await,
                };
                assert_eq!(response.status(), 200, "{what}");
                let body = response.text().await.unwrap();
                let arguments = arguments_put_together(&body);
                for text in [&body, &arguments] {
                    assert!(!text.contains("789abcdef"), "{what}: {text}");
                }
                assert!(
                    arguments.contains("[redacted]"),
                    "{what}: {arguments} in {body}"
                );
            }
        }
    }
}

/// The JSON data of a streamed `body`'s events; `None` for a whole answer.
fn stream_events(body: &str) -> Option<Vec<Value>> {
    let events: Vec<Value> = body
        .lines()
        .filter_map(|line| line.strip_prefix("data: "))
        .filter_map(|data| serde_json::from_str(data).ok())
        .collect();
    (!events.is_empty()).then_some(events)
}

/// The answer's text as a client puts it together: every delta's text and
/// reasoning of a stream (chat's `delta.content` and reasoning, Messages'
/// `text_delta` and `thinking_delta`, Responses' `output_text.delta` and
/// reasoning) in order, or the whole body's.
fn text_put_together(body: &str) -> String {
    let Some(events) = stream_events(body) else {
        return body.to_string();
    };
    let mut text = String::new();
    for event in events {
        let delta = &event["choices"][0]["delta"];
        let pieces = match event["type"].as_str() {
            Some("content_block_delta") => {
                vec![&event["delta"]["thinking"], &event["delta"]["text"]]
            }
            Some(kind) if kind.starts_with("response.") && kind.ends_with("text.delta") => {
                vec![&event["delta"]]
            }
            _ => vec![
                &delta["reasoning_content"],
                &delta["reasoning"],
                &delta["content"],
            ],
        };
        for piece in pieces {
            text.push_str(piece.as_str().unwrap_or_default());
        }
    }
    text
}

/// `body`, streamed or not, holds the split key in no form, and the
/// answer and reasoning around it went through.
fn check_split_key(what: &str, body: &str) {
    let together = text_put_together(body);
    for text in [body, &together] {
        assert!(!text.contains(SPLIT_KEY), "{what}: {text}");
        assert!(!text.contains("56789abcdef"), "{what}: {text}");
    }
    for said in [
        "the key is [redacted], said once",
        "I recall [redacted], noted",
    ] {
        assert!(
            together.contains(said),
            "{what}: {said} not in {together} in {body}"
        );
    }
}

#[tokio::test]
async fn a_key_split_across_two_deltas_reaches_no_chat_client() {
    // Reasoning as `reasoning_content`, then as OpenRouter's `reasoning`.
    for style in ["openai", "openrouter"] {
        let (_mock, gw) = split_key_gateway(style).await;
        // With `logprobs`, each chunk holds `content` and `refusal` lists
        // of its own after the delta.
        for (stream, logprobs) in [(false, false), (false, true), (true, false), (true, true)] {
            let response = gw
                .chat(
                    json!({"messages": [{"role": "user", "content": "hi"}], "stream": stream,
                    "logprobs": logprobs}),
                )
                .await;
            assert_eq!(response.status(), 200);
            let body = response.text().await.unwrap();
            // Streamed, the tokens of the text before the key go with it;
            // those that spell out the key go with the key, and in a whole
            // answer so do all its tokens.
            let tokens: String = (body.split("\"token\":\"").skip(1))
                .map(|rest| rest.split('"').next().unwrap())
                .collect();
            assert_eq!(
                tokens,
                if logprobs && stream { "so " } else { "" },
                "{body}"
            );
            check_split_key(
                &format!("chat {style} stream={stream} logprobs={logprobs}"),
                &body,
            );
        }
    }
}

/// Every `content_block_delta` of a Messages stream falls within its
/// block, between its `content_block_start` and `content_block_stop`.
fn check_deltas_in_their_blocks(body: &str) {
    let mut open = std::collections::HashSet::new();
    for data in body.lines().filter_map(|line| line.strip_prefix("data: ")) {
        let event: Value = serde_json::from_str(data).unwrap();
        let index = event["index"].as_u64();
        match event["type"].as_str() {
            Some("content_block_start") => assert!(open.insert(index), "{body}"),
            Some("content_block_delta") => assert!(open.contains(&index), "{data} in {body}"),
            Some("content_block_stop") => assert!(open.remove(&index), "{body}"),
            _ => {}
        }
    }
}

/// Before an OpenAI provider, then before one of Anthropic's format whose
/// own events the client gets (`relay::Item::Native`): their `text_delta`
/// and `thinking_delta` are held back as chunks are.
#[tokio::test]
async fn a_key_split_across_two_deltas_reaches_no_messages_client() {
    for style in ["openai", "anthropic"] {
        let (_mock, gw) = split_key_gateway(style).await;
        for stream in [false, true] {
            let response = gw
                .messages(
                    json!({"model": "split/m", "max_tokens": 10, "stream": stream,
                    "messages": [{"role": "user", "content": "hi"}]}),
                )
                .await;
            assert_eq!(response.status(), 200);
            let body = response.text().await.unwrap();
            check_split_key(&format!("messages {style} stream={stream}"), &body);
            if stream {
                check_deltas_in_their_blocks(&body);
            }
        }
    }
}

#[tokio::test]
async fn a_key_split_across_two_deltas_reaches_no_responses_client() {
    let (_mock, gw) = split_key_gateway("openai").await;
    for stream in [false, true] {
        let response = gw
            .client()
            .post(format!("{}/v1/responses", gw.url))
            .json(&json!({"model": "split/m", "input": "hi", "stream": stream}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        check_split_key(
            &format!("responses stream={stream}"),
            &response.text().await.unwrap(),
        );
    }
}

/// The text and arguments a client puts together from a streamed `body`,
/// checked, with the body, to hold neither part of a key split across
/// two strings (`sk-split-01…`, `…456789abcdef`).
fn without_split_key(what: &str, body: &str) -> (String, String) {
    let (text, arguments) = (text_put_together(body), arguments_put_together(body));
    for seen in [body, &text, &arguments] {
        assert!(!seen.contains("sk-split-01"), "{what}: {seen}");
        assert!(!seen.contains("456789abcdef"), "{what}: {seen}");
    }
    (text, arguments)
}

/// A request offering a `read` tool to `model` through each front end
/// (its path and body), streamed or not.
fn read_tool_asks(model: &str, stream: bool) -> [(&'static str, Value); 3] {
    let schema = json!({"type": "object", "properties": {"path": {"type": "string"}}});
    let user = json!([{"role": "user", "content": "hi"}]);
    [
        (
            "/v1/chat/completions",
            json!({"model": model, "messages": user, "stream": stream,
                "tools": [{"type": "function", "function": {"name": "read", "parameters": schema}}]}),
        ),
        (
            "/v1/messages",
            json!({"model": model, "max_tokens": 10, "messages": user, "stream": stream,
                "tools": [{"name": "read", "input_schema": schema}]}),
        ),
        (
            "/v1/responses",
            json!({"model": model, "input": "hi", "stream": stream,
                "tools": [{"type": "function", "name": "read", "parameters": schema}]}),
        ),
    ]
}

/// A mock whose answer spells the key out from the end of its reasoning
/// into the first call's arguments, and from the end of those into the
/// second call's, in `style` (OpenRouter's spells the reasoning again in
/// `reasoning_details`).
async fn strings_splitting_mock(style: &str) -> MockServer {
    mock(MockOptions {
        style: style.into(),
        reasoning: "I recall sk-split-0123".into(),
        delta_break: Some("|".into()),
        tool_calls: vec![
            r#"read=456789abcdef, {"path":"x|sk-split-0123"#.into(),
            r#"read=456789abcdef"}|"#.into(),
        ],
        ..MockOptions::default()
    })
    .await
}

/// A key whose start ends one string of a stream and
/// whose rest starts the next (the reasoning, then a tool call's
/// arguments; one call's arguments, then the next call's), reaches no
/// streaming client: the held tail and the next string's start are masked
/// together.
#[tokio::test]
async fn a_key_split_across_the_reasoning_and_two_tool_calls_reaches_no_client() {
    let mock = strings_splitting_mock("openai").await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"split": {"baseUrl": mock.base_url(),
            "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "split/m"}}},
    });
    let gw = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
    for (path, ask) in read_tool_asks("split/m", true) {
        let response = match path {
            "/v1/messages" => gw.messages(ask).await,
            _ => gw.post(path, ask).await,
        };
        assert_eq!(response.status(), 200, "{path}");
        let body = response.text().await.unwrap();
        let (text, arguments) = without_split_key(path, &body);
        assert_eq!(text, "I recall [redacted]", "{path}: {body}");
        // A Messages client gets arguments that are no JSON as `{}`.
        let expected = match path {
            "/v1/messages" => "{}{}",
            _ => r#"[redacted], {"path":"x[redacted][redacted]"}"#,
        };
        assert_eq!(arguments, expected, "{path}: {body}");
    }
}

/// A whole answer (`stream: false`) whose strings spell the key out
/// across their ends, as the two tests around this one stream it: the
/// reasoning into a call's arguments and one call's into the next, from
/// an OpenAI provider and OpenRouter (whose `reasoning_details` spell the
/// reasoning again); one text block into the next and on into a tool's
/// input, from a provider of Anthropic's format (its own events making a
/// Messages client's answer). The key is replaced in both strings, as a
/// stream's hold replaces it, on every front end.
#[tokio::test]
async fn a_key_split_across_the_strings_of_a_whole_answer_reaches_no_client() {
    let mock = strings_splitting_mock("openai").await;
    let openrouter = strings_splitting_mock("openrouter").await;
    let blocks = block_splitting_provider().await;
    let blocks = blocks.strip_suffix("v1").unwrap();
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "split": {"baseUrl": mock.base_url(), "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]},
            "router": {"baseUrl": openrouter.base_url(), "apiKey": "${SPLIT_KEY}",
                "models": [{"id": "m"}]},
            "blocks": {"baseUrl": blocks, "api": "anthropic-messages", "apiKey": "${SPLIT_KEY}",
                "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "split/m"}}},
    });
    let gw = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
    for model in ["split/m", "router/m", "blocks/m"] {
        for (path, ask) in read_tool_asks(model, false) {
            let response = match path {
                "/v1/messages" => gw.messages(ask).await,
                _ => gw.post(path, ask).await,
            };
            assert_eq!(response.status(), 200, "{model} {path}");
            let body = response.text().await.unwrap();
            without_split_key(&format!("{model} {path}"), &body);
            assert!(body.contains("[redacted]"), "{model} {path}: {body}");
        }
    }
}

/// A provider of Anthropic's format's stream: `blocks` (each block's
/// events) between the message's start and its end with `stop_reason`.
fn anthropic_stream(blocks: Vec<Value>, stop_reason: &str) -> axum::response::Response {
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
        "role": "assistant", "model": "m", "content": [], "stop_reason": null,
        "usage": {"input_tokens": 3, "output_tokens": 0}}});
    let end = [
        json!({"type": "message_delta", "delta": {"stop_reason": stop_reason},
            "usage": {"output_tokens": 9}}),
        json!({"type": "message_stop"}),
    ];
    let body: String = (std::iter::once(&start).chain(&blocks).chain(&end))
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
        .collect();
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// A chat provider's stream: a chunk of each `(delta, finish_reason)`,
/// then `[DONE]`.
fn chat_stream(deltas: Vec<(Value, Value)>) -> axum::response::Response {
    let body: String = (deltas.into_iter())
        .map(|(delta, finish)| {
            json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        })
        .map(|e| format!("data: {e}\n\n"))
        .chain(["data: [DONE]\n\n".to_string()])
        .collect();
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

/// A provider whose answer gives its text before its reasoning, the key's
/// start ending the text and its rest starting the reasoning: as a chat
/// stream (`content`, then `reasoning_content`), as a chat answer whose
/// JSON lists the text first, and as Anthropic events (a text block, then
/// a thinking block).
async fn text_then_reasoning_provider() -> String {
    let (text, reasoning) = ("the key is sk-split-0123", "456789abcdef, it said");
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(move |body: axum::body::Bytes| async move {
                let request: Value = serde_json::from_slice(&body).unwrap();
                if request["stream"] != json!(true) {
                    let answer = json!({"id": "c1", "object": "chat.completion", "model": "m",
                        "choices": [{"index": 0, "finish_reason": "stop", "message":
                            {"role": "assistant", "content": text, "reasoning_content": reasoning}}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}});
                    return axum::Json(answer).into_response();
                }
                chat_stream(vec![
                    (json!({"role": "assistant", "content": text}), Value::Null),
                    (json!({"reasoning_content": reasoning}), Value::Null),
                    (json!({}), json!("stop")),
                ])
            }),
        )
        .route(
            "/v1/messages",
            post(move || async move {
                let blocks = vec![
                    json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
                    json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": text}}),
                    json!({"type": "content_block_stop", "index": 0}),
                    json!({"type": "content_block_start", "index": 1,
                        "content_block": {"type": "thinking", "thinking": ""}}),
                    json!({"type": "content_block_delta", "index": 1,
                        "delta": {"type": "thinking_delta", "thinking": reasoning}}),
                    json!({"type": "content_block_stop", "index": 1}),
                ];
                anthropic_stream(blocks, "end_turn")
            }),
        );
    provider_app(app).await
}

/// A key whose start ends an answer's text and whose rest starts its
/// reasoning, given after the text, reaches no client, streamed or not,
/// from a chat provider or one of Anthropic's format: a whole answer lists
/// its reasoning first, and the two are still masked together.
#[tokio::test]
async fn a_key_split_from_the_text_into_the_reasoning_after_it_reaches_no_client() {
    let base = text_then_reasoning_provider().await;
    for (what, _, body) in answers_over_both_transports(&base).await {
        without_split_key(&what, &body);
        assert!(body.contains("[redacted]"), "{what}: {body}");
    }
}

/// Each front end's answer, streamed and not, from the provider at `base`
/// as a chat provider (`chat/m`) and as one of Anthropic's format
/// (`blocks/m`), its key `SPLIT_KEY`: what was asked, the path, the body.
async fn answers_over_both_transports(base: &str) -> Vec<(String, &'static str, String)> {
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "chat": {"baseUrl": base, "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]},
            "blocks": {"baseUrl": base.strip_suffix("v1").unwrap(), "api": "anthropic-messages",
                "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "chat/m"}}},
    });
    let gw = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
    let mut answers = Vec::new();
    for model in ["chat/m", "blocks/m"] {
        for stream in [false, true] {
            for (path, ask) in read_tool_asks(model, stream) {
                let what = format!("{model} {path} stream {stream}");
                let response = match path {
                    "/v1/messages" => gw.messages(ask).await,
                    _ => gw.post(path, ask).await,
                };
                assert_eq!(response.status(), 200, "{what}");
                answers.push((what, path, response.text().await.unwrap()));
            }
        }
    }
    answers
}

/// A provider of Anthropic's format whose answer spells the key out
/// across two text blocks (`…sk-split-0123` ending the first,
/// `456789abcdef…` starting the second), then from the second text block
/// into a `tool_use` block's input, with a block's end and the next one's
/// start (and an empty first `input_json_delta`) between the parts.
async fn block_splitting_provider() -> String {
    let app = axum::Router::new().route(
        "/v1/messages",
        post(|| async {
            let blocks = vec![
                json!({"type": "content_block_start", "index": 0,
                    "content_block": {"type": "text", "text": ""}}),
                json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": "text_delta", "text": "the key is sk-split-0123"}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "content_block_start", "index": 1,
                    "content_block": {"type": "text", "text": ""}}),
                json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "text_delta", "text": "456789abcdef, said once; then sk-split-01"}}),
                json!({"type": "content_block_stop", "index": 1}),
                json!({"type": "content_block_start", "index": 2, "content_block":
                    {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {}}}),
                json!({"type": "content_block_delta", "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": ""}}),
                json!({"type": "content_block_delta", "index": 2,
                    "delta": {"type": "input_json_delta", "partial_json": "23456789abcdef\"}"}}),
                json!({"type": "content_block_stop", "index": 2}),
            ];
            anthropic_stream(blocks, "tool_use")
        }),
    );
    provider_app(app).await
}

/// Before a provider of Anthropic's format: its own events to a Messages
/// client (each block's held tail waits, with the events after it, for
/// the next block's text), and its answer as chat chunks.
#[tokio::test]
async fn a_key_split_across_two_blocks_reaches_no_client() {
    let base = block_splitting_provider().await;
    let base = base.strip_suffix("v1").unwrap();
    let config = json!({
        "models": {"mode": "replace", "providers": {"split": {"baseUrl": base,
            "api": "anthropic-messages", "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "split/m"}}},
    });
    let gw = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
    let user = json!([{"role": "user", "content": "hi"}]);
    let schema = json!({"type": "object", "properties": {"path": {"type": "string"}}});
    let messages = gw
        .messages(
            json!({"model": "split/m", "max_tokens": 10, "stream": true, "messages": user,
            "tools": [{"name": "read", "input_schema": schema}]}),
        )
        .await;
    let chat = gw
        .chat(json!({"messages": user, "stream": true,
            "tools": [{"type": "function", "function": {"name": "read", "parameters": schema}}]}))
        .await;
    for (what, response) in [("messages", messages), ("chat", chat)] {
        assert_eq!(response.status(), 200, "{what}");
        let body = response.text().await.unwrap();
        let (text, arguments) = without_split_key(what, &body);
        // Chat's text is one string: the key is whole in it.
        let first = if what == "chat" { "" } else { "[redacted]" };
        assert_eq!(
            text,
            format!("the key is {first}[redacted], said once; then [redacted]"),
            "{what}: {body}"
        );
        assert_eq!(arguments, "[redacted]\"}", "{what}: {body}");
        if what == "messages" {
            check_deltas_in_their_blocks(&body);
        }
    }
}

/// A provider whose two tool calls both carry its key as their id: a chat
/// stream, and Anthropic events (two `tool_use` blocks).
async fn key_as_call_id_provider() -> String {
    let calls = move || {
        (0..2).map(|index| {
            json!({"index": index, "id": SPLIT_KEY, "type": "function",
                "function": {"name": "read", "arguments": "{}"}})
        })
    };
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(move || async move {
                let calls: Vec<Value> = calls().collect();
                chat_stream(vec![
                    (
                        json!({"role": "assistant", "tool_calls": calls}),
                        Value::Null,
                    ),
                    (json!({}), json!("tool_calls")),
                ])
            }),
        )
        .route(
            "/v1/messages",
            post(move || async move {
                let block = |index: u64| {
                    [
                        json!({"type": "content_block_start", "index": index, "content_block":
                            {"type": "tool_use", "id": SPLIT_KEY, "name": "read", "input": {}}}),
                        json!({"type": "content_block_stop", "index": index}),
                    ]
                };
                anthropic_stream(block(0).into_iter().chain(block(1)).collect(), "tool_use")
            }),
        );
    provider_app(app).await
}

/// A provider's key given as a tool call's id reaches no client, not even
/// as the hex a gateway id spells a provider id in; and two calls of one
/// answer with one provider id get two ids.
#[tokio::test]
async fn a_key_given_as_a_tool_call_id_reaches_no_client_even_in_hex() {
    let base = key_as_call_id_provider().await;
    let hex: String = SPLIT_KEY.bytes().map(|b| format!("{b:02x}")).collect();
    for (what, path, body) in answers_over_both_transports(&base).await {
        assert!(
            !body.contains(SPLIT_KEY) && !body.contains(&hex),
            "{what}: {body}"
        );
        if path == "/v1/chat/completions" {
            continue;
        }
        let ids: BTreeSet<&str> = body
            .match_indices("cgid_")
            .map(|(at, _)| &body[at..at + body[at..].find('"').unwrap()])
            .collect();
        assert_eq!(ids.len(), 2, "{what}: {body}");
    }
}

/// An answer that ends on most of a key (all but its last characters),
/// split across deltas or not: the start goes masked, streamed or not,
/// through each front end and from a provider of either format; a short
/// start a sentence may share with a key goes as written.
#[tokio::test]
async fn an_answer_ending_on_most_of_a_key_reaches_no_client() {
    let most = &SPLIT_KEY[..SPLIT_KEY.len() - 1];
    for (reply, masked) in [
        (
            format!("so |the key is {}|{}", &most[..10], &most[10..]),
            true,
        ),
        (format!("the key is {most}"), true),
        ("they say sk-split".to_string(), false),
    ] {
        for style in ["openai", "anthropic"] {
            let mock = mock(MockOptions {
                reply: reply.clone(),
                delta_break: Some("|".into()),
                style: "openai".into(),
                ..MockOptions::default()
            })
            .await;
            let provider = match style {
                "anthropic" => json!({"baseUrl": format!("http://{}/", mock.addr),
                    "api": "anthropic-messages", "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}),
                _ => {
                    json!({"baseUrl": mock.base_url(), "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]})
                }
            };
            let config = json!({
                "models": {"mode": "replace", "providers": {"split": provider}},
                "agents": {"defaults": {"model": {"primary": "split/m"}}},
            });
            let gw = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
            for stream in [false, true] {
                let asked = [
                    gw.chat(
                        json!({"messages": [{"role": "user", "content": "hi"}], "stream": stream}),
                    )
                    .await,
                    gw.messages(
                        json!({"model": "split/m", "max_tokens": 10, "stream": stream,
                        "messages": [{"role": "user", "content": "hi"}]}),
                    )
                    .await,
                    gw.responses(json!({"model": "split/m", "input": "hi", "stream": stream}))
                        .await,
                ];
                for response in asked {
                    assert_eq!(response.status(), 200);
                    let body = response.text().await.unwrap();
                    let together = text_put_together(&body);
                    let what = format!("{reply:?} {style} stream={stream}: {together} in {body}");
                    if masked {
                        for text in [&body, &together] {
                            assert!(!text.contains(&most[..10]), "{what}");
                        }
                        assert!(together.contains("[redacted]"), "{what}");
                    } else {
                        assert!(together.contains("they say sk-split"), "{what}");
                    }
                }
            }
        }
    }
}

/// A chat provider that sends a tool call's id and name, and an audio
/// answer's transcript, each in three pieces that spell its key.
async fn names_in_pieces_provider() -> String {
    let pieces = ["sk-split-", "0123456", "789abcdef"];
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move || async move {
            let mut deltas = vec![(json!({"role": "assistant"}), Value::Null)];
            for piece in pieces {
                let call =
                    json!({"index": 0, "id": piece, "function": {"name": piece, "arguments": ""}});
                deltas.push((json!({"tool_calls": [call]}), Value::Null));
                deltas.push((json!({"audio": {"transcript": piece}}), Value::Null));
            }
            deltas.push((json!({}), json!("tool_calls")));
            chat_stream(deltas)
        }),
    );
    provider_app(app).await
}

/// A chat client joins the pieces of a tool call's id and name, and of a
/// transcript, as the OpenAI SDK does: a key the provider spells across
/// them reaches it masked from the piece where half of it shows.
#[tokio::test]
async fn a_key_spelt_across_a_call_s_name_and_id_pieces_reaches_no_chat_client() {
    let base = names_in_pieces_provider().await;
    let config = json!({
        "models": {"mode": "replace", "providers": {
            "chat": {"baseUrl": base, "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "chat/m"}}},
    });
    let gw = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
    let ask = json!({"model": "chat/m", "stream": true,
        "messages": [{"role": "user", "content": "read"}]});
    let response = gw.post("/v1/chat/completions", ask).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let (mut id, mut name, mut transcript) = (String::new(), String::new(), String::new());
    for chunk in stream_events(&body).unwrap() {
        let delta = &chunk["choices"][0]["delta"];
        if let Some(call) = delta["tool_calls"].get(0) {
            id += call["id"].as_str().unwrap_or("");
            name += call["function"]["name"].as_str().unwrap_or("");
        }
        transcript += delta["audio"]["transcript"].as_str().unwrap_or("");
    }
    for (what, joined) in [("id", &id), ("name", &name), ("transcript", &transcript)] {
        assert!(!joined.contains(SPLIT_KEY), "{what}: {joined}\n{body}");
        assert!(joined.ends_with("[redacted]"), "{what}: {joined}\n{body}");
    }
}

/// A provider that echoes its key in another case, percent-encoded or
/// base64-encoded (alone, or `Bearer <key>` encoded whole) gets none of
/// those to the client or the log.
#[tokio::test]
async fn a_key_echoed_encoded_in_a_refusal_reaches_neither_the_client_nor_the_log() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    let (captured, _guard) = Captured::start();
    let key = "sk-echo/ed+0123456789abcdef==";
    let forms = [
        key.to_uppercase(),
        "sk-echo%2Fed%2B0123456789abcdef%3D%3D".to_string(),
        STANDARD.encode(key),
        STANDARD.encode(format!("Bearer {key}")),
    ];
    let mock = mock(MockOptions {
        fail_status: Some(400),
        fail_type: "invalid_request_error".into(),
        fail_message: format!("bad key {}", forms.join(" or ")),
        ..MockOptions::default()
    })
    .await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"p": {"baseUrl": mock.base_url(),
            "apiKey": "${ECHO_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "p/m"}}},
    });
    let gw = gateway_with_env(config, &[("ECHO_KEY", key)]).await;
    let response = gw
        .chat(json!({"messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    // What is left of a base64 form encodes the key's neighbours only
    // (`0=` its padding, `QmVhcmVyIH` the word `Bearer `).
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        body["error"]["message"],
        "p/m rejected the request: 400 bad key [redacted] or [redacted] or [redacted]0= or QmVhcmVyIH[redacted]"
    );
    let log = serde_json::to_string(&captured.lines()).unwrap();
    assert!(log.contains("bad key"), "{log}");
    for form in &forms {
        assert!(!text.contains(form.as_str()), "{form} in {text}");
        assert!(!log.contains(form.as_str()), "{form} in the log");
    }
}

/// A legacy `function_call` (a chat client of OpenAI's `functions`) whose
/// arguments spell the key out across two pieces reaches the client
/// without it, whole or streamed.
#[tokio::test]
async fn a_key_split_across_a_legacy_function_calls_pieces_reaches_no_client() {
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let piece = |call: Value| {
                json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                       "choices": [{"index": 0, "delta": {"function_call": call}, "finish_reason": null}]})
            };
            let events = [
                piece(json!({"name": "read", "arguments": ""})),
                piece(json!({"arguments": "{\"path\":\"sk-split-0123456"})),
                piece(json!({"arguments": "789abcdef\"}"})),
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "function_call"}]}),
            ];
            let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
            body.push_str("data: [DONE]\n\n");
            ([("content-type", "text/event-stream")], body).into_response()
        }),
    );
    let base = provider_app(app).await;
    let config = json!({
        "models": {"mode": "replace", "providers": {"split": {"baseUrl": base,
            "apiKey": "${SPLIT_KEY}", "models": [{"id": "m"}]}}},
        "agents": {"defaults": {"model": {"primary": "split/m"}}},
    });
    let gw = gateway_with_env(config, &[("SPLIT_KEY", SPLIT_KEY)]).await;
    let functions = json!([{"name": "read", "parameters": {"type": "object"}}]);
    for stream in [false, true] {
        let body = (gw.chat(json!({"messages": [{"role": "user", "content": "hi"}],
                                   "functions": functions, "stream": stream})))
        .await
        .text()
        .await
        .unwrap();
        let arguments: String = match stream_events(&body) {
            Some(events) => (events.iter())
                .filter_map(|e| e["choices"][0]["delta"]["function_call"]["arguments"].as_str())
                .collect(),
            None => {
                let whole: Value = serde_json::from_str(&body).unwrap();
                let arguments = &whole["choices"][0]["message"]["function_call"]["arguments"];
                arguments.as_str().unwrap_or_default().to_string()
            }
        };
        for text in [&body, &arguments] {
            assert!(!text.contains("789abcdef"), "stream={stream}: {text}");
        }
        assert!(
            arguments.contains("[redacted]"),
            "stream={stream}: {arguments} in {body}"
        );
    }
}
