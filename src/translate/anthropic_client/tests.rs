//! Table tests: Anthropic request in, OpenAI request out; OpenAI answer in,
//! Anthropic message or events out.

use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::*;
use crate::ops::scrub::Scrubber;
use crate::translate::held_calls::MAX_HELD_CALLS;
use crate::translate::ids::{self, Nonce};
use crate::wire::anthropic::{
    BlockOut, Delta, EventKind, MessageOut, MessagesRequest, StreamEvent,
};
use crate::wire::facts::Facts;

const NONCE: Nonce = Nonce(0x0badcafe);

/// `anthropic` translated, the same bytes whether read whole or member by
/// member ([`Read`]), the first time and again.
fn translated(anthropic: &Value, model: Option<&str>) -> Result<Vec<u8>, TranslateError> {
    let body = anthropic.to_string();
    let parsed = MessagesRequest::parse(body.as_bytes()).unwrap();
    let whole = request(&parsed, model);
    for _ in 0..2 {
        let read = Read::parse(body.as_bytes()).unwrap();
        let body = read.translate(model).map(|(body, _, _)| body);
        assert_eq!(body, whole, "\nfrom {anthropic:#}");
    }
    whole
}

fn check(anthropic: Value, expected: Value) {
    let got: Value =
        serde_json::from_slice(&translated(&anthropic, Some("kimi/k2")).unwrap()).unwrap();
    assert_eq!(got, expected, "\nfrom {anthropic:#}");
}

fn check_refused(anthropic: Value, expected: &str) {
    let err = translated(&anthropic, None).unwrap_err();
    assert!(err.to_string().contains(expected), "{err}");
}

