//! Kimi Coding (`api.kimi.com/coding`): Moonshot's models behind an access
//! gate on the `User-Agent` (only recognised coding agents are served; the
//! default, `KimiCLI/0.77` on the OpenAI endpoint and `claude-code/0.1.0` on
//! the Anthropic one, comes from the dialect's default headers). Its request
//! rules are Moonshot's, whichever endpoint the request is then sent to;
//! on its Anthropic endpoint, a client's own Messages body also gets Kimi
//! Coding's rewrites ([`MESSAGES_REWRITES`]), which no other provider gets.

use serde_json::{Map, Value, json};

use super::{Draft, Thinking, Withheld, moonshot};
use crate::capabilities::{Api, ThinkingLevel};
use crate::catalog;
use crate::config::Target;
use crate::translate::anthropic_provider::Rewrite;
use crate::translate::fields::MessagesRow;
use crate::wire::Seen;

pub fn apply(draft: &mut Draft, target: &Target, thinking: Thinking) {
    moonshot::apply(draft, target, thinking);
    cap_effort(draft, target);
    messages_rewrites(draft, target);
}

/// A client's own Messages body, sent to Kimi Coding's Anthropic endpoint,
/// is rewritten where the endpoint refuses what Claude Code sends, as the
/// front end read it in the body; the deferred tools it sends loaded and
/// the tool references it sends as text are named (where the client sent
/// any).
fn messages_rewrites(draft: &mut Draft, target: &Target) {
    if target.provider.api == Api::AnthropicMessages {
        draft.messages.rewrites = rewrites_for(draft.seen());
        draft.withhold(Withheld::DeferredTools);
        draft.withhold(Withheld::ToolReferences);
    }
}

/// The rewrites of [`MESSAGES_REWRITES`] for a request whose reader noted
/// `seen`, in order.
pub fn rewrites_for(seen: &Seen) -> Vec<Rewrite> {
    (MESSAGES_REWRITES.iter())
        .filter(|(row, _)| row.is_in(seen))
        .map(|(_, rewrite)| *rewrite)
        .collect()
}

/// Kimi Coding's rewrites of a client's Messages body, in order, each with
/// the row of what it is for.
const MESSAGES_REWRITES: [(MessagesRow, Rewrite); 3] = [
    (
        MessagesRow::SystemRole,
        Rewrite {
            members: &["messages", "system"],
            apply: system_messages_to_system,
        },
    ),
    (
        MessagesRow::ToolReference,
        Rewrite {
            members: &["messages", "tools"],
            apply: tool_references,
        },
    ),
    (
        MessagesRow::DeferLoading,
        Rewrite {
            members: &["tools"],
            apply: load_every_tool,
        },
    ),
];

/// Moves the `role: "system"` messages of Claude Code's mid-conversation
/// system beta, which Kimi Coding refuses, to the end of `system`, in
/// order (as the translation does with OpenAI system messages); the turns
/// on either side, now neighbours of one role, become one turn.
fn system_messages_to_system(body: &mut Map<String, Value>) {
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    if !messages.iter().any(|m| m["role"] == "system") {
        return;
    }
    let mut moved = Vec::new();
    let mut kept: Vec<Value> = Vec::with_capacity(messages.len());
    for message in messages.drain(..) {
        if message["role"] == "system" {
            moved.extend(content_blocks(&message["content"]));
            continue;
        }
        match kept.last_mut() {
            Some(last) if last["role"] == message["role"] => {
                let mut blocks = content_blocks(&last["content"]);
                blocks.extend(content_blocks(&message["content"]));
                last["content"] = Value::Array(blocks);
            }
            _ => kept.push(message),
        }
    }
    *messages = kept;
    let mut system = match body.remove("system") {
        Some(system) => content_blocks(&system),
        None => Vec::new(),
    };
    system.extend(moved);
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }
}

/// Content as blocks: a string is one text block (none when empty).
fn content_blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::Array(blocks) => blocks.clone(),
        Value::String(text) if text.is_empty() => Vec::new(),
        Value::String(text) => vec![json!({"type": "text", "text": text})],
        _ => Vec::new(),
    }
}

/// Claude Code's tool search answers with `tool_reference` blocks in a
/// tool result, naming the tools it loads; Kimi refuses the request
/// ("Invalid request Error", kimi-cli #1449). A reference becomes a text
/// block naming the tool: available when the body offers it (the tool
/// itself is in `tools`, sent whole: [`load_every_tool`]), not available
/// otherwise (a server tool, which goes): the model learns what the
/// search found either way, and nothing is left out. A reference is
/// looked for where the Messages reader notes one: in a tool result, or a
/// block of its own.
fn tool_references(body: &mut Map<String, Value>) {
    let offered: Vec<String> = match body.get("tools") {
        Some(Value::Array(tools)) => tools
            .iter()
            .filter(|tool| tool.get("input_schema").is_some_and(|s| !s.is_null()))
            .filter_map(|tool| tool.get("name").and_then(Value::as_str))
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    let as_text = |block: &mut Value| {
        if block["type"] != "tool_reference" {
            return;
        }
        let name = block["tool_name"].as_str().unwrap_or_default();
        let text = if offered.iter().any(|o| o == name) {
            format!("Tool {name} is available.")
        } else {
            format!("Tool {name} is not available.")
        };
        *block = json!({"type": "text", "text": text});
    };
    for message in messages.iter_mut() {
        let Some(Value::Array(blocks)) = message.get_mut("content") else {
            continue;
        };
        for block in blocks.iter_mut() {
            if block["type"] == "tool_result"
                && let Some(Value::Array(content)) = block.get_mut("content")
            {
                content.iter_mut().for_each(as_text);
            } else {
                as_text(block);
            }
        }
    }
}

/// Every tool offered is sent whole: tools' `defer_loading` goes.
fn load_every_tool(body: &mut Map<String, Value>) {
    if let Some(Value::Array(tools)) = body.get_mut("tools") {
        for tool in tools.iter_mut().filter_map(Value::as_object_mut) {
            tool.remove("defer_loading");
        }
    }
}

/// kimi-for-coding answered 429 to every request with `max` effort
/// (kimi-code #1252): the plan sends it `high`, the highest it takes (the
/// chat transport's `reasoning_effort`; a Messages body to Kimi has no
/// effort), and the answer names `reasoning_effort` as changed when the
/// client asked `max`.
fn cap_effort(draft: &mut Draft, target: &Target) {
    let model = catalog::canonical_model("kimi", &target.model.id);
    if !model.starts_with("kimi-for-coding") || draft.decided.effort.as_deref() != Some("max") {
        return;
    }
    draft.decided.effort = Some(ThinkingLevel::High.as_effort().into());
    let asked =
        |effort: Option<serde_json::Value>| effort.is_some_and(|e| e == "max" || e == "xhigh");
    let request = draft.request();
    if asked(request.value("reasoning_effort"))
        || asked(
            request
                .value("reasoning")
                .and_then(|r| r.get("effort").cloned()),
        )
    {
        draft.withhold(Withheld::MaxEffort);
    }
}
