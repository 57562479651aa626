//! Every row of the field tables (`clawgate::translate::fields`) against
//! what the gateway does, on each transport: a sample request holding the
//! row goes through the gateway to a recording mock, and the row's fate
//! is checked there. Carried or translated: the sample's mark is in what
//! the provider received, and the answer does not name the row as
//! dropped. Dropped: the mark is not there and `x-clawgate-dropped` names
//! the row. Refused: a 400 naming it, and the provider is not called.
//! Per target (the provider rules decide): the header and the body agree.
//!
//! The samples are keyed by the rows' names; a row without a sample, or a
//! sample without a row, fails the test: a new row cannot go untested.

mod common;

use clawgate::translate::fields::{self, Fate, Row};
use clawgate::wire::Front;
use clawgate_mock::MockServer;
use common::{KEY, TestGateway, gateway, header, healthy_mock};
use serde_json::{Value, json};

const OPENAI: &str = "openai-completions";
const ANTHROPIC: &str = "anthropic-messages";

/// Where a row's mark is looked for.
#[derive(Clone)]
enum At {
    /// In the body the provider received.
    Sent(Value),
    /// In the answer the client got (what the row's translation is about).
    Answer(Value),
    /// A header the provider received: its name and value.
    Header(&'static str, &'static str),
}

/// A request holding one row, and its mark on each transport.
struct Sample {
    row: &'static str,
    /// Members merged into the front end's plain request.
    request: Value,
    openai: Option<At>,
    anthropic: Option<At>,
    /// For a refused row: how the 400's message names what it refuses;
    /// for a dropped one named otherwise than by its row, that name.
    named: &'static str,
    /// A header the request carries: its name and value.
    header: Option<(&'static str, &'static str)>,
}

fn sent(needle: Value) -> Option<At> {
    Some(At::Sent(needle))
}

/// The same mark on both transports.
fn both(row: &'static str, request: Value, needle: Value) -> Sample {
    Sample {
        row,
        request,
        openai: sent(needle.clone()),
        anthropic: sent(needle),
        named: "",
        header: None,
    }
}

fn each(row: &'static str, request: Value, openai: Value, anthropic: Value) -> Sample {
    Sample {
        row,
        request,
        openai: sent(openai),
        anthropic: sent(anthropic),
        named: "",
        header: None,
    }
}

/// A row refused on both transports, the 400 naming it as `named`.
fn refused(row: &'static str, request: Value, named: &'static str) -> Sample {
    Sample {
        row,
        request,
        openai: None,
        anthropic: None,
        named,
        header: None,
    }
}

/// A header row: the request carries `name: value`, looked for among the
/// headers the provider received.
fn with_header(row: &'static str, name: &'static str, value: &'static str) -> Sample {
    Sample {
        row,
        request: json!({}),
        openai: Some(At::Header(name, value)),
        anthropic: Some(At::Header(name, value)),
        named: "",
        header: Some((name, value)),
    }
}

const IMAGE: &str = "https://example.com/a.png";

fn chat_tools() -> Value {
    json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
}

fn chat_tool_turns() -> Value {
    json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "res-1"}])
}

