//! The request bodies the benchmarks send, shaped like what the real clients
//! send: OpenClaw's turn, a small chat request, Claude Code's request, and
//! a Codex-style Responses request.

use serde_json::{Value, json};

/// A tool's JSON schema as OpenClaw's TypeBox tools write them: most plain,
/// some with a union (`anyOf`), one of which carries a parent `type` that
/// Moonshot's validator refuses (the schema rule rewrites it).
fn openclaw_parameters(i: usize) -> Value {
    let mut properties = json!({
        "path": {"type": "string", "description": "A path, relative to the workspace."},
        "query": {"type": "string", "description": "What to look for."},
        "limit": {"type": "integer", "minimum": 1, "description": "At most this many."},
    });
    match i {
        3 => {
            properties["mode"] = json!({"type": "string",
                "anyOf": [{"const": "append"}, {"const": "replace"}, {"const": "insert"}]});
        }
        7 => {
            properties["timeout"] = json!({"anyOf": [{"type": "number"}, {"type": "null"}]});
        }
        _ => {}
    }
    json!({"type": "object", "properties": properties, "required": ["path"]})
}

fn openclaw_tools() -> Vec<Value> {
    (0..14)
        .map(|i| {
            json!({"type": "function", "function": {
                "name": format!("tool_{i}"),
                "description": "Does something useful with the arguments it is given. ".repeat(12),
                "parameters": openclaw_parameters(i),
            }})
        })
        .collect()
}

/// OpenClaw's turn after 30 tool calls (~66 KB): a ~48 KB system prompt,
/// 14 tools, Kimi-style tool-call ids that repeat every turn (so the
/// duplicate-id rule rewrites 27 calls and their results).
pub fn openclaw_turn(stream: bool) -> Vec<u8> {
    let system = "You are a helpful personal assistant. ".repeat(1190);
    openclaw_turn_after(&system, "Tidy up my notes folder.", 30, stream)
}

/// The turns of an OpenClaw conversation asked `ask`, one after another:
/// after `calls.start` tool calls, then one call (and its result) more each
/// turn, each turn re-sending the messages of the turn before. Its system
/// prompt is written as real prompts are, a line at a time (a `\n` escape
/// every line), where `openclaw_turn`'s is one line.
pub fn openclaw_conversation(
    ask: &str,
    calls: std::ops::Range<usize>,
    stream: bool,
) -> Vec<Vec<u8>> {
    let system = "You are a helpful personal assistant.\n".repeat(1190);
    calls
        .map(|calls| openclaw_turn_after(&system, ask, calls, stream))
        .collect()
}

fn openclaw_turn_after(system: &str, ask: &str, calls: usize, stream: bool) -> Vec<u8> {
    let mut messages = vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": ask}),
    ];
    for turn in 0..calls {
        let name = ["read", "write", "exec"][turn % 3];
        let id = format!("functions.{name}:0");
        messages.push(json!({"role": "assistant", "content": "", "reasoning_content": "Next step.",
            "tool_calls": [{"id": id, "type": "function",
                "function": {"name": name, "arguments": format!("{{\"path\":\"notes/{turn}.md\"}}")}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": id, "content": format!("done with notes/{turn}.md")}));
    }
    chat(messages, openclaw_tools(), stream)
}

/// A 2 KB request: a system prompt and a question.
pub fn small_request(stream: bool) -> Vec<u8> {
    let messages = vec![
        json!({"role": "system", "content": "You are brief. ".repeat(20)}),
        json!({"role": "user", "content": "What is on my calendar today? ".repeat(40)}),
    ];
    chat(messages, vec![], stream)
}

/// What the long-answer scenario asks; the fake upstream answers it with
/// a long answer, paced.
pub const LONG_ANSWER_ASK: &str = "Tell me a long story about my notes.";

/// A short request for a long streamed answer.
pub fn long_answer_request() -> Vec<u8> {
    let messages = vec![
        json!({"role": "system", "content": "You are brief. ".repeat(20)}),
        json!({"role": "user", "content": LONG_ANSWER_ASK}),
    ];
    chat(messages, vec![], true)
}

fn chat(messages: Vec<Value>, tools: Vec<Value>, stream: bool) -> Vec<u8> {
    let mut body = json!({
        "model": "moonshot/kimi-k2.6",
        "messages": messages,
        "stream": stream,
        "reasoning_effort": "low",
        "max_tokens": 242097,
    });
    if stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if !tools.is_empty() {
        body["tools"] = json!(tools);
        body["tool_choice"] = json!("auto");
    }
    serde_json::to_vec(&body).unwrap()
}

/// Claude Code's three system blocks: the attribution block (its hash
/// changes every request), the identity line and `prompt`, the last two
/// marked for caching.
fn claude_code_system(prompt: &str) -> Value {
    json!([
        {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197; cc_entrypoint=sdk-cli; cch=1a2b;"},
        {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": prompt, "cache_control": {"type": "ephemeral"}},
    ])
}

/// Claude Code's request for "Say hello" (~77 KB; see
/// `shared/facts/anthropic.md`): three system blocks, 24 tools with
/// `input_schema`, adaptive thinking, effort, context management, metadata,
/// `cache_control`, and a mid-conversation system message.
pub fn claude_code_request() -> Vec<u8> {
    let tools: Vec<Value> = (0..24)
        .map(|i| {
            let mut schema = json!({"type": "object", "properties": {
                "command": {"type": "string", "description": "The command to run. ".repeat(6)},
                "description": {"type": "string", "description": "What it does, in five to ten words."},
                "timeout": {"type": "number", "description": "Milliseconds, at most 600000."},
            }, "required": ["command"], "additionalProperties": false,
               "$schema": "http://json-schema.org/draft-07/schema#"});
            if i == 5 {
                schema["properties"]["run_in_background"] =
                    json!({"anyOf": [{"type": "boolean"}, {"type": "null"}]});
            }
            json!({"name": format!("Tool{i}"),
                   "description": "Executes a given command with the arguments described below, with care. ".repeat(17),
                   "input_schema": schema})
        })
        .collect();
    let body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": claude_code_system(
            &"You are an interactive CLI tool that helps users with software engineering tasks. "
                .repeat(440)
        ),
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Say hello", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Plan mode is off."},
        ],
        "tools": tools,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"d\",\"session_id\":\"s\"}"},
    });
    serde_json::to_vec(&body).unwrap()
}

