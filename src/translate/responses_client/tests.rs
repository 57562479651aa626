//! Table tests: Responses request in, chat request out; chat answer in,
//! response object or events out.

use serde_json::{Map, Value, json};

use super::*;
use crate::capabilities::Api;
use crate::translate::fields;
use crate::translate::ids::{self, Nonce};
use crate::wire::responses::Echo;
use crate::wire::responses::{ResponsesRequest, StreamEvent};

/// `body` translated, the same whether read whole or member by member
/// ([`Read`]), the first time and again.
fn translate(body: &Value) -> Result<(Value, ToolNames), TranslateError> {
    let bytes = body.to_string();
    let parsed = ResponsesRequest::parse(bytes.as_bytes()).unwrap();
    let whole = request(&parsed, Some("kimi/k2"));
    for _ in 0..2 {
        let read = Read::parse(bytes.as_bytes()).unwrap();
        let read = read.translate(Some("kimi/k2")).map(|t| (t.body, t.names));
        assert_eq!(read, whole, "\nfrom {body:#}");
    }
    let (chat, names) = whole?;
    Ok((serde_json::from_slice(&chat).unwrap(), names))
}

/// A member nested as deep as serde refuses in the whole body is refused
/// by the member-by-member reader too; one level less is read by both.
#[test]
fn nesting_serde_refuses_in_the_whole_body_is_refused() {
    let body = |levels: usize| {
        format!(
            r#"{{"input":"hi","tool_choice":{{"type":"function","name":"f","x":{}{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    assert!(ResponsesRequest::parse(body(126).as_bytes()).is_err());
    assert!(Read::parse(body(126).as_bytes()).is_err());
    assert!(ResponsesRequest::parse(body(120).as_bytes()).is_ok());
    assert!(Read::parse(body(120).as_bytes()).is_ok());
}

/// Codex's instructions and tools, long enough to be remembered: the
/// second turn translates from what the first one left, to the same
/// bytes; a changed byte is translated anew; tools that cannot be
/// translated and bodies serde refuses are refused as when read whole.
#[test]
fn repeated_instructions_and_tools_translate_as_the_first_time() {
    let long = "Work in small steps. ".repeat(60);
    let turn = |instructions: &str, tools: Value, question: &str| {
        json!({"model": "m", "instructions": instructions, "stream": true,
               "tools": tools, "tool_choice": "auto", "parallel_tool_calls": false,
               "input": [{"type": "message", "role": "user",
                          "content": [{"type": "input_text", "text": question}]}]})
    };
    let tools = |description: &str| {
        json!([{"type": "function", "name": "shell", "description": description,
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}}},
               {"type": "namespace", "name": "mcp", "tools": [
                   {"type": "function", "name": "read", "description": description}]},
               {"type": "web_search", "external_web_access": false}])
    };
    let (first, first_names) = translate(&turn(&long, tools(&long), "hi")).unwrap();
    let (again, again_names) = translate(&turn(&long, tools(&long), "and now?")).unwrap();
    assert_eq!(first["tools"], again["tools"]);
    assert_eq!(first_names, again_names);
    assert_eq!(again["messages"][0]["content"], json!(long));
    assert_eq!(again["tools"][1]["function"]["name"], json!("mcp__read"));
    assert_eq!(again["tool_choice"], json!("auto"));
    assert_eq!(again["parallel_tool_calls"], json!(false));
    assert_eq!(again["messages"][1]["content"], json!("and now?"));
    let changed = format!("{long}!");
    let (other, _) = translate(&turn(&changed, tools(&changed), "hi")).unwrap();
    assert_eq!(other["messages"][0]["content"], json!(changed));
    assert_eq!(other["tools"][0]["function"]["description"], json!(changed));
    // Refused as when read whole, before and after the texts are known.
    let mut unknown = tools(&long);
    unknown[2]["type"] = json!("file_search");
    for _ in 0..2 {
        check_refused(turn(&long, unknown.clone(), "hi"), "tools[2]");
    }
    let mut bad = turn(&long, tools(&long), "hi");
    bad["tools"][0]["parameters"] = json!("{");
    bad["input"] = json!(5);
    let err = Read::parse(bad.to_string().as_bytes()).err().unwrap();
    assert!(err.to_string().contains("input"), "{err}");
    let mut previous = turn(&long, tools(&long), "hi");
    previous["previous_response_id"] = json!("resp_1");
    check_refused(previous, "previous_response_id");
}

fn check(responses: Value, expected: Value) {
    let (got, _) = translate(&responses).unwrap();
    assert_eq!(got, expected, "\nfrom {responses:#}");
}

fn check_refused(responses: Value, expected: &str) {
    let err = translate(&responses).unwrap_err().to_string();
    assert!(err.contains(expected), "{err}");
}

/// The Responses answer `answer` (a completion) makes, as JSON.
fn answered(answer: &Map<String, Value>, model: &str, names: &ToolNames) -> Value {
    serde_json::to_value(response(
        answer,
        model,
        &identity(),
        names,
        &Echo::default(),
    ))
    .unwrap()
}

fn identity() -> Identity {
    Identity {
        response_id: "resp_1".into(),
        nonce: Nonce(0x0badcafe),
        created_at: 1700000000,
    }
}

