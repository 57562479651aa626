//! Table tests: Anthropic request in, OpenAI request out; OpenAI answer in,
//! Anthropic message or events out.

use serde_json::{Value, json};

use super::*;

fn check(anthropic: Value, expected: Value) {
    let parsed = MessagesRequest::parse(anthropic.to_string().as_bytes()).unwrap();
    let got = request(&parsed, Some("kimi/k2")).unwrap();
    assert_eq!(got, expected, "\nfrom {anthropic:#}");
}

fn check_refused(anthropic: Value, expected: &str) {
    let parsed = MessagesRequest::parse(anthropic.to_string().as_bytes()).unwrap();
    let err = request(&parsed, None).unwrap_err();
    assert!(err.to_string().contains(expected), "{err}");
}

#[test]
fn a_plain_request_keeps_its_sampling_and_drops_what_kimi_cannot_take() {
    check(
        json!({"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}],
               "temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"],
               "metadata": {"user_id": "u"}, "context_management": {"edits": []}, "stream": false}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100,
               "stop": ["END"], "temperature": 0.5, "top_p": 0.9}),
    );
}

#[test]
fn streams_ask_for_usage() {
    check(
        json!({"max_tokens": 1, "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1,
               "stream": true, "stream_options": {"include_usage": true}}),
    );
}

#[test]
fn system_blocks_join_without_the_billing_header_and_mid_conversation_system_stays() {
    check(
        json!({"system": [
                {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1; cch=abc;"},
                {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "Be brief."}],
               "messages": [
                {"role": "user", "content": [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}},
                                             {"type": "text", "text": "b"}]},
                {"role": "system", "content": "Now in plan mode."},
                {"role": "user", "content": "c"}]}),
        json!({"model": "kimi/k2", "messages": [
                {"role": "system", "content": "You are Claude Code.\n\nBe brief."},
                {"role": "user", "content": "a\n\nb"},
                {"role": "system", "content": "Now in plan mode."},
                {"role": "user", "content": "c"}]}),
    );
}

#[test]
fn tool_use_and_results_become_tool_calls_and_tool_messages_with_their_ids_decoded() {
    check(
        json!({"messages": [
            {"role": "user", "content": "list"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Use ls.", "signature": "sig"},
                {"type": "redacted_thinking", "data": "xx"},
                {"type": "text", "text": "Listing."},
                {"type": "tool_use", "id": "cgid_66756e6374696f6e732e426173683a30", "name": "Bash", "input": {"command": "ls"}},
                {"type": "tool_use", "id": "toolu_2", "name": "Read", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "cgid_66756e6374696f6e732e426173683a30", "content": "a.txt"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [
                    {"type": "text", "text": "no"},
                    {"type": "tool_reference", "tool_name": "Read"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
                {"type": "text", "text": "go on"}]}]}),
        json!({"model": "kimi/k2", "messages": [
            {"role": "user", "content": "list"},
            {"role": "assistant", "content": "Listing.", "reasoning_content": "Use ls.", "tool_calls": [
                {"id": "functions.Bash:0", "type": "function", "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "Read", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "functions.Bash:0", "content": "a.txt"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "no"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "go on"}]}]}),
    );
}

#[test]
fn tools_and_tool_choice_map_and_server_tools_are_dropped() {
    let tools = json!([
        {"name": "Bash", "description": "Run", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
        {"type": "web_search_20250305", "name": "web_search"}]);
    let openai_tools = json!([{"type": "function", "function": {"name": "Bash", "parameters": {"type": "object"}, "description": "Run"}}]);
    for (choice, expected, parallel) in [
        (json!({"type": "auto"}), json!("auto"), None),
        (
            json!({"type": "any", "disable_parallel_tool_use": true}),
            json!("required"),
            Some(false),
        ),
        (json!({"type": "none"}), json!("none"), None),
        (
            json!({"type": "tool", "name": "Bash"}),
            json!({"type": "function", "function": {"name": "Bash"}}),
            None,
        ),
    ] {
        let mut out = json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "x"}],
                             "tools": openai_tools, "tool_choice": expected});
        if let Some(parallel) = parallel {
            out["parallel_tool_calls"] = json!(parallel);
        }
        check(
            json!({"messages": [{"role": "user", "content": "x"}], "tools": tools, "tool_choice": choice}),
            out,
        );
    }
    // Only server tools: no tools and no tool_choice at all.
    check(
        json!({"messages": [{"role": "user", "content": "x"}], "tools": [tools[1]], "tool_choice": {"type": "any"}}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "x"}]}),
    );
}

#[test]
fn thinking_and_effort_become_reasoning_effort() {
    for (thinking, effort, expected) in [
        (json!({"type": "adaptive"}), Some("high"), Some("high")),
        (json!({"type": "adaptive"}), Some("max"), Some("high")),
        (json!({"type": "adaptive"}), Some("xhigh"), Some("high")),
        (json!({"type": "adaptive"}), None, None),
        (json!({"type": "adaptive"}), Some("low"), Some("low")),
        (json!({"type": "disabled"}), Some("high"), Some("none")),
        (
            json!({"type": "enabled", "budget_tokens": 1024}),
            None,
            Some("low"),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 8000}),
            None,
            Some("medium"),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 32000}),
            None,
            Some("high"),
        ),
        (
            json!({"type": "enabled", "budget_tokens": 32000}),
            Some("low"),
            Some("low"),
        ),
        (Value::Null, Some("medium"), Some("medium")),
    ] {
        let mut body = json!({"messages": [{"role": "user", "content": "x"}]});
        if !thinking.is_null() {
            body["thinking"] = thinking.clone();
        }
        if let Some(effort) = effort {
            body["output_config"] = json!({"effort": effort});
        }
        let mut out = json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "x"}]});
        if let Some(expected) = expected {
            out["reasoning_effort"] = json!(expected);
        }
        check(body, out);
    }
}