fn chat() -> Vec<Sample> {
    let user = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
    let carried_or_dropped = |row, member: &str, value: Value| {
        let needle = json!({ member: value });
        both(row, needle.clone(), needle)
    };
    vec![
        both("model", json!({}), json!({"model": "m"})),
        each(
            "messages",
            json!({}),
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            json!({"messages": [{"role": "user"}]}),
        ),
        both(
            "max_tokens",
            json!({"max_tokens": 77}),
            json!({"max_tokens": 77}),
        ),
        each(
            "max_completion_tokens",
            json!({"max_completion_tokens": 78}),
            json!({"max_completion_tokens": 78}),
            json!({"max_tokens": 78}),
        ),
        carried_or_dropped("temperature", "temperature", json!(0.3)),
        carried_or_dropped("top_p", "top_p", json!(0.7)),
        carried_or_dropped("top_k", "top_k", json!(7)),
        each(
            "stop",
            json!({"stop": ["zz"]}),
            json!({"stop": ["zz"]}),
            json!({"stop_sequences": ["zz"]}),
        ),
        both("stream", json!({"stream": true}), json!({"stream": true})),
        each(
            "stream_options",
            json!({"stream": true, "stream_options": {"include_usage": true}}),
            json!({"stream_options": {"include_usage": true}}),
            json!({"stream": true}),
        ),
        each(
            "tools",
            json!({"tools": chat_tools()}),
            json!({"tools": [{"function": {"name": "f"}}]}),
            json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}),
        ),
        each(
            "tool_choice",
            json!({"tools": chat_tools(), "tool_choice": "none"}),
            json!({"tool_choice": "none"}),
            json!({"tool_choice": {"type": "none"}}),
        ),
        each(
            "parallel_tool_calls",
            json!({"tools": chat_tools(), "parallel_tool_calls": false}),
            json!({"parallel_tool_calls": false}),
            json!({"tool_choice": {"disable_parallel_tool_use": true}}),
        ),
        each(
            "user",
            json!({"user": "u-1"}),
            json!({"user": "u-1"}),
            json!({"metadata": {"user_id": "u-1"}}),
        ),
        each(
            "reasoning_effort",
            json!({"reasoning_effort": "high"}),
            json!({"reasoning_effort": "high"}),
            json!({"thinking": {"type": "enabled"}}),
        ),
        both(
            "thinking",
            json!({"thinking": {"type": "enabled"}}),
            json!({"thinking": {"type": "enabled"}}),
        ),
        both(
            "thinking.budget_tokens",
            json!({"thinking": {"type": "enabled", "budget_tokens": 2000}}),
            json!({"thinking": {"budget_tokens": 2000}}),
        ),
        each(
            "reasoning",
            json!({"reasoning": {"effort": "high"}}),
            json!({"reasoning": {"effort": "high"}}),
            json!({"thinking": {"type": "enabled"}}),
        ),
        carried_or_dropped("n", "n", json!(1)),
        carried_or_dropped("presence_penalty", "presence_penalty", json!(0.1)),
        carried_or_dropped("frequency_penalty", "frequency_penalty", json!(0.2)),
        carried_or_dropped("seed", "seed", json!(7)),
        carried_or_dropped("logprobs", "logprobs", json!(true)),
        carried_or_dropped("top_logprobs", "top_logprobs", json!(2)),
        carried_or_dropped("logit_bias", "logit_bias", json!({"50256": -100})),
        carried_or_dropped(
            "response_format",
            "response_format",
            json!({"type": "json_object"}),
        ),
        carried_or_dropped("metadata", "metadata", json!({"k": "v"})),
        carried_or_dropped("store", "store", json!(false)),
        carried_or_dropped("service_tier", "service_tier", json!("flex")),
        carried_or_dropped("modalities", "modalities", json!(["text"])),
        carried_or_dropped("audio", "audio", json!({"voice": "alloy", "format": "wav"})),
        carried_or_dropped(
            "prediction",
            "prediction",
            json!({"type": "content", "content": "x"}),
        ),
        carried_or_dropped(
            "web_search_options",
            "web_search_options",
            json!({"search_context_size": "low"}),
        ),
        carried_or_dropped("safety_identifier", "safety_identifier", json!("s-1")),
        carried_or_dropped("prompt_cache_key", "prompt_cache_key", json!("k-1")),
        carried_or_dropped("verbosity", "verbosity", json!("low")),
        carried_or_dropped(
            "functions",
            "functions",
            json!([{"name": "g", "parameters": {"type": "object"}}]),
        ),
        carried_or_dropped("function_call", "function_call", json!("none")),
        each(
            "system and developer messages",
            json!({"messages": [{"role": "system", "content": "sys-1"},
                                {"role": "user", "content": "hi"}]}),
            json!({"messages": [{"role": "system", "content": "sys-1"}]}),
            json!({"system": [{"type": "text", "text": "sys-1"}]}),
        ),
        each(
            "tool messages",
            json!({"tools": chat_tools(), "messages": chat_tool_turns()}),
            json!({"messages": [{"role": "tool", "tool_call_id": "c1", "content": "res-1"}]}),
            json!({"messages": [{"content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "res-1"}]}]}),
        ),
        each(
            "assistant reasoning_content",
            json!({"messages": [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "ok", "reasoning_content": "why-1"},
                {"role": "user", "content": "go"}]}),
            json!({"messages": [{"reasoning_content": "why-1"}]}),
            json!({"messages": [{"content": [{"type": "thinking", "thinking": "why-1"}]}]}),
        ),
        each(
            "assistant tool_calls",
            json!({"tools": chat_tools(), "messages": chat_tool_turns()}),
            json!({"messages": [{"tool_calls": [{"id": "c1"}]}]}),
            json!({"messages": [{"content": [{"type": "tool_use", "id": "c1", "name": "f"}]}]}),
        ),
        both(
            "text parts",
            user(json!([{"type": "text", "text": "part-1"}])),
            json!({"messages": [{"content": [{"type": "text", "text": "part-1"}]}]}),
        ),
        each(
            "image_url parts",
            user(json!([{"type": "text", "text": "see"},
                         {"type": "image_url", "image_url": {"url": IMAGE}}])),
            json!({"image_url": {"url": IMAGE}}),
            json!({"type": "image", "source": {"type": "url", "url": IMAGE}}),
        ),
        both(
            "input_audio parts",
            user(json!([{"type": "text", "text": "hi"},
                         {"type": "input_audio", "input_audio": {"data": "QUJD", "format": "wav"}}])),
            json!({"type": "input_audio"}),
        ),
        both(
            "file parts",
            user(json!([{"type": "text", "text": "hi"},
                         {"type": "file", "file": {"file_data": "eA==", "filename": "a.txt"}}])),
            json!({"type": "file"}),
        ),
        both(
            "cache_control on content parts",
            user(json!([{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}])),
            json!({"cache_control": {"type": "ephemeral"}}),
        ),
        both(
            "custom tools (and a tool_choice naming one)",
            json!({"tools": with_custom_tool(),
                   "tool_choice": {"type": "custom", "custom": {"name": "patch_tool"}}}),
            json!({"name": "patch_tool"}),
        ),
        each(
            "tool_choice: allowed_tools",
            json!({"tools": with_custom_tool(), "tool_choice": {"type": "allowed_tools",
                "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "f"}}]}}}),
            json!({"tool_choice": {"type": "allowed_tools"}}),
            json!({"tool_choice": {"type": "any"}}),
        ),
        both(
            "name on messages",
            json!({"messages": [{"role": "user", "name": "ana-1", "content": "hi"}]}),
            json!({"name": "ana-1"}),
        ),
        both(
            "empty user and assistant messages",
            json!({"messages": [{"role": "user", "content": "a"},
                {"role": "assistant", "content": ""}, {"role": "user", "content": "b"}]}),
            json!({"role": "assistant", "content": ""}),
        ),
        both(
            "detail on image_url parts",
            user(json!([{"type": "text", "text": "see"},
                         {"type": "image_url", "image_url": {"url": IMAGE, "detail": "high"}}])),
            json!({"detail": "high"}),
        ),
        each(
            "strict on function tools",
            json!({"tools": [{"type": "function", "function": {"name": "f", "strict": true,
                "parameters": {"type": "object"}}}]}),
            json!({"function": {"name": "f", "strict": true}}),
            json!({"name": "f", "strict": true}),
        ),
    ]
}

/// A function tool and a custom one.
fn with_custom_tool() -> Value {
    json!([{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}},
           {"type": "custom", "custom": {"name": "patch_tool"}}])
}

fn messages_tools() -> Value {
    json!([{"name": "f", "input_schema": {"type": "object"}}])
}

/// A tool call and its result, in Messages' words.
fn messages_tool_turns(result: Value) -> Value {
    json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": result}]}])
}

fn messages() -> Vec<Sample> {
    let user = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
    let assistant = |content: Value| {
        json!({"messages": [{"role": "user", "content": "hi"},
                            {"role": "assistant", "content": content},
                            {"role": "user", "content": "go"}]})
    };
    vec![
        both("model", json!({}), json!({"model": "m"})),
        both(
            "max_tokens",
            json!({"max_tokens": 99}),
            json!({"max_tokens": 99}),
        ),
        both(
            "messages",
            json!({}),
            json!({"messages": [{"role": "user", "content": "hi"}]}),
        ),
        each(
            "system",
            json!({"system": "sys-1"}),
            json!({"messages": [{"role": "system", "content": "sys-1"}]}),
            json!({"system": "sys-1"}),
        ),
        each(
            "tools",
            json!({"tools": messages_tools()}),
            json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]}),
            json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}),
        ),
        each(
            "tool_choice",
            json!({"tools": messages_tools(), "tool_choice": {"type": "any"}}),
            json!({"tool_choice": "required"}),
            json!({"tool_choice": {"type": "any"}}),
        ),
        each(
            "thinking",
            json!({"thinking": {"type": "disabled"}}),
            json!({"reasoning_effort": "none"}),
            json!({"thinking": {"type": "disabled"}}),
        ),
        each(
            "thinking.budget_tokens",
            json!({"max_tokens": 4000, "thinking": {"type": "enabled", "budget_tokens": 1500}}),
            json!(1500),
            json!({"thinking": {"type": "enabled", "budget_tokens": 1500}}),
        ),
        each(
            "output_config",
            json!({"output_config": {"effort": "low",
                "format": {"type": "json_schema", "schema": {"type": "object"}}}}),
            json!({"reasoning_effort": "low", "response_format": {"type": "json_schema",
                "json_schema": {"name": "output", "schema": {"type": "object"}, "strict": true}}}),
            json!({"output_config": {"effort": "low"}}),
        ),
        each(
            "output_config.effort",
            json!({"output_config": {"effort": "low"}}),
            json!({"reasoning_effort": "low"}),
            json!({"output_config": {"effort": "low"}}),
        ),
        each(
            "stop_sequences",
            json!({"stop_sequences": ["zz"]}),
            json!({"stop": ["zz"]}),
            json!({"stop_sequences": ["zz"]}),
        ),
        both(
            "stop_sequences[4..]",
            json!({"stop_sequences": ["a", "b", "c", "d", "e5"]}),
            json!("e5"),
        ),
        both(
            "temperature",
            json!({"temperature": 0.3}),
            json!({"temperature": 0.3}),
        ),
        both("top_p", json!({"top_p": 0.7}), json!({"top_p": 0.7})),
        both("top_k", json!({"top_k": 7}), json!({"top_k": 7})),
        each(
            "metadata.user_id",
            json!({"metadata": {"user_id": "u-1"}}),
            json!({"user": "u-1"}),
            json!({"metadata": {"user_id": "u-1"}}),
        ),
        both("stream", json!({"stream": true}), json!({"stream": true})),
        both(
            "context_management",
            json!({"context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}}),
            json!({"type": "clear_thinking_20251015"}),
        ),
        refused(
            "container",
            json!({"container": "c-1"}),
            "`container` is not supported",
        ),
        refused(
            "mcp_servers",
            json!({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]}),
            "`mcp_servers` is not supported",
        ),
        // Claude Code's auto mode: a 400 naming the field, on which it
        // sends neither it nor its beta again and checks locally.
        refused(
            "safeguards",
            json!({"safeguards": [{"type": "dangerous_tool_use",
                                   "classifier_context": {"home_dir": "/home/u", "live_cwd": "/home/u/p"}}]}),
            "`safeguards` is not supported",
        ),
        both(
            "service_tier",
            json!({"service_tier": "auto"}),
            json!({"service_tier": "auto"}),
        ),
        both(
            "cache_control",
            json!({"system": [{"type": "text", "text": "sys-1", "cache_control": {"type": "ephemeral"}}]}),
            json!({"cache_control": {"type": "ephemeral"}}),
        ),
        each(
            "role: system messages",
            json!({"messages": [{"role": "user", "content": "hi"},
                                {"role": "system", "content": "mid-1"},
                                {"role": "user", "content": "go"}]}),
            json!({"messages": [{"role": "system", "content": "mid-1"}]}),
            // Carried: Kimi Coding's rules move it to `system`
            // (`providers::tests`), no other dialect's.
            json!({"role": "system", "content": "mid-1"}),
        ),
        each(
            "text blocks",
            user(json!([{"type": "text", "text": "blk-1"}])),
            json!({"messages": [{"role": "user", "content": "blk-1"}]}),
            json!({"type": "text", "text": "blk-1"}),
        ),
        each(
            "image blocks",
            user(
                json!([{"type": "image", "source": {"type": "url", "url": IMAGE}},
                         {"type": "text", "text": "see"}]),
            ),
            json!({"type": "image_url", "image_url": {"url": IMAGE}}),
            json!({"type": "image", "source": {"type": "url", "url": IMAGE}}),
        ),
        each(
            "document blocks with a text source",
            user(json!([{"type": "document", "source":
                {"type": "text", "media_type": "text/plain", "data": "doc-1"}}])),
            json!({"messages": [{"role": "user", "content": "doc-1"}]}),
            json!({"type": "document", "source": {"data": "doc-1"}}),
        ),
        refused(
            "document blocks (PDF or file)",
            user(json!([{"type": "document", "source":
                {"type": "base64", "media_type": "application/pdf", "data": "eA=="}}])),
            "messages[0]: document blocks (PDF or file) are not supported",
        ),
        each(
            "tool_use blocks",
            json!({"tools": messages_tools(), "messages": messages_tool_turns(json!("res-1"))}),
            json!({"tool_calls": [{"id": "t1", "function": {"name": "f", "arguments": "{}"}}]}),
            json!({"type": "tool_use", "id": "t1", "name": "f"}),
        ),
        each(
            "tool_result blocks",
            json!({"tools": messages_tools(), "messages": messages_tool_turns(json!("res-1"))}),
            json!({"role": "tool", "tool_call_id": "t1", "content": "res-1"}),
            json!({"type": "tool_result", "tool_use_id": "t1", "content": "res-1"}),
        ),
        each(
            "thinking blocks",
            assistant(
                json!([{"type": "thinking", "thinking": "why-1", "signature": "sig-1"},
                              {"type": "text", "text": "ok"}]),
            ),
            json!({"role": "assistant", "reasoning_content": "why-1"}),
            json!({"type": "thinking", "thinking": "why-1", "signature": "sig-1"}),
        ),
        both(
            "redacted_thinking blocks",
            assistant(json!([{"type": "redacted_thinking", "data": "red-1"},
                              {"type": "text", "text": "ok"}])),
            json!({"type": "redacted_thinking", "data": "red-1"}),
        ),
        both(
            "server tool blocks (server_tool_use and *_tool_result)",
            assistant(
                json!([{"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {}},
                              {"type": "text", "text": "ok"}]),
            ),
            json!({"type": "server_tool_use"}),
        ),
        each(
            "tool_reference blocks",
            json!({"tools": messages_tools(), "messages": messages_tool_turns(
                json!([{"type": "tool_reference", "tool_name": "f"}]))}),
            json!({"type": "tool_reference"}),
            // Kept: Kimi Coding's rules make it text (and name it), no other dialect's.
            json!({"type": "tool_reference", "tool_name": "f"}),
        ),
        both(
            "other blocks in a tool_result",
            json!({"tools": messages_tools(), "messages": messages_tool_turns(
                json!([{"type": "search_result", "source": "s", "title": "t", "content": []}]))}),
            json!({"type": "search_result"}),
        ),
        refused(
            "other blocks",
            user(json!([{"type": "search_result", "source": "s", "title": "t", "content": []}])),
            "messages[0]: a block of type \"search_result\" is not supported",
        ),
        each(
            "tools with input_schema",
            json!({"tools": [{"name": "f", "input_schema": {"type": "object"}, "strict": true}]}),
            json!({"type": "function", "function": {"name": "f", "strict": true}}),
            json!({"name": "f", "input_schema": {"type": "object"}, "strict": true}),
        ),
        Sample {
            // Named by its type.
            named: "web_search_20250305",
            ..both(
                "server tools (a type and no input_schema)",
                json!({"tools": [{"name": "f", "input_schema": {"type": "object"}},
                                 {"type": "web_search_20250305", "name": "web_search"}]}),
                json!("web_search"),
            )
        },
        refused(
            "tool_choice naming a server tool",
            json!({"tools": [{"name": "f", "input_schema": {"type": "object"}},
                             {"type": "web_search_20250305", "name": "web_search"}],
                   "tool_choice": {"type": "tool", "name": "web_search"}}),
            "`tool_choice naming a server tool` is not supported",
        ),
        both(
            "citations on text blocks",
            assistant(json!([{"type": "text", "text": "ok", "citations": [
                {"type": "char_location", "cited_text": "cite-1", "document_index": 0,
                 "start_char_index": 0, "end_char_index": 6}]}])),
            json!({"cited_text": "cite-1"}),
        ),
        both(
            "title and context of document blocks",
            user(
                json!([{"type": "document", "title": "title-1", "context": "context-1",
                "source": {"type": "text", "media_type": "text/plain", "data": "doc-1"}}]),
            ),
            json!({"title": "title-1", "context": "context-1"}),
        ),
        both(
            "citations on document blocks",
            user(
                json!([{"type": "document", "citations": {"enabled": true, "colour": "cited-1"},
                "source": {"type": "text", "media_type": "text/plain", "data": "doc-1"}}]),
            ),
            json!({"colour": "cited-1"}),
        ),
        both(
            "thinking blocks in a user turn",
            user(
                json!([{"type": "thinking", "thinking": "uwhy-1", "signature": "sig-1"},
                         {"type": "text", "text": "hi"}]),
            ),
            json!({"thinking": "uwhy-1"}),
        ),
        both(
            "input_examples on tools",
            json!({"tools": [{"name": "f", "input_schema": {"type": "object"},
                              "input_examples": [{"x": "ex-1"}]}]}),
            json!({"input_examples": [{"x": "ex-1"}]}),
        ),
        both(
            "defer_loading on tools",
            json!({"tools": [{"name": "f", "input_schema": {"type": "object"},
                              "defer_loading": true}]}),
            json!({"defer_loading": true}),
        ),
        with_header(
            "anthropic-beta",
            "anthropic-beta",
            "context-management-2025-06-27,effort-2025-11-24",
        ),
    ]
}