#[test]
fn a_plain_string_input_is_one_user_message_with_the_instructions_as_system() {
    check(
        json!({"model": "x", "instructions": "Be brief.", "input": "hi", "max_output_tokens": 100,
               "temperature": 0.5, "top_p": 0.9, "store": true, "metadata": {"a": "b"}, "user": "u",
               "service_tier": "auto", "truncation": "auto"}),
        json!({"model": "kimi/k2", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"}],
               "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "user": "u"}),
    );
}

#[test]
fn streams_ask_for_usage() {
    check(
        json!({"input": "hi", "stream": true}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "hi"}],
               "stream": true, "stream_options": {"include_usage": true}}),
    );
}

/// A Codex turn after a tool call (trimmed): developer messages, the
/// user's, reasoning, the call (namespaced too) and its output, web search
/// offered, everything Codex sends that a stateless bridge ignores.
#[test]
fn a_codex_turn_with_a_tool_round_trip_becomes_chat_messages() {
    let call_id = ids::encode(Some("functions.exec_command:0"), 0, Nonce(7));
    check(
        json!({
            "model": "kimi/k2", "stream": false, "store": false, "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "p", "client_metadata": {"turn_id": "t"}, "parallel_tool_calls": true,
            "reasoning": {"effort": "high", "summary": "auto"}, "tool_choice": "auto",
            "input": [
                {"type": "message", "id": "msg_a", "role": "developer",
                 "content": [{"type": "input_text", "text": "You are Codex."}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<env/>"},
                                                                {"type": "input_text", "text": "list files"}]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "I should run ls."}],
                 "encrypted_content": null},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running ls."}]},
                {"type": "function_call", "id": "fc_1", "call_id": call_id, "name": "exec_command",
                 "arguments": "{\"cmd\":\"ls\"}", "status": "completed"},
                {"type": "function_call", "call_id": "call_2", "name": "wait_agent", "namespace": "multi_agent_v1",
                 "arguments": "{}"},
                {"type": "function_call_output", "call_id": call_id, "output": "a.txt"},
                {"type": "function_call_output", "call_id": "call_2",
                 "output": [{"type": "input_text", "text": "done"}]},
            ],
            "tools": [
                {"type": "function", "name": "exec_command", "description": "Runs a command", "strict": false,
                 "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
                {"type": "namespace", "name": "multi_agent_v1", "description": "Sub-agents",
                 "tools": [{"type": "function", "name": "wait_agent", "parameters": {"type": "object"}}]},
                {"type": "web_search", "external_web_access": false},
            ],
        }),
        json!({
            "model": "kimi/k2",
            "messages": [
                {"role": "system", "content": "You are Codex."},
                {"role": "user", "content": "<env/>\n\nlist files"},
                {"role": "assistant", "content": "Running ls.", "reasoning_content": "I should run ls.",
                 "tool_calls": [
                    {"id": "functions.exec_command:0", "type": "function",
                     "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}},
                    {"id": "call_2", "type": "function",
                     "function": {"name": "multi_agent_v1__wait_agent", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "functions.exec_command:0", "content": "a.txt"},
                {"role": "tool", "tool_call_id": "call_2", "content": "done"},
            ],
            "tools": [
                {"type": "function", "function": {"name": "exec_command", "description": "Runs a command",
                 "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}, "strict": false}},
                {"type": "function", "function": {"name": "multi_agent_v1__wait_agent",
                 "parameters": {"type": "object"}}},
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "reasoning_effort": "high",
            "prompt_cache_key": "p",
        }),
    );
}

#[test]
fn raw_reasoning_text_wins_over_the_summary_and_each_answer_is_its_own_turn() {
    check(
        json!({"input": [
            {"role": "user", "content": "a"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "short"}],
             "content": [{"type": "reasoning_text", "text": "long"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "x"},
            {"type": "reasoning", "summary": []},
            {"type": "message", "role": "assistant", "content": "first"},
            {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
            {"role": "system", "content": "mid"},
        ]}),
        json!({"model": "kimi/k2", "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "", "reasoning_content": "long",
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "x"},
            {"role": "assistant", "content": "first\n\nno"},
            {"role": "system", "content": "mid"},
        ]}),
    );
}

/// Parallel calls' results come one after another, nothing between them
/// (chat refuses an assistant's calls answered out of turn): the images of
/// any of them follow the last, in one user message.
#[test]
fn the_images_of_parallel_tool_outputs_follow_the_last_of_them() {
    let call =
        |id: &str| json!({"type": "function_call", "call_id": id, "name": "f", "arguments": "{}"});
    let image = |url: &str| json!({"type": "input_image", "image_url": url});
    let chat_image = |url: &str| json!({"type": "image_url", "image_url": {"url": url}});
    check(
        json!({"input": [
            {"role": "user", "content": "look"},
            call("c1"), call("c2"), call("c3"),
            {"type": "function_call_output", "call_id": "c1",
             "output": [{"type": "input_text", "text": "one:"}, image("https://x/1.png")]},
            {"type": "function_call_output", "call_id": "c2", "output": "two"},
            {"type": "function_call_output", "call_id": "c3", "output": [image("https://x/3.png")]},
            {"role": "user", "content": "and?"},
        ]}),
        json!({"model": "kimi/k2", "messages": [
            {"role": "user", "content": "look"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "c3", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "one:"},
            {"role": "tool", "tool_call_id": "c2", "content": "two"},
            {"role": "tool", "tool_call_id": "c3", "content": ""},
            {"role": "user", "content": [chat_image("https://x/1.png"), chat_image("https://x/3.png")]},
            {"role": "user", "content": "and?"},
        ]}),
    );
    // Named by the output that holds the first of them.
    let body = json!({"input": [call("c1"), call("c2"),
        {"type": "function_call_output", "call_id": "c1", "output": "one"},
        {"type": "function_call_output", "call_id": "c2", "output": [image("https://x/2.png")]}]});
    let bytes = body.to_string();
    let read = Read::parse(bytes.as_bytes()).unwrap();
    let translated = read.translate(None).unwrap();
    assert_eq!(translated.first_image.as_deref(), Some("input[3].output"));
}

/// Narrowing the tools offered to those `allowed_tools` names takes time
/// in proportion to the two lists, not to their product: four times the
/// tools and names take about four times as long, not sixteen (a client's
/// 3 MB body of 40,000 of each held a worker for seconds).
#[test]
fn allowed_tools_are_narrowed_in_linear_time() {
    let body = |n: usize| {
        let tools: Vec<Value> = (0..n)
            .map(|i| json!({"type": "function", "name": format!("tool_{i}")}))
            .collect();
        let allowed: Vec<Value> = (0..n)
            .map(|i| json!({"type": "function", "name": format!("other_{i}")}))
            .chain([json!({"type": "function", "name": "tool_7"})])
            .collect();
        json!({"input": "hi", "tools": tools,
               "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": allowed}})
        .to_string()
    };
    let fastest = |body: &str| {
        (0..3)
            .map(|_| {
                let start = std::time::Instant::now();
                let read = Read::parse(body.as_bytes()).unwrap();
                let translated = read.translate(None).unwrap();
                std::hint::black_box(translated);
                start.elapsed()
            })
            .min()
            .unwrap()
    };
    let (small, large) = (body(4_000), body(16_000));
    let ratio = fastest(&large).as_secs_f64() / fastest(&small).as_secs_f64();
    assert!(ratio < 8.0, "4x the tools took {ratio:.1}x as long");
    let read = Read::parse(small.as_bytes()).unwrap();
    let chat: Value = serde_json::from_slice(&read.translate(None).unwrap().body).unwrap();
    assert_eq!(chat["tools"].as_array().unwrap().len(), 1, "tool_7 alone");
}

/// Members whose value asks for nothing are not named as dropped where
/// their row is: Codex's `include: []`, a plain text format.
#[test]
fn members_that_ask_for_nothing_are_not_named_as_dropped() {
    let dropped = |body: Value| {
        let bytes = body.to_string();
        let read = Read::parse(bytes.as_bytes()).unwrap();
        let translated = read.translate(None).unwrap();
        let names: Vec<String> = fields::dropped(&translated.seen, Api::AnthropicMessages, &[])
            .into_iter()
            .map(String::from)
            .collect();
        names
    };
    let nothing = json!({"input": "hi", "include": [], "text": {"format": {"type": "text"}}});
    assert_eq!(dropped(nothing), Vec::<String>::new());
    let something = json!({"input": "hi", "include": ["reasoning.encrypted_content"],
                           "text": {"format": {"type": "json_object"}}});
    assert_eq!(dropped(something), ["text.format", "include"]);
}

/// A body serde reads but with a value the scanner refuses, where serde
/// steps over it unchecked, is refused as chat and Messages refuse it:
/// read with no fate for its members, `prompt` went through and dropped
/// members went unnamed.
#[test]
fn a_value_serde_steps_over_unchecked_is_refused() {
    for odd in [r#""\ud800""#, "1e400"] {
        let body = format!(r#"{{"input":"hi","prompt":{{"id":"p"}},"metadata":{{"k":{odd}}}}}"#);
        let error = Read::parse(body.as_bytes()).err().expect(&body).to_string();
        assert!(error.contains("not valid JSON"), "{error}");
        assert!(ResponsesRequest::parse(body.as_bytes()).is_err(), "{body}");
    }
}

#[test]
fn images_are_image_url_parts_and_tool_output_images_follow_as_the_users() {
    check(
        json!({"input": [
            {"role": "user", "content": [{"type": "input_text", "text": "see"},
                                         {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "auto"}]},
            {"type": "function_call", "call_id": "c1", "name": "view_image", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1",
             "output": [{"type": "input_image", "image_url": "https://x/i.png"}]},
        ]}),
        json!({"model": "kimi/k2", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "see"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "auto"}}]},
            {"role": "assistant", "content": "",
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "view_image", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": ""},
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/i.png"}}]},
        ]}),
    );
}

#[test]
fn tool_choice_effort_and_text_format_take_their_chat_forms() {
    let tool = json!({"type": "function", "name": "f", "parameters": {"type": "object"}});
    let cases = [
        (
            json!({"tool_choice": "required"}),
            json!({"tool_choice": "required"}),
        ),
        (
            json!({"tool_choice": {"type": "function", "name": "f"}}),
            json!({"tool_choice": {"type": "function", "function": {"name": "f"}}}),
        ),
        (
            json!({"tool_choice": {"type": "allowed_tools", "mode": "required",
                "tools": [{"type": "function", "name": "f"}]}}),
            json!({"tool_choice": "required"}),
        ),
        (
            json!({"parallel_tool_calls": false}),
            json!({"parallel_tool_calls": false}),
        ),
        (
            json!({"reasoning": {"effort": "xhigh"}}),
            json!({"reasoning_effort": "xhigh"}),
        ),
        (
            json!({"reasoning": {"effort": "none"}}),
            json!({"reasoning_effort": "none"}),
        ),
        (
            json!({"reasoning": {"effort": "minimal"}}),
            json!({"reasoning_effort": "minimal"}),
        ),
        (json!({"reasoning": {"summary": "auto"}}), json!({})),
        (
            json!({"text": {"format": {"type": "text"}, "verbosity": "low"}}),
            json!({}),
        ),
        (
            json!({"text": {"format": {"type": "json_object"}}}),
            json!({"response_format": {"type": "json_object"}}),
        ),
        (
            json!({"text": {"format": {"type": "json_schema", "name": "answer", "strict": true,
                                       "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}}),
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
                   "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}}}),
        ),
    ];
    for (extra, expected_extra) in cases {
        let mut body = json!({"input": "hi", "tools": [tool]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (got, _) = translate(&body).unwrap();
        let mut expected = json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]});
        expected
            .as_object_mut()
            .unwrap()
            .extend(expected_extra.as_object().unwrap().clone());
        assert_eq!(got, expected, "{extra}");
    }
    // Without tools, tool_choice and parallel_tool_calls say nothing:
    // they are left to the rules, which take them away and name them.
    check(
        json!({"input": "hi", "tool_choice": "required", "parallel_tool_calls": false}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": "required", "parallel_tool_calls": false}),
    );
}

#[test]
fn what_a_stateless_bridge_cannot_serve_is_refused_with_what_to_do() {
    check_refused(
        json!({"input": "hi", "previous_response_id": "resp_1"}),
        "previous_response_id is not supported: clawgate stores no responses; send the whole conversation in `input`",
    );
    check_refused(
        json!({"input": "hi", "conversation": "conv_1"}),
        "conversation is not supported",
    );
    check_refused(
        json!({"input": "hi", "background": true}),
        "background is not supported",
    );
    check_refused(
        json!({"input": [{"type": "item_reference", "id": "msg_1"}]}),
        "input[0]: an item_reference (clawgate stores no items; send the item itself)",
    );
    check_refused(json!({"model": "m"}), "`input` is required");
    check_refused(
        json!({"input": []}),
        "`input` holds nothing to answer: send at least one message or item",
    );
    check_refused(
        json!({"input": [{"type": "web_search_call", "id": "ws_1"}]}),
        "`input` holds nothing to answer",
    );
}

#[test]
fn what_the_chain_cannot_carry_is_refused_by_name() {
    let cases = [
        (
            json!({"input": "hi", "tools": [{"type": "file_search", "vector_store_ids": []}]}),
            "tools[0]: a tool of type \"file_search\" (only `function`, `namespace` and `custom` tools are) is not supported",
        ),
        (
            json!({"input": "hi", "tools": [{"type": "custom", "name": "p", "format": {"type": "regex"}}]}),
            "tools[0].format: a custom tool format of type \"regex\"",
        ),
        (
            json!({"input": "hi", "tools": [{"type": "namespace", "name": "n", "tools": [{"type": "mcp"}]}]}),
            "tools[0].tools[0]: a tool of type \"mcp\"",
        ),
        (
            json!({"input": "hi", "tools": [{"type": "function"}]}),
            "tools[0]: a function tool needs a `name`",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}),
            "input[0]: a content part of type \"input_file\" is not supported: no provider clawgate speaks to takes it",
        ),
        (
            json!({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}),
            "input[0]: an input_image by file_id",
        ),
        (
            json!({"input": [{"type": "local_shell_call"}]}),
            "input[0]: an input item of type \"local_shell_call\"",
        ),
        (
            json!({"input": [{"role": "tool", "content": "x"}]}),
            "input[0]: a message's role must be",
        ),
        (
            json!({"input": [{"type": "function_call", "name": "f"}]}),
            "input[0]: a function_call needs a `call_id`",
        ),
        (
            json!({"input": "hi", "reasoning": {"effort": "max"}}),
            "reasoning.effort: must be none",
        ),
        (
            json!({"input": "hi", "text": {"format": {"type": "json_schema"}}}),
            "text.format: a json_schema format needs a `name`",
        ),
        (
            json!({"input": "hi", "text": {"format": {"type": "grammar"}}}),
            "text.format: a format of type \"grammar\"",
        ),
        (
            json!({"input": "hi", "tools": [{"type": "function", "name": "f"}],
                   "tool_choice": {"type": "web_search"}}),
            "tool_choice: a choice of type \"web_search\"",
        ),
    ];
    for (body, expected) in cases {
        check_refused(body, expected);
    }
}

fn completion(message: Value, finish: &str) -> Map<String, Value> {
    match json!({"id": "chatcmpl-1", "choices": [{"message": message, "finish_reason": finish}],
                 "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                           "prompt_tokens_details": {"cached_tokens": 4},
                           "completion_tokens_details": {"reasoning_tokens": 2}, "cost": 0.5}})
    {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

#[test]
fn a_whole_answer_becomes_a_response_with_items_in_order() {
    let mut names = ToolNames::default();
    names.add("multi_agent_v1", "multi_agent_v1__wait_agent");
    let answer = completion(
        json!({"role": "assistant", "content": "Listing.", "reasoning_content": "Think.",
               "tool_calls": [
                   {"id": "functions.exec_command:0", "type": "function",
                    "function": {"name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"}},
                   {"type": "function", "function": {"name": "multi_agent_v1__wait_agent", "arguments": ""}}]}),
        "tool_calls",
    );
    let out = answered(&answer, "kimi/k2", &names);
    assert_eq!(
        out,
        json!({
            "id": "resp_1", "object": "response", "created_at": 1700000000, "status": "completed",
            "model": "kimi/k2",
            "output": [
                {"type": "reasoning", "id": "rs_0badcafe_0", "summary": [{"type": "summary_text", "text": "Think."}]},
                {"type": "message", "id": "msg_0badcafe_1", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Listing.", "annotations": []}]},
                {"type": "function_call", "id": "fc_0badcafe_2", "status": "completed",
                 "call_id": ids::encode(Some("functions.exec_command:0"), 0, Nonce(0x0badcafe)),
                 "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
                {"type": "function_call", "id": "fc_0badcafe_3", "status": "completed",
                 "call_id": "toolu_clawgate_0badcafe_1", "name": "wait_agent", "namespace": "multi_agent_v1",
                 "arguments": "{}"},
            ],
            "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5,
                      "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 15, "cost": 0.5},
            "error": null, "incomplete_details": null, "parallel_tool_calls": true, "tool_choice": "auto",
            "tools": [], "store": false,
        })
    );
    // The replayed call id gives the provider its own id back.
    assert_eq!(
        ids::decode(out["output"][2]["call_id"].as_str().unwrap()),
        "functions.exec_command:0"
    );
}

#[test]
fn a_cut_answer_is_incomplete_and_an_empty_one_has_an_empty_message() {
    let out = response(
        &completion(json!({"content": ""}), "length"),
        "m",
        &identity(),
        &ToolNames::default(),
        &Echo::default(),
    );
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["status"], "incomplete");
    assert_eq!(
        out["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(out["output"][0]["content"][0]["text"], "");
    // The item the answer was cut in is incomplete; those before it are not.
    assert_eq!(out["output"][0]["status"], "incomplete");
    let out = response(
        &completion(
            json!({"content": "Let me look.", "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{\"a\": "}}]}),
            "length",
        ),
        "m",
        &identity(),
        &ToolNames::default(),
        &Echo::default(),
    );
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(out["output"][0]["status"], "completed");
    assert_eq!(out["output"][1]["type"], "function_call");
    assert_eq!(out["output"][1]["status"], "incomplete");
}

/// OpenAI's refusal reaches a Responses client as the message's
/// `refusal` part, streamed (`response.refusal.delta` and `.done`) or
/// whole (it used to reach it as nothing: an empty answer).
#[test]
fn a_refusal_is_a_refusal_part() {
    let events = streamed(&[
        json!({"id": "c", "choices": [{"delta": {"role": "assistant", "refusal": "I can't "}}]}),
        json!({"choices": [{"delta": {"refusal": "help."}, "finish_reason": "stop"}]}),
    ]);
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let refusal = json!({"type": "refusal", "refusal": "I can't help."});
    let done = serde_json::to_value(&events[6]).unwrap();
    assert_eq!(done["refusal"], "I can't help.");
    let completed = serde_json::to_value(&events[9]).unwrap();
    assert_eq!(
        completed["response"]["output"][0]["content"],
        json!([refusal])
    );
    let whole = response(
        &completion(json!({"content": null, "refusal": "I can't help."}), "stop"),
        "m",
        &identity(),
        &ToolNames::default(),
        &Echo::default(),
    );
    let whole = serde_json::to_value(whole).unwrap();
    assert_eq!(whole["output"][0]["content"], json!([refusal]));
    // Beside text, a message of its own, as a stream gives it.
    let both = response(
        &completion(
            json!({"content": "Well.", "refusal": "I can't help."}),
            "stop",
        ),
        "m",
        &identity(),
        &ToolNames::default(),
        &Echo::default(),
    );
    let both = serde_json::to_value(both).unwrap();
    assert_eq!(both["output"][0]["content"][0]["text"], "Well.");
    assert_eq!(both["output"][1]["content"], json!([refusal]));
    assert_ne!(both["output"][0]["id"], both["output"][1]["id"]);
}

fn sse(chunks: &[Value]) -> Vec<u8> {
    let mut out = String::new();
    for chunk in chunks {
        out.push_str(&format!("data: {chunk}\n\n"));
    }
    out.into_bytes()
}

fn names(events: &[StreamEvent]) -> Vec<&'static str> {
    events.iter().map(StreamEvent::name).collect()
}

fn encoder() -> ResponseEncoder {
    ResponseEncoder::new("kimi/k2", identity(), ToolNames::default(), Echo::default())
}

/// The events of a whole stream of `chunks`, ended by `[DONE]`.
fn streamed(chunks: &[Value]) -> Vec<StreamEvent> {
    let mut encoder = encoder();
    let mut events = encoder.frame(&sse(chunks));
    events.extend(encoder.frame(b"data: [DONE]\n\n"));
    events
}

#[test]
fn a_stream_is_the_exact_event_sequence_codex_parses() {
    let mut encoder = encoder();
    let mut events = encoder.frame(&sse(&[
        json!({"id": "c", "choices": [{"delta": {"role": "assistant"}}]}),
        json!({"choices": [{"delta": {"reasoning_content": "Th"}}]}),
        json!({"choices": [{"delta": {"reasoning_content": "ink."}}]}),
        json!({"choices": [{"delta": {"content": "Hel"}}]}),
    ]));
    events.extend(encoder.frame(b": keep-alive\n\n"));
    events.extend(encoder.frame(&sse(&[
        json!({"choices": [{"delta": {"content": "lo", "tool_calls": [
            {"index": 0, "id": "functions.f:0", "function": {"name": "f", "arguments": "{\"a\""}}]}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "g", "arguments": ""}}]}}]}),
        json!({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}, "finish_reason": "tool_calls"}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 3}, "cost": 0.25}}),
    ])));
    events.extend(encoder.frame(b"data: [DONE]\n\n"));
    assert_eq!(
        names(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert!(encoder.is_finished());
    let value = |i: usize| serde_json::to_value(&events[i]).unwrap();
    assert_eq!(value(0)["response"]["status"], "in_progress");
    assert_eq!(value(0)["response"]["id"], "resp_1");
    assert_eq!(
        value(2)["item"],
        json!({"type": "reasoning", "id": "rs_0badcafe_0", "summary": []})
    );
    assert_eq!(value(11)["item_id"], "msg_0badcafe_1");
    assert_eq!(value(11)["output_index"], 1);
    assert_eq!(
        value(16)["item"],
        json!({"type": "function_call", "id": "fc_0badcafe_2", "status": "in_progress",
               "call_id": ids::encode(Some("functions.f:0"), 0, Nonce(0x0badcafe)), "name": "f", "arguments": ""})
    );
    assert_eq!(value(17)["delta"], "{\"a\":1}");
    assert_eq!(value(23)["item"]["arguments"], "{}");
    let completed = value(24);
    assert_eq!(completed["response"]["status"], "completed");
    assert_eq!(completed["response"]["output"].as_array().unwrap().len(), 4);
    assert_eq!(
        completed["response"]["output"][1]["content"][0]["text"],
        "Hello"
    );
    assert_eq!(
        completed["response"]["usage"],
        json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 3},
               "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15,
               "cost": 0.25})
    );
    // Nothing after the end.
    assert!(encoder.frame(b"data: [DONE]\n\n").is_empty());
}