#[test]
fn text_documents_pass_and_others_are_refused_by_name() {
    check(
        json!({"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "doc"}}]}]}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "doc"}]}),
    );
    check_refused(
        json!({"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "x"}}]}]}),
        "messages[0]: a document block (PDF or file)",
    );
    check_refused(
        json!({"messages": [{"role": "user", "content": [{"type": "web_search_tool_result"}]}]}),
        "messages[0]: a block of this type",
    );
    check_refused(
        json!({"messages": [{"role": "tool", "content": "x"}]}),
        "unknown role \"tool\"",
    );
}

fn completion(message: Value, finish: &str) -> Map<String, Value> {
    json!({"id": "chatcmpl-1", "choices": [{"index": 0, "message": message, "finish_reason": finish}],
           "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
                     "prompt_tokens_details": {"cached_tokens": 40}}})
    .as_object()
    .unwrap()
    .clone()
}

#[test]
fn answers_become_messages_thinking_then_text_then_tool_use() {
    let got = message(
        &completion(
            json!({"role": "assistant", "content": "Let me look.", "reasoning_content": "Hmm.",
                   "tool_calls": [{"id": "functions.Bash:0", "type": "function",
                                   "function": {"name": "Bash", "arguments": "{\"command\":\"ls\"}"}},
                                  {"id": "call_2", "type": "function",
                                   "function": {"name": "Read", "arguments": "not json"}}]}),
            "stop",
        ),
        "kimi/k2",
    );
    assert_eq!(
        serde_json::to_value(&got).unwrap(),
        json!({"id": "msg_chatcmpl-1", "type": "message", "role": "assistant", "model": "kimi/k2",
               "content": [
                   {"type": "thinking", "thinking": "Hmm.", "signature": ""},
                   {"type": "text", "text": "Let me look."},
                   {"type": "tool_use", "id": "cgid_66756e6374696f6e732e426173683a30", "name": "Bash", "input": {"command": "ls"}},
                   {"type": "tool_use", "id": "call_2", "name": "Read", "input": {}}],
               "stop_reason": "tool_use", "stop_sequence": null,
               "usage": {"input_tokens": 60, "output_tokens": 7, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 40}})
    );
}

#[test]
fn finish_reasons_become_stop_reasons_and_empty_text_gives_no_block() {
    for (finish, expected) in [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("tool_calls", "end_turn"),
    ] {
        let got = message(
            &completion(json!({"role": "assistant", "content": ""}), finish),
            "m",
        );
        assert_eq!(got.stop_reason, Some(expected), "{finish}");
        assert!(got.content.is_empty());
    }
}

#[test]
fn provider_overflow_messages_become_claude_codes_wording() {
    for (message, expected) in [
        (
            "kimi/kimi-k2-0905 rejected the request: Invalid request: Your request exceeded model token limit: 262144 (requested: 300123)",
            Some("prompt is too long: 300123 tokens > 262144"),
        ),
        (
            "openrouter/x rejected the request: This endpoint's maximum context length is 131072 tokens. However, you requested about 140000 tokens (139000 of text input, 1000 in the output). Please reduce the length.",
            Some("prompt is too long: 139000 tokens > 131072"),
        ),
        (
            "This endpoint's maximum context length is 131072 tokens. However, you requested about 160000 tokens (100000 of text input, 60000 in the output).",
            Some("input length and `max_tokens` exceed context limit: 100000 + 60000 > 131072"),
        ),
        (
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130500 tokens.",
            Some("prompt is too long: 130500 tokens > 128000"),
        ),
        ("Your request exceeded model token limit: 8192", None),
        ("Input token length too long", None),
        ("rate limited, retry in 20 of 60 seconds", None),
    ] {
        assert_eq!(context_overflow(message).as_deref(), expected, "{message}");
    }
}

/// The SSE text of every event a sequence of relay frames produces.
fn events(frames: &[Value]) -> Vec<Value> {
    let mut translator = StreamTranslator::new("kimi/k2");
    let mut out = Vec::new();
    for frame in frames {
        let data = match frame {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let bytes = format!("data: {data}\n\n");
        for event in translator.frame(bytes.as_bytes()) {
            let sse = event.to_sse();
            let (name, data) = sse
                .strip_prefix("event: ")
                .and_then(|rest| rest.split_once("\ndata: "))
                .unwrap();
            let data: Value = serde_json::from_str(data.trim_end()).unwrap();
            assert_eq!(
                data["type"],
                json!(name),
                "every event is named by its type"
            );
            out.push(data);
        }
    }
    out
}

fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "c", "model": "kimi/k2", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

#[test]
fn a_stream_becomes_the_exact_event_sequence() {
    let got = events(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"reasoning_content": "Think"}), Value::Null),
        chunk(json!({"reasoning_content": "ing."}), Value::Null),
        chunk(json!({"content": "Hi"}), Value::Null),
        chunk(json!({"content": " there"}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({"id": "c", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 4,
               "prompt_tokens_details": {"cached_tokens": 3}}}),
        json!("[DONE]"),
    ]);
    let start = json!({"type": "message_start", "message": {"id": "msg_clawgate", "type": "message",
        "role": "assistant", "model": "kimi/k2", "content": [], "stop_reason": null, "stop_sequence": null,
        "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}});
    assert_eq!(
        got,
        vec![
            start,
            json!({"type": "ping"}),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Think"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "ing."}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": " there"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"input_tokens": 7, "output_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 3}}),
            json!({"type": "message_stop"}),
        ]
    );
}

#[test]
fn tool_calls_stream_as_input_json_deltas_and_no_argument_is_lost() {
    let call = |index: u64, id: Value, name: Value, arguments: &str| json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}});
    let got = events(&[
        // Arguments riding on the same chunk as the id and name.
        chunk(
            json!({"tool_calls": [call(0, json!("functions.Bash:0"), json!("Bash"), "{\"comm")]}),
            Value::Null,
        ),
        // A repeated name is ignored.
        chunk(
            json!({"tool_calls": [call(0, Value::Null, json!("Bash"), "and\":\"ls\"}")]}),
            Value::Null,
        ),
        // The name after the arguments: they wait for the block.
        chunk(
            json!({"tool_calls": [call(1, json!("call_2"), json!(""), "{}")]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [call(1, Value::Null, json!("Read"), "")]}),
            json!("stop"),
        ),
        json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}),
        json!("[DONE]"),
    ]);
    assert_eq!(
        got[2..],
        vec![
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use",
                   "id": "cgid_66756e6374696f6e732e426173683a30", "name": "Bash", "input": {}}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"comm"}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "and\":\"ls\"}"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use",
                   "id": "call_2", "name": "Read", "input": {}}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
            json!({"type": "content_block_stop", "index": 1}),
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                   "usage": {"input_tokens": 5, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}),
            json!({"type": "message_stop"}),
        ][..]
    );
}