/// A Messages body's facts, noted as it is read, are those its chat form
/// gives once written: the settings, each turn, where a cache mark can
/// stand and a replayed turn's calls; they are the same whether that form
/// is written at once or later, and it is written only when asked for.
#[test]
fn a_messages_bodys_facts_are_its_chat_forms() {
    let golden = include_str!("../../../tests/golden/requests/messages.json");
    let mut golden: Value = serde_json::from_str(golden).unwrap();
    // What its rows refuse, which no request reaches a target with.
    let object = golden.as_object_mut().unwrap();
    for refused in ["container", "mcp_servers"] {
        object.remove(refused);
    }
    let turns = json!([
        {"role": "user", "content": [{"type": "text", "text": "read both"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a"}},
            {"type": "tool_use", "id": "toolu_2", "name": "read", "input": null}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "A"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "", "is_error": true},
            {"type": "text", "text": "", "cache_control": {"type": "ephemeral"}}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "again", "signature": "s"},
            {"type": "tool_use", "id": "toolu_3", "name": "read", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_3",
            "content": [{"type": "text", "text": "B"}]}]}
    ]);
    let bodies = [
        golden,
        json!({"model": "m", "max_tokens": 100, "messages": turns, "temperature": 0.2,
            "tools": [{"name": "read", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"}, "metadata": {"user_id": "u"},
            "thinking": {"type": "enabled", "budget_tokens": 2048}}),
        json!({"max_tokens": 1, "stream": false, "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}]}),
    ];
    for body in bodies {
        let bytes = Bytes::from(serde_json::to_vec(&body).unwrap());
        let request = |when| {
            let read = Read::parse(&bytes).unwrap();
            let model = read.request.model.clone();
            (read.into_request(model, bytes.clone(), Default::default(), when)).unwrap()
        };
        let (request, at_once) = (request(ChatForm::WhenAsked), request(ChatForm::Now));
        let facts = request.facts();
        assert!(!request.chat_written(), "read without its chat form");
        // Noted alike whenever the chat form is written.
        let noted = at_once.facts();
        assert_eq!(noted.messages(), facts.messages());
        for index in 0..facts.messages().len() {
            assert_eq!(noted.message_hash(index), facts.message_hash(index));
            assert_eq!(noted.content_hash(index), facts.content_hash(index));
            assert_eq!(noted.calls(index), facts.calls(index));
        }
        assert_eq!(noted.bytes(), facts.bytes());
        let chat = request.chat();
        assert_eq!(facts.model(), chat.model());
        assert_eq!(facts.stream(), chat.stream);
        assert_eq!(facts.wants_usage(), chat.wants_usage());
        assert_eq!(facts.messages(), chat.messages());
        assert_eq!(facts.bytes(), &bytes[..], "the client's own bytes");
        let keys: Vec<&str> = chat.entries().map(|(key, _)| key).collect();
        for (key, raw) in chat.entries().filter(|(key, _)| *key != "messages") {
            assert_eq!(facts.raw(key), Some(raw), "{key}");
        }
        for key in ["tools", "tool_choice", "reasoning_effort", "stop", "user"] {
            assert_eq!(facts.contains(key), keys.contains(&key), "{key}");
        }
        for index in 0..chat.messages().len() {
            assert_eq!(
                facts.holds_cache_mark(index),
                chat.holds_cache_mark(index),
                "{index}"
            );
            if !chat.messages()[index].has_reasoning_content {
                assert_eq!(facts.calls(index), Facts::calls(chat, index), "{index}");
            }
        }
    }
}

/// The member-by-member reader takes what the whole body's reader takes
/// and refuses what it refuses, however deep a member is nested (a
/// member stepped over, as `tool_choice`'s unknown ones are, is stepped
/// over without recursion by both).
#[test]
fn nesting_is_read_alike_by_both_readers() {
    let body = |levels: usize| {
        format!(
            r#"{{"messages":[{{"role":"user","content":"hi"}}],"tool_choice":{{"type":"auto","x":{}{}}}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    for levels in [120, 126, 1000] {
        let body = body(levels);
        assert_eq!(
            MessagesRequest::parse(body.as_bytes()).is_ok(),
            Read::parse(body.as_bytes()).is_ok(),
            "{levels}"
        );
    }
    let read = Read::parse(body(1000).as_bytes()).unwrap();
    assert_eq!(read.request.tool_choice.unwrap().unknown, ["x".into()]);
    // Where its members lie cannot be found, so it could not go on to a
    // target that speaks Messages: the request is refused, saying why.
    let request = |levels: usize| {
        let read = Read::parse(body(levels).as_bytes()).unwrap();
        read.into_request(None, body(levels).into(), Default::default(), ChatForm::Now)
    };
    let refused = request(1000).unwrap_err();
    assert!(
        refused.starts_with(
            "invalid Messages request: the body cannot be read member by member: nested too deeply at byte"
        ),
        "{refused}"
    );
    assert!(request(120).unwrap().messages_body.is_some());
    // Bytes its reading's layout does not fit are read again.
    let mut read = Read::parse(body(120).as_bytes()).unwrap();
    let short = Bytes::from(r#"{"messages":[]}"#);
    let original = read.original(short.clone()).unwrap();
    assert_eq!(original.members().len(), 1);
}

/// Claude Code's system prompt and tools, long enough to be remembered:
/// the second turn translates from what the first one left, to the same
/// bytes, and a changed byte in either is translated anew; what serde
/// refuses in them is refused with its path, remembered or not.
#[test]
fn a_repeated_system_prompt_and_tools_translate_as_the_first_time() {
    let long = "Use the tools with care. ".repeat(60);
    // Claude Code's attribution line changes on every turn.
    let turn = |system: &str, description: &str, question: &str| {
        let header = format!("x-anthropic-billing-header: cch={};", question.len());
        json!({"model": "claude-x", "max_tokens": 10, "stream": true,
               "system": [{"type": "text", "text": header},
                          {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
               "tools": [{"name": "Bash", "description": description,
                          "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}},
                         {"type": "web_search_20250305", "name": "web_search"}],
               "tool_choice": {"type": "auto"},
               "messages": [{"role": "user", "content": question}]})
    };
    let first = translated(&turn(&long, &long, "hi"), None).unwrap();
    let again = translated(&turn(&long, &long, "and now?"), None).unwrap();
    let first: Value = serde_json::from_slice(&first).unwrap();
    let again: Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(first["tools"], again["tools"]);
    assert_eq!(first["messages"][0], again["messages"][0]);
    assert_eq!(again["messages"][0]["content"], json!(long));
    assert_eq!(again["tools"][0]["function"]["description"], json!(long));
    // A first block that is more than the attribution line is translated.
    let mut more = turn(&long, &long, "hi");
    more["system"][0]["text"] = json!("x-anthropic-billing-header: cch=1;\nKeep this.");
    let more: Value = serde_json::from_slice(&translated(&more, None).unwrap()).unwrap();
    assert_eq!(
        more["messages"][0]["content"],
        json!(format!("Keep this.\n\n{long}"))
    );
    assert_eq!(again["tool_choice"], json!("auto"));
    assert_eq!(again["messages"][1]["content"], json!("and now?"));
    // One byte changed in each: translated anew.
    let changed = format!("{long}!");
    let other: Value =
        serde_json::from_slice(&translated(&turn(&changed, &changed, "hi"), None).unwrap())
            .unwrap();
    assert_eq!(other["messages"][0]["content"], json!(changed));
    assert_eq!(other["tools"][0]["function"]["description"], json!(changed));
    // Refused with the path, also after the same texts were remembered.
    let mut bad = turn(&long, &long, "hi");
    bad["tools"][0]["name"] = json!(5);
    for _ in 0..2 {
        let err = Read::parse(bad.to_string().as_bytes()).err().unwrap();
        assert!(err.to_string().contains("tools[0].name"), "{err}");
    }
    let mut bad = turn(&long, &long, "hi");
    bad["system"][1]["text"] = json!(["not text"]);
    let err = Read::parse(bad.to_string().as_bytes()).err().unwrap();
    assert!(err.to_string().contains("system"), "{err}");
    let mut twice = turn(&long, &long, "hi").to_string();
    twice.insert_str(1, r#""tools": [], "#);
    let err = Read::parse(twice.as_bytes()).err().unwrap();
    assert!(err.to_string().contains("duplicate field `tools`"), "{err}");
}

#[test]
fn a_plain_request_keeps_its_sampling_and_drops_what_kimi_cannot_take() {
    check(
        json!({"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}],
               "temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"],
               "metadata": {"user_id": "u"}, "context_management": {"edits": []}, "stream": false}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100,
               "stop": ["END"], "temperature": 0.5, "top_p": 0.9, "user": "u"}),
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
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: no"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                {"type": "text", "text": "go on"}]}]}),
    );
}

#[test]
fn texts_with_escapes_are_joined_and_passed_as_the_client_wrote_them() {
    // Texts reach the provider as the client's JSON text: quotes, control
    // characters, non-ASCII and backslashes must survive joins, the
    // "Error: " prefix and reasoning.
    let odd = "say \"hi\"\n\ttab \\ back \u{1} é 😀 </script>";
    check(
        json!({"system": [{"type": "text", "text": odd}, {"type": "text", "text": ""}, {"type": "text", "text": odd}],
               "messages": [
                {"role": "user", "content": [{"type": "text", "text": odd}, {"type": "text", "text": odd}]},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": odd}, {"type": "thinking", "thinking": "b"},
                    {"type": "text", "text": odd},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true, "content": odd},
                    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": odd}}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": ""}, {"type": "text", "text": "ok"}]}]}),
        json!({"model": "kimi/k2", "messages": [
                {"role": "system", "content": format!("{odd}\n\n{odd}")},
                {"role": "user", "content": format!("{odd}\n\n{odd}")},
                {"role": "assistant", "content": odd, "reasoning_content": format!("{odd}\n\nb"), "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": format!("Error: {odd}")},
                {"role": "user", "content": odd},
                {"role": "assistant", "content": "ok"}]}),
    );
}

#[test]
fn a_plain_string_system_prompt_loses_its_billing_header_line() {
    check(
        json!({"system": "x-anthropic-billing-header: cc_version=2.1; cch=abc;\nYou are Claude Code.",
               "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "kimi/k2", "messages": [
                {"role": "system", "content": "You are Claude Code."},
                {"role": "user", "content": "hi"}]}),
    );
}

#[test]
fn server_tool_blocks_of_a_conversation_begun_on_claude_are_left_out() {
    check(
        json!({"messages": [
            {"role": "user", "content": "news?"},
            {"role": "assistant", "content": [
                {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "news"}},
                {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
                {"type": "text", "text": "Nothing new."}]},
            {"role": "user", "content": "ok"}]}),
        json!({"model": "kimi/k2", "messages": [
            {"role": "user", "content": "news?"},
            {"role": "assistant", "content": "Nothing new."},
            {"role": "user", "content": "ok"}]}),
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
        (json!({"type": "adaptive"}), Some("max"), Some("xhigh")),
        (json!({"type": "adaptive"}), Some("xhigh"), Some("xhigh")),
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

/// An effort the Messages API does not define is refused, named: it
/// would reach no provider as asked.
#[test]
fn an_effort_the_api_does_not_define_is_refused() {
    for effort in ["minimal", "none", "HIGH", ""] {
        let body = json!({"messages": [{"role": "user", "content": "x"}],
            "output_config": {"effort": effort}});
        let err = translated(&body, None).unwrap_err().to_string();
        assert!(
            err.contains("`output_config.effort` must be"),
            "{effort:?}: {err}"
        );
    }
}

/// Structured output: `output_config.format`'s schema as the chat
/// `response_format` (named, as chat requires; strict, as Anthropic's
/// structured outputs are), and a tool's `strict` on its function. A
/// format of a kind the API does not document is named as an unknown
/// member is, never lost in silence.
#[test]
fn structured_output_and_strict_tools_reach_a_chat_provider() {
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    check(
        json!({"messages": [{"role": "user", "content": "x"}],
               "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": schema}},
               "tools": [{"name": "Bash", "input_schema": {"type": "object"}, "strict": true}]}),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "x"}],
               "tools": [{"type": "function", "function": {"name": "Bash",
                   "parameters": {"type": "object"}, "strict": true}}],
               "reasoning_effort": "low",
               "response_format": {"type": "json_schema",
                   "json_schema": {"name": "output", "schema": schema, "strict": true}}}),
    );
    let odd = json!({"messages": [{"role": "user", "content": "x"}],
                     "output_config": {"format": {"type": "xml"}}});
    check(
        odd.clone(),
        json!({"model": "kimi/k2", "messages": [{"role": "user", "content": "x"}]}),
    );
    let (_, seen, _) = Read::parse(odd.to_string().as_bytes())
        .unwrap()
        .translate(None)
        .unwrap();
    assert_eq!(
        seen.unknown(),
        [r#"output_config.format of type "xml""#.into()]
    );
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
        "messages[0]: document blocks (PDF or file) are not supported by clawgate: send the document's text as a text block",
    );
    check_refused(
        json!({"messages": [{"role": "user", "content": [{"type": "search_result"}]}]}),
        "messages[0]: a block of type \"search_result\" is not supported by clawgate: send text, image",
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
        NONCE,
    );
    assert_eq!(
        serde_json::to_value(&got).unwrap(),
        json!({"id": "msg_chatcmpl-1_0badcafe", "type": "message", "role": "assistant", "model": "kimi/k2",
               "content": [
                   {"type": "thinking", "thinking": "Hmm.", "signature": ""},
                   {"type": "text", "text": "Let me look."},
                   {"type": "tool_use", "id": "cgid_0badcafe_66756e6374696f6e732e426173683a30", "name": "Bash", "input": {"command": "ls"}},
                   {"type": "tool_use", "id": "cgid_0badcaff_63616c6c5f32", "name": "Read", "input": {}}],
               "stop_reason": "tool_use", "stop_sequence": null,
               "usage": {"input_tokens": 60, "output_tokens": 7, "cache_creation_input_tokens": 0,
                         "cache_read_input_tokens": 40}})
    );
}