fn responses_tools() -> Value {
    json!([{"type": "function", "name": "f", "parameters": {"type": "object"}},
           {"type": "function", "name": "g", "parameters": {"type": "object"}}])
}

/// A function call and its output, in Responses' words.
fn responses_calls() -> Value {
    json!({"tools": responses_tools(), "input": [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "res-1"}]})
}

fn responses() -> Vec<Sample> {
    let input = |items: Value| json!({"input": items});
    let user = |content: Value| input(json!([{"role": "user", "content": content}]));
    let dropped = |row, member: &str, value: Value, needle: Value| {
        both(row, json!({ member: value }), needle)
    };
    vec![
        both("model", json!({}), json!({"model": "m"})),
        each(
            "instructions",
            json!({"instructions": "ins-1"}),
            json!({"messages": [{"role": "system", "content": "ins-1"}]}),
            json!("ins-1"),
        ),
        both("input", json!({}), json!({"messages": [{"role": "user"}]})),
        each(
            "tools",
            json!({"tools": responses_tools()}),
            json!({"tools": [{"type": "function", "function": {"name": "f"}}]}),
            json!({"tools": [{"name": "f", "input_schema": {"type": "object"}}]}),
        ),
        each(
            "tool_choice",
            json!({"tools": responses_tools(), "tool_choice": "required"}),
            json!({"tool_choice": "required"}),
            json!({"tool_choice": {"type": "any"}}),
        ),
        each(
            "tool_choice: allowed_tools",
            json!({"tools": responses_tools(), "tool_choice": {"type": "allowed_tools",
                "mode": "auto", "tools": [{"type": "function", "name": "g"}]}}),
            json!({"tools": [{"function": {"name": "g"}}]}),
            json!({"tools": [{"name": "g"}]}),
        ),
        each(
            "parallel_tool_calls",
            json!({"tools": responses_tools(), "parallel_tool_calls": false}),
            json!({"parallel_tool_calls": false}),
            json!({"tool_choice": {"disable_parallel_tool_use": true}}),
        ),
        both(
            "max_output_tokens",
            json!({"max_output_tokens": 99}),
            json!({"max_tokens": 99}),
        ),
        each(
            "reasoning.effort",
            json!({"reasoning": {"effort": "high"}}),
            json!({"reasoning_effort": "high"}),
            json!({"thinking": {"type": "enabled"}}),
        ),
        both(
            "reasoning.summary",
            json!({"reasoning": {"summary": "auto"}}),
            json!({"summary": "auto"}),
        ),
        each(
            "text.format",
            json!({"text": {"format": {"type": "json_object"}}}),
            json!({"response_format": {"type": "json_object"}}),
            json!({"type": "json_object"}),
        ),
        both(
            "text.verbosity",
            json!({"text": {"verbosity": "low"}}),
            json!({"verbosity": "low"}),
        ),
        both("stream", json!({"stream": true}), json!({"stream": true})),
        both(
            "temperature",
            json!({"temperature": 0.3}),
            json!({"temperature": 0.3}),
        ),
        both("top_p", json!({"top_p": 0.7}), json!({"top_p": 0.7})),
        each(
            "user",
            json!({"user": "u-1"}),
            json!({"user": "u-1"}),
            json!({"metadata": {"user_id": "u-1"}}),
        ),
        both(
            "prompt_cache_key",
            json!({"prompt_cache_key": "k-1"}),
            json!({"prompt_cache_key": "k-1"}),
        ),
        dropped(
            "include",
            "include",
            json!(["reasoning.encrypted_content"]),
            json!("reasoning.encrypted_content"),
        ),
        dropped(
            "truncation: auto",
            "truncation",
            json!("auto"),
            json!({"truncation": "auto"}),
        ),
        Sample {
            row: "store",
            request: json!({"store": true}),
            openai: Some(At::Answer(json!({"store": false}))),
            anthropic: Some(At::Answer(json!({"store": false}))),
            named: "",
            header: None,
        },
        dropped("metadata", "metadata", json!({"k": "v"}), json!({"k": "v"})),
        dropped(
            "client_metadata",
            "client_metadata",
            json!({"a": "b"}),
            json!({"a": "b"}),
        ),
        dropped(
            "safety_identifier",
            "safety_identifier",
            json!("s-1"),
            json!("s-1"),
        ),
        dropped("service_tier", "service_tier", json!("flex"), json!("flex")),
        dropped(
            "max_tool_calls",
            "max_tool_calls",
            json!(3),
            json!({"max_tool_calls": 3}),
        ),
        dropped(
            "top_logprobs",
            "top_logprobs",
            json!(2),
            json!({"top_logprobs": 2}),
        ),
        both(
            "stream_options",
            json!({"stream": true, "stream_options": {"include_obfuscation": false}}),
            json!({"include_obfuscation": false}),
        ),
        refused(
            "previous_response_id",
            json!({"previous_response_id": "resp_1"}),
            "previous_response_id",
        ),
        refused(
            "conversation",
            json!({"conversation": "conv_1"}),
            "conversation",
        ),
        refused(
            "background: true",
            json!({"background": true}),
            "background",
        ),
        refused(
            "prompt",
            json!({"prompt": {"id": "pmpt_1"}}),
            "`prompt` is not supported",
        ),
        both(
            "message items",
            input(json!([{"type": "message", "role": "user", "content": "msg-1"}])),
            json!({"messages": [{"role": "user"}]}),
        ),
        each(
            "function_call items",
            responses_calls(),
            json!({"tool_calls": [{"id": "c1", "function": {"name": "f"}}]}),
            json!({"type": "tool_use", "id": "c1", "name": "f"}),
        ),
        each(
            "function_call_output items",
            responses_calls(),
            json!({"role": "tool", "tool_call_id": "c1", "content": "res-1"}),
            json!({"type": "tool_result", "tool_use_id": "c1"}),
        ),
        each(
            "custom_tool_call and its output",
            json!({"tools": [{"type": "custom", "name": "patch"}], "input": [
                {"role": "user", "content": "hi"},
                {"type": "custom_tool_call", "call_id": "c2", "name": "patch", "input": "diff-1"},
                {"type": "custom_tool_call_output", "call_id": "c2", "output": "ok"}]}),
            json!({"tool_calls": [{"id": "c2", "function": {"name": "patch"}}]}),
            json!({"type": "tool_use", "id": "c2", "input": {"input": "diff-1"}}),
        ),
        each(
            "reasoning items",
            input(json!([
                {"role": "user", "content": "hi"},
                {"type": "reasoning", "summary": [{"type": "summary_text", "text": "why-1"}]},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]},
                {"role": "user", "content": "go"}])),
            json!({"reasoning_content": "why-1"}),
            json!({"type": "thinking", "thinking": "why-1"}),
        ),
        both(
            "web_search_call items",
            input(json!([
                {"role": "user", "content": "hi"},
                {"type": "web_search_call", "id": "ws-1", "status": "completed",
                 "action": {"type": "search", "query": "q-1"}},
                {"role": "user", "content": "go"}])),
            json!("q-1"),
        ),
        refused(
            "item_reference items",
            input(json!([{"type": "item_reference", "id": "msg_1"}])),
            "input[0]: an item_reference",
        ),
        refused(
            "other input items",
            input(json!([{"type": "computer_call", "call_id": "c3", "action": {}}])),
            "input[0]: an input item of type \"computer_call\"",
        ),
        both(
            "input_text and output_text parts",
            user(json!([{"type": "input_text", "text": "part-1"}])),
            json!("part-1"),
        ),
        each(
            "input_image parts with an image_url",
            user(json!([{"type": "input_text", "text": "see"},
                         {"type": "input_image", "image_url": IMAGE}])),
            json!({"image_url": {"url": IMAGE}}),
            json!({"type": "image", "source": {"type": "url", "url": IMAGE}}),
        ),
        refused(
            "input_image parts by file_id",
            user(json!([{"type": "input_image", "file_id": "file_1"}])),
            "input[0]: an input_image by file_id",
        ),
        refused(
            "other content parts (input_file ...)",
            user(json!([{"type": "input_file", "file_id": "file_1"}])),
            "input[0]: a content part of type \"input_file\"",
        ),
        each(
            "function tools",
            json!({"tools": responses_tools()}),
            json!({"type": "function", "function": {"name": "g"}}),
            json!({"name": "g", "input_schema": {"type": "object"}}),
        ),
        each(
            "namespace tools",
            json!({"tools": [{"type": "namespace", "name": "ns", "tools": [
                {"type": "function", "name": "f", "parameters": {"type": "object"}}]}]}),
            json!({"function": {"name": "ns__f"}}),
            json!({"name": "ns__f"}),
        ),
        both(
            "defer_loading on tools",
            json!({"tools": [{"type": "function", "name": "f", "parameters": {"type": "object"},
                "defer_loading": true, "description": "deferred-1"}]}),
            json!({"defer_loading": true}),
        ),
        both(
            "description on namespace tools",
            json!({"tools": [{"type": "namespace", "name": "ns", "description": "nsdesc-1",
                "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]}]}),
            json!("nsdesc-1"),
        ),
        each(
            "custom tools",
            json!({"tools": [{"type": "custom", "name": "patch", "description": "d"}]}),
            json!({"function": {"name": "patch"}}),
            json!({"name": "patch"}),
        ),
        both(
            "web_search tools",
            json!({"tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}},
                             {"type": "web_search"}]}),
            json!({"type": "web_search"}),
        ),
        both(
            "tool_search tools",
            json!({"tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}},
                             {"type": "tool_search"}]}),
            json!({"type": "tool_search"}),
        ),
        refused(
            "other tools (file_search or mcp or code_interpreter ...)",
            json!({"tools": [{"type": "file_search", "vector_store_ids": ["v"]}]}),
            "tools[0]: a tool of type \"file_search\"",
        ),
        both(
            "detail on input_image parts",
            user(json!([{"type": "input_text", "text": "see"},
                         {"type": "input_image", "image_url": IMAGE, "detail": "high"}])),
            json!({"url": IMAGE, "detail": "high"}),
        ),
        refused(
            "tool_choice: required with no tool left to offer",
            json!({"tools": [{"type": "web_search"}], "tool_choice": "required"}),
            "`tool_choice: required with no tool left to offer` is not supported",
        ),
    ]
}