#[test]
fn calls_that_share_an_index_but_not_an_id_are_separate_blocks() {
    let call = |id: &str, name: &str| json!({"index": 0, "id": id, "function": {"name": name, "arguments": "{}"}});
    let got = events(&[
        chunk(json!({"tool_calls": [call("a", "A")]}), Value::Null),
        chunk(json!({"tool_calls": [call("b", "B")]}), json!("tool_calls")),
        json!("[DONE]"),
    ]);
    let starts: Vec<&Value> = got
        .iter()
        .filter(|e| e["type"] == "content_block_start")
        .map(|e| &e["content_block"]["name"])
        .collect();
    assert_eq!(starts, [&json!("A"), &json!("B")]);
}

#[test]
fn an_error_frame_ends_the_stream_with_an_error_event() {
    let got = events(&[
        chunk(json!({"content": "par"}), Value::Null),
        json!({"error": {"message": "kimi/k2: the upstream stream broke off", "type": "upstream_error",
                         "code": "stream_interrupted"}}),
        chunk(json!({"content": "ignored"}), Value::Null),
    ]);
    assert_eq!(
        got.last().unwrap(),
        &json!({"type": "error", "error": {"type": "api_error", "message": "kimi/k2: the upstream stream broke off"}})
    );
    assert_eq!(got.len(), 5, "{got:#?}");
}

