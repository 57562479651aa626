//! What decoding a `/v1/messages` body and assembling a non-streaming
//! answer cost, counted by this binary's allocator. The decode (reading the
//! Anthropic request, writing the chat-completions request and scanning it
//! into the model, what `Messages::decode` does) builds no tree of the
//! body: its allocations do not grow with the number of members inside
//! tool schemas and tool inputs, which are copied as the client wrote
//! them. Assembling an answer allocates no more than reading its chunks'
//! typed parts for a stream.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use clawgate::translate::anthropic_client;
use clawgate::wire::anthropic::MessagesRequest;
use clawgate::wire::openai::ChatRequest;
use serde_json::{Value, json};

struct Counting;

thread_local! {
    /// Allocations made by this thread (each test runs on its own thread).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn counted() {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is passed to the system allocator unchanged; counting
// touches only a const-initialised thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// A Claude-Code-shaped request: a 37 KB system prompt, 24 tools whose
/// schemas have `members` properties each, and a tool round whose input
/// has `members` keys.
fn claude_code_body(members: usize) -> Vec<u8> {
    let properties: serde_json::Map<String, Value> = (0..members)
        .map(|i| {
            let property = json!({"type": "string", "description": format!("Field {i}.")});
            (format!("field_{i}"), property)
        })
        .collect();
    let input: serde_json::Map<String, Value> = (0..members)
        .map(|i| (format!("key_{i}"), json!([i, "value", {"nested": true}])))
        .collect();
    let tools: Vec<Value> = (0..24)
        .map(|i| {
            json!({"name": format!("Tool{i}"),
                   "description": "Executes a given command with care. ".repeat(30),
                   "input_schema": {"type": "object", "properties": properties,
                                    "required": ["field_0"]}})
        })
        .collect();
    json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cch=1a2b;"},
            {"type": "text", "text": "You are an interactive CLI tool. ".repeat(1100),
             "cache_control": {"type": "ephemeral"}},
        ],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Run it"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Run the tool.", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_01", "name": "Tool0", "input": input}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01", "content": "done"},
                {"type": "text", "text": "Thanks", "cache_control": {"type": "ephemeral"}}]},
        ],
        "tools": tools,
    })
    .to_string()
    .into_bytes()
}

/// The model of `body`, as the Messages front end decodes it, and the
/// allocations the decode made. The scanner remembers large values it has
/// read (`format::scan`), and a body read before costs less: each test
/// decodes bodies of its own.
fn decode(body: &[u8]) -> (ChatRequest, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let parsed = MessagesRequest::parse(body).unwrap();
    let translated = anthropic_client::request(&parsed, Some("kimi/k2")).unwrap();
    let request = ChatRequest::parse(translated).unwrap();
    drop(parsed);
    (request, ALLOCATIONS.with(Cell::get) - before)
}

#[test]
fn decoding_allocates_nothing_per_member_of_schemas_and_inputs() {
    let small = claude_code_body(2);
    let large = claude_code_body(60);
    assert!(large.len() > 2 * small.len());
    let (_, small_allocations) = decode(&small);
    let (_, large_allocations) = decode(&large);
    // A tree of the schemas would add thousands (24 tools x 58 members,
    // several allocations each); buffers growing to a larger size add a
    // few reallocations.
    assert!(
        large_allocations <= small_allocations + 16,
        "{} bytes: {small_allocations} allocations; {} bytes: {large_allocations}",
        small.len(),
        large.len()
    );
}

#[test]
fn a_claude_code_body_decodes_within_its_allocation_budget() {
    let body = claude_code_body(3);
    assert!(body.len() > 60_000, "{}", body.len());
    let (_, allocations) = decode(&body);
    // Measured 401; the decode that built trees of the body and of the
    // translated request made 3832.
    assert!(allocations <= 600, "{allocations} allocations");
}

#[test]
fn schemas_and_inputs_reach_the_model_as_the_client_wrote_them() {
    let schema = r#"{ "type" : "object",
        "properties": {"b": {"type": "string"}, "a": {"type": "number", "minimum": 1.50}} }"#;
    let input = r#"{"z": 1, "a": [true, null], "n": 1.0e2}"#;
    let body = format!(
        r#"{{"max_tokens": 5, "tools": [{{"name": "t", "input_schema": {schema}}}],
            "messages": [{{"role": "assistant", "content": [
                {{"type": "tool_use", "id": "toolu_1", "name": "t", "input": {input}}}]}}]}}"#
    );
    let (request, _) = decode(body.as_bytes());
    let tools = request.raw("tools").unwrap();
    assert!(tools.contains(schema), "{tools}");
    let call = request.message_member(0, "tool_calls").unwrap();
    let arguments: Value = serde_json::from_str(call).unwrap();
    assert_eq!(arguments[0]["function"]["arguments"], input);
}