/// The turns of a Claude Code conversation asked `ask` (34-46 KB
/// each): Claude Code's system blocks and a working set of 16 tools, then
/// `turns` tool-use turns as Claude Code sends them, each re-sending the
/// turn before's messages: an assistant message with a signed thinking
/// block, a line of text and a `tool_use`, and a user message with its
/// `tool_result` (a file's lines), `cache_control` on the last block.
pub fn claude_code_conversation(ask: &str, turns: std::ops::Range<usize>) -> Vec<Vec<u8>> {
    turns
        .map(|turns| claude_code_turn_after(ask, turns))
        .collect()
}

fn claude_code_turn_after(ask: &str, turns: usize) -> Vec<u8> {
    let tools: Vec<Value> = ["Bash", "Read", "Edit", "Write", "Glob", "Grep", "Task", "TodoWrite"]
        .iter()
        .cycle()
        .take(16)
        .enumerate()
        .map(|(i, name)| {
            json!({"name": format!("{name}{i}"),
                   "description": "Reads or changes the project as its arguments say, with care. ".repeat(9),
                   "input_schema": {"type": "object", "properties": {
                       "path": {"type": "string", "description": "An absolute path."},
                       "pattern": {"type": "string", "description": "What to look for."},
                       "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                   }, "required": ["path"], "additionalProperties": false,
                   "$schema": "http://json-schema.org/draft-07/schema#"}})
        })
        .collect();
    let mut messages = vec![json!({"role": "user", "content": [{"type": "text", "text": ask}]})];
    for turn in 0..turns {
        let id = format!("toolu_01{turn:022}");
        messages.push(json!({"role": "assistant", "content": [
            {"type": "thinking", "thinking": format!("The next file to read is src/part{turn}.rs."),
             "signature": "EqQBCkYIBxgCKkB".repeat(12)},
            {"type": "text", "text": "Let me look at that file."},
            {"type": "tool_use", "id": id, "name": format!("Read{}", 1 + 8 * (turn % 2)),
             "input": {"path": format!("/home/me/project/src/part{turn}.rs")}},
        ]}));
        let lines: String = (1..=40)
            .map(|n| format!("{n:>6}\u{2192}    let value_{n} = compute({n});\n"))
            .collect();
        messages.push(json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": lines},
        ]}));
    }
    if let Some(Value::Array(blocks)) = messages.last_mut().map(|m| &mut m["content"]) {
        blocks.last_mut().unwrap()["cache_control"] = json!({"type": "ephemeral"});
    }
    let body = json!({
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 32000,
        "stream": true,
        "system": claude_code_system(
            &"You are an interactive CLI tool that helps users with software engineering tasks.\n"
                .repeat(120)
        ),
        "messages": messages,
        "tools": tools,
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "{\"device_id\":\"d\",\"session_id\":\"s\"}"},
    });
    serde_json::to_vec(&body).unwrap()
}

/// A Codex-style Responses request: the same instructions and tools as
/// OpenClaw's turn, in the Responses API's shape.
pub fn responses_request() -> Vec<u8> {
    let tools: Vec<Value> = (0..14)
        .map(|i| {
            json!({"type": "function", "name": format!("tool_{i}"),
                   "description": "Does something useful with the arguments it is given. ".repeat(12),
                   "parameters": openclaw_parameters(i), "strict": false})
        })
        .collect();
    let body = json!({
        "model": "moonshot/kimi-k2.6",
        "instructions": "You are a coding agent. ".repeat(2000),
        "input": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "Tidy up my notes folder."}]}],
        "tools": tools,
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "low"},
        "store": false,
        "stream": true,
    });
    serde_json::to_vec(&body).unwrap()
}