#[test]
fn failures_after_the_start_carry_the_codes_codex_knows() {
    let cases = [
        (
            json!({"message": "kimi/k2: the provider reported: Your request exceeded model token limit: 262144 (requested: 262200)", "code": "upstream_error"}),
            "context_length_exceeded",
        ),
        (
            json!({"message": "the provider reported: rate limit reached", "code": "upstream_error"}),
            "rate_limit_exceeded",
        ),
        (
            json!({"message": "the provider reported: insufficient balance on your account", "code": "upstream_error"}),
            "insufficient_quota",
        ),
        (
            json!({"message": "the upstream stream was silent for 30s", "code": "stream_timeout"}),
            "server_error",
        ),
    ];
    for (error, code) in cases {
        let mut encoder = encoder();
        let mut events = encoder.frame(&sse(&[
            json!({"choices": [{"delta": {"content": "partial"}}]}),
        ]));
        events.extend(encoder.frame(&sse(&[json!({ "error": error })])));
        let last = serde_json::to_value(events.last().unwrap()).unwrap();
        assert_eq!(last["type"], "response.failed", "{error}");
        assert_eq!(last["response"]["status"], "failed");
        assert_eq!(last["response"]["error"]["code"], code, "{error}");
        assert_eq!(last["response"]["error"]["message"], error["message"]);
        assert!(encoder.is_finished());
    }
    let mut encoder = encoder();
    encoder.frame(&sse(&[json!({"choices": [{"delta": {"content": "a"}}]})]));
    let events = encoder.cut_off();
    assert_eq!(names(&events), ["response.failed"]);
    assert!(encoder.cut_off().is_empty());
}