#[test]
fn a_block_that_does_not_read_is_refused_by_index_and_type() {
    for (content, expected) in [
        (
            r#"[{"type": "image"}]"#,
            "block 0 (image): missing field `source`",
        ),
        (r#"[{"type": 3}]"#, "block 0 (no type)"),
        (r#"[{"type": "text", "text": "a"}, 7]"#, "block 1 (no type)"),
        (r#"{"type": "text"}"#, "expected a string or an array"),
        // Texts are read in one pass with the type; what is not a string
        // still gets serde's own words.
        (
            r#"[{"type": "text", "text": 5}]"#,
            "block 0 (text): invalid type: integer `5`, expected a string",
        ),
        (
            r#"[{"type": "thinking", "thinking": null}]"#,
            "block 0 (thinking): invalid type: null, expected a string",
        ),
        (
            r#"[{"type": "text"}]"#,
            "block 0 (text): missing field `text`",
        ),
    ] {
        let body = format!(r#"{{"messages": [{{"role": "user", "content": {content}}}]}}"#);
        let err = MessagesRequest::parse(body.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(expected), "{content}: {err}");
    }
}

/// A reasoning model's answer as chunks: reasoning, text, a tool call in
/// pieces, the finish and usage.
fn answer_chunks() -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "c1", "created": 7, "model": "kimi-k2", "object": "chat.completion.chunk",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for i in 0..60 {
        chunks.push(chunk(
            json!({"reasoning_content": format!("step {i}, ")}),
            Value::Null,
        ));
    }
    for i in 0..60 {
        chunks.push(chunk(
            json!({"content": format!("word{i} \"quoted\"\n")}),
            Value::Null,
        ));
    }
    chunks.push(chunk(
        json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                               "function": {"name": "Bash", "arguments": ""}}]}),
        Value::Null,
    ));
    for i in 0..40 {
        chunks.push(chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": format!("{{\"k{i}\":1}}")}}]}),
            Value::Null,
        ));
    }
    chunks.push(chunk(json!({}), json!("tool_calls")));
    chunks.push(
        json!({"id": "c1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 99}})
            .to_string(),
    );
    chunks
}

#[tokio::test(flavor = "current_thread")]
async fn assembling_an_answer_costs_no_more_than_reading_its_chunks_for_a_stream() {
    use clawgate::chain::assemble;
    use clawgate::format::sse::{Event, Item};
    use clawgate::ops::redact::Redactor;
    use clawgate::relay::Chunk;

    let chunks = answer_chunks();
    let event = |data: &str| Event {
        event: None,
        data: data.to_string(),
        id: None,
    };
    let redactor = Redactor::new(["sk-secret"]);

    // What a streaming front end other than OpenAI's reads of each chunk.
    let frames: Vec<Chunk> = chunks
        .iter()
        .map(|c| Chunk::of_json(c.as_bytes()))
        .collect();
    let before = ALLOCATIONS.with(Cell::get);
    let parts: usize = frames.iter().map(|frame| frame.parts().len()).sum();
    let relayed = ALLOCATIONS.with(Cell::get) - before;
    assert!(parts > 150);

    let mut events: Vec<_> = chunks
        .iter()
        .skip(1)
        .map(|c| Ok(Item::Event(event(c))))
        .collect();
    events.push(Ok(Item::Event(event("[DONE]"))));
    let first = event(&chunks[0]);
    let rest: clawgate::upstream::EventStream = Box::pin(futures_util::stream::iter(events));
    let before = ALLOCATIONS.with(Cell::get);
    let far = tokio::time::Instant::now() + Duration::from_secs(3600);
    let (completion, native) = assemble::collect(
        first,
        rest,
        (Duration::from_secs(5), far),
        1 << 20,
        &redactor,
    )
    .await
    .unwrap();
    assert!(native.is_empty());
    let assembled = ALLOCATIONS.with(Cell::get) - before;

    let message = &completion["choices"][0]["message"];
    assert!(
        message["content"]
            .as_str()
            .unwrap()
            .ends_with("word59 \"quoted\"\n")
    );
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap()
            .len(),
        (0..40)
            .map(|i| format!("{{\"k{i}\":1}}").len())
            .sum::<usize>()
    );
    assert_eq!(completion["usage"]["completion_tokens"], 99);
    // Measured: 898 to read the parts, 594 to assemble (4612 and 4764 when
    // each chunk was parsed into a tree for either).
    assert!(
        assembled <= relayed,
        "assembled with {assembled} allocations, the parts read with {relayed}"
    );
}