/// OpenRouter says the tokens written to the cache inside the prompt's
/// count (`prompt_tokens_details.cache_write_tokens`); an Anthropic client
/// reads them apart, as `cache_creation_input_tokens`.
#[test]
fn cache_writes_reported_by_an_openai_provider_reach_an_anthropic_client() {
    let mut answer = completion(json!({"role": "assistant", "content": "ok"}), "stop");
    answer["usage"]["prompt_tokens_details"]["cache_write_tokens"] = json!(50);
    let usage = serde_json::to_value(message(&answer, "kimi/k2", NONCE).usage).unwrap();
    assert_eq!(
        usage,
        json!({"input_tokens": 10, "output_tokens": 7, "cache_creation_input_tokens": 50,
               "cache_read_input_tokens": 40})
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
            NONCE,
        );
        assert_eq!(got.stop_reason, Some(expected), "{finish}");
        assert!(got.content.is_empty());
    }
}

#[test]
fn provider_overflow_messages_become_claude_codes_wording() {
    for (message, expected) in [
        (
            "the request is too long for every model in the chain: the largest context window is 2000 tokens and the request holds at least 5005; a/m (http://127.0.0.1:9/v1/chat/completions): not tried",
            Some("prompt is too long: 5005 tokens > 2000"),
        ),
        (
            // Numbers after a `;` belong to another clause.
            "a/m: its context window (1000 tokens); b/m (http://127.0.0.1:4000/v1)",
            None,
        ),
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
        (
            "This model's maximum context length is 128,000 tokens. However, your messages resulted in 130,500 tokens.",
            Some("prompt is too long: 130500 tokens > 128000"),
        ),
        // Other 400s that mention a length are left alone.
        (
            "Invalid 'tools[0].function.name': string too long. Expected a string with maximum length 64, but got a string with length 80 instead.",
            None,
        ),
        ("context length 64 exceeded: 80", None),
        ("Your request exceeded model token limit: 8192", None),
        ("Input token length too long", None),
        ("rate limited, retry in 20 of 60 seconds", None),
    ] {
        assert_eq!(context_overflow(message).as_deref(), expected, "{message}");
    }
}