/// Calls that each start anew (a new id) with a long name, or that only
/// ever start, are held too: their names and ids count, and their number
/// is bounded.
#[test]
fn held_tool_calls_are_bounded_by_their_ids_and_names_and_their_number() {
    let ending = |name: &str, calls: usize| {
        let mut encoder = encoder();
        for n in 0..calls {
            let call = json!({"index": 0, "id": format!("c{n}"), "type": "function",
                              "function": {"name": name, "arguments": ""}});
            let chunk = json!({"choices": [{"delta": {"tool_calls": [call]}}]});
            let events = encoder.frame(&sse(&[chunk]));
            let last = events.last().map(|e| serde_json::to_value(e).unwrap());
            if let Some(last) = last.filter(|last| last["type"] == "response.failed") {
                assert!(encoder.is_finished());
                return Some((n, last["response"]["error"]["message"].to_string()));
            }
        }
        None
    };
    let megabyte = "n".repeat(1024 * 1024);
    let (at, message) = ending(&megabyte, 40).expect("ended by the bytes held");
    // The 32nd name, with the ids, passes 32 MiB.
    assert_eq!(at + 1, MAX_HELD_BYTES / megabyte.len());
    assert!(message.contains("larger than"), "{message}");
    let (at, message) = ending("run", 200).expect("ended by the number of calls");
    assert_eq!(at, crate::translate::held_calls::MAX_HELD_CALLS);
    assert!(message.contains("more than 128 tool calls"), "{message}");
}

