//! The mock's Anthropic Messages endpoint, `POST /v1/messages`, shaped like
//! Kimi Coding's: a `thinking` block (`--reasoning`), a text block
//! (`--reply`), and, when the request offers tools and no tool result
//! follows its last assistant turn, a `tool_use` block calling the first
//! tool with every required property set to `"mock"`. Usage carries
//! `--cached-tokens` as cache reads and `--cache-write-tokens` as cache
//! writes, with `input_tokens` excluding both, as Anthropic counts.
//! `--redacted-thinking` opens the answer with a `redacted_thinking` block;
//! `--stop-sequence` ends an answer without tool calls on that stop
//! sequence. With `--prefix-cache`, the cache reads are the prefix cache's
//! and the input its estimate less them; `--usage-shape kimi-anthropic`
//! streams them as Kimi does, counted in `message_start`'s `input_tokens`
//! and not in `message_delta`'s, which carries `cache_read_input_tokens`
//! too.
//!
//! Streams are the named event sequence (`message_start`, `ping`, each
//! block's start, deltas and stop, `message_delta`, `message_stop`). The
//! faults that make sense here are honoured: `--latency-ms`, `--hang`,
//! `--require-key` (checked against `x-api-key`), `--require-user-agent`
//! (403 `permission_error` with Kimi's message), `--fail-status` (an
//! Anthropic error body whose type follows the status unless `--fail-type`
//! names one), `--fail-times`, `--retry-after`, `--first-byte-delay-ms`,
//! `--chunk-delay-ms`, `--comment`, `--drop-after-chunks`,
//! `--stall-after-chunks` (with `--keep-alive-ms`, a `ping` every so often,
//! or with `--empty-keep-alives` an empty text delta),
//! `--error-after-chunks` (an `error` event), `--no-done` (no
//! `message_stop`) and `--chaos`. Requests are recorded like the OpenAI
//! path's.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    MockOptions, MockState, NOT_A_CODING_AGENT, UsageShape, record, retry_after, send_frames,
    stalled_error_body, words, wrong_agent,
};

/// `--fail-type`'s default, which here means "the type for the status".
const DEFAULT_FAIL_TYPE: &str = "server_error";

pub(super) async fn messages(
    State(state): State<Arc<MockState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let options = &match state.options.chaos {
        true => super::chaos(&state.options),
        false => state.options.clone(),
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "invalid_request_error", "the body is not JSON", None);
    };
    record(&state, "/v1/messages", &headers, &request, &body).await;
    let count = state.served.fetch_add(1, Ordering::SeqCst) + 1;

    if options.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(options.latency_ms)).await;
    }
    if options.hang {
        return std::future::pending().await;
    }
    if let Some(expected) = &options.require_key {
        let sent = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if sent != Some(expected.as_str()) {
            return error(401, "authentication_error", "invalid x-api-key", None);
        }
    }
    if wrong_agent(options, &headers) {
        return error(403, "permission_error", NOT_A_CODING_AGENT, None);
    }
    if let Some(status) = options.fail_status {
        if options.fail_times.is_none_or(|times| count <= times) && options.stall_error_body {
            return stalled_error_body(status);
        }
        if options.fail_times.is_none_or(|times| count <= times) {
            // The gateway's own map, so that the mock and the gateway
            // agree on what each status means.
            let kind = match options.fail_type.as_str() {
                DEFAULT_FAIL_TYPE => clawgate::wire::anthropic::error_type(status),
                named => named,
            };
            return error(status, kind, &options.fail_message, retry_after(options));
        }
    }

    let blocks = blocks(options, &request, count);
    let (prompt, cache_read) = state.prompt(&request, || {
        let input = words(&request["messages"].to_string()) + words(&request["system"].to_string());
        let prompt = options
            .prompt_tokens
            .map_or(input + options.cached_tokens, |prompt| {
                prompt.saturating_sub(options.cache_write_tokens)
            });
        (prompt, options.cached_tokens)
    });
    let usage = Usage {
        input: prompt.saturating_sub(cache_read),
        output: words(&options.reasoning_text()) + words(&options.reply_text()),
        cache_read,
        cache_write: options.cache_write_tokens,
    };
    let model = request["model"]
        .as_str()
        .unwrap_or("mock-model")
        .to_string();
    let (stop_reason, stop_sequence) = if blocks.iter().any(|b| b["type"] == "tool_use") {
        ("tool_use", None)
    } else if let Some(sequence) = &options.stop_sequence {
        ("stop_sequence", Some(sequence.as_str()))
    } else {
        ("end_turn", None)
    };
    let id = format!("msg_mock_{count}");
    if request["stream"] == true {
        let stop = (stop_reason, stop_sequence);
        return stream(state.clone(), options, &id, &model, &blocks, stop, usage);
    }
    // A tool's input keeps `--delta-break`'s mark until here.
    let content = options.unbroken(&Value::Array(blocks).to_string());
    let content: Value = serde_json::from_str(&content).expect("the mark is no JSON");
    Json(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage.full(),
    }))
    .into_response()
}