/// The plain request of `front`, which each sample adds to.
fn plain(front: Front) -> Value {
    match front {
        Front::Chat => json!({"model": "p/m", "messages": [{"role": "user", "content": "hi"}]}),
        Front::Messages => json!({"model": "p/m", "max_tokens": 100,
                                  "messages": [{"role": "user", "content": "hi"}]}),
        Front::Responses => json!({"model": "p/m", "input": "hi"}),
    }
}

fn samples(front: Front) -> Vec<Sample> {
    match front {
        Front::Chat => chat(),
        Front::Messages => messages(),
        Front::Responses => responses(),
    }
}

/// Whether `needle` is `value` or within it: an object's members each
/// matched by the value's (which may have more), an array's elements
/// each matched by one of the value's.
fn matches(value: &Value, needle: &Value) -> bool {
    match (value, needle) {
        (Value::Object(value), Value::Object(needle)) => needle
            .iter()
            .all(|(key, want)| value.get(key).is_some_and(|got| matches(got, want))),
        (Value::Array(value), Value::Array(needle)) => needle
            .iter()
            .all(|want| value.iter().any(|got| matches(got, want))),
        (value, needle) => value == needle,
    }
}

/// Whether `needle` matches `value` or anything in it.
fn contains(value: &Value, needle: &Value) -> bool {
    matches(value, needle)
        || match value {
            Value::Object(members) => members.values().any(|v| contains(v, needle)),
            Value::Array(elements) => elements.iter().any(|v| contains(v, needle)),
            _ => false,
        }
}