#[test]
fn every_tool_round_gets_new_ids_that_still_pair_up() {
    // Kimi numbers its calls per answer: every round says `functions.Bash:0`.
    let answer = |nonce| {
        message(
            &completion(
                json!({"role": "assistant", "content": "", "tool_calls": [
                    {"id": "functions.Bash:0", "type": "function", "function": {"name": "Bash", "arguments": "{}"}},
                    {"type": "function", "function": {"name": "Read", "arguments": "{}"}}]}),
                "tool_calls",
            ),
            "m",
            nonce,
        )
    };
    let ids_of = |answer: &MessageOut| -> Vec<String> {
        answer
            .content
            .iter()
            .filter_map(|b| match b {
                BlockOut::ToolUse { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    };
    let (first, second) = (ids_of(&answer(Nonce(1))), ids_of(&answer(Nonce(2))));
    assert_eq!(first.len(), 2);
    for (a, b) in first.iter().zip(&second) {
        assert_ne!(a, b, "a tool_use id repeats across rounds");
    }
    // Replayed, each result pairs with its call and the provider gets its
    // own ids back.
    let round = |ids: &[String]| {
        json!([
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": ids[0], "name": "Bash", "input": {}},
                {"type": "tool_use", "id": ids[1], "name": "Read", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": ids[0], "content": "bash out"},
                {"type": "tool_result", "tool_use_id": ids[1], "content": "read out"}]}])
    };
    let mut history = vec![json!({"role": "user", "content": "go"})];
    history.extend(round(&first).as_array().unwrap().iter().cloned());
    history.extend(round(&second).as_array().unwrap().iter().cloned());
    let parsed =
        MessagesRequest::parse(json!({"messages": history}).to_string().as_bytes()).unwrap();
    let got: Value = serde_json::from_slice(&request(&parsed, None).unwrap()).unwrap();
    let pairs: Vec<(Value, Value)> = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| (m["tool_call_id"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            (json!("functions.Bash:0"), json!("bash out")),
            (json!("toolu_clawgate_00000001_1"), json!("read out")),
            (json!("functions.Bash:0"), json!("bash out")),
            (json!("toolu_clawgate_00000002_1"), json!("read out")),
        ]
    );
    let calls: Vec<&Value> = got["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["tool_calls"].as_array())
        .flatten()
        .map(|c| &c["id"])
        .collect();
    assert_eq!(
        calls,
        [
            "functions.Bash:0",
            "toolu_clawgate_00000001_1",
            "functions.Bash:0",
            "toolu_clawgate_00000002_1"
        ]
    );
}

/// Every event a sequence of relay frames produces, as JSON.
fn events(frames: &[Value]) -> Vec<Value> {
    let mut translator = StreamTranslator::new("kimi/k2", NONCE);
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
    json!({"id": "chatcmpl-7", "model": "kimi/k2", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
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
        json!({"id": "chatcmpl-7", "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 4,
               "prompt_tokens_details": {"cached_tokens": 3}}}),
        json!("[DONE]"),
    ]);
    let start = json!({"type": "message_start", "message": {"id": "msg_chatcmpl-7_0badcafe", "type": "message",
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

/// OpenAI's refusal reaches a Messages client as text, and the answer
/// ends as a refusal, streamed or whole (it used to reach it as nothing,
/// an empty answer that ended its turn).
#[test]
fn a_refusal_is_text_that_ends_the_answer_as_a_refusal() {
    let got = events(&[
        chunk(
            json!({"role": "assistant", "content": "Well."}),
            Value::Null,
        ),
        chunk(json!({"refusal": "I can't "}), Value::Null),
        chunk(json!({"refusal": "help with that."}), json!("stop")),
        json!("[DONE]"),
    ]);
    // The text, then the refusal in a block of its own, as a whole answer
    // has them.
    let texts: Vec<(&Value, &Value)> = (got.iter())
        .filter(|event| event["type"] == "content_block_delta")
        .map(|event| (&event["index"], &event["delta"]["text"]))
        .collect();
    assert_eq!(
        texts,
        [
            (&json!(0), &json!("Well.")),
            (&json!(1), &json!("I can't ")),
            (&json!(1), &json!("help with that.")),
        ]
    );
    let end = got.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(end["delta"]["stop_reason"], "refusal");
    let whole = message(
        &completion(
            json!({"role": "assistant", "content": "Well.", "refusal": "No."}),
            "stop",
        ),
        "m",
        NONCE,
    );
    assert_eq!(whole.stop_reason, Some("refusal"));
    assert!(
        matches!(&whole.content[..], [BlockOut::Text { text: a }, BlockOut::Text { text: b }]
            if a == "Well." && b == "No."),
        "{:?}",
        whole.content
    );
}

#[test]
fn a_stream_without_a_chunk_id_gets_a_message_id_of_its_own() {
    let id_of = |nonce| {
        let mut translator = StreamTranslator::new("m", nonce);
        match &translator.data(r#"{"choices": [{"delta": {"content": "a"}}]}"#)[0] {
            StreamEvent::MessageStart { message } => message.id.clone(),
            other => panic!("not a message_start: {other:?}"),
        }
    };
    assert_eq!(id_of(Nonce(1)), "msg_clawgate_00000001");
    assert_ne!(id_of(Nonce(1)), id_of(Nonce(2)));
}

fn call(index: u64, id: Value, name: Value, arguments: &str) -> Value {
    json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": arguments}})
}

/// The events from the first block on, for a stream ending with usage and
/// `[DONE]`.
fn blocks_of(frames: &[Value]) -> Vec<Value> {
    let mut frames = frames.to_vec();
    frames.push(json!({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}));
    frames.push(json!("[DONE]"));
    events(&frames)[2..].to_vec()
}

fn tool_use(index: usize, id: &str, name: &str, arguments: &str) -> [Value; 3] {
    [
        json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use",
               "id": id, "name": name, "input": {}}}),
        json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": arguments}}),
        json!({"type": "content_block_stop", "index": index}),
    ]
}

fn tool_use_end() -> [Value; 2] {
    [
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
               "usage": {"input_tokens": 5, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}),
        json!({"type": "message_stop"}),
    ]
}

#[test]
fn tool_calls_are_held_and_sent_whole_so_no_argument_is_lost() {
    let got = blocks_of(&[
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
        // The name after the arguments.
        chunk(
            json!({"tool_calls": [call(1, json!("call_2"), json!(""), "{}")]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [call(1, Value::Null, json!("Read"), "")]}),
            json!("stop"),
        ),
    ]);
    let mut expected = Vec::new();
    expected.extend(tool_use(
        0,
        "cgid_0badcafe_66756e6374696f6e732e426173683a30",
        "Bash",
        r#"{"command":"ls"}"#,
    ));
    expected.extend(tool_use(1, "cgid_0badcaff_63616c6c5f32", "Read", "{}"));
    expected.extend(tool_use_end());
    assert_eq!(got, expected);
}

#[test]
fn interleaved_calls_and_text_after_a_call_keep_every_argument() {
    let got = blocks_of(&[
        // One chunk opens two calls, the next carries both calls' arguments.
        chunk(
            json!({"tool_calls": [call(0, json!("a"), json!("A"), ""), call(1, json!("b"), json!("B"), "")]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [call(0, Value::Null, Value::Null, "{\"x\":"),
                                  call(1, Value::Null, Value::Null, "{\"y\":2}")]}),
            Value::Null,
        ),
        // Text with the rest of the first call's arguments in one chunk.
        chunk(
            json!({"content": "Done.", "tool_calls": [call(0, Value::Null, Value::Null, "1}")]}),
            json!("tool_calls"),
        ),
    ]);
    let mut expected = vec![
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Done."}}),
        json!({"type": "content_block_stop", "index": 0}),
    ];
    expected.extend(tool_use(1, "cgid_0badcafe_61", "A", r#"{"x":1}"#));
    expected.extend(tool_use(2, "cgid_0badcaff_62", "B", r#"{"y":2}"#));
    expected.extend(tool_use_end());
    assert_eq!(got, expected);
}

#[test]
fn calls_that_share_an_index_but_not_an_id_are_separate_blocks() {
    let got = blocks_of(&[
        chunk(
            json!({"tool_calls": [call(0, json!("a"), json!("A"), "{}")]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [call(0, json!("b"), json!("B"), "{}")]}),
            json!("tool_calls"),
        ),
    ]);
    let mut expected = Vec::new();
    expected.extend(tool_use(0, "cgid_0badcafe_61", "A", "{}"));
    expected.extend(tool_use(1, "cgid_0badcaff_62", "B", "{}"));
    expected.extend(tool_use_end());
    assert_eq!(got, expected);
}

#[test]
fn a_call_that_never_gets_a_name_is_left_out() {
    let got = blocks_of(&[chunk(
        json!({"tool_calls": [call(0, json!("a"), Value::Null, "{}")]}),
        json!("tool_calls"),
    )]);
    assert_eq!(
        got,
        [
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                   "usage": {"input_tokens": 5, "output_tokens": 2, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}),
            json!({"type": "message_stop"}),
        ]
    );
}

#[test]
fn error_frames_end_the_stream_with_an_error_event_of_their_kind() {
    for (code, kind) in [
        ("stream_interrupted", "api_error"),
        ("stream_timeout", "timeout_error"),
        ("gateway_shutdown", "overloaded_error"),
    ] {
        let got = events(&[
            chunk(json!({"content": "par"}), Value::Null),
            json!({"error": {"message": "kimi/k2: the upstream stream broke off", "type": "upstream_error",
                             "code": code}}),
            chunk(json!({"content": "ignored"}), Value::Null),
        ]);
        assert_eq!(
            got.last().unwrap(),
            &json!({"type": "error", "error": {"type": kind, "message": "kimi/k2: the upstream stream broke off"}}),
            "{code}"
        );
        assert_eq!(got.len(), 5, "{got:#?}");
    }
}

#[test]
fn a_stream_cut_off_without_a_word_ends_with_an_error() {
    let mut translator = StreamTranslator::new("m", NONCE);
    translator
        .frame(format!("data: {}\n\n", chunk(json!({"content": "x"}), Value::Null)).as_bytes());
    let names: Vec<&str> = translator
        .frame(b"data: {\"choices\":[{\"delta\":{\"content\":\"y\"}}]}\n\n")
        .iter()
        .map(StreamEvent::name)
        .collect();
    assert_eq!(names, ["content_block_delta"]);
    assert!(matches!(
        translator.cut_off(),
        Some(StreamEvent::Error { .. })
    ));
    assert!(translator.cut_off().is_none());
}

#[test]
fn several_events_in_one_piece_are_each_translated() {
    let mut translator = StreamTranslator::new("m", NONCE);
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
    /// form), its name, its arguments (a JSON object) cut into pieces, and
    /// whether the first piece rides on the chunk with the id and name.
    #[derive(Debug, Clone)]
    struct Call {
        id: String,
        name: String,
        arguments: String,
        pieces: Vec<String>,
        first_piece_with_name: bool,
    }

    fn call() -> impl Strategy<Value = Call> {
        (
            prop_oneof!["functions\\.[a-z]{1,6}:[0-9]", "call_[a-z0-9]{1,8}"],
            "[A-Za-z]{1,8}",
            prop::collection::btree_map("[a-z]{1,4}", "[ -~]{0,6}", 0..3),
            prop::collection::vec(1..6usize, 1..8),
            any::<bool>(),
        )
            .prop_map(|(id, name, object, cuts, first_piece_with_name)| {
                let arguments = serde_json::to_string(&object).unwrap();
                let chars: Vec<char> = arguments.chars().collect();
                let mut pieces = Vec::new();
                let mut at = 0;
                for cut in cuts.iter().cycle() {
                    if at >= chars.len() {
                        break;
                    }
                    let end = (at + cut).min(chars.len());
                    pieces.push(chars[at..end].iter().collect());
                    at = end;
                }
                Call {
                    id,
                    name,
                    arguments,
                    pieces,
                    first_piece_with_name,
                }
            })
    }

    /// How the provider lays out its chunks.
    #[derive(Debug, Clone)]
    struct Layout {
        /// All calls open first, then each chunk carries the next piece of
        /// every call (as parallel calls stream), rather than one call
        /// after the other.
        interleaved: bool,
        /// The first piece of `text_after` rides on the last chunk of
        /// arguments.
        text_with_arguments: bool,
        /// The usage rides on the last chunk of arguments rather than a
        /// chunk of its own.
        usage_with_arguments: bool,
    }

    fn layout() -> impl Strategy<Value = Layout> {
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(a, b, c)| Layout {
            interleaved: a,
            text_with_arguments: b,
            usage_with_arguments: c,
        })
    }

    const USAGE: &str = r#"{"prompt_tokens": 9, "completion_tokens": 4}"#;

    /// The chunks a provider sends: reasoning, then text, then tool calls
    /// (with text after them), each in pieces, then the finish reason, the
    /// usage and `[DONE]`.
    fn chunks(
        reasoning: &[String],
        text: &[String],
        calls: &[Call],
        text_after: &[String],
        layout: &Layout,
        finish: &str,
    ) -> Vec<String> {
        let mut out: Vec<Value> = Vec::new();
        out.push(chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        ));
        for piece in reasoning {
            out.push(chunk(json!({"reasoning_content": piece}), Value::Null));
        }
        for piece in text {
            out.push(chunk(json!({"content": piece}), Value::Null));
        }
        let opening = |index: usize, call: &Call| {
            let first = match call.first_piece_with_name {
                true => call.pieces.first().cloned().unwrap_or_default(),
                false => String::new(),
            };
            json!({"index": index, "id": call.id, "type": "function",
                   "function": {"name": call.name, "arguments": first}})
        };
        let rest = |call: &Call| -> Vec<String> {
            let skip = usize::from(call.first_piece_with_name);
            call.pieces.iter().skip(skip).cloned().collect()
        };
        let argument =
            |index: usize, piece: &str| json!({"index": index, "function": {"arguments": piece}});
        let mut argument_chunks: Vec<Vec<Value>> = Vec::new();
        if layout.interleaved && !calls.is_empty() {
            argument_chunks.push(
                calls
                    .iter()
                    .enumerate()
                    .map(|(i, c)| opening(i, c))
                    .collect(),
            );
            let rests: Vec<Vec<String>> = calls.iter().map(rest).collect();
            let longest = rests.iter().map(Vec::len).max().unwrap_or(0);
            for round in 0..longest {
                argument_chunks.push(
                    rests
                        .iter()
                        .enumerate()
                        .filter_map(|(i, pieces)| pieces.get(round).map(|p| argument(i, p)))
                        .collect(),
                );
            }
        } else {
            for (index, call) in calls.iter().enumerate() {
                argument_chunks.push(vec![opening(index, call)]);
                for piece in rest(call) {
                    argument_chunks.push(vec![argument(index, &piece)]);
                }
            }
        }
        let mut text_after = text_after.iter();
        let last = argument_chunks.len().saturating_sub(1);
        let mut usage_sent = false;
        for (at, calls) in argument_chunks.into_iter().enumerate() {
            let mut delta = json!({"tool_calls": calls});
            let mut data = chunk(Value::Null, Value::Null);
            if at == last {
                if layout.text_with_arguments
                    && let Some(piece) = text_after.next()
                {
                    delta["content"] = json!(piece);
                }
                if layout.usage_with_arguments {
                    data["usage"] = serde_json::from_str(USAGE).unwrap();
                    usage_sent = true;
                }
            }
            data["choices"][0]["delta"] = delta;
            out.push(data);
        }
        for piece in text_after {
            out.push(chunk(json!({"content": piece}), Value::Null));
        }
        out.push(chunk(json!({}), json!(finish)));
        if !usage_sent {
            out.push(
                json!({"choices": [], "usage": serde_json::from_str::<Value>(USAGE).unwrap()}),
            );
        }
        let mut out: Vec<String> = out.iter().map(Value::to_string).collect();
        out.push("[DONE]".to_string());
        out
    }

    proptest! {
        #[test]
        fn every_stream_translates_to_a_well_formed_event_sequence(
            reasoning in prop::collection::vec("[ -~]{1,5}", 0..4),
            text in prop::collection::vec("[ -~]{1,5}", 0..4),
            calls in prop::collection::vec(call(), 0..4),
            text_after in prop::collection::vec("[ -~]{1,5}", 0..3),
            layout in layout(),
            finish in prop_oneof!["stop", "length", "tool_calls"],
        ) {
            let mut translator = StreamTranslator::new("m", NONCE);
            let mut events = Vec::new();
            for data in chunks(&reasoning, &text, &calls, &text_after, &layout, &finish) {
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
            let all_text = text.concat() + &text_after.concat();
            if !all_text.is_empty() {
                expected.push((BlockOut::Text { text: String::new() }, all_text));
            }
            for (position, call) in calls.iter().enumerate() {
                expected.push((
                    BlockOut::ToolUse { id: ids::encode(Some(&call.id), position, NONCE), name: call.name.clone(), input: crate::wire::Raw::of("{}") },
                    call.arguments.clone(),
                ));
            }
            prop_assert_eq!(blocks, expected);

            let Some(StreamEvent::MessageDelta { delta, usage }) = events.iter().rev().nth(1) else {
                panic!("message_delta before message_stop");
            };
            // Cut off is said whatever the answer holds: a call's input
            // may be cut too.
            let stop = match (calls.is_empty(), finish.as_str()) {
                (_, "length") => "max_tokens",
                (false, _) => "tool_use",
                _ => "end_turn",
            };
            prop_assert_eq!(delta.stop_reason, Some(stop));
            prop_assert_eq!(usage.output_tokens, 4);
            prop_assert_eq!(usage.input_tokens, 9);
        }
    }
}

#[test]
fn held_tool_arguments_are_bounded() {
    let mut translator = StreamTranslator::new("m", NONCE);
    let piece = "x".repeat(1024 * 1024);
    let chunk = |arguments: &str| {
        json!({"choices": [{"delta": {"tool_calls": [call(0, json!("c1"), json!("run"), arguments)]}}]})
            .to_string()
    };
    let mut ended = None;
    for _ in 0..=stream::MAX_HELD_CALL_BYTES / piece.len() {
        let events = translator.data(&chunk(&piece));
        if let Some(StreamEvent::Error { error }) = events.last() {
            ended = Some(error.message.clone());
            break;
        }
    }
    let message = ended.expect("the stream ends once the limit is passed");
    assert!(message.contains("larger than"), "{message}");
    assert!(translator.is_finished());
}

/// Calls that each start anew (a new id) with a long name, or that only
/// ever start, are held too: their names and ids count, and their number
/// is bounded.
#[test]
fn held_tool_calls_are_bounded_by_their_ids_and_names_and_their_number() {
    let ending = |name: &str, calls: usize| {
        let mut translator = StreamTranslator::new("m", NONCE);
        for n in 0..calls {
            let delta = call(0, json!(format!("c{n}")), json!(name), "");
            let chunk = json!({"choices": [{"delta": {"tool_calls": [delta]}}]});
            if let Some(StreamEvent::Error { error }) = translator.data(&chunk.to_string()).last() {
                assert!(translator.is_finished());
                return Some((n, error.message.clone()));
            }
        }
        None
    };
    let megabyte = "n".repeat(1024 * 1024);
    // (a name, how many calls; the call that ends the stream, and why)
    let cases = [
        // The 32nd name, with the ids, passes 32 MiB.
        (megabyte.as_str(), 40, 31, "larger than"),
        ("run", 200, MAX_HELD_CALLS, "more than 128 tool calls"),
    ];
    assert_eq!(stream::MAX_HELD_CALL_BYTES / megabyte.len(), 32);
    for (name, calls, ended_at, why) in cases {
        let (at, message) = ending(name, calls).expect("ended by the bound");
        assert_eq!((at, message.contains(why)), (ended_at, true), "{message}");
    }
}

/// `event` written by `native`, its kind read as the relay reads it.
fn write(native: &mut Native, event: &crate::format::sse::Event, out: &mut Vec<u8>) {
    native.write(event, EventKind::of(event), out);
}

/// Nothing goes before `message_start`: a provider's `ping` ahead of it
/// is left out; one after it goes on.
#[test]
fn a_ping_before_the_message_starts_is_left_out() {
    let mut native = Native::new("kimi/k2", NONCE);
    let mut out = Vec::new();
    let start = &native_events()[0];
    for event in [
        event(Some("ping"), r#"{"type":"ping"}"#),
        event(None, r#"{"type":"ping"}"#),
        start.clone(),
        event(Some("ping"), r#"{"type":"ping"}"#),
    ] {
        write(&mut native, &event, &mut out);
    }
    let text = String::from_utf8(out).unwrap();
    let names: Vec<&str> = (text.split_terminator("\n\n"))
        .filter_map(|frame| frame.strip_prefix("event: ")?.split('\n').next())
        .collect();
    assert_eq!(names, ["message_start", "ping"], "{text}");
}

/// A provider's own events, written for the client: what the gateway owns
/// is rewritten (model, tool-use ids, usage counts, Kimi's `end_turn` after
/// tool calls), everything else goes byte for byte.
#[test]
fn a_providers_own_events_keep_everything_but_what_the_gateway_owns() {
    let events = native_events();
    let mut native = Native::new("kimi/k2", NONCE);
    let mut out = Vec::new();
    for event in &events {
        write(&mut native, event, &mut out);
    }
    let text = String::from_utf8(out).unwrap();
    let frames: Vec<&str> = text.split_terminator("\n\n").collect();
    let data = |frame: &str| -> Value {
        serde_json::from_str(frame.split_once("\ndata: ").unwrap().1).unwrap()
    };
    assert!(frames[0].starts_with("event: message_start\n"));
    assert_eq!(
        data(frames[0])["message"],
        json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [],
            "model": "kimi/k2", "usage": {"input_tokens": 5, "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 7, "output_tokens": 0}})
    );
    // Named by its type.
    assert!(frames[1].starts_with("event: content_block_start\n"));
    assert_eq!(
        frames[2],
        format!("event: content_block_delta\ndata: {}", events[2].data)
    );
    assert_eq!(
        frames[3],
        format!("event: content_block_delta\ndata: {}", events[3].data)
    );
    let id = ids::encode(Some("functions.Bash:0"), 0, NONCE);
    assert_eq!(data(frames[5])["content_block"]["id"], id);
    assert_eq!(
        data(frames[9]),
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 0}})
    );
    assert_eq!(
        frames[10],
        "event: message_stop\ndata: {\"type\":\"message_stop\"}"
    );
    // Not JSON, on two lines: as it came, a `data:` line each.
    let mut out = Vec::new();
    write(
        &mut Native::new("kimi/k2", NONCE),
        &event(Some("vendor"), "one\ntwo"),
        &mut out,
    );
    assert_eq!(out, b"event: vendor\ndata: one\ndata: two\n\n");
    // A named block start is the gateway's only when it starts a tool
    // call, however its type is spaced.
    let start = |block: &str| {
        let data =
            format!(r#"{{"type": "content_block_start", "index": 0, "content_block": {block}}}"#);
        let mut out = Vec::new();
        write(
            &mut Native::new("kimi/k2", NONCE),
            &event(Some("content_block_start"), &data),
            &mut out,
        );
        (data, String::from_utf8(out).unwrap())
    };
    let (data, out) = start(r#"{"type": "thinking", "thinking": "", "signature": ""}"#);
    assert_eq!(out, format!("event: content_block_start\ndata: {data}\n\n"));
    let (_, out) =
        start(r#"{"type" : "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": {}}"#);
    assert!(
        out.contains(&ids::encode(Some("functions.Bash:0"), 0, NONCE)),
        "{out}"
    );
    // Usage whose counts are all written as integers goes as it came,
    // however spaced (and so does a `message_delta` after no tool call);
    // a count written as a float, or missing, is written anew.
    let written = |name: &str, data: &str| {
        let mut out = Vec::new();
        write(
            &mut Native::new("kimi/k2", NONCE),
            &event(Some(name), data),
            &mut out,
        );
        String::from_utf8(out).unwrap()
    };
    let usage = r#"{"output_tokens": 12, "server_tool_use": null}"#;
    let end = format!(
        r#"{{"type": "message_delta", "delta": {{"stop_reason": "end_turn"}}, "usage": {usage}}}"#
    );
    assert_eq!(
        written("message_delta", &end),
        format!("event: message_delta\ndata: {end}\n\n")
    );
    let end = end.replace("12", "12.0");
    let out = written("message_delta", &end);
    assert!(
        out.contains(r#""usage":{"output_tokens":12,"server_tool_use":null}"#),
        "{out}"
    );
    let usage = r#"{"input_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 2, "output_tokens": 1}"#;
    let start =
        format!(r#"{{"type": "message_start", "message": {{"model": "k2", "usage": {usage}}}}}"#);
    let out = written("message_start", &start);
    assert!(
        out.contains(usage) && out.contains(r#""model":"kimi/k2""#),
        "{out}"
    );
    let out = written(
        "message_start",
        &start.replace(r#", "output_tokens": 1"#, ""),
    );
    assert!(out.contains(r#""output_tokens":0"#), "{out}");
}

/// A whole answer is the message its own events spell, with the same
/// rewrites: thinking and its signature, text, a tool's input from its
/// pieces, the stop reason and the final usage.
#[test]
fn a_whole_answer_is_the_message_its_own_events_spell() {
    let message = Native::new("kimi/k2", NONCE)
        .message(&native_events(), &Scrubber::default())
        .unwrap();
    assert_eq!(
        Value::Object(message.clone()),
        json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "kimi/k2",
            "content": [
                {"type": "thinking", "thinking": "Let me look.", "signature": "sig-1"},
                {"type": "tool_use", "id": ids::encode(Some("functions.Bash:0"), 0, NONCE),
                 "name": "Bash", "input": {"command": "ls"}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 7, "output_tokens": 0}})
    );
    // Bad input: no events; no message_start (the message its blocks
    // spell, under the gateway's id and the ref that answered); a delta
    // for a block never started.
    assert!(
        Native::new("m", NONCE)
            .message(&[], &Scrubber::default())
            .is_none()
    );
    let unstarted = Native::new("m", NONCE)
        .message(&native_events()[1..], &Scrubber::default())
        .unwrap();
    assert_eq!(unstarted["id"], json!(format!("msg_clawgate_{NONCE}")));
    assert_eq!(
        (&unstarted["type"], &unstarted["role"], &unstarted["model"]),
        (&json!("message"), &json!("assistant"), &json!("m"))
    );
    assert_eq!(unstarted["content"], message["content"]);
    assert_eq!(unstarted["stop_reason"], json!("tool_use"));
    assert_eq!(
        unstarted["usage"],
        json!({"input_tokens": 0, "cache_read_input_tokens": 0,
            "cache_creation_input_tokens": 0, "output_tokens": 0})
    );
    let stray = [
        native_events()[0].clone(),
        event(
            Some("content_block_delta"),
            r#"{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":"x"}}"#,
        ),
        event(Some("content_block_start"), "not json"),
    ];
    let message = (Native::new("m", NONCE))
        .message(&stray, &Scrubber::default())
        .unwrap();
    assert_eq!(message["content"], json!([]));
}

fn event(name: Option<&str>, data: &str) -> crate::format::sse::Event {
    crate::format::sse::Event {
        event: name.map(str::to_string),
        data: data.to_string(),
        id: None,
    }
}

/// Kimi-like events: a thinking block with its signature, a tool call with
/// Kimi's id and its input in two pieces, and `end_turn` for a stop reason.
fn native_events() -> Vec<crate::format::sse::Event> {
    vec![
        event(
            Some("message_start"),
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"kimi-for-coding","usage":{"input_tokens":5,"cache_read_input_tokens":null,"cache_creation_input_tokens":7.0}}}"#,
        ),
        event(
            None,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
        ),
        event(
            Some("content_block_delta"),
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me look."}}"#,
        ),
        event(
            Some("content_block_delta"),
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig-1"}}"#,
        ),
        event(
            Some("content_block_stop"),
            r#"{"type":"content_block_stop","index":0}"#,
        ),
        event(
            Some("content_block_start"),
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"functions.Bash:0","name":"Bash","input":{}}}"#,
        ),
        event(
            Some("content_block_delta"),
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\":"}}"#,
        ),
        event(
            Some("content_block_delta"),
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"ls\"}"}}"#,
        ),
        event(
            Some("content_block_stop"),
            r#"{"type":"content_block_stop","index":1}"#,
        ),
        event(
            Some("message_delta"),
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null}}"#,
        ),
        event(Some("message_stop"), r#"{"type":"message_stop"}"#),
    ]
}

/// Where the body first holds an image is named by its own message, an
/// image in a tool result too; the chat form's messages (the system
/// prompt first, a tool result a message of its own) are numbered
/// otherwise.
#[test]
fn the_first_image_is_named_by_its_own_message() {
    let image = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}});
    let place = |messages: Value| {
        let body =
            json!({"model": "m", "max_tokens": 10, "system": "be brief", "messages": messages});
        let read = Read::parse(body.to_string().as_bytes()).unwrap();
        read.translate(None).unwrap().2.first_image
    };
    let hello = json!({"role": "user", "content": "hello"});
    let call = json!({"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "look", "input": {}}]});
    assert_eq!(place(json!([hello])), None);
    let result = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [image]}]});
    let later = json!({"role": "user", "content": [{"type": "text", "text": "and"}, image]});
    assert_eq!(
        place(json!([hello, call, result, {"role": "assistant", "content": "ok"}, later])),
        Some("messages[2].content".to_string())
    );
    assert_eq!(
        place(json!([hello, {"role": "assistant", "content": "ok"}, later])),
        Some("messages[2].content".to_string())
    );
}

/// A tool call's arguments reach a Messages client as the provider wrote
/// them, whole or streamed: a decimal of 16 digits and an integer past 64
/// bits to the last digit (both came out rounded, read as numbers and
/// written anew).
#[test]
fn a_tool_calls_numbers_reach_the_client_to_the_digit() {
    let arguments = r#"{"lat": 9145.731834770435, "id": 123456789012345678901}"#;
    let whole = message(
        &completion(
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}]}),
            "tool_calls",
        ),
        "m",
        NONCE,
    );
    let written = serde_json::to_string(&whole).unwrap();
    assert!(
        written.contains(&format!(r#""input":{arguments}"#)),
        "{written}"
    );
    let streamed = blocks_of(&[chunk(
        json!({"tool_calls": [call(0, json!("c"), json!("f"), arguments)]}),
        json!("tool_calls"),
    )]);
    let partial = (streamed.iter())
        .find_map(|event| event["delta"]["partial_json"].as_str())
        .unwrap();
    assert_eq!(partial, arguments);
}