fn error(status: u16, kind: &str, message: &str, retry_after: Option<HeaderValue>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    let mut response = (status, Json(body)).into_response();
    if let Some(value) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// The answer's content blocks, thinking first, then text, then tool
/// calls unless a message after the last assistant turn holds a tool
/// result: to `--tool-call`'s tools that the request offers, with their
/// arguments and Kimi's ids, or (without `--tool-call`) to the first tool
/// offered, with `"mock"` for each required field.
fn blocks(options: &MockOptions, request: &Value, count: u32) -> Vec<Value> {
    let mut blocks = Vec::new();
    if let Some(data) = &options.redacted_thinking {
        blocks.push(json!({"type": "redacted_thinking", "data": data}));
    }
    if !options.reasoning.is_empty() {
        blocks.push(json!({"type": "thinking", "thinking": options.reasoning_text(), "signature": "mock-signature"}));
    }
    blocks.push(json!({"type": "text", "text": options.reply_text()}));
    let is_result = |message: &Value| {
        (message["content"].as_array())
            .is_some_and(|blocks| blocks.iter().any(|b| b["type"] == "tool_result"))
    };
    if crate::answered(request, is_result) {
        return blocks;
    }
    for (index, (name, input)) in tool_uses(options, request).into_iter().enumerate() {
        // `--tool-call`'s calls get Kimi's ids, the same on every turn and
        // not valid Anthropic ids, as the OpenAI path's do.
        let id = match index {
            _ if !options.tool_calls.is_empty() => {
                format!("functions.{}:{index}", name.as_str().unwrap_or_default())
            }
            0 => format!("toolu_mock_{count}"),
            _ => format!("toolu_mock_{count}_{index}"),
        };
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    blocks
}

/// The tools to call and their inputs, among those the request offers.
fn tool_uses(options: &MockOptions, request: &Value) -> Vec<(Value, Value)> {
    let Some(tools) = request["tools"].as_array() else {
        return Vec::new();
    };
    if !options.tool_calls.is_empty() {
        return options
            .tool_calls
            .iter()
            .map(|call| call.split_once('=').unwrap_or((call, "{}")))
            .filter(|(name, _)| tools.iter().any(|tool| tool["name"] == *name))
            .map(|(name, arguments)| {
                let input = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
                (json!(name), input)
            })
            .collect();
    }
    let Some(tool) = tools.first() else {
        return Vec::new();
    };
    let input: serde_json::Map<String, Value> = tool
        .pointer("/input_schema/required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|name| (name.to_string(), json!("mock")))
        .collect();
    vec![(tool["name"].clone(), Value::Object(input))]
}

#[derive(Debug, Clone, Copy)]
struct Usage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
}

impl Usage {
    fn full(self) -> Value {
        json!({
            "input_tokens": self.input,
            "output_tokens": self.output,
            "cache_read_input_tokens": self.cache_read,
            "cache_creation_input_tokens": self.cache_write,
        })
    }
}

fn frame(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// The named event sequence for `blocks`: text and thinking word by word,
/// tool input in two `input_json_delta` pieces.
/// `options`: the mock's, or one request's under `--chaos`.
fn stream(
    state: Arc<MockState>,
    options: &MockOptions,
    id: &str,
    model: &str,
    blocks: &[Value],
    (stop_reason, stop_sequence): (&str, Option<&str>),
    usage: Usage,
) -> Response {
    let options = options.clone();
    let kimi = options.usage_shape == Some(UsageShape::KimiAnthropic);
    let mut start_usage = usage.full();
    start_usage["output_tokens"] = json!(1);
    if kimi {
        // Kimi counts the cache hits in `message_start`'s input too.
        start_usage["input_tokens"] = json!(usage.input + usage.cache_read);
    }
    let message = json!({"id": id, "type": "message", "role": "assistant", "model": model,
        "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage});
    let mut frames = vec![
        frame(
            "message_start",
            &json!({"type": "message_start", "message": message}),
        ),
        frame("ping", &json!({"type": "ping"})),
    ];
    for (index, block) in blocks.iter().enumerate() {
        let delta = |delta: Value| {
            frame(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            )
        };
        let (start, deltas): (Value, Vec<String>) = match block["type"].as_str() {
            Some("thinking") => {
                let mut deltas: Vec<String> = (options.pieces(&options.reasoning).into_iter())
                    .map(|w| delta(json!({"type": "thinking_delta", "thinking": w})))
                    .collect();
                deltas.push(delta(
                    json!({"type": "signature_delta", "signature": block["signature"]}),
                ));
                (
                    json!({"type": "thinking", "thinking": "", "signature": ""}),
                    deltas,
                )
            }
            // Sent whole in its start, as Anthropic does.
            Some("redacted_thinking") => (block.clone(), Vec::new()),
            Some("tool_use") => {
                let input = block["input"].to_string();
                let (head, tail) = options.halves(&input);
                let deltas = [head, tail]
                    .iter()
                    .map(|piece| delta(json!({"type": "input_json_delta", "partial_json": piece})))
                    .collect();
                let start = json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}});
                (start, deltas)
            }
            _ => {
                let text = block["text"].as_str().unwrap_or_default();
                let deltas = (options.reply_pieces(text).into_iter())
                    .map(|w| delta(json!({"type": "text_delta", "text": w})))
                    .collect();
                (json!({"type": "text", "text": ""}), deltas)
            }
        };
        frames.push(frame(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        frames.extend(deltas);
        frames.push(frame(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    // Kimi's end says every count, its input without the cache hits.
    let end_usage = match kimi {
        true => usage.full(),
        false => json!({"output_tokens": usage.output}),
    };
    frames.push(frame(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": stop_sequence},
            "usage": end_usage}),
    ));
    if let Some(data) = &options.first_event {
        frames[0] = format!("event: message_start\ndata: {data}\n\n");
    }
    if let Some(count) = options.error_after_chunks {
        frames.truncate(count);
        let kind = match options.fail_type.as_str() {
            DEFAULT_FAIL_TYPE => "api_error",
            named => named,
        };
        let error =
            json!({"type": "error", "error": {"type": kind, "message": options.fail_message}});
        frames.push(frame("error", &error));
    } else if !options.no_done {
        frames.push(frame("message_stop", &json!({"type": "message_stop"})));
    }
    let keep_alive = match options.empty_keep_alives {
        true => EMPTY_DELTA,
        false => "event: ping\ndata: {\"type\":\"ping\"}\n\n",
    };
    send_frames(state, options.clone(), frames, keep_alive)
}

/// A text delta that says nothing, to the first block (`--empty-keep-alives`'
/// keep-alive on the Messages endpoint).
const EMPTY_DELTA: &str = concat!(
    "event: content_block_delta\n",
    r#"data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}"#,
    "\n\n"
);