/// A gateway whose default chain is one plain provider (no provider's
/// own rules) on `mock`, speaking `api`, with a model that reasons and
/// sees images.
async fn single(mock: &MockServer, api: &str) -> TestGateway {
    let base_url = match api {
        ANTHROPIC => format!("http://{}/", mock.addr),
        _ => mock.base_url(),
    };
    gateway(json!({
        "models": {"mode": "replace", "providers": {"p": {
            "baseUrl": base_url, "apiKey": KEY, "api": api,
            "models": [{"id": "m", "maxTokens": 8192, "reasoning": true,
                        "input": ["text", "image"]}]}}},
        "agents": {"defaults": {"model": "p/m"}},
    }))
    .await
}

async fn send(
    gw: &TestGateway,
    front: Front,
    body: Value,
    header: Option<(&str, &str)>,
) -> reqwest::Response {
    let Some((name, value)) = header else {
        return match front {
            Front::Chat => gw.chat(body).await,
            Front::Messages => gw.messages(body).await,
            Front::Responses => gw.responses(body).await,
        };
    };
    let path = match front {
        Front::Chat => "/v1/chat/completions",
        Front::Messages => "/v1/messages",
        Front::Responses => "/v1/responses",
    };
    gw.client()
        .post(format!("{}{path}", gw.url))
        .header(name, value)
        .json(&body)
        .send()
        .await
        .expect("the gateway answers")
}