#[test]
fn a_stream_cut_off_without_a_word_ends_with_an_error() {
    let mut translator = StreamTranslator::new("m");
    translator
        .frame(format!("data: {}\n\n", chunk(json!({"content": "x"}), Value::Null)).as_bytes());
    assert!(
        translator
            .frame(b"data: {\"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\n")
            .len()
            == 1
    );
    assert!(matches!(
        translator.cut_off(),
        Some(StreamEvent::Error { .. })
    ));
    assert!(translator.cut_off().is_none());
}

#[test]
fn several_events_in_one_piece_are_each_translated() {
    let mut translator = StreamTranslator::new("m");
    let piece = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk(json!({"content": "a"}), Value::Null),
        chunk(json!({"content": "b"}), json!("stop")),
    );
    let names: Vec<&str> = translator
        .frame(piece.as_bytes())
        .iter()
        .map(StreamEvent::name)
        .collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// One tool call as a provider streams it: its id (Kimi's or OpenAI's
    /// form), its name, its arguments in pieces, and whether the first
    /// piece rides on the chunk with the id and name.
    #[derive(Debug, Clone)]
    struct Call {
        id: String,
        name: String,
        pieces: Vec<String>,
        first_piece_with_name: bool,
    }

    fn call() -> impl Strategy<Value = Call> {
        (
            prop_oneof!["functions\\.[a-z]{1,6}:[0-9]", "call_[a-z0-9]{1,8}"],
            "[A-Za-z]{1,8}",
            prop::collection::vec("[ -~]{1,6}", 0..5),
            any::<bool>(),
        )
            .prop_map(|(id, name, pieces, first_piece_with_name)| Call {
                id,
                name,
                pieces,
                first_piece_with_name,
            })
    }

    /// The chunks a provider sends: reasoning, then text, then tool calls,
    /// each in pieces, then the finish reason, the usage and `[DONE]`.
    fn chunks(reasoning: &[String], text: &[String], calls: &[Call], finish: &str) -> Vec<String> {
        let mut out = Vec::new();
        out.push(chunk(json!({"role": "assistant", "content": ""}), Value::Null).to_string());
        for piece in reasoning {
            out.push(chunk(json!({"reasoning_content": piece}), Value::Null).to_string());
        }
        for piece in text {
            out.push(chunk(json!({"content": piece}), Value::Null).to_string());
        }
        for (index, call) in calls.iter().enumerate() {
            let mut pieces = call.pieces.iter();
            let first = match call.first_piece_with_name {
                true => pieces.next().cloned().unwrap_or_default(),
                false => String::new(),
            };
            out.push(
                chunk(
                    json!({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": first}}]}),
                    Value::Null,
                )
                .to_string(),
            );
            for piece in pieces {
                out.push(
                    chunk(
                        json!({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}),
                        Value::Null,
                    )
                    .to_string(),
                );
            }
        }
        out.push(chunk(json!({}), json!(finish)).to_string());
        out.push(
            json!({"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
                .to_string(),
        );
        out.push("[DONE]".to_string());
        out
    }

    proptest! {
        #[test]
        fn every_stream_translates_to_a_well_formed_event_sequence(
            reasoning in prop::collection::vec("[ -~]{1,5}", 0..4),
            text in prop::collection::vec("[ -~]{1,5}", 0..4),
            calls in prop::collection::vec(call(), 0..4),
            finish in prop_oneof!["stop", "length", "tool_calls"],
        ) {
            let mut translator = StreamTranslator::new("m");
            let mut events = Vec::new();
            for data in chunks(&reasoning, &text, &calls, &finish) {
                events.extend(translator.frame(format!("data: {data}\n\n").as_bytes()));
            }
            prop_assert!(translator.is_finished());
            let starts = matches!(events.first(), Some(StreamEvent::MessageStart { .. }));
            prop_assert!(starts);
            prop_assert_eq!(events.iter().filter(|e| e.name() == "message_start").count(), 1);
            let stops = matches!(events.last(), Some(StreamEvent::MessageStop));
            prop_assert!(stops);

            // Blocks: contiguous indices, one open at a time, deltas of
            // their block's type; what they carry, in full.
            let mut open: Option<(usize, BlockOut)> = None;
            let mut next = 0;
            let mut blocks: Vec<(BlockOut, String)> = Vec::new();
            for event in &events {
                match event {
                    StreamEvent::ContentBlockStart { index, content_block } => {
                        prop_assert!(open.is_none());
                        prop_assert_eq!(*index, next);
                        next += 1;
                        open = Some((*index, content_block.clone()));
                        blocks.push((content_block.clone(), String::new()));
                    }
                    StreamEvent::ContentBlockDelta { index, delta } => {
                        let (at, block) = open.clone().expect("a delta inside a block");
                        prop_assert_eq!(*index, at);
                        let piece = match (delta, &block) {
                            (Delta::TextDelta { text }, BlockOut::Text { .. }) => text,
                            (Delta::ThinkingDelta { thinking }, BlockOut::Thinking { .. }) => thinking,
                            (Delta::InputJsonDelta { partial_json }, BlockOut::ToolUse { .. }) => partial_json,
                            other => panic!("a delta of the wrong type: {other:?}"),
                        };
                        blocks.last_mut().unwrap().1.push_str(piece);
                    }
                    StreamEvent::ContentBlockStop { index } => {
                        prop_assert_eq!(open.take().map(|(at, _)| at), Some(*index));
                    }
                    _ => prop_assert!(open.is_none()),
                }
            }
            let mut expected = Vec::new();
            if !reasoning.is_empty() {
                expected.push((BlockOut::Thinking { thinking: String::new(), signature: String::new() }, reasoning.concat()));
            }
            if !text.is_empty() {
                expected.push((BlockOut::Text { text: String::new() }, text.concat()));
            }
            for call in &calls {
                expected.push((
                    BlockOut::ToolUse { id: ids::encode(&call.id).into_owned(), name: call.name.clone(), input: json!({}) },
                    call.pieces.concat(),
                ));
            }
            prop_assert_eq!(blocks, expected);

            let Some(StreamEvent::MessageDelta { delta, usage }) = events.iter().rev().nth(1) else {
                panic!("message_delta before message_stop");
            };
            let stop = match (calls.is_empty(), finish.as_str()) {
                (false, _) => "tool_use",
                (true, "length") => "max_tokens",
                _ => "end_turn",
            };
            prop_assert_eq!(delta.stop_reason, Some(stop));
            prop_assert_eq!(usage.output_tokens, 4);
            prop_assert_eq!(usage.input_tokens, 9);
        }
    }
}