/// Reasoning and text that alternate byte by byte open an item each: the
/// items count toward the bound, not only their one-byte texts.
#[test]
fn items_of_one_byte_each_count_their_ids_and_structure_toward_the_held_bound() {
    let mut encoder = encoder();
    // An item costs at least 150 bytes of ids and structure.
    for delta in 0..MAX_HELD_BYTES / 150 {
        let mut events = Vec::new();
        match delta % 2 {
            0 => encoder.reasoning("r", &mut events),
            _ => encoder.text("t", &mut events),
        }
        if encoder.is_finished() {
            return;
        }
    }
    panic!("the stream goes on past the bound");
}

#[test]
fn absurd_token_counts_saturate_in_the_total() {
    let usage = Usage {
        input: u64::MAX,
        output: 5,
        ..Usage::default()
    };
    assert_eq!(usage_out(&usage).total_tokens, u64::MAX);
}

#[test]
fn a_stream_cut_at_the_output_limit_is_incomplete() {
    let events =
        streamed(&[json!({"choices": [{"delta": {"content": "a"}, "finish_reason": "length"}]})]);
    let last = serde_json::to_value(events.last().unwrap()).unwrap();
    assert_eq!(last["type"], "response.incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    // The message it was cut in is incomplete, as it is done and in the
    // response's output.
    let done = (events.iter().rev())
        .map(|e| serde_json::to_value(e).unwrap())
        .find(|e| e["type"] == "response.output_item.done")
        .unwrap();
    assert_eq!(done["item"]["status"], "incomplete");
    assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    // A stream that ends as it should has its items completed.
    let events =
        streamed(&[json!({"choices": [{"delta": {"content": "a"}, "finish_reason": "stop"}]})]);
    let last = serde_json::to_value(events.last().unwrap()).unwrap();
    assert_eq!(last["response"]["output"][0]["status"], "completed");
}

#[test]
fn namespaced_names_split_back_only_for_offered_namespaces() {
    let mut names = ToolNames::default();
    names.add("ns", "ns__tool");
    assert_eq!(names.split("ns__tool"), ("tool".into(), Some("ns".into())));
    assert_eq!(names.split("ns__other"), ("ns__other".into(), None));
    assert_eq!(names.split("plain"), ("plain".into(), None));
    let (_, names) = translate(&json!({"input": "x", "tools": [
        {"type": "namespace", "name": "a", "tools": [{"type": "function", "name": "b"}]}]}))
    .unwrap();
    assert_eq!(names.split("a__b"), ("b".into(), Some("a".into())));
}

/// A namespace's function is chosen and allowed as its calls name it (its
/// `name` and `namespace`), and a namespace is allowed whole; two tools
/// the provider would see under one name are refused, as is an
/// `allowed_tools` mode that is neither `auto` nor `required`.
#[test]
fn a_namespaces_functions_are_chosen_and_allowed_by_namespace() {
    let tools = json!([
        {"type": "function", "name": "g", "parameters": {"type": "object"}},
        {"type": "namespace", "name": "ns", "tools": [
            {"type": "function", "name": "f", "parameters": {"type": "object"}},
            {"type": "function", "name": "h", "parameters": {"type": "object"}}]}]);
    let offered = |got: &Value| -> Vec<String> {
        (got["tools"].as_array().into_iter().flatten())
            .map(|tool| tool["function"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (got, _) = translate(&json!({"input": "x", "tools": tools,
        "tool_choice": {"type": "function", "name": "f", "namespace": "ns"}}))
    .unwrap();
    assert_eq!(
        got["tool_choice"],
        json!({"type": "function", "function": {"name": "ns__f"}})
    );
    for (allowed, expected) in [
        (
            json!([{"type": "function", "name": "f", "namespace": "ns"}]),
            vec!["ns__f"],
        ),
        (
            json!([{"type": "namespace", "name": "ns"}]),
            vec!["ns__f", "ns__h"],
        ),
        (json!([{"type": "function", "name": "g"}]), vec!["g"]),
    ] {
        let (got, _) = translate(&json!({"input": "x", "tools": tools, "tool_choice":
            {"type": "allowed_tools", "mode": "required", "tools": allowed}}))
        .unwrap();
        assert_eq!(offered(&got), expected, "{allowed}");
        assert_eq!(got["tool_choice"], "required");
    }
    for mode in [json!("none"), json!("bogus"), Value::Null] {
        let refused = translate(&json!({"input": "x", "tools": tools, "tool_choice":
            {"type": "allowed_tools", "mode": mode, "tools": [{"type": "function", "name": "g"}]}}))
        .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "tool_choice.mode: an allowed_tools choice's mode is `auto` or `required`"
        );
    }
    for same in [
        json!({"type": "function", "name": "ns__f", "parameters": {"type": "object"}}),
        json!({"type": "custom", "name": "g"}),
    ] {
        let mut tools = tools.as_array().unwrap().clone();
        tools.push(same);
        let refused = translate(&json!({"input": "x", "tools": tools})).unwrap_err();
        assert!(
            refused.to_string().starts_with("tools[2]: \"")
                && refused
                    .to_string()
                    .contains("is the name of another tool too"),
            "{refused}"
        );
    }
}

/// Codex's `apply_patch` for the models it knows: a `custom` tool with a
/// grammar, offered as a function of one string; its call comes back as a
/// `custom_tool_call` with the input, and is replayed as that function's
/// call. `tool_search` is left out.
#[test]
fn custom_tools_travel_as_a_function_of_one_string() {
    let (got, tool_names) = translate(&json!({"input": [
        {"role": "user", "content": "patch it"},
        {"type": "custom_tool_call", "call_id": "c1", "name": "apply_patch", "input": "*** Begin Patch\n*** End Patch\n"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "Success."},
    ], "tools": [
        {"type": "custom", "name": "apply_patch", "description": "Edit files.",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: begin_patch"}},
        {"type": "custom", "name": "note"},
        {"type": "tool_search", "execution": "client", "parameters": {"type": "object"}},
    ]}))
    .unwrap();
    let parameters = json!({"type": "object", "properties": {"input": {"type": "string",
        "description": "The tool's whole input, as free-form text"}}, "required": ["input"],
        "additionalProperties": false});
    assert_eq!(
        got,
        json!({"model": "kimi/k2", "messages": [
            {"role": "user", "content": "patch it"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function":
                {"name": "apply_patch", "arguments": "{\"input\":\"*** Begin Patch\\n*** End Patch\\n\"}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "Success."},
        ], "tools": [
            {"type": "function", "function": {"name": "apply_patch", "parameters": parameters,
             "description": "Edit files.\n\nPass the whole input as the string argument `input`; it must follow this lark grammar:\nstart: begin_patch"}},
            {"type": "function", "function": {"name": "note", "parameters": parameters,
             "description": "Pass the whole input as the string argument `input`."}},
        ]})
    );
    let answer = completion(
        json!({"content": null, "tool_calls": [
            {"id": "functions.apply_patch:0", "type": "function",
             "function": {"name": "apply_patch", "arguments": "{\"input\": \"*** Begin Patch\\n\"}"}},
            {"id": "functions.note:1", "type": "function", "function": {"name": "note", "arguments": "bare text"}},
            // Arguments of another shape are the input as the model wrote it.
            {"id": "functions.note:2", "type": "function", "function": {"name": "note", "arguments": "{\"patch\": \"p\"}"}},
            {"id": "functions.note:3", "type": "function", "function": {"name": "note", "arguments": "{\"input\": \"i\", \"more\": 1}"}}]}),
        "tool_calls",
    );
    let out = answered(&answer, "m", &tool_names);
    assert_eq!(
        out["output"],
        json!([
            {"type": "custom_tool_call", "id": "fc_0badcafe_0",
             "call_id": ids::encode(Some("functions.apply_patch:0"), 0, Nonce(0x0badcafe)),
             "name": "apply_patch", "input": "*** Begin Patch\n"},
            {"type": "custom_tool_call", "id": "fc_0badcafe_1",
             "call_id": ids::encode(Some("functions.note:1"), 1, Nonce(0x0badcafe)),
             "name": "note", "input": "bare text"},
            {"type": "custom_tool_call", "id": "fc_0badcafe_2",
             "call_id": ids::encode(Some("functions.note:2"), 2, Nonce(0x0badcafe)),
             "name": "note", "input": "{\"patch\": \"p\"}"},
            {"type": "custom_tool_call", "id": "fc_0badcafe_3",
             "call_id": ids::encode(Some("functions.note:3"), 3, Nonce(0x0badcafe)),
             "name": "note", "input": "{\"input\": \"i\", \"more\": 1}"},
        ])
    );
    let mut encoder = ResponseEncoder::new("m", identity(), tool_names, Echo::default());
    let mut events = encoder.frame(&sse(&[json!({"choices": [{"delta": {"tool_calls": [
        {"index": 0, "id": "functions.apply_patch:0",
         "function": {"name": "apply_patch", "arguments": "{\"input\": \"x\"}"}}]}}]})]));
    events.extend(encoder.frame(b"data: [DONE]\n\n"));
    assert_eq!(
        names(&events).join(" "),
        "response.created response.in_progress response.output_item.added \
         response.custom_tool_call_input.delta response.custom_tool_call_input.done \
         response.output_item.done response.completed"
    );
    assert_eq!(
        serde_json::to_value(&events[5]).unwrap()["item"]["input"],
        "x"
    );
    // A choice naming a custom tool names the function it is offered as.
    let (got, _) = translate(&json!({"input": "patch it",
        "tools": [{"type": "custom", "name": "apply_patch"}],
        "tool_choice": {"type": "custom", "name": "apply_patch"}}))
    .unwrap();
    assert_eq!(
        got["tool_choice"],
        json!({"type": "function", "function": {"name": "apply_patch"}})
    );
}

/// Where the input first holds an image is named in the client's own
/// terms: the item, and its `content` or a tool output's `output`; the
/// chat form's messages (the instructions first) are numbered otherwise.
#[test]
fn the_first_image_is_named_by_its_input_item() {
    let image = json!({"type": "input_image", "image_url": "data:image/png;base64,AA=="});
    let place = |input: Value| {
        let body = json!({"instructions": "be brief", "input": input}).to_string();
        let read = Read::parse(body.as_bytes()).unwrap();
        read.translate(None).unwrap().first_image
    };
    let user = |content: Value| json!({"role": "user", "content": content});
    assert_eq!(place(json!([user(json!("hello"))])), None);
    assert_eq!(
        place(json!([user(json!("hello")), user(json!([image, image]))])),
        Some("input[1].content".to_string())
    );
    let call = json!({"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"});
    let output = json!({"type": "function_call_output", "call_id": "c1", "output": [
        {"type": "input_text", "text": "a chart"}, image]});
    assert_eq!(
        place(json!([
            user(json!("hello")),
            call,
            output,
            user(json!([image]))
        ])),
        Some("input[2].output".to_string())
    );
}

/// A text part without its text would be sent as an empty text, which the
/// Anthropic transport leaves out, its message with it: refused, named.
#[test]
fn a_text_part_without_its_text_is_refused() {
    for part in [json!({"type": "input_text"}), json!({"type": "refusal"})] {
        let body = json!({"input": [{"role": "user", "content": [part]}]});
        check_refused(body, "input[0]: a ");
    }
}