/// Checks `sample` of `row` on transport `api`: what went wrong, if
/// anything.
async fn check(
    gw: &TestGateway,
    mock: &MockServer,
    front: Front,
    api: &str,
    row: &Row,
    sample: &Sample,
) -> Option<String> {
    let mut body = plain(front);
    for (key, value) in sample.request.as_object().expect("an object") {
        body[key] = value.clone();
    }
    let before = mock.requests().len();
    let response = send(gw, front, body, sample.header).await;
    let status = response.status().as_u16();
    let named: Vec<String> = header(&response, "x-clawgate-dropped")
        .split(", ")
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    let text = response.text().await.unwrap_or_default();
    let requests = mock.requests();
    let fate = row.fate(clawgate::capabilities::Api::parse(api).expect("an api"));
    let mark = match api {
        OPENAI => &sample.openai,
        _ => &sample.anthropic,
    };
    if let Fate::Refused(_) = fate {
        let message: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = message["error"]["message"].as_str().unwrap_or_default();
        return match (status, requests.len() == before) {
            (400, true) if !sample.named.is_empty() && message.contains(sample.named) => None,
            _ => Some(format!(
                "refused: got {status}, {} provider calls, {text}",
                requests.len() - before
            )),
        };
    }
    if status != 200 || requests.len() != before + 1 {
        return Some(format!(
            "got {status} and {} provider calls: {text}",
            requests.len() - before
        ));
    }
    let provider_got = &requests[before]["body"];
    let answer: Value = match text.trim_start().starts_with('{') {
        true => serde_json::from_str(&text).unwrap_or(Value::Null),
        false => Value::Null,
    };
    let found = match mark {
        Some(At::Sent(needle)) => contains(provider_got, needle),
        Some(At::Answer(needle)) => contains(&answer, needle),
        Some(At::Header(name, value)) => requests[before]["headers"][name] == *value,
        None => return Some("no mark to look for".into()),
    };
    let is_named = named
        .iter()
        .any(|name| name == row.name || (!sample.named.is_empty() && name == sample.named));
    let expected_found = match fate {
        Fate::Carried | Fate::Translated(_) => true,
        Fate::Dropped(_) => false,
        // Left to the target's rules: whichever they chose, the header
        // says so.
        Fate::Planned(_) => !is_named,
        Fate::Refused(_) => unreachable!("checked above"),
    };
    let expected_named = matches!(fate, Fate::Dropped(_)) || (!expected_found);
    let mut wrong = Vec::new();
    if found != expected_found {
        wrong.push(format!(
            "the mark is {} ({provider_got})",
            if found { "there" } else { "not there" }
        ));
    }
    if is_named != expected_named {
        wrong.push(format!(
            "x-clawgate-dropped {} it ({named:?})",
            if is_named { "names" } else { "does not name" }
        ));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

async fn every_row_of(front: Front) {
    let table = fields::table(front);
    let samples = samples(front);
    let mut wrong = Vec::new();
    for row in table {
        if !samples.iter().any(|sample| sample.row == row.name) {
            wrong.push(format!("{}: no sample", row.name));
        }
    }
    for sample in &samples {
        if !table.iter().any(|row| row.name == sample.row) {
            wrong.push(format!("{}: a sample of no row", sample.row));
        }
    }
    for api in [OPENAI, ANTHROPIC] {
        let mock = healthy_mock().await;
        let gw = single(&mock, api).await;
        for sample in &samples {
            let Some(row) = table.iter().find(|row| row.name == sample.row) else {
                continue;
            };
            if let Some(why) = check(&gw, &mock, front, api, row, sample).await {
                wrong.push(format!("{} over {api}: {why}", row.name));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{front:?}: rows whose behaviour is not their fate:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn every_row_of_the_chat_table_does_what_it_says() {
    every_row_of(Front::Chat).await;
}

#[tokio::test]
async fn every_row_of_the_messages_table_does_what_it_says() {
    every_row_of(Front::Messages).await;
}

#[tokio::test]
async fn every_row_of_the_responses_table_does_what_it_says() {
    every_row_of(Front::Responses).await;
}
